"""Whole synthetic data sets: a FER2013 twin (exact split and class counts) and an AU set for Task 2."""
from __future__ import annotations

import time
from pathlib import Path

import cv2
import torch

from facekit.data.faceset import FaceSet
from facekit.data.fer import EMOTIONS, FER2013_COUNTS, SPLITS
from facekit.io import atomic_path, atomic_write_bytes, atomic_write_text
from facekit.synth.facs import AUS, au_index, sample_expressions, sample_independent_aus
from facekit.synth.params import _generator
from facekit.synth.photo import PHOTO_VERSION
from facekit.synth.render import DOMAINS, LANDMARK_NAMES, render_faces

#: The AUs that Task 2 regresses; :func:`make_au_dataset` varies them widely and independently.
TASK2_AUS: tuple[int, ...] = (6, 10, 12, 14, 17)


def fer_split_counts(n_scale: float = 1.0) -> dict[str, tuple[int, ...]]:
    """FER2013's class counts per split, scaled by ``n_scale`` (each cell rounded, at least 1)."""
    if not n_scale > 0:
        raise ValueError(f"n_scale must be positive (1.0 = FER2013's 35,887 faces), got {n_scale}")
    return {s: tuple(max(1, round(c * n_scale)) for c in counts) for s, counts in FER2013_COUNTS.items()}


def fer_label_plan(n_scale: float = 1.0, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Labels and split codes in FER2013's row order (Training, then PublicTest, then PrivateTest), shuffled
    within each split with ``seed``."""
    labels, usage = [], []
    gen = _generator("plan", seed)
    for s, counts in fer_split_counts(n_scale).items():
        lab = torch.cat([torch.full((c,), e, dtype=torch.long) for e, c in enumerate(counts)])
        labels.append(lab[torch.randperm(len(lab), generator=gen)])
        usage.append(torch.full((len(lab),), SPLITS.index(s), dtype=torch.long))
    return torch.cat(labels), torch.cat(usage)


def make_fer_dataset(n_scale: float = 1.0, seed: int = 0, domain: str = "lab", progress: bool = True,
                     features=None) -> FaceSet:
    """A synthetic FER2013: 48x48 gray faces with FER2013's exact class counts per split (times ``n_scale``).

    ``emotion`` holds annotator labels (about 10 % differ from the emotion shown, as in FER2013); ``clean_emotion``,
    ``au`` and ``landmarks`` carry the ground truth. ``meta`` records the parameters and the rendering rate.
    ``features``: the generator's appearance features (default :data:`facekit.synth.FEATURES`; add ``"photo"`` for
    real faces as identities, :mod:`facekit.synth.photo`).
    """
    if domain not in DOMAINS:
        raise ValueError(f"domain must be one of {', '.join(DOMAINS)}, got {domain!r}")
    labels, usage = fer_label_plan(n_scale, seed)
    start = time.perf_counter()
    batch = render_faces(len(labels), seed=seed, domain=domain, size=48, labels=labels, progress=progress,
                         features=features)
    seconds = time.perf_counter() - start
    photo = ", photo identities" if features is not None and "photo" in features else ""
    return FaceSet(
        images=batch.images, emotion=batch.emotion, usage=usage,
        source=f"synthetic FACS faces (facekit.synth, domain={domain}, n_scale={n_scale:g}, seed={seed}{photo})",
        au=batch.au, aus=batch.aus, landmarks=batch.landmarks, clean_emotion=batch.clean_emotion,
        meta={"generator": "facekit.synth", "domain": domain, "n_scale": n_scale, "seed": seed,
              "features": sorted(features) if features is not None else None,
              "photo_version": PHOTO_VERSION if photo else None,
              "render_seconds": seconds, "render_rate_faces_per_s": len(labels) / max(seconds, 1e-9)})


def make_au_dataset(n: int, seed: int = 0, domain: str = "lab", size: int = 128, color: bool = False,
                    progress: bool = False, as_lab=()) -> FaceSet:
    """Faces for AU analysis (Task 2): each face shows an emotion prototype, and the Task 2 AUs
    (:data:`TASK2_AUS`: 6, 10, 12, 14, 17) are then redrawn independently of it (0 with chance 0.4, else 0.3-5),
    so they vary widely and are not tied to one emotion. ``emotion`` is the prototype's emotion. ``as_lab``: see
    :func:`facekit.synth.render_faces` (the AUs and emotions do not depend on it)."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    gen = _generator("au-set", seed, domain)
    clean = torch.randint(0, len(EMOTIONS), (n,), generator=gen)
    au = sample_expressions(clean, gen)
    cols = [au_index(a) for a in TASK2_AUS]
    au[:, cols] = sample_independent_aus(n, gen, TASK2_AUS)
    return render_faces(n, seed=seed, domain=domain, size=size, color=color, emotion=clean, au=au.clamp(0, 5),
                        progress=progress, as_lab=as_lab)


__all__ = ["TASK2_AUS", "benchmark_render", "fer_label_plan", "fer_split_counts", "make_au_dataset", "make_fer_dataset", "write_au_folder",
           "write_fer_csv"]


# --------------------------------------------------------------------------------------------------- export

def _pixels_text(images: torch.Tensor) -> list[str]:
    tokens = [str(v) for v in range(256)]
    return [" ".join([tokens[v] for v in row]) for row in images.reshape(len(images), -1).tolist()]


def write_fer_csv(data: FaceSet, path, rows_per_block: int = 2000) -> tuple[Path, Path]:
    """Write ``data`` as a FER2013 CSV (``emotion,pixels,Usage``) and, beside it, ``<stem>_au.csv`` with each row's
    true emotion, AU intensities and landmarks (keyed by ``row``, 0-based over the faces).

    Both files are streamed block by block into a temporary file that replaces the target only when complete.
    Returns both paths.
    """
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write("emotion,pixels,Usage\n")
        for start in range(0, len(data), rows_per_block):
            sl = slice(start, start + rows_per_block)
            f.writelines(f"{lab},{pix},{SPLITS[u]}\n" for lab, pix, u in
                         zip(data.emotion[sl].tolist(), _pixels_text(data.images[sl]), data.usage[sl].tolist()))
    side = path.with_name(path.stem + "_au.csv")
    head = ["row", "emotion", "true_emotion"] + [f"AU{a}" for a in AUS]
    head += [f"{name}_{xy}" for name in LANDMARK_NAMES for xy in ("x", "y")]
    au = data.au if data.au is not None else torch.full((len(data), len(AUS)), float("nan"))
    lm = data.landmarks.reshape(len(data), -1) if data.landmarks is not None else torch.zeros(len(data), 0)
    clean = data.clean_emotion if data.clean_emotion is not None else data.emotion
    with atomic_path(side) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(",".join(head) + "\n")
        for i, (lab, cl, a, m) in enumerate(zip(data.emotion.tolist(), clean.tolist(), au.tolist(), lm.tolist())):
            f.write(",".join([str(i), EMOTIONS[lab], EMOTIONS[cl]] + [f"{v:.2f}" for v in a]
                             + [f"{v:.2f}" for v in m]) + "\n")
    return path, side


def write_au_folder(batch: FaceSet, out_dir) -> Path:
    """Write each face as ``images/00000.png`` and ``labels.csv`` (``path,emotion,AU1,...``, readable by
    :func:`facekit.data.loaders.load_au_labels`). Returns the label CSV's path."""
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    rows = ["path,emotion," + ",".join(f"AU{a}" for a in AUS)]
    for i in range(len(batch)):
        img = batch.images[i].numpy()
        if img.ndim == 3:
            img = cv2.cvtColor(img.transpose(1, 2, 0), cv2.COLOR_RGB2BGR)
        ok, buf = cv2.imencode(".png", img)
        rel = f"images/{i:05d}.png"
        atomic_write_bytes(out_dir / rel, buf.tobytes())
        rows.append(",".join([rel, EMOTIONS[int(batch.emotion[i])]] + [f"{v:.2f}" for v in batch.au[i].tolist()]))
    return atomic_write_text(out_dir / "labels.csv", "\n".join(rows) + "\n")


def benchmark_render(n: int = 2000, size: int = 48, seed: int = 0, domain: str = "lab") -> dict[str, float]:
    """Render ``n`` faces and time it: wall-clock faces/s and faces per CPU-second (less sensitive to a busy
    machine). A benchmark to print, not to assert on."""
    wall, cpu = time.perf_counter(), time.process_time()
    render_faces(n, seed=seed, size=size, domain=domain)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"faces": n, "size": size, "seconds": wall, "faces_per_s": n / max(wall, 1e-9),
            "faces_per_cpu_s": n / max(cpu, 1e-9)}
