"""The emotion data set object every Task 1 notebook uses, whatever its source.

``FERData`` holds a whole FER2013-style data set in memory: 48x48 uint8 faces, labels 0-6 and the split of each
row. Real FER2013 (``load_fer2013``) and the synthetic generator (``facekit.synth``) both return one, so the trainer
and the notebooks never ask where the faces came from.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import pandas as pd
import torch

#: FER2013's label order: the integer in the ``emotion`` column indexes this tuple.
EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

#: Other names of the FER2013 classes seen in course folders and Kaggle re-uploads (file or folder names).
EMOTION_SYNONYMS: dict[str, str] = {
    "anger": "angry", "mad": "angry", "disgusted": "disgust", "fearful": "fear", "afraid": "fear", "scared": "fear",
    "happiness": "happy", "joy": "happy", "smile": "happy", "sadness": "sad", "surprised": "surprise",
    "calm": "neutral", "contempt": None,
}


def emotion_from_name(name: str) -> str | None:
    """The FER2013 emotion a file or folder name stands for (``surprised.jpg`` -> ``surprise``, ``Happy_2`` ->
    ``happy``, ``anger`` -> ``angry``), or ``None`` when the name is no emotion. Case, the extension and a trailing
    number (``_2``, ``-03``, ``1``) are ignored."""
    import re

    stem = re.sub(r"\.[a-z0-9]{2,5}$", "", str(name).strip().lower())
    stem = re.sub(r"[\s_\-]*\(?\d+\)?$", "", stem)
    if stem in EMOTIONS:
        return stem
    return EMOTION_SYNONYMS.get(stem)


#: FER2013's ``Usage`` values, in the order of the integer codes of :attr:`FERData.usage`.
SPLITS: tuple[str, ...] = ("Training", "PublicTest", "PrivateTest")

#: FER2013's exact class counts per split, in :data:`EMOTIONS` order (35,887 faces in all).
FER2013_COUNTS: dict[str, tuple[int, ...]] = {
    "Training": (3995, 436, 4097, 7215, 4830, 3171, 4965),
    "PublicTest": (467, 56, 496, 895, 653, 415, 607),
    "PrivateTest": (491, 55, 528, 879, 594, 416, 626),
}


@dataclass
class FERData:
    """A FER2013-style data set held in memory.

    ``images`` uint8 (N, 48, 48); ``labels`` int64 (N,) indexing :data:`EMOTIONS`; ``usage`` int64 (N,) indexing
    :data:`SPLITS`; ``source`` says where it came from (shown in notebooks). Synthetic data also carries the
    ground truth no real data set has: ``au`` (N, len(facekit.synth.AUS)) intensities 0-5, ``landmarks``
    (N, K, 2) pixel coordinates, and ``clean_labels`` (the label before FER-like label noise was added).
    """

    images: torch.Tensor
    labels: torch.Tensor
    usage: torch.Tensor
    source: str = "unknown"
    au: torch.Tensor | None = None
    landmarks: torch.Tensor | None = None
    clean_labels: torch.Tensor | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.images)
        if self.images.dtype != torch.uint8 or self.images.ndim != 3:
            raise ValueError(f"FERData.images must be uint8 (N, H, W), got {self.images.dtype} {tuple(self.images.shape)}")
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, torch.Tensor) and len(value) != n:
                raise ValueError(f"FERData.{f.name} has {len(value)} rows but images has {n}")
        if n and (int(self.labels.min()) < 0 or int(self.labels.max()) >= len(EMOTIONS)):
            raise ValueError(f"FERData.labels must lie in 0..{len(EMOTIONS) - 1}")

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, index: torch.Tensor) -> "FERData":
        """The rows selected by a boolean mask or an index tensor (all per-row tensors follow)."""
        picked = {f.name: getattr(self, f.name)[index] for f in fields(self)
                  if isinstance(getattr(self, f.name), torch.Tensor)}
        return replace(self, **picked)

    def split(self, name: str) -> "FERData":
        """One split by its FER2013 name: ``"Training"``, ``"PublicTest"`` or ``"PrivateTest"``."""
        if name not in SPLITS:
            raise KeyError(f"Unknown split {name!r}; FER2013 splits are {', '.join(SPLITS)}")
        return self.subset(self.usage == SPLITS.index(name))

    def class_counts(self) -> pd.DataFrame:
        """Faces per emotion (rows) and split (columns)."""
        table = torch.zeros(len(EMOTIONS), len(SPLITS), dtype=torch.long)
        table.index_put_((self.labels, self.usage), torch.ones_like(self.labels), accumulate=True)
        return pd.DataFrame(table.numpy(), index=pd.Index(EMOTIONS, name="emotion"), columns=list(SPLITS))
