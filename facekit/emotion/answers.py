"""The computed conclusions of notebook 02 (Task 1, questions 1-3): did the run converge, is the train/test gap
overfitting, does the Keras BatchNorm momentum hurt.

Each function takes the run's numbers and returns the sentence the notebook prints; the qualitative part is chosen
by a small rule over those numbers (``tests/test_answers.py`` feeds contrary numbers and checks the text flips), so a
rerun cannot leave a stale conclusion behind.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

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
