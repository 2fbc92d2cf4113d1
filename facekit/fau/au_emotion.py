"""Emotions from facial action units: the EMFACS prototype rules and a small classifier on AU vectors.

Two readers of the same AU vector (intensities 0-5, columns in :data:`facekit.synth.AUS` order unless ``aus=`` says
otherwise):

* :func:`predict_emotion_rules` matches the vector against the EMFACS prototypes below (a documented table, no
  training) and :func:`explain_rules` turns one decision into a sentence: ``happy because AU6 = 3.1 and AU12 = 4.0``.
* :func:`fit_au_classifier` trains a multinomial logistic regression on AU vectors (any subset of AUs, e.g. the five
  the FAU model predicts); its weights are readable per AU and per emotion (:meth:`AUClassifier.explain`).

The comparison of question 2.5 (:func:`render_emotion_faces`, :func:`compare_methods`, :func:`plot_explained_faces`)
renders each face twice from the same random parameters, at 128 px for the FAU model and at 48 px for Task 1's
mini-Xception, so every method judges the same faces; scores come from :func:`facekit.emotion.summarize`.

The prototype table (Friesen & Ekman's EMFACS, in the form quoted by most FACS summaries, e.g. Wikipedia's
"Facial Action Coding System" and Lucey et al., CK+, CVPRW 2010):

======== ============================= ===================================================================
emotion  prototype AUs                 reading
======== ============================= ===================================================================
angry    4 + 5 + 7 + 23                brow lowerer, upper lid raiser, lid tightener, lip tightener
disgust  9 + 15 + 16                   nose wrinkler, lip corner depressor, lower lip depressor
fear     1 + 2 + 4 + 5 + 7 + 20 + 26   inner + outer brow raiser, brow lowerer, lids, lip stretcher, jaw drop
happy    6 + 12                        cheek raiser, lip corner puller (the Duchenne smile)
sad      1 + 4 + 15                    inner brow raiser, brow lowerer, lip corner depressor
surprise 1 + 2 + 5 + 26                brows raised, upper lid raised, jaw drop
neutral  (no AU active)                every intensity below the activation threshold
======== ============================= ===================================================================

Matching rule: an AU is *active* when its intensity reaches ``threshold`` (default 1.0, FACS "A" = trace). Each
emotion scores the cosine similarity between the AU vector and its binary prototype; fear's prototype contains
surprise's, and the cosine (unlike a mean over the prototype) prefers the prototype that explains the active AUs
without leaving any out or adding absent ones. With no active AU, or only AUs that belong to no prototype (e.g.
AU10 alone), the answer is ``neutral``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from facekit.data.faceset import FaceSet
from facekit.data.fer import EMOTIONS
from facekit.emotion.metrics import wilson_interval
from facekit.emotion import predict
from facekit.emotion import summarize
from facekit.fau.model import FAU_AUS
from facekit.fau.train import predict_intensities
from facekit.synth import AUS
from facekit.synth import render_faces
from collections import Counter
import textwrap
import torch

#: EMFACS prototypes: emotion -> the AUs that must be present (see the module docstring for the source).
EMFACS_PROTOTYPES: dict[str, tuple[int, ...]] = {
    "angry": (4, 5, 7, 23),
    "disgust": (9, 15, 16),
    "fear": (1, 2, 4, 5, 7, 20, 26),
    "happy": (6, 12),
    "sad": (1, 4, 15),
    "surprise": (1, 2, 5, 26),
}

#: Intensity (0-5 scale) at which an AU counts as present; FACS intensity "A" (trace) is about 1.
ACTIVE_THRESHOLD = 1.0


def _synth_aus() -> tuple[int, ...]:

    return tuple(int(a) for a in AUS)


def _as_matrix(au, aus: Sequence[int] | None) -> tuple[np.ndarray, tuple[int, ...]]:
    """AU intensities as a float (N, A) array and the AU numbers of its columns, checked against each other."""
    aus = tuple(int(a) for a in (aus if aus is not None else _synth_aus()))
    x = np.asarray(au.detach().cpu().numpy() if hasattr(au, "detach") else au, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] != len(aus):
        raise ValueError(f"AU array has shape {x.shape}, expected (N, {len(aus)}) with columns AU{', AU'.join(map(str, aus))}; "
                         "pass aus=[...] naming the AU of each column.")
    if not np.isfinite(x).all():
        raise ValueError("AU array contains NaN or inf: drop or impute those faces first.")
    return x, aus


def prototype_matrix(aus: Sequence[int] | None = None) -> pd.DataFrame:
    """The EMFACS table as a 0/1 DataFrame: rows = emotions with a prototype, columns = ``AU<k>`` for ``aus``.

    Raises if ``aus`` lacks an AU some prototype needs (say which), because a rule that silently ignores half its
    AUs is a different rule.
    """
    aus = tuple(int(a) for a in (aus if aus is not None else _synth_aus()))
    missing = sorted({a for proto in EMFACS_PROTOTYPES.values() for a in proto} - set(aus))
    if missing:
        raise ValueError(f"The EMFACS rules need AU{', AU'.join(map(str, missing))}, which the AU vector lacks "
                         f"(it has AU{', AU'.join(map(str, aus))}). Use fit_au_classifier for partial AU sets.")
    table = pd.DataFrame(0, index=pd.Index(list(EMFACS_PROTOTYPES), name="emotion"),
                         columns=[f"AU{a}" for a in aus])
    for emotion, proto in EMFACS_PROTOTYPES.items():
        table.loc[emotion, [f"AU{a}" for a in proto]] = 1
    return table


def rule_scores(au, aus: Sequence[int] | None = None, threshold: float = ACTIVE_THRESHOLD) -> pd.DataFrame:
    """Cosine match of each face's AU vector with each EMFACS prototype (N rows, one column per prototype).

    Intensities below ``threshold`` are treated as absent before matching, so trace noise does not vote.
    """
    x, aus = _as_matrix(au, aus)
    protos = prototype_matrix(aus).to_numpy(dtype=np.float64)
    active = np.where(x >= threshold, x, 0.0)
    norm = np.linalg.norm(active, axis=1, keepdims=True) * np.linalg.norm(protos, axis=1)[None, :]
    scores = np.divide(active @ protos.T, norm, out=np.zeros((len(x), len(protos))), where=norm > 0)
    return pd.DataFrame(scores, columns=list(EMFACS_PROTOTYPES))


def predict_emotion_rules(au, aus: Sequence[int] | None = None, threshold: float = ACTIVE_THRESHOLD) -> np.ndarray:
    """EMFACS rule prediction: label indices into :data:`facekit.data.fer.EMOTIONS` (neutral when no AU is active)."""
    x, aus = _as_matrix(au, aus)
    scores = rule_scores(x, aus, threshold)
    best = scores.to_numpy().argmax(axis=1)
    labels = np.array([EMOTIONS.index(scores.columns[b]) for b in best], dtype=np.int64)
    labels[(x < threshold).all(axis=1) | (scores.to_numpy().max(axis=1) <= 0)] = EMOTIONS.index("neutral")
    return labels


def explain_rules(au_row, aus: Sequence[int] | None = None, threshold: float = ACTIVE_THRESHOLD) -> str:
    """One face's rule decision in words, e.g. ``"happy because AU6 = 3.1 and AU12 = 4.0"``."""
    x, aus = _as_matrix(au_row, aus)
    if len(x) != 1:
        raise ValueError(f"explain_rules explains one face; got {len(x)}. Pass one row, e.g. au[i].")
    emotion = EMOTIONS[int(predict_emotion_rules(x, aus, threshold)[0])]
    if emotion == "neutral":
        top = int(np.argmax(x[0]))
        if x[0, top] >= threshold:
            return f"neutral because no prototype AU is present (active: AU{aus[top]} = {x[0, top]:.1f})"
        return f"neutral because no AU reaches {threshold:g} (largest: AU{aus[top]} = {x[0, top]:.1f})"
    proto = EMFACS_PROTOTYPES[emotion]
    parts = [f"AU{a} = {x[0, aus.index(a)]:.1f}" for a in proto if x[0, aus.index(a)] >= threshold]
    absent = [f"AU{a}" for a in proto if x[0, aus.index(a)] < threshold]
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"{emotion} because {listed}" + (f" ({', '.join(absent)} absent)" if absent else "")


@dataclass
class AUClassifier:
    """A multinomial logistic regression from AU intensities to the seven emotions (fit with :func:`fit_au_classifier`)."""
    aus: tuple[int, ...]
    model: object
    mean: np.ndarray
    scale: np.ndarray
    classes: np.ndarray = field(default_factory=lambda: np.arange(len(EMOTIONS)))

    def _features(self, au) -> np.ndarray:
        x, _ = _as_matrix(au, self.aus)
        return (x - self.mean) / self.scale

    def predict_proba(self, au) -> np.ndarray:
        """(N, 7) probabilities in :data:`EMOTIONS` order (classes absent from training get 0)."""
        proba = np.zeros((len(np.atleast_2d(np.asarray(au))), len(EMOTIONS)))
        proba[:, self.model.classes_] = self.model.predict_proba(self._features(au))
        return proba

    def predict(self, au) -> np.ndarray:
        """Label indices into :data:`EMOTIONS`."""
        return self.model.predict(self._features(au)).astype(np.int64)

    def weights(self) -> pd.DataFrame:
        """Per-emotion weight of each (standardised) AU: the model's whole decision rule, readable as a table."""
        return pd.DataFrame(self.model.coef_, index=[EMOTIONS[c] for c in self.model.classes_],
                            columns=[f"AU{a}" for a in self.aus])

    def explain(self, au_row, top: int = 2) -> str:
        """One face's decision in words: the AUs that pushed most towards the predicted emotion."""
        z = self._features(au_row)
        if len(z) != 1:
            raise ValueError(f"explain explains one face; got {len(z)}. Pass one row, e.g. au[i].")
        label = int(self.model.predict(z)[0])
        row = list(self.model.classes_).index(label)
        contrib = self.model.coef_[row] * z[0]
        order = np.argsort(-contrib)[:top]
        raw = (z[0] * self.scale + self.mean)
        parts = [f"AU{self.aus[i]} = {raw[i]:.1f}" for i in order if contrib[i] > 0] or ["no AU above its mean"]
        listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        return f"{EMOTIONS[label]} because {listed}"


def fit_au_classifier(au, labels, aus: Sequence[int] | None = None, C: float = 1.0, seed: int = 0) -> AUClassifier:
    """Fit a standardised multinomial logistic regression on AU vectors (columns named by ``aus``)."""
    # lazy: scikit-learn pulls in SciPy (slow), needed only for metrics
    from sklearn.linear_model import LogisticRegression

    x, aus = _as_matrix(au, aus)
    y = np.asarray(labels.cpu().numpy() if hasattr(labels, "cpu") else labels, dtype=np.int64)
    if len(y) != len(x):
        raise ValueError(f"fit_au_classifier got {len(x)} AU rows but {len(y)} labels; they must match one to one.")
    if len(np.unique(y)) < 2:
        raise ValueError("fit_au_classifier needs at least two emotions among the labels.")
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-8] = 1.0
    model = LogisticRegression(C=C, max_iter=2000, random_state=seed)
    model.fit((x - mean) / scale, y)
    return AUClassifier(aus, model, mean, scale)


# --- question 2.5: the same faces through every method ---------------------------------------------------------------

def render_emotion_faces(n: int, seed: int, domain: str = "lab", size: int = 128) -> dict[int, FaceSet]:
    """``n`` faces with balanced true emotions, rendered at ``size`` and at 48 px from the same random parameters:
    ``{size: faces for the FAU model, 48: the same faces for mini-Xception}``, two :class:`~facekit.data.FaceSet`
    with the same ``au`` (all 17), ``emotion`` (the annotator's, noisy) and ``clean_emotion`` (the emotion the AUs
    were drawn for).

    The generator draws its random streams per chunk, so both sizes are rendered with the same chunk length; the
    two renderings then share identity, expression, pose and lighting (only the pixel noise differs).
    """


    if int(size) == 48:
        raise ValueError("render_emotion_faces: size is the FAU model's input size; the 48 px twin is always made.")
    if n < len(EMOTIONS):
        raise ValueError(f"render_emotion_faces: n={n} is too small, ask for at least {len(EMOTIONS)} faces.")
    g = torch.Generator().manual_seed(seed)
    emotion = (torch.arange(n) % len(EMOTIONS))[torch.randperm(n, generator=g)]
    chunk = min(n, 256)
    big = render_faces(n, seed=seed, domain=domain, size=size, emotion=emotion, chunk=chunk)
    small = render_faces(n, seed=seed, domain=domain, size=48, emotion=emotion, chunk=chunk)
    if not torch.equal(big.au, small.au):
        raise RuntimeError("render_emotion_faces: the 48 px and large renderings drew different AUs; the generator's "
                           "random streams changed, so the two sizes no longer show the same faces.")
    return {int(size): big, 48: small}


def predict_direct(emotion_model, faces: FaceSet) -> np.ndarray:
    """Task 1's mini-Xception on 48 px faces (the 48 px set of :func:`render_emotion_faces`): label indices into
    :data:`EMOTIONS`."""

    return predict(emotion_model, faces.images).pred.numpy()


def predict_fau_aus(fau_model, faces: FaceSet) -> np.ndarray:
    """The FAU model's (N, A) intensities of its AUs (``fau_model.config.aus``: AU6, AU10, AU12, AU14, AU17 for the
    demo model, all 17 for ``FAUConfig.all_aus()``) on the large faces of :func:`render_emotion_faces`."""

    return predict_intensities(fau_model, faces.images.numpy())


def fau_columns(au17, aus: Sequence[int] | None = None) -> np.ndarray:
    """The columns of ``aus`` (default the five FAU-model AUs 6, 10, 12, 14, 17) out of a 17-column ground truth."""
    every = _synth_aus()
    return np.asarray(au17)[:, [every.index(a) for a in (aus if aus is not None else FAU_AUS)]]


def compare_methods(predictions: dict, truth: dict) -> pd.DataFrame:
    """``{(method, domain): labels}`` and ``{domain: true labels}`` -> one row per (method, domain) with accuracy,
    macro-F1, balanced accuracy and per-class recall (:func:`facekit.emotion.summarize`)."""

    rows = []
    for (method, domain), pred in predictions.items():
        if domain not in truth:
            raise KeyError(f"compare_methods: no true labels for domain {domain!r}; have {sorted(truth)}.")
        rows.append({"method": method, "domain": domain, **summarize(truth[domain], np.asarray(pred))})
    return pd.DataFrame(rows).set_index(["method", "domain"])


def top_confusions(truth, pred, k: int = 3) -> str:
    """The ``k`` most frequent errors as text, e.g. ``"fear->surprise 21, sad->neutral 17"``."""
    errors = Counter((EMOTIONS[t], EMOTIONS[p]) for t, p in zip(np.asarray(truth), np.asarray(pred)) if t != p)
    return ", ".join(f"{t}->{p} {c}" for (t, p), c in errors.most_common(k)) or "none"


def plot_recall(table: pd.DataFrame, domain: str):
    """Grouped bars: per-class recall of every method in one domain. Returns the Figure."""
    import matplotlib.pyplot as plt  # lazy: plotting only; the CLI and training paths never load matplotlib

    sub = table.xs(domain, level="domain")[[f"recall_{e}" for e in EMOTIONS]]
    sub.columns = list(EMOTIONS)
    fig, ax = plt.subplots(figsize=(9, 3.4))
    sub.T.plot.bar(ax=ax, width=0.8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("recall")
    ax.set_title(f"Per-class recall, {domain} faces")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)  # beside the bars, never on them
    fig.tight_layout()
    return fig


def plot_explained_faces(images, captions: list[str], title: str = "", ncols: int = 4):
    """A grid of faces, each with a multi-line caption (e.g. the truth and every method's explained answer)."""
    import matplotlib.pyplot as plt  # lazy: plotting only; the CLI and training paths never load matplotlib

    n = len(captions)
    nrows = (n + ncols - 1) // ncols
    captions = ["\n".join(textwrap.fill(line, 44, subsequent_indent="  ") for line in c.splitlines()) for c in captions]
    lines = max(c.count("\n") + 1 for c in captions) if captions else 1
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, (3.2 + 0.2 * lines) * nrows), squeeze=False,
                             layout="constrained")
    for ax in axes.ravel():
        ax.axis("off")
    for i, (img, cap) in enumerate(zip(images, captions)):
        ax = axes.ravel()[i]
        ax.imshow(np.asarray(img), cmap="gray", vmin=0, vmax=255)
        ax.set_title(cap, fontsize=7, loc="left")
    if title:
        fig.suptitle(title)
    return fig


# --- question 2.5: confidence intervals and the computed verdict -----------------------------------------------------

def add_intervals(table: pd.DataFrame, n: dict, z: float = 1.96) -> pd.DataFrame:
    """Add ``acc_lo``/``acc_hi`` (Wilson 95 % interval of ``accuracy``) to a :func:`compare_methods` table;
    ``n`` maps each domain to its number of test faces."""
    out = table.copy()
    bounds = [wilson_interval(round(acc * n[d]), n[d], z) for (_, d), acc in out["accuracy"].items()]
    out["acc_lo"], out["acc_hi"] = [b[0] for b in bounds], [b[1] for b in bounds]
    return out


def wild_au_errors(scores_lab: pd.DataFrame, scores_wild: pd.DataFrame) -> pd.DataFrame:
    """Per-AU MAE in lab and wild (from :func:`facekit.fau.metrics.score_aus` tables) and its rise, largest first."""
    lab, wild = scores_lab.drop(index="mean", errors="ignore"), scores_wild.drop(index="mean", errors="ignore")
    out = pd.DataFrame({"mae_lab": lab["mae"], "mae_wild": wild["mae"], "icc_lab": lab["icc"], "icc_wild": wild["icc"]})
    out["mae_rise"] = out["mae_wild"] - out["mae_lab"]
    return out.sort_values("mae_rise", ascending=False)


def compare_to_direct(table: pd.DataFrame, direct: str, au_methods: Sequence[str], domain: str) -> dict:
    """The best AU-route method in ``domain`` against the ``direct`` classifier: accuracies, difference and whether
    their 95 % intervals (``acc_lo``/``acc_hi``, see :func:`add_intervals`) overlap.

    ``winner`` is ``"AU route"`` or ``"direct"`` when the intervals are apart, else ``"neither"``."""
    sub = table.xs(domain, level="domain")
    best = max(au_methods, key=lambda m: sub.loc[m, "accuracy"])
    a, d = sub.loc[best], sub.loc[direct]
    winner = "AU route" if a["acc_lo"] > d["acc_hi"] else "direct" if d["acc_lo"] > a["acc_hi"] else "neither"
    return {"domain": domain, "best": best, "acc_au": float(a["accuracy"]), "acc_direct": float(d["accuracy"]),
            "diff": float(a["accuracy"] - d["accuracy"]), "winner": winner,
            "ci_au": (float(a["acc_lo"]), float(a["acc_hi"])), "ci_direct": (float(d["acc_lo"]), float(d["acc_hi"]))}


