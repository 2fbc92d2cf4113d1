"""Reading image files the way a photo viewer shows them: EXIF orientation applied.

Phones store a portrait photo as landscape pixels plus an EXIF *orientation* tag; a loader that ignores the tag
gets a sideways face (and the face detector finds nothing). OpenCV applies the tag for some read modes and not for
others (``IMREAD_UNCHANGED`` never does), so every facekit loader reads through :func:`imread`, which always decodes
the raw pixels and applies the tag itself, the same way for every mode.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

#: EXIF tag number of the orientation.
_ORIENTATION_TAG = 0x0112


def _exif_orientation(data: bytes) -> int:
    """The EXIF orientation (1-8) of an encoded image, 1 when it has none or it cannot be read."""
    try:
        from PIL import Image  # lazy: Pillow is needed only to decode photo files

        with Image.open(io.BytesIO(data)) as img:
            value = int(img.getexif().get(_ORIENTATION_TAG, 1))
    except Exception:  # no EXIF, a format PIL does not know, a broken tag: show the pixels as stored
        return 1
    return value if 1 <= value <= 8 else 1


def _apply_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
    """Rotate/flip an (H, W[, C]) array from its stored pixel order to the upright view EXIF ``orientation`` asks
    for (the same result as Pillow's ``ImageOps.exif_transpose``)."""
    ops = {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],                        # mirrored
        3: lambda a: a[::-1, ::-1],                     # upside down
        4: lambda a: a[::-1],                           # flipped vertically
        5: lambda a: a.swapaxes(0, 1),                  # transposed
        6: lambda a: np.rot90(a, k=-1),                 # rotate 90 degrees clockwise to view
        7: lambda a: a[::-1, ::-1].swapaxes(0, 1),      # transverse
        8: lambda a: np.rot90(a, k=1),                  # rotate 90 degrees counter-clockwise to view
    }
    return np.ascontiguousarray(ops.get(int(orientation), ops[1])(image))


class ImageTooLarge(ValueError):
    """An image with more pixels than Pillow's decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``)."""


def check_pixel_count(data: bytes, name: str = "image") -> None:
    """Refuse, before decoding, an image whose header declares more than ``PIL.Image.MAX_IMAGE_PIXELS`` pixels
    (Pillow's decompression-bomb guard, honoured by every facekit loader, OpenCV's included; ``None`` turns it
    off). A header Pillow cannot read is left to the decoder."""
    from PIL import Image  # lazy: Pillow is needed only to decode photo files

    limit = Image.MAX_IMAGE_PIXELS
    if not limit:
        return
    try:
        with Image.open(io.BytesIO(data)) as img:  # reads the header only
            width, height = img.size
    except Image.DecompressionBombError:
        width = height = None
    except Exception:  # not an image Pillow knows: the decoder says what is wrong
        return
    if width is None or width * height > limit:
        size = f"{width:,} x {height:,} pixels" if width is not None else "more than twice the limit"
        raise ImageTooLarge(f"{name} is too large to load safely ({size}; the limit is {limit:,} pixels, "
                            "PIL.Image.MAX_IMAGE_PIXELS): it may be a decompression bomb. Shrink the image (a face "
                            "needs a few hundred pixels a side) or, if you trust it, raise that limit.")


def _decode_image(data: bytes, flags: int, name: str = "image") -> np.ndarray | None:
    """``cv2.imdecode(data, flags)`` with the EXIF orientation applied (``None`` when OpenCV cannot decode it;
    :class:`ImageTooLarge` past Pillow's pixel limit)."""
    import cv2  # lazy: OpenCV's native libraries load only when an image is decoded or a face detected

    check_pixel_count(data, name)
    buf = np.frombuffer(data, dtype=np.uint8)
    if flags != cv2.IMREAD_UNCHANGED:  # UNCHANGED already ignores the tag; other modes would apply it themselves
        flags |= cv2.IMREAD_IGNORE_ORIENTATION
    image = cv2.imdecode(buf, flags)
    if image is None:
        return None
    return _apply_orientation(image, _exif_orientation(data))


def imread(path: str | os.PathLike, flags: int) -> np.ndarray | None:
    """``cv2.imread`` with the EXIF orientation applied, for any ``flags``; ``None`` for an unreadable file."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    return _decode_image(data, flags, str(path)) if data else None
