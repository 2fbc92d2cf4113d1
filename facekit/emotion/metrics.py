"""Predictions and the numbers Task 1 reports: accuracy and loss, confusion matrix, per-class precision / recall /
F1, macro-F1 and balanced accuracy (the mean of the per-class recalls, which a majority-class guesser cannot game).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.metrics import balanced_accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support
from tqdm.auto import tqdm

from facekit.data.faceset import FaceSet
from facekit.data.fer import EMOTIONS
from facekit.emotion.augment import center_crop
from facekit.emotion.xception import preprocess
from facekit.runtime import adapt_threads


@dataclass
class Predictions:
    """What a model said about a set of faces: ``logits`` (N, C) float, ``labels`` (N,) int64 or None."""

    logits: torch.Tensor
    labels: torch.Tensor | None = None

    @property
    def probs(self) -> torch.Tensor:
        return self.logits.softmax(1)

    @property
    def pred(self) -> torch.Tensor:
        return self.logits.argmax(1)

    @property
    def loss(self) -> float:
        """Mean cross-entropy (needs labels)."""
        return float(F.cross_entropy(self.logits, self._need_labels()))

    @property
    def accuracy(self) -> float:
        return float((self.pred == self._need_labels()).float().mean())

    def _need_labels(self) -> torch.Tensor:
        if self.labels is None:
            raise ValueError("These predictions have no labels: pass a FaceSet (or labels=) to predict().")
        return self.labels


def predict(model: torch.nn.Module, faces: FaceSet | torch.Tensor, labels: torch.Tensor | None = None,
            crop: int = 44, batch_size: int = 512, device: str | torch.device | None = None,
            progress: bool = False) -> Predictions:
    """Run ``model`` (in eval mode, no gradients) on uint8 faces (N, 48, 48) or a :class:`FaceSet`, centre-cropped
    to ``crop`` and normalised with :func:`preprocess`; returns :class:`Predictions` (logits on the CPU).

    Odd chunks of 3 or more faces are padded to an even size (outputs of the padding dropped): channels_last
    kernels on some CPUs misbehave on odd batch sizes, and padding costs one face.
    """
    if isinstance(faces, FaceSet):
        labels = faces.emotion if labels is None else labels
        faces = faces.images
    if device is None:
        device = next(model.parameters()).device
    channels_last = _is_channels_last(model)
    was_training = model.training
    model.eval()
    outputs = []
    try:
        with torch.no_grad():
            starts = range(0, len(faces), batch_size)
            for start in tqdm(starts, desc="predict", leave=False, disable=not progress):
                adapt_threads()
                chunk = faces[start:start + batch_size]
                n = len(chunk)
                if n >= 3 and n % 2:
                    chunk = torch.cat([chunk, chunk[-1:]])
                x = preprocess(center_crop(chunk, crop)).to(device)
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                outputs.append(model(x)[:n].float().cpu())
    finally:
        model.train(was_training)
    logits = torch.cat(outputs) if outputs else torch.zeros(0, getattr(model, "config", {}).get("num_classes", 7))
    return Predictions(logits, None if labels is None else torch.as_tensor(labels).long().cpu())


def _is_channels_last(model: torch.nn.Module) -> bool:
    weight = next((p for p in model.parameters() if p.ndim == 4 and p.shape[1] > 1 and p.shape[2] > 1), None)
    return weight is not None and weight.is_contiguous(memory_format=torch.channels_last) \
        and not weight.is_contiguous()


def confusion(labels, pred, classes: tuple[str, ...] = EMOTIONS, normalize: bool = False) -> pd.DataFrame:
    """Confusion matrix as a DataFrame: rows = true emotion, columns = predicted emotion.

    ``normalize=True`` divides each row by its count (rows sum to 1; the diagonal is the per-class recall)."""
    labels, pred = np.asarray(labels), np.asarray(pred)
    cm = confusion_matrix(labels, pred, labels=list(range(len(classes)))).astype(float if normalize else int)
    if normalize:
        cm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    return pd.DataFrame(cm, index=pd.Index(classes, name="true"), columns=pd.Index(classes, name="predicted"))


def per_class_report(labels, pred, classes: tuple[str, ...] = EMOTIONS) -> pd.DataFrame:
    """Precision, recall, F1 and support per emotion (one row each), plus a ``macro`` row (unweighted means)."""
    labels, pred = np.asarray(labels), np.asarray(pred)
    p, r, f, s = precision_recall_fscore_support(labels, pred, labels=list(range(len(classes))), zero_division=0)
    table = pd.DataFrame({"precision": p, "recall": r, "f1": f, "support": s},
                         index=pd.Index(classes, name="emotion"))
    table.loc["macro"] = [p.mean(), r.mean(), f.mean(), s.sum()]
    table["support"] = table["support"].astype(int)
    return table


def summarize(labels, pred, classes: tuple[str, ...] = EMOTIONS) -> dict[str, float]:
    """Headline numbers: ``accuracy``, ``macro_f1``, ``balanced_accuracy`` and ``recall_<emotion>`` per class."""
    labels, pred = np.asarray(labels), np.asarray(pred)
    out = {"accuracy": float((labels == pred).mean()) if len(labels) else float("nan"),
           "macro_f1": float(f1_score(labels, pred, labels=list(range(len(classes))), average="macro",
                                      zero_division=0)),
           "balanced_accuracy": float(balanced_accuracy_score(labels, pred)) if len(labels) else float("nan")}
    recall = per_class_report(labels, pred, classes)["recall"]
    out.update({f"recall_{name}": float(recall[name]) for name in classes})
    return out


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion (sensible at 0 and 1, unlike p +- 2 SE)."""
    if n <= 0:
        return float("nan"), float("nan")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))
