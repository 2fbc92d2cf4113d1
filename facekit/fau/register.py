"""Register real photos to the FAU model's landmark frame with OpenCV's Haar cascades.

The heatmap model was trained on generated faces whose eyes sit at fixed places (the mean generated face,
:func:`facekit.fau.points.template_landmarks`). A real photo is brought to that frame by a similarity transform
(rotation, scale, shift) that moves its two eye centres onto the template's eyes:

1. the face box from the frontal-face cascade (:func:`facekit.data.faces.detect_face`; the centred square if none);
2. the eyes from ``haarcascade_eye.xml`` in the upper half of the box, one per side; when the cascade does not
   find both, the eyes are assumed at the usual place inside a Haar face box (30 % / 70 % across, 38 % down);
3. ``cv2.warpAffine`` to ``size`` x ``size`` grey (or colour).

This is as good as the cascades allow: no landmark detector, so the mouth and chin are only where the template
expects them relative to the eyes. ``RegisteredFace.note`` says what was found.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facekit.data.faces import centre_box
from facekit.data.faces import detect_face
from facekit.data.faces import haar_cascade
from facekit.data.faces import to_gray
from facekit.fau.points import template_landmarks

# eye centres inside a Haar frontal-face box, as fractions of its side (used when the eye cascade fails)
_BOX_EYES = np.array([[0.30, 0.38], [0.70, 0.38]])


@dataclass
class RegisteredFace:
    """A photo warped into the model's frame: ``image`` uint8 (size, size) (or (3, size, size) colour)."""
    image: np.ndarray
    eyes: np.ndarray          # (2, 2) eye centres (x, y) in the original photo, image-left first
    box: tuple                # (x, y, w, h) face box in the original photo
    matrix: np.ndarray        # 2x3 affine, original photo -> registered image
    face_found: bool
    eyes_found: bool

    @property
    def note(self) -> str:
        face = "face found" if self.face_found else "no face found (centred square)"
        eyes = "eyes found" if self.eyes_found else "eyes assumed from the face box"
        return f"{face}; {eyes}"


def _eye_cascade():
    """OpenCV's ``haarcascade_eye.xml`` (loaded once)."""
    return haar_cascade("haarcascade_eye.xml")


def _detect_eyes(gray: np.ndarray, box) -> np.ndarray | None:
    """Eye centres (2, 2), image-left first, from the eye cascade in the upper half of ``box``; None if not both."""
    import cv2  # lazy: OpenCV's native libraries load only when an image is decoded or a face detected

    x, y, w, h = box
    roi = cv2.equalizeHist(np.ascontiguousarray(gray[y:y + h // 2 + h // 10, x:x + w]))
    min_side = max(8, w // 10)
    found = _eye_cascade().detectMultiScale(roi, scaleFactor=1.05, minNeighbors=5, minSize=(min_side, min_side),
                                           maxSize=(w // 3, w // 3))
    left = [e for e in found if e[0] + e[2] / 2 < w / 2]
    right = [e for e in found if e[0] + e[2] / 2 >= w / 2]
    if not left or not right:
        return None
    pick = [max(side, key=lambda e: e[2] * e[3]) for side in (left, right)]
    return np.array([[x + ex + ew / 2, y + ey + eh / 2] for ex, ey, ew, eh in pick], dtype=np.float64)


def similarity_from_eyes(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 similarity transform mapping two points ``src`` exactly onto ``dst``."""
    s = complex(*(src[1] - src[0]))
    d = complex(*(dst[1] - dst[0]))
    z = d / s                                           # rotation + scale as one complex number
    a, b = z.real, z.imag
    t = dst[0] - np.array([a * src[0, 0] - b * src[0, 1], b * src[0, 0] + a * src[0, 1]])
    return np.array([[a, -b, t[0]], [b, a, t[1]]])


def register_face(image: np.ndarray, size: int = 128, color: bool = False) -> RegisteredFace:
    """Warp a photo (gray, RGB or BGR-agnostic uint8) so its eyes land on the template's eyes (see module doc)."""
    import cv2  # lazy: OpenCV's native libraries load only when an image is decoded or a face detected


    image = np.asarray(image)
    gray = to_gray(image)
    box = detect_face(gray, margin=0.0)
    face_found = box is not None
    box = box if face_found else centre_box(gray)
    eyes = _detect_eyes(gray, box) if face_found else None
    eyes_found = eyes is not None
    if not eyes_found:
        x, y, w, h = box
        eyes = np.array([[x, y]]) + _BOX_EYES * np.array([[w, h]])

    tpl = template_landmarks(size)
    dst = np.array([tpl["eye_l"], tpl["eye_r"]], dtype=np.float64)
    matrix = similarity_from_eyes(eyes, dst)
    src = image if (color and image.ndim == 3) else gray
    warped = cv2.warpAffine(src, matrix, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    if color and warped.ndim == 3:
        warped = warped.transpose(2, 0, 1)
    return RegisteredFace(warped, eyes, tuple(int(v) for v in box), matrix, face_found, eyes_found)
