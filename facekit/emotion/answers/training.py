"""Answer prose of notebook 02 (Task 1, Q1.1-Q1.3): the data behind the numbers, did the run converge, is the
train/test gap overfitting, does the Keras BatchNorm momentum hurt, what the confusion matrix shows (and whether
neutral acts as a sink)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Epochs at the end of a run whose PrivateTest accuracy must stay within :data:`MAX_SPREAD` for "converged".
WINDOW = 5
#: Largest max - min PrivateTest accuracy over the last :data:`WINDOW` epochs of a converged run (2 points).
MAX_SPREAD = 0.02
#: A train - test accuracy gap above this (5 points) is a generalisation gap worth naming.
GAP = 0.05


@dataclass(frozen=True)
class Convergence:
    """The end of a training history: the last epoch, the epoch PublicTest picks, and the last-epochs spread."""

    epochs: int
    last_epoch: int
    last_private_acc: float
    picked_epoch: int
    picked_private_acc: float
    window: int
    spread: float                     # max - min PrivateTest accuracy over the last ``window`` epochs

    @property
    def converged(self) -> bool:
        return self.spread <= MAX_SPREAD

    def metrics(self) -> dict:
        return {"last_epoch": self.last_epoch, "last_private_acc": self.last_private_acc,
                "picked_epoch": self.picked_epoch, "picked_private_acc": self.picked_private_acc,
                "last_epochs_window": self.window, "last_epochs_private_spread": self.spread,
                "converged": self.converged if self.window >= WINDOW else None}  # None: too short to judge


def convergence(history: pd.DataFrame, window: int = WINDOW) -> Convergence:
    """Read a trainer history (columns epoch, public_acc, private_acc): last epoch, PublicTest-picked epoch and the
    max - min PrivateTest accuracy over the last ``window`` epochs (all of them when the run is shorter)."""
    if len(history) == 0:
        raise ValueError("The training history is empty: train at least one epoch first.")
    tail = history["private_acc"].iloc[-window:]
    picked = history["public_acc"].idxmax() if history["public_acc"].notna().any() else history.index[-1]
    return Convergence(epochs=len(history), last_epoch=int(history["epoch"].iloc[-1]),
                       last_private_acc=float(history["private_acc"].iloc[-1]),
                       picked_epoch=int(history.loc[picked, "epoch"]),
                       picked_private_acc=float(history.loc[picked, "private_acc"]),
                       window=len(tail), spread=float(tail.max() - tail.min()))


def architecture_answer_text(n_params: int, table48: pd.DataFrame, table44: pd.DataFrame) -> str:
    """The Q1.1 answer: the parameter count and the output shapes, from :func:`facekit.emotion.layer_table` at 48x48
    and at 44x44 (columns name, params, output_shape; the stem's output is row 5)."""
    last = int(table48.loc[table48.name == "last_conv", "params"].iloc[0])
    block4 = lambda t: t.output_shape[t.name == "block4 (add)"].iloc[0]  # noqa: E731
    return (f"**Answer.** The network has **{n_params:,}** trainable parameters, {last:,} of them in the last 3x3 "
            f"convolution. A 48x48 face becomes {table48.output_shape.iloc[5]} after the unpadded stem and "
            f"{block4(table48)} after the four blocks; a 44x44 training crop gives {table44.output_shape.iloc[5]} and "
            f"{block4(table44)}. Each block halves the map (max-pool and the strided 1x1 shortcut), and global average "
            f"pooling turns the {table48.output_shape[table48.name == 'last_conv'].iloc[0]} class maps into 7 logits, "
            "so no dense layer is needed.")


def training_answer_text(history: pd.DataFrame, private_acc: float, private_loss: float, chance: float,
                         schedule: str, threads: int, data) -> str:
    """The Q1.2 answer: the PublicTest-picked epoch's training and PrivateTest numbers, the majority-class
    baseline, convergence (:func:`convergence_text`), the time and :func:`fit_text` at the last epoch."""
    best, last = history.loc[history["public_acc"].idxmax()], history.iloc[-1]
    wall_s = float(history[["train_seconds", "eval_seconds"]].sum().sum())
    return (f"**Answer.** {data_text(data)} The model kept is the best epoch by PublicTest accuracy, epoch "
            f"{int(best.epoch)} of {len(history)}. There the training accuracy is **{best.train_acc:.1%}** (loss "
            f"{best.train_loss:.3f}, on augmented crops) and the model scores **{private_acc:.1%}** on PrivateTest (loss "
            f"**{private_loss:.3f}**; PublicTest {best.public_acc:.1%}); always guessing the largest class would give "
            f"{chance:.1%}. {convergence_text(convergence(history), schedule)} Training took {wall_s / 60:.1f} min at "
            f"{history.train_img_per_s.median():,.0f} training images/s on {threads} thread(s). "
            + fit_text(last.train_acc, last.private_acc, last.private_loss, history.private_loss.min()))


def convergence_text(conv: Convergence, schedule: str) -> str:
    """One or two sentences: the last and the picked epoch, and whether the last epochs agree (the rule: spread at
    most :data:`MAX_SPREAD`)."""
    text = (f"With the {schedule} learning-rate schedule, the last epoch ({conv.last_epoch}) scores "
            f"{conv.last_private_acc:.1%} on PrivateTest and the epoch PublicTest picks ({conv.picked_epoch}) "
            f"{conv.picked_private_acc:.1%}; over the last {conv.window} epoch(s) PrivateTest accuracy varies by "
            f"{conv.spread * 100:.1f} points (max - min).")
    if conv.window < WINDOW:
        return text + f" The run is too short to judge convergence (fewer than {WINDOW} epochs)."
    if conv.converged:
        return text + (f" That is within {MAX_SPREAD * 100:.0f} points, so the run has settled and the reported "
                       "accuracy does not depend on the epoch it stops at.")
    return text + (f" That is more than {MAX_SPREAD * 100:.0f} points: the run has not settled, one epoch's accuracy "
                   "is partly luck of where it stops (a decaying schedule, `SCHEDULE = \"cosine\"`, or more epochs "
                   "would let it converge).")


def fit_text(train_acc: float, test_acc: float, test_loss_last: float, test_loss_min: float,
             gap: float = GAP) -> str:
    """Overfitting or not, from the train and test accuracy at the end of training and whether the test loss has
    risen from its minimum. Overfitting needs both a train - test gap above ``gap`` and a test loss above its best
    value (more training made the test worse); a gap alone is a generalisation gap, no gap is no overfitting."""
    diff = train_acc - test_acc
    rise = test_loss_last - test_loss_min
    rising = rise > 0.02 * max(abs(test_loss_min), 1e-9)
    numbers = (f"training accuracy {train_acc:.1%} (augmented crops) vs PrivateTest {test_acc:.1%}, a gap of "
               f"{diff * 100:+.1f} points; the test loss ends at {test_loss_last:.3f}, its best was {test_loss_min:.3f}")
    if diff > gap and rising:
        return (f"At the end, {numbers}: the model **overfits**, it fits the training faces better than it "
                "generalises and further epochs raise the test loss (keep the PublicTest-picked epoch, or add "
                "regularisation).")
    if diff > gap:
        return (f"At the end, {numbers}: a generalisation gap, but the test loss has not risen from its best, so "
                "more training is not (yet) hurting: no overfitting in the sense that matters for stopping.")
    return (f"At the end, {numbers}: **no sign of overfitting**, train and test agree within {gap * 100:.0f} points "
            "(the training number is measured on augmented crops, which are harder than the centred test crops).")


def noise_band(p: float, n: int) -> float:
    """Two binomial standard errors of an accuracy ``p`` measured on ``n`` faces (the width below which two
    accuracies on the same faces are not told apart here)."""
    if n <= 0 or not math.isfinite(p):
        return float("nan")
    return 2.0 * math.sqrt(max(p * (1 - p), 1e-12) / n)


def bn_momentum_text(acc_correct: float, acc_bug: float, n_test: int) -> str:
    """Whether the Keras-port momentum (0.99 in PyTorch) hurt *this* model: the accuracy difference against two
    binomial standard errors of the test set. A drop beyond the noise is named harm; anything else is said to be
    within the noise (or a gain), and the reader is sent to the running-mean trace for the mechanism."""
    diff = acc_bug - acc_correct
    band = noise_band(acc_correct, n_test)
    numbers = (f"PrivateTest accuracy with the last-batch statistics is {acc_bug:.1%} vs {acc_correct:.1%} "
               f"({diff * 100:+.1f} points; two standard errors on {n_test:,} faces are ±{band * 100:.1f})")
    if diff < -band:
        return (f"{numbers}: the Keras value **hurts** here, because the running statistics become those of one "
                "small batch instead of an average over the training set.")
    if diff > band:
        return (f"{numbers}: on this run the wrong setting even scores **higher**; the statistics of one batch are "
                "noisy (see `bn_momentum.png`), so which way it goes depends on that batch, and the setting is "
                "still wrong: it makes the test accuracy depend on the last batch drawn.")
    return (f"{numbers}: **no measurable difference** on this run. The setting is still wrong (see "
            "`bn_momentum.png`: with 0.99 the running mean jumps with every batch), which makes the test accuracy "
            "depend on which batch came last; on a large, homogeneous data set one batch happens to be close to "
            "the average.")


def data_text(data) -> str:
    """The italic line that names the faces behind an answer's numbers: real FER2013 (``data.meta["real"]``) or the
    synthetic faces facekit renders (the default), with their count."""
    if data.meta.get("real"):
        return f"*Data: real FER2013, {len(data):,} faces.*"
    return (f"*Data: **synthetic** faces that facekit renders (`facekit.synth`, a FER2013-like twin with its class "
            f"proportions), {len(data):,} faces; real FER2013 plugs in the same way (`data/fer2013/`).*")


# --- Q1.3: the confusion matrix -----------------------------------------------------------------------------------

#: A class that loses at least this share of its faces to neutral feeds the sink ...
SINK_SHARE = 0.15
#: ... and neutral is called a sink when at least this many classes do.
SINK_CLASSES = 2


def neutral_sink_text(cm: pd.DataFrame, sink: str = "neutral", share: float = SINK_SHARE,
                      min_classes: int = SINK_CLASSES) -> str:
    """Whether ``sink`` (neutral) swallows the faces of other classes, from the row-normalised confusion matrix
    ``cm`` (rows true, columns predicted): a sink when at least ``min_classes`` classes have ``share`` or more of
    their faces predicted ``sink``."""
    if sink not in cm.columns:
        return ""
    col = cm[sink].drop(sink, errors="ignore").astype(float).sort_values(ascending=False)
    over = col[col >= share]
    listed = ", ".join(f"{v:.0%} of {k}" for k, v in over.items())
    rule = f"(rule: at least {min_classes} classes with {share:.0%} or more of their faces predicted {sink})"
    if len(over) >= min_classes:
        return (f"**{sink.capitalize()} acts as a sink**: {listed} faces are predicted {sink} {rule}; a face whose "
                f"expression the model cannot read ends up in the class that needs no expression.")
    if len(over) == 1:
        return f"{sink.capitalize()} is no general sink: only {listed} faces are predicted {sink} {rule}."
    return (f"{sink.capitalize()} is no sink: no class has {share:.0%} of its faces predicted {sink} (largest: "
            f"{col.iloc[0]:.0%} of {col.index[0]}) {rule}.")


def confusion_answer_text(cm: pd.DataFrame, per_class: pd.DataFrame, stats: dict) -> str:
    """The Q1.3 answer: macro-F1, the weakest and best class and their training counts, the largest mix-up and
    whether neutral is a sink (:func:`neutral_sink_text`). ``per_class`` has a ``recall`` and a ``train_count``
    column (and a ``macro`` row)."""
    classes = per_class.drop(index="macro", errors="ignore")
    worst, best = classes["recall"].idxmin(), classes["recall"].idxmax()
    confused_with = cm.loc[worst].drop(worst).idxmax()
    rank = classes["train_count"].rank().astype(int)
    off = cm.where(~np.eye(len(cm), dtype=bool)).stack()
    pair = off.idxmax()
    big = classes["train_count"].idxmax()
    text = (f"Macro-F1 is **{stats['macro_f1']:.3f}** and balanced accuracy **{stats['balanced_accuracy']:.1%}** "
            f"(accuracy {stats['accuracy']:.1%}). The weakest class is **{worst}** (recall "
            f"{classes.recall[worst]:.1%}, most often taken for *{confused_with}*, {cm.loc[worst, confused_with]:.0%} "
            f"of its faces; {int(classes.train_count[worst]):,} training faces, "
            f"{classes.train_count[worst] / classes.train_count.max():.0%} of the {big} class)")
    if rank[worst] == 1:
        text += (": it is the rarest class in training, and with an unweighted cross-entropy the model gains little "
                 "by ever predicting it.")
    else:
        text += f": it is not the rarest class (rank {rank[worst]} of {len(classes)} by training count)."
    if worst != "disgust" and "disgust" in classes.index:
        text += (f" Disgust recall is **{classes.recall['disgust']:.1%}** "
                 f"({int(classes.train_count['disgust']):,} training faces).")
    text += (f" The best class is **{best}** (recall {classes.recall.max():.1%}, the "
             f"{'largest' if rank[best] == len(classes) else 'rank-' + str(rank[best])} class in training). Off the "
             f"diagonal, the largest mix-up is **{pair[0]} → {pair[1]}** ({off.max():.0%} of the {pair[0]} faces). ")
    return text + neutral_sink_text(cm)


def with_context(context: str, text: str) -> str:
    """``text`` (an answer starting with **Answer.**) with the italic ``context`` line (model, faces, data) put right
    after the mark, so the answer sheet, which keeps outputs that start with the mark, keeps the context too."""
    mark = "**Answer.**"
    body = text[len(mark):].lstrip() if text.startswith(mark) else text
    return f"{mark} {context} {body}" if context else f"{mark} {body}"
