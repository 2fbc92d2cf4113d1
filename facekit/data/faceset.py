"""The one face-set type: faces and whatever is known about them, from any source.

A :class:`FaceSet` is what every loader and renderer returns: real FER2013 (:func:`facekit.data.load_fer2013`), a
folder of photos (:func:`facekit.data.faces.load_face_folder`), the face generator (:func:`facekit.synth.render_faces`,
:func:`facekit.synth.make_fer_dataset`), AU-labelled faces for the heatmap model (:func:`facekit.fau.data.make_au_data`,
:func:`facekit.fau.data.load_au_csv`). One vocabulary for all of them:

``images``        torch uint8 (N, H, W) grey or (N, 3, H, W) colour
``emotion``       int64 (N,) indexing :data:`facekit.data.fer.EMOTIONS` (the annotator's label; -1: no label)
``clean_emotion`` int64 (N,) the emotion the face was made to show (synthetic faces; before label noise)
``au``            float32 (N, A) AU intensities 0-5; ``aus`` names the AU of each column
``points``        float32 (N, A, 2, 2) where each AU's heatmap peaks (AU, left/right, x/y) in image pixels
``landmarks``     float32 (N, K, 2) (x, y) pixel coordinates of named landmarks
``usage``         int64 (N,) indexing :data:`facekit.data.fer.SPLITS` (the FER2013 split of each row)
``names``         one id per face; ``source`` where the set came from; ``meta`` set-wide facts (domain, seed ...)
``extra``         other per-row facts a loader keeps (a face detector's boxes, the generator's geometry): each a
                  tensor, array, list or dict of those with one entry per face; :meth:`FaceSet.subset` carries them.

Every field but ``images`` may be ``None`` (or empty) when the source does not know it.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import torch

from facekit.data.fer import EMOTIONS, SPLITS

__all__ = ["FaceSet"]

_PER_ROW = ("images", "emotion", "clean_emotion", "au", "points", "landmarks", "usage")


@dataclass
class FaceSet:
    """A set of faces in memory (see the module docstring for the fields)."""

    images: torch.Tensor
    emotion: torch.Tensor | None = None
    clean_emotion: torch.Tensor | None = None
    au: torch.Tensor | None = None
    aus: tuple[int, ...] = ()
    points: torch.Tensor | None = None
    landmarks: torch.Tensor | None = None
    usage: torch.Tensor | None = None
    names: list[str] = field(default_factory=list)
    source: str = "unknown"
    meta: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        images = self.images
        if not isinstance(images, torch.Tensor):
            raise TypeError(f"FaceSet.images must be a torch tensor, got {type(images).__name__}")
        if images.dtype != torch.uint8 or not (images.ndim == 3 or (images.ndim == 4 and images.shape[1] == 3)):
            raise ValueError("FaceSet.images must be uint8 (N, H, W) grey or (N, 3, H, W) colour, got "
                             f"{images.dtype} {tuple(images.shape)}")
        n = len(images)
        self.aus = tuple(int(a) for a in self.aus)
        want = {"emotion": torch.int64, "clean_emotion": torch.int64, "usage": torch.int64,
                "au": torch.float32, "points": torch.float32, "landmarks": torch.float32}
        for name, dtype in want.items():
            value = getattr(self, name)
            if value is None:
                continue
            if not isinstance(value, torch.Tensor):
                raise TypeError(f"FaceSet.{name} must be a torch tensor or None, got {type(value).__name__}")
            if value.dtype != dtype:
                raise ValueError(f"FaceSet.{name} must be {dtype}, got {value.dtype}")
            if len(value) != n:
                raise ValueError(f"FaceSet.{name} has {len(value)} rows but images has {n}")
        for name in ("emotion", "clean_emotion"):
            value = getattr(self, name)
            if value is not None and n and (int(value.min()) < -1 or int(value.max()) >= len(EMOTIONS)):
                raise ValueError(f"FaceSet.{name} must lie in 0..{len(EMOTIONS) - 1} (FER order {EMOTIONS}; "
                                 "-1 for a face without a label)")
        if self.usage is not None and n and (int(self.usage.min()) < 0 or int(self.usage.max()) >= len(SPLITS)):
            raise ValueError(f"FaceSet.usage must lie in 0..{len(SPLITS) - 1} ({', '.join(SPLITS)})")
        a = len(self.aus)
        if self.au is not None and tuple(self.au.shape) != (n, a):
            raise ValueError(f"FaceSet.au must be ({n}, {a}) for aus AU{list(self.aus)}, got {tuple(self.au.shape)}")
        if self.points is not None and tuple(self.points.shape) != (n, a, 2, 2):
            raise ValueError(f"FaceSet.points must be ({n}, {a}, 2, 2) for aus AU{list(self.aus)}, "
                             f"got {tuple(self.points.shape)}")
        if not self.names:
            self.names = [f"{self.source}_{i:04d}" for i in range(n)]
        self.names = list(self.names)
        if len(self.names) != n:
            raise ValueError(f"FaceSet.names has {len(self.names)} entries but images has {n}")
        for key, value in self.extra.items():
            if _rows(value) not in (None, n):
                raise ValueError(f"FaceSet.extra[{key!r}] has {_rows(value)} rows but images has {n}")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_size(self) -> int:
        """The side of the (square) images in pixels."""
        return int(self.images.shape[-1])

    def landmark(self, name: str) -> torch.Tensor:
        """(N, 2) pixel coordinates of one named landmark (names in ``meta["landmark_names"]``)."""
        known = tuple(self.meta.get("landmark_names", ()))
        if self.landmarks is None or name not in known:
            raise KeyError(f"Unknown landmark {name!r}; known: {', '.join(known) or 'none (no landmarks)'}")
        return self.landmarks[:, known.index(name)]

    @property
    def emotion_names(self) -> list[str | None]:
        """``emotion`` as names (``None`` for a face without a label, or for all when there are no labels)."""
        if self.emotion is None:
            return [None] * len(self)
        return [EMOTIONS[e] if e >= 0 else None for e in self.emotion.tolist()]

    def subset(self, index) -> "FaceSet":
        """The faces selected by a boolean mask, an index list/tensor/array or a slice (every per-row field,
        ``names`` and ``extra`` follow)."""
        rows = _index(index, len(self))
        picked = {name: getattr(self, name)[rows] for name in _PER_ROW if getattr(self, name) is not None}
        listed = rows.tolist()
        return replace(self, **picked, names=[self.names[i] for i in listed], meta=dict(self.meta),
                       extra={k: _pick(v, rows, listed) for k, v in self.extra.items()})

    def split(self, name: str) -> "FaceSet":
        """One split by its FER2013 name: ``"Training"``, ``"PublicTest"`` or ``"PrivateTest"``."""
        if name not in SPLITS:
            raise KeyError(f"Unknown split {name!r}; FER2013 splits are {', '.join(SPLITS)}")
        if self.usage is None:
            raise ValueError(f"{self.source}: this face set has no FER2013 splits (usage is None)")
        return self.subset(self.usage == SPLITS.index(name))

    def class_counts(self) -> pd.DataFrame:
        """Faces per emotion (rows) and split (columns; one column ``"all"`` for a set without splits)."""
        if self.emotion is None:
            raise ValueError(f"{self.source}: this face set has no emotion labels")
        labelled = self.emotion >= 0
        emotion = self.emotion[labelled]
        usage = self.usage[labelled] if self.usage is not None else torch.zeros_like(emotion)
        columns = list(SPLITS) if self.usage is not None else ["all"]
        table = torch.zeros(len(EMOTIONS), len(columns), dtype=torch.long)
        table.index_put_((emotion, usage), torch.ones_like(emotion), accumulate=True)
        return pd.DataFrame(table.numpy(), index=pd.Index(EMOTIONS, name="emotion"), columns=columns)

    def frame(self) -> pd.DataFrame:
        """The AU intensities as a DataFrame (index: names; columns ``AU6`` ... one per AU of ``aus``)."""
        if self.au is None:
            raise ValueError(f"{self.source}: this face set has no AU intensities")
        return pd.DataFrame(self.au.numpy(), index=self.names, columns=[f"AU{a}" for a in self.aus])


def _index(index, n: int) -> torch.Tensor:
    """Any row selection as an int64 index tensor."""
    if isinstance(index, slice):
        return torch.arange(n)[index]
    rows = torch.as_tensor(np.asarray(index) if isinstance(index, (list, tuple)) else index)
    if rows.dtype == torch.bool:
        if len(rows) != n:
            raise IndexError(f"a boolean mask of {len(rows)} entries cannot select from {n} faces")
        return rows.nonzero().flatten()
    return rows.reshape(-1).long()


def _rows(value) -> int | None:
    if isinstance(value, dict):
        sizes = {_rows(v) for v in value.values()} - {None}
        return sizes.pop() if len(sizes) == 1 else (None if not sizes else -1)
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return len(value) if value.ndim else None
    if isinstance(value, (list, tuple)):
        return len(value)
    return None


def _pick(value, rows: torch.Tensor, listed: list[int]):
    if isinstance(value, dict):
        return {k: _pick(v, rows, listed) for k, v in value.items()}
    if isinstance(value, torch.Tensor):
        return value[rows] if value.ndim else value
    if isinstance(value, np.ndarray):
        return value[rows.numpy()] if value.ndim else value
    if isinstance(value, (list, tuple)):
        return type(value)(value[i] for i in listed)
    return value
