"""Try your own photo: upload a JPEG/PNG (or give a path, for papermill), find the face, and see the emotion
probabilities, the Grad-CAM of the prediction and the five AU heatmaps.

:func:`analyse_photo` (bytes in, :class:`PhotoResult` out) and :func:`photo_figure` are the update; anything wrong
with the file raises :class:`PhotoError` with a message for people, which the widget shows in place of the picture.
"""
from __future__ import annotations

import html
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from facekit.data.fer import EMOTIONS
from facekit.data.images import ImageTooLarge, check_pixel_count
from facekit.data.faces import detect_face
from facekit.data.faces import to_gray
from facekit.emotion.xception import preprocess
from facekit.explain.cam import cam_overlay
from facekit.explain.cam import compute_cams
from facekit.fau.demo import AU_LABELS
from facekit.fau.demo import predict_results
from facekit.fau.register import register_face
from facekit.plotting import show_image
from facekit.widgets.live import figure_png

#: What the upload control accepts.
_ACCEPT = ".jpg,.jpeg,.png,image/jpeg,image/png"
_MAGIC = {b"\xff\xd8\xff": "JPEG", b"\x89PNG\r\n\x1a\n": "PNG"}


class PhotoError(ValueError):
    """A photo the widget cannot use; the message says which file and what to do."""


def decode_photo(data: bytes, name: str = "photo") -> np.ndarray:
    """RGB uint8 (H, W, 3) of a JPEG or PNG, turned upright by its EXIF orientation tag."""
    from PIL import Image, ImageOps, UnidentifiedImageError  # lazy: Pillow is needed only to decode photo files

    data = bytes(data)
    if not data:
        raise PhotoError(f"{name} is empty (0 bytes): upload a JPEG or PNG photo.")
    kind = next((k for magic, k in _MAGIC.items() if data.startswith(magic)), None)
    if kind is None:
        raise PhotoError(f"{name} is not a JPEG or PNG image (it starts with {data[:8]!r}): upload a .jpg or .png "
                         "photo.")
    try:
        check_pixel_count(data, name)
    except ImageTooLarge as exc:
        raise PhotoError(str(exc)) from None
    try:
        with Image.open(io.BytesIO(data)) as img:
            img = ImageOps.exif_transpose(img)
            return _to_rgb8(img)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise PhotoError(f"{name} looks like a {kind} but cannot be decoded ({exc}): is the file complete? "
                         "Save it again as JPEG or PNG.") from None


def _to_rgb8(img) -> np.ndarray:
    """RGB uint8 of a PIL image. 16-bit and 32-bit greyscale (modes ``I;16*``, ``I``, ``F``) are scaled to 0-255
    (Pillow's own conversion clips them, so a 16-bit face became blank white)."""
    if img.mode.startswith("I;16") or img.mode in ("I", "F"):
        values = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
        if img.mode == "F" and values.max(initial=0) <= 1.0:
            top = 1.0
        gray = np.clip(np.round(values * (255.0 / top)), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    return np.asarray(img.convert("RGB"))


def _read_photo_file(path: str | os.PathLike) -> bytes:
    """The bytes of a photo on disk, with a clear error for a missing path or a folder."""
    path = Path(path).expanduser()
    if not path.exists():
        raise PhotoError(f"{path} does not exist: give the path of a JPEG or PNG photo.")
    if not path.is_file():
        raise PhotoError(f"{path} is a folder, not a photo: give the path of one JPEG or PNG file.")
    return path.read_bytes()


@dataclass
class PhotoResult:
    """One analysed photo: the upright RGB image, the face box, the 48x48 face the classifier saw, its
    probabilities and Grad-CAM, and the Task 2 model's results on the registered 128x128 face."""

    name: str
    image: np.ndarray
    box: tuple[int, int, int, int]
    face: np.ndarray
    probs: np.ndarray
    cam: np.ndarray
    fau: object
    note: str

    @property
    def pred(self) -> str:
        return EMOTIONS[int(self.probs.argmax())]

    def summary(self) -> str:
        top = np.argsort(-self.probs)[:3]
        aus = ", ".join(f"AU{a} {v:.1f}" for a, v in zip((6, 10, 12, 14, 17), self.fau.predicted[0]))
        return (f"{self.name}: {self.note}; the classifier says {self.pred} "
                + "(" + ", ".join(f"{EMOTIONS[i]} {self.probs[i]:.0%}" for i in top) + f"); AU intensities {aus}")


def analyse_photo(data: bytes, name: str, emotion_model, fau_model, cam_layer: str = "last_conv") -> PhotoResult:
    """Decode, find the face (Haar cascade; :class:`PhotoError` when there is none), classify, explain and measure
    the AUs of one photo."""
    import cv2  # lazy: OpenCV's native libraries load only when an image is decoded or a face detected


    image = decode_photo(data, name)
    gray = to_gray(image)
    box = detect_face(gray)
    if box is None:
        raise PhotoError(f"No face found in {name} ({image.shape[1]}x{image.shape[0]} pixels): use a frontal, "
                         "well-lit photo in which the face is upright and fills at least an eighth of the picture.")
    x0, y0, w, h = box
    crop = gray[y0:y0 + h, x0:x0 + w]
    face = cv2.resize(crop, (48, 48), interpolation=cv2.INTER_AREA if crop.shape[0] > 48 else cv2.INTER_LINEAR)
    x = preprocess(torch.from_numpy(face)[None])
    emotion_model.eval()
    with torch.no_grad():
        probs = emotion_model(x).softmax(1)[0].numpy()
    cam = compute_cams(emotion_model, x, [int(probs.argmax())], layer=cam_layer)[0]
    reg = register_face(image, size=fau_model.config.input_size)
    fau = predict_results(fau_model, reg.image[None], [name], notes=[reg.note])
    return PhotoResult(name, image, box, face, probs, cam, fau, f"face found at {box[:2]}, {w}x{h} px; {reg.note}")


def photo_figure(result: PhotoResult):
    """The photo with its face box, the classifier's probabilities and Grad-CAM, and the five AU heatmaps."""
    from matplotlib.figure import Figure  # lazy: plotting only; the CLI and training paths never load matplotlib
    from matplotlib.patches import Rectangle  # lazy: plotting only; the CLI and training paths never load matplotlib


    fig = Figure(figsize=(11, 4.6))
    gs = fig.add_gridspec(2, 6, left=0.02, right=0.99, top=0.88, bottom=0.03, wspace=0.3, hspace=0.35)
    ax = fig.add_subplot(gs[0, 0])
    ax.imshow(result.image)
    ax.add_patch(Rectangle(result.box[:2], result.box[2], result.box[3], fill=False, edgecolor="lime", lw=2))
    ax.set_xticks([]), ax.set_yticks([])
    ax.set_title(result.name, fontsize=8)
    show_image(fig.add_subplot(gs[0, 1]), result.face, "face (48x48)")
    ax = fig.add_subplot(gs[0, 2])
    ax.imshow(cam_overlay(result.face, result.cam))
    ax.set_xticks([]), ax.set_yticks([])
    ax.set_title(f"Grad-CAM for {result.pred}", fontsize=8)
    ax = fig.add_subplot(gs[0, 3:6])
    ax.barh(range(len(EMOTIONS)), result.probs,
            color=["tab:orange" if i == result.probs.argmax() else "tab:blue" for i in range(len(EMOTIONS))])
    ax.set_yticks(range(len(EMOTIONS)), EMOTIONS, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_title("emotion probabilities (Task 1 classifier)", fontsize=9)
    res = result.fau
    show_image(fig.add_subplot(gs[1, 0]), res.images[0], "registered face")
    for j, label in enumerate(AU_LABELS):
        ax = fig.add_subplot(gs[1, j + 1])
        show_image(ax, res.images[0])
        ax.imshow(np.clip(res.au_map(0, j), 0, 5), cmap="jet", alpha=0.5, vmin=0, vmax=5)
        ax.set_title(f"{label} {res.predicted[0, j]:.2f}", fontsize=8)
    fig.suptitle(f"{result.name}: {result.pred} ({result.probs.max():.0%})", fontsize=10)
    return fig


def _photo_message(exc: BaseException) -> str:
    """HTML for the widget's message line: the PhotoError text, or a short line naming any other failure."""
    text = str(exc) if isinstance(exc, PhotoError) else f"Could not analyse this photo: {type(exc).__name__}: {exc}"
    return f"<span style='color:#b00'>{html.escape(text)}</span>"


class PhotoAnalyzer:
    """``PhotoAnalyzer(emotion_model, fau_model).widget(path=None)``: a FileUpload and a path box."""
    def __init__(self, emotion_model, fau_model):
        self.emotion_model, self.fau_model = emotion_model, fau_model
        self.result: PhotoResult | None = None
        self._ui = None

    def analyse(self, data: bytes, name: str):
        """Analyse and draw; returns the Figure (raises :class:`PhotoError` for a bad file)."""
        self.result = analyse_photo(data, name, self.emotion_model, self.fau_model)
        return photo_figure(self.result)

    def analyse_path(self, path):
        return self.analyse(_read_photo_file(path), Path(path).name)

    def show(self, data: bytes, name: str) -> bool:
        """Analyse for the widget: picture and summary on success, the message on failure (never a traceback)."""
        ui = self._ui
        try:
            png = figure_png(self.analyse(data, name), dpi=80)
        except Exception as exc:  # noqa: BLE001 - the widget shows a message, never a traceback
            ui["message"].value = _photo_message(exc)
            ui["image"].layout.display = "none"
            return False
        ui["image"].value = png
        ui["image"].layout.display = ""
        ui["message"].value = html.escape(self.result.summary())
        return True

    def widget(self, path=None):
        import ipywidgets as w  # lazy: widgets exist only in a notebook front end

        upload = w.FileUpload(accept=_ACCEPT, multiple=False, description="upload photo")
        box = w.Text(value=str(path or ""), description="path", placeholder="or a path to a JPEG/PNG",
                     layout=w.Layout(width="480px"))
        go = w.Button(description="analyse path")
        message, image = w.HTML("Upload a JPEG or PNG photo of a face."), w.Image(format="png",
                                                                                 layout=w.Layout(width="820px"))
        self._ui = {"message": message, "image": image}

        def uploaded(change):
            files = change["new"]
            if files:
                f = files[0]
                self.show(bytes(f["content"]), f["name"])
                upload.value = ()  # so that uploading the same file again analyses it again

        def from_path(_=None):
            try:
                data = _read_photo_file(box.value.strip())
            except PhotoError as exc:
                message.value = _photo_message(exc)
                return
            self.show(data, Path(box.value.strip()).name)

        upload.observe(uploaded, names="value")
        go.on_click(from_path)
        if path:
            from_path()
        return w.VBox([w.HBox([upload, box, go]), message, image])
