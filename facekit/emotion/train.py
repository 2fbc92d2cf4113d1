"""The in-memory CPU trainer of Task 1 (questions 2-3).

The whole training set stays in memory as one uint8 tensor; each batch is cropped and flipped with one tensor
gather (:mod:`facekit.emotion.augment`) and normalised with :func:`~facekit.emotion.xception.preprocess`. No
``DataLoader``, no PIL, no worker processes: on a 2-core CPU that alone is several times faster than per-face
torchvision transforms.

Default recipe: the public starter's (batch 128, SGD lr 0.01, momentum 0.9, weight decay 5e-3, 20 epochs,
cross-entropy) with one change, a cosine learning-rate schedule (``schedule="cosine"``: the rate falls from ``lr`` to
0 over the run, step by step). With the starter's constant rate (``schedule="constant"``, still available) the
PrivateTest accuracy of the last epochs swings by several points, so "the" test accuracy depends on where the run
stops; the cosine decay lets the last epochs settle (notebook 02 reports the last-5-epoch spread). After each epoch the model is evaluated on PublicTest ("public", used to pick the best epoch) and
PrivateTest ("private", the held-out test).

channels_last: on CPU the model runs about twice as fast in channels_last memory format, but on some CPUs (this
project's machines, torch 2.13-2.15) *backward* in channels_last corrupts memory and crashes the process for odd
batch sizes >= 3. The trainer therefore never back-propagates an odd batch of 3 or more in channels_last: such a
batch (the last one of an epoch, or every one if ``batch_size`` is odd) loses one randomly placed face, which the
shuffle of the next epoch brings back. Evaluation pads odd chunks instead. The returned model is NCHW again, so
Grad-CAM and friends never meet the bug.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from facekit.data.faceset import FaceSet
from facekit.data.fer import EMOTIONS
from facekit.emotion.augment import random_crop_flip
from facekit.emotion.checkpoint import ARCH, CHECKPOINT_NAME, load_emotion_model, model_payload
from facekit.emotion.metrics import predict
from facekit.emotion.xception import MiniXception, preprocess
from facekit.io import atomic_write_bytes, load_checkpoint, save_checkpoint, sweep_temp_files
from facekit.runtime import adapt_threads
import hashlib

#: The evaluation sets of every epoch: history column prefix -> FER2013 split.
_EVAL_SPLITS: dict[str, str] = {"public": "PublicTest", "private": "PrivateTest"}


#: Learning-rate schedules of :class:`TrainConfig`.
_SCHEDULES: tuple[str, ...] = ("cosine", "constant")


def scheduled_lr(lr: float, schedule: str, progress: float) -> float:
    """The learning rate at ``progress`` (0 = start of training, 1 = end) under ``schedule``: ``lr`` throughout
    for "constant", ``lr * (1 + cos(pi * progress)) / 2`` for "cosine"."""
    if schedule == "constant":
        return lr
    if schedule == "cosine":
        return lr * 0.5 * (1.0 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))
    raise ValueError(f"Unknown learning-rate schedule {schedule!r}; use one of {', '.join(_SCHEDULES)}.")


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message says when, and what to try."""


@dataclass
class TrainConfig:
    """The training recipe (defaults = the public starter's plus a cosine schedule). Stored in every checkpoint."""
    epochs: int = 20                  # total epochs (a resumed run continues up to this number)
    batch_size: int = 128             # faces per SGD step
    lr: float = 0.01                  # SGD learning rate (the peak rate under a schedule)
    schedule: str = "cosine"          # "cosine": lr decays to 0 over the epochs; "constant": the starter's recipe
    momentum: float = 0.9             # SGD momentum
    weight_decay: float = 5e-3        # L2 penalty (SGD weight_decay)
    crop: int = 44                    # random crop size (training) / centre crop (evaluation)
    flip: bool = True                 # random horizontal flips
    bn_momentum: float = 0.01         # PyTorch BatchNorm momentum (0.01 = Keras 0.99; 0.99 reproduces the bug)
    seed: int = 0                     # model initialisation, shuffling and augmentation
    channels_last: bool | None = None  # None: on for CPU (about 2x faster), off elsewhere
    eval_batch_size: int = 512        # faces per forward pass when evaluating
    max_steps: int | None = None      # stop each epoch after this many steps (benchmarks, smoke runs)
    class_weights: tuple[float, ...] | None = None  # per-class cross-entropy weights (None: plain cross-entropy)
    balanced_sampling: bool = False   # draw each epoch's faces with probability 1 / (faces of their class)
    freeze: tuple[str, ...] = ()      # top-level layers (e.g. "stem", "block1") whose weights and BN stats stay fixed

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "crop", "eval_batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"TrainConfig.{name} must be a positive integer, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"TrainConfig.lr must be positive, got {self.lr}")
        if self.schedule not in _SCHEDULES:
            raise ValueError(f"TrainConfig.schedule must be one of {', '.join(_SCHEDULES)}, got {self.schedule!r}")

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def balanced_order(labels, n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` indices drawn with replacement, each face with probability proportional to 1 / (faces of its class)."""
    labels = torch.as_tensor(labels).long()
    counts = torch.bincount(labels).double()
    prob = (1.0 / counts)[labels]
    return torch.multinomial(prob / prob.sum(), n, replacement=True, generator=generator)


def freeze_layers(model: torch.nn.Module, names) -> list[str]:
    """Stop gradients of the named top-level layers (their BatchNorm statistics are kept fixed by the trainer,
    which holds them in eval mode); returns the names."""
    children = dict(model.named_children())
    unknown = [n for n in names if n not in children]
    if unknown:
        raise ValueError(f"Cannot freeze {unknown}: the model's layers are {', '.join(children)}.")
    for name in names:
        for p in children[name].parameters():
            p.requires_grad_(False)
    return list(names)


def safe_batch_size(n: int, channels_last: bool) -> int:
    """The number of faces of an ``n``-face batch that may go through backward: ``n``, or ``n - 1`` when
    channels_last is on and ``n`` is odd and at least 3 (the CPU crash described in the module docstring)."""
    return n - 1 if channels_last and n >= 3 and n % 2 else n


@dataclass
class EpochResult:
    loss: float
    accuracy: float
    images: int
    steps: int
    seconds: float

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else float("nan")


@dataclass
class Trainer:
    """Trains a :class:`MiniXception` on a :class:`FaceSet` held in memory.

    ``Trainer(data).fit()`` trains on the Training split and evaluates on PublicTest / PrivateTest each epoch,
    saving ``<ckpt_dir>/<name>_best.pt`` (best public accuracy so far, weights only) and ``<name>_last.pt``
    (weights, optimizer, RNG state: what :meth:`resume` needs) atomically after every epoch. Only when all
    ``config.epochs`` are done is the best model published as ``<ckpt_dir>/<name>.pt``, the file the notebooks
    load (:func:`facekit.find_checkpoint`): an interrupted run never passes for a finished one. Temporary files
    of a write that was killed are removed when the next trainer starts in that folder. :meth:`train_epoch` runs
    one epoch (or ``max_steps`` steps) alone, for benchmarks.
    """

    data: FaceSet
    config: TrainConfig = field(default_factory=TrainConfig)
    ckpt_dir: str | os.PathLike | None = None
    name: str = CHECKPOINT_NAME.removesuffix(".pt")
    device: str | torch.device = "cpu"
    progress: bool = True
    model: MiniXception | None = None

    def __post_init__(self) -> None:
        cfg = self.config
        self.device = torch.device(self.device)
        self.train_set = self.data.split("Training")
        if len(self.train_set) == 0:
            raise ValueError(f"{self.data.source}: the data set has no 'Training' rows; FaceSet.usage must mark "
                             "training faces with 0 (SPLITS index of 'Training').")
        self.eval_sets = {key: self.data.split(split) for key, split in _EVAL_SPLITS.items()}
        if self.model is None:
            torch.manual_seed(cfg.seed)
            self.model = MiniXception(num_classes=len(EMOTIONS), bn_momentum=cfg.bn_momentum)
        self.channels_last = cfg.channels_last if cfg.channels_last is not None else self.device.type == "cpu"
        freeze_layers(self.model, cfg.freeze)
        self.model.to(self.device)
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.SGD([p for p in self.model.parameters() if p.requires_grad], lr=cfg.lr,
                                         momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        self.loss_weight = (None if cfg.class_weights is None
                            else torch.as_tensor(cfg.class_weights, dtype=torch.float32, device=self.device))
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.history = pd.DataFrame()
        self.best_score = -math.inf
        if self.ckpt_dir is not None:
            sweep_temp_files(self.ckpt_dir, [p.name for p in (self.best_path, self.progress_path, self.last_path)])

    # ----------------------------------------------------------------------------------------------- training
    @property
    def epoch(self) -> int:
        """Epochs completed so far (including those of a resumed checkpoint)."""
        return len(self.history)

    def train_epoch(self, max_steps: int | None = None) -> EpochResult:
        """One pass over the shuffled Training split (or ``max_steps`` steps); returns the running loss and
        accuracy on the augmented crops, the faces seen and the wall time."""
        cfg, model = self.config, self.model
        max_steps = max_steps if max_steps is not None else cfg.max_steps
        images, labels = self.train_set.images, self.train_set.emotion
        order = (balanced_order(labels, len(images), self.generator) if cfg.balanced_sampling
                 else torch.randperm(len(images), generator=self.generator))
        starts = list(range(0, len(order), cfg.batch_size))[:max_steps]
        model.train()
        for name in cfg.freeze:
            getattr(model, name).eval()  # frozen layers keep their BatchNorm running statistics
        loss_sum, correct, seen, t0 = 0.0, 0, 0, time.perf_counter()
        bar = tqdm(starts, desc=f"epoch {self.epoch + 1}/{cfg.epochs}", leave=False, disable=not self.progress)
        for step, start in enumerate(bar):
            adapt_threads()
            self._set_lr((self.epoch + step / len(starts)) / cfg.epochs)
            idx = order[start:start + cfg.batch_size]
            idx = idx[:safe_batch_size(len(idx), self.channels_last)]
            x = preprocess(random_crop_flip(images[idx], cfg.crop, cfg.flip, self.generator)).to(self.device)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            y = labels[idx].to(self.device)
            logits = model(x)
            loss = F.cross_entropy(logits, y, weight=self.loss_weight)
            if not torch.isfinite(loss):
                raise TrainingDiverged(
                    f"Training diverged: the loss became {loss.item()} at epoch {self.epoch + 1}, step {step + 1}. "
                    f"Lower the learning rate (now {cfg.lr}) or check the input faces; the last good weights are "
                    f"{self._last_good()}.")
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            loss_sum += loss.item() * len(idx)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(idx)
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}")
        return EpochResult(loss_sum / max(seen, 1), correct / max(seen, 1), seen, len(starts),
                           time.perf_counter() - t0)

    def _set_lr(self, progress: float) -> float:
        lr = scheduled_lr(self.config.lr, self.config.schedule, progress)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    @property
    def lr(self) -> float:
        """The learning rate of the last step."""
        return float(self.optimizer.param_groups[0]["lr"])

    def evaluate(self, faces: FaceSet) -> dict[str, float]:
        """Mean cross-entropy and accuracy on the centre crops of ``faces``."""
        if len(faces) == 0:
            return {"loss": float("nan"), "acc": float("nan")}
        preds = predict(self.model, faces, crop=self.config.crop, batch_size=self.config.eval_batch_size,
                        device=self.device)
        return {"loss": preds.loss, "acc": preds.accuracy}

    def fit(self, epochs: int | None = None) -> pd.DataFrame:
        """Train until ``epochs`` (default ``config.epochs``) epochs are done in total; return the history
        (one row per epoch: train / public / private loss and accuracy, seconds, img/s)."""
        epochs = self.config.epochs if epochs is None else int(epochs)
        bar = tqdm(range(self.epoch, epochs), desc="training", disable=not self.progress)
        for _ in bar:
            result = self.train_epoch()
            row = {"epoch": self.epoch + 1, "lr": self.lr, "train_loss": result.loss, "train_acc": result.accuracy}
            t0 = time.perf_counter()
            for key, faces in self.eval_sets.items():
                scores = self.evaluate(faces)
                row[f"{key}_loss"], row[f"{key}_acc"] = scores["loss"], scores["acc"]
            row.update(train_seconds=result.seconds, eval_seconds=time.perf_counter() - t0,
                       train_img_per_s=result.images_per_s)
            self.history = pd.concat([self.history, pd.DataFrame([row])], ignore_index=True)
            bar.set_postfix(loss=f"{result.loss:.3f}", acc=f"{result.accuracy:.3f}",
                            public=f"{row['public_acc']:.3f}")
            if self.progress:  # a plain line per epoch: papermill and `facekit run` show it, widgets or not
                tqdm.write(epoch_line(self.history, epochs))
            self._save_checkpoints(row)
        if self.ckpt_dir is not None and self.epoch >= self.config.epochs and self.progress_path.is_file():
            atomic_write_bytes(self.best_path, self.progress_path.read_bytes())  # finished: publish the best model
        return self.history

    # ------------------------------------------------------------------------------------------- checkpoints
    @property
    def best_path(self) -> Path:
        return Path(self.ckpt_dir) / f"{self.name}.pt"

    @property
    def progress_path(self) -> Path:
        """The best model so far of a run that may not be finished (notebooks never load it)."""
        return Path(self.ckpt_dir) / f"{self.name}_best.pt"

    @property
    def last_path(self) -> Path:
        return Path(self.ckpt_dir) / f"{self.name}_last.pt"

    def _last_good(self) -> str:
        """Where the last good weights are, for the divergence message (only a file that exists)."""
        if self.ckpt_dir is None:
            return "in no checkpoint (ckpt_dir was not set)"
        if self.last_path.is_file():
            return f"in {self.last_path}"
        return "nowhere: no epoch finished, so no checkpoint was written"

    def data_fingerprint(self) -> str:
        """The data in a few characters (faces, and a hash of labels, splits and every n-th face): a resumed run
        must train on the same faces."""

        d = self.data
        h = hashlib.sha1(d.emotion.numpy().tobytes() + d.usage.numpy().tobytes())
        h.update(d.images[::max(1, len(d) // 64)].contiguous().numpy().tobytes())
        return f"{len(d)} faces, sha1 {h.hexdigest()[:12]}"

    def _check_resume(self, ckpt: dict, path: Path) -> None:
        """Refuse a resume whose recipe or data differ from the checkpoint's, naming each difference (the number
        of epochs may grow; batch sizes of evaluation and benchmarks do not matter)."""
        ignore = {"epochs", "eval_batch_size", "max_steps", "channels_last"}
        stored, now = ckpt.get("train_config") or {}, asdict(self.config)
        diff = [f"{k}: checkpoint {stored[k]!r}, now {now[k]!r}" for k in now
                if k in stored and k not in ignore and _same(stored[k]) != _same(now[k])]
        for key, value in (("data_source", self.data.source), ("data", self.data_fingerprint())):
            if ckpt.get(key) is not None and ckpt[key] != value:
                diff.append(f"{key}: checkpoint {ckpt[key]!r}, now {value!r}")
        if diff:
            raise ValueError(f"Cannot resume from {path}: this run differs from the one that wrote it "
                             f"({'; '.join(diff)}). Resume with the same settings and data, or start afresh "
                             "(another --work-dir, or without --resume).")

    def _save_checkpoints(self, row: dict) -> None:
        score = row["public_acc"] if not math.isnan(row["public_acc"]) else -row["train_loss"]
        improved = score > self.best_score
        if improved:
            self.best_score = score
        if self.ckpt_dir is None:
            return
        extra = {"train_config": asdict(self.config), "history": self.history.to_dict("records"),
                 "epoch": self.epoch, "best_score": self.best_score, "data_source": self.data.source,
                 "data": self.data_fingerprint()}
        if improved:
            save_checkpoint(model_payload(self.model, **extra), self.progress_path)
        save_checkpoint(model_payload(self.model, optimizer=self.optimizer.state_dict(),
                                      generator=self.generator.get_state(), **extra), self.last_path)

    def resume(self, path: str | os.PathLike | None = None) -> "Trainer":
        """Continue from a ``*_last.pt`` checkpoint (default: this trainer's ``last_path``): weights, optimizer,
        RNG state and history; a later :meth:`fit` goes on from the next epoch."""
        path = Path(path) if path is not None else self.last_path
        ckpt = load_checkpoint(path)
        if ckpt.get("arch") != ARCH:
            kind = ckpt.get("kind") or ckpt.get("arch") or "no 'arch' entry"
            raise ValueError(f"{path} is not a Task 1 emotion checkpoint ({kind}; a FAU model's is resumed by "
                             "`facekit train-fau --resume --out <it>`). Resume from <work-dir>/"
                             f"{self.name}_last.pt, which train-emotions writes after every epoch.")
        if "optimizer" not in ckpt or "generator" not in ckpt:
            raise ValueError(f"{path} holds weights only (a 'best' checkpoint); resume from the '*_last.pt' "
                             "checkpoint written beside it, which also stores the optimizer and RNG state.")
        self._check_resume(ckpt, path)
        model = load_emotion_model(path)
        self.model.load_state_dict(model.state_dict())
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.generator.set_state(ckpt["generator"])
        self.history = pd.DataFrame(ckpt.get("history", []))
        self.best_score = ckpt.get("best_score", -math.inf)
        return self

    def trained_model(self) -> MiniXception:
        """The model in eval mode and ordinary (NCHW) memory format, safe for backward at any batch size."""
        return self.model.to(memory_format=torch.contiguous_format).eval()


def _same(value):
    """Lists and tuples compare equal (a checkpoint stores tuples as lists)."""
    return list(value) if isinstance(value, (list, tuple)) else value


def epoch_line(history: pd.DataFrame, epochs: int) -> str:
    """``epoch 3/20: loss 1.234, acc 0.456, public 0.470, 1,850 img/s, ETA 4 min 10 s`` for the last history row
    (ETA: the mean wall time of the epochs so far, training and evaluation, times the epochs left)."""
    row = history.iloc[-1]
    per_epoch = float((history["train_seconds"] + history["eval_seconds"]).mean())
    left = max(0, epochs - int(row["epoch"])) * per_epoch
    eta = f"{int(left // 60)} min {int(left % 60)} s" if left >= 60 else f"{left:.0f} s"
    return (f"epoch {int(row['epoch'])}/{epochs}: loss {row['train_loss']:.3f}, acc {row['train_acc']:.3f}, "
            f"public {row['public_acc']:.3f}, {row['train_img_per_s']:,.0f} img/s, ETA {eta}")


def train_classifier(data: FaceSet, config: TrainConfig | None = None, ckpt_dir: str | os.PathLike | None = None,
                     resume: bool = False, progress: bool = True, **overrides) -> tuple[MiniXception, pd.DataFrame]:
    """Train a MiniXception on ``data`` (Training split; PublicTest and PrivateTest evaluated every epoch).

    ``overrides`` change single recipe values (``epochs=1``, ``lr=0.05`` ...). With ``resume=True`` and a
    ``<ckpt_dir>/emotion_minixception_last.pt`` present, training continues from it. Returns the *best* model
    (highest public accuracy; the last one when there is no PublicTest data) in eval mode, and the history.
    """
    config = TrainConfig.from_dict({**asdict(config or TrainConfig()), **overrides})
    trainer = Trainer(data, config, ckpt_dir=ckpt_dir, progress=progress)
    if resume and ckpt_dir is not None and trainer.last_path.is_file():
        trainer.resume()
    history = trainer.fit()
    if ckpt_dir is not None and trainer.progress_path.is_file():
        return load_emotion_model(trainer.progress_path), history
    return trainer.trained_model(), history


def measure_throughput(data: FaceSet, batch_size: int = 128, steps: int = 10, warmup: int = 2,
                       channels_last: bool | None = None, seed: int = 0) -> dict[str, float]:
    """Training images per second of the whole trainer step (index, crop/flip, preprocess, forward, backward,
    SGD) next to the bare model step (forward + backward + SGD on one fixed, already-prepared batch), same batch
    size and memory format. The gap is what the data pipeline costs. Prints nothing; timings only."""
    config = TrainConfig(batch_size=batch_size, seed=seed, channels_last=channels_last)
    trainer = Trainer(data, config, progress=False)
    trainer.train_epoch(max_steps=warmup)
    result = trainer.train_epoch(max_steps=steps)
    model, optimizer = trainer.model, trainer.optimizer
    n = safe_batch_size(min(batch_size, len(trainer.train_set)), trainer.channels_last)
    x = preprocess(random_crop_flip(trainer.train_set.images[:n], config.crop)).to(trainer.device)
    if trainer.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = trainer.train_set.emotion[:n].to(trainer.device)
    for i in range(warmup + steps):
        if i == warmup:
            t0 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    raw = n * steps / (time.perf_counter() - t0)
    return {"batch_size": n, "steps": steps, "channels_last": trainer.channels_last,
            "trainer_img_per_s": result.images_per_s, "model_img_per_s": raw,
            "threads": torch.get_num_threads()}
