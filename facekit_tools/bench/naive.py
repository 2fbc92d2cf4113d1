"""The naive baseline of the benchmark: Task 1 trained the way the assignment's starter kit trains.

A ``torch.utils.data.Dataset`` that turns each 48x48 face into a PIL image and runs per-sample torchvision
transforms (``RandomCrop(44)``, ``RandomHorizontalFlip``, ``ToTensor`` and the ``Normalize(0.5, 0.5)`` that gives the
model its [-1, 1] input), a ``DataLoader`` that collates the samples into NCHW float batches, and the textbook
``zero_grad / forward / loss / backward / step`` loop with the same :class:`MiniXception`, SGD recipe and batch size
as :class:`facekit.emotion.Trainer`. Nothing here is used by the notebooks: it exists so that
``facekit bench`` can show what the in-memory trainer buys (ratios measured side by side in one run).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from facekit.data.faceset import FaceSet
from facekit.data.fer import EMOTIONS
from facekit.emotion.train import TrainConfig
from facekit.emotion.xception import PIXEL_CENTER, PIXEL_SCALE, MiniXception


def starter_transforms(crop: int = 44, flip: bool = True):
    """The starter kit's per-sample training transforms (PIL image in, float tensor (1, crop, crop) out)."""
    from torchvision import transforms  # lazy: only the naive starter pipeline of the benchmark uses torchvision

    steps = [transforms.RandomCrop(crop)]
    if flip:
        steps.append(transforms.RandomHorizontalFlip())
    steps += [transforms.ToTensor(), transforms.Normalize((PIXEL_CENTER,), (PIXEL_SCALE,))]
    return transforms.Compose(steps)


class PILFaceDataset(Dataset):
    """Faces as the starter kit serves them: one PIL image per ``__getitem__``, transformed per sample."""

    def __init__(self, images, labels, transform=None):
        self.images = np.asarray(images, dtype=np.uint8)
        self.labels = np.asarray(labels, dtype=np.int64)
        if self.images.ndim != 3 or len(self.images) != len(self.labels):
            raise ValueError(f"PILFaceDataset needs uint8 faces (N, H, W) and N labels, got images "
                             f"{self.images.shape} and {len(self.labels)} labels.")
        self.transform = transform if transform is not None else starter_transforms()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        from PIL import Image  # lazy: Pillow is needed only to decode photo files

        face = Image.fromarray(self.images[i], mode="L")
        return self.transform(face), int(self.labels[i])


@dataclass
class NaiveRun:
    """What :func:`train_naive` measured: faces and steps trained, wall time, mean loss."""

    images: int
    steps: int
    seconds: float
    loss: float
    cpu_seconds: float = float("nan")   # CPU time of this process while timed (workers not included)

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else float("nan")


def naive_loader(data: FaceSet, batch_size: int = 128, num_workers: int = 0, seed: int = 0,
                 crop: int = 44) -> DataLoader:
    """A shuffling ``DataLoader`` over the Training split of ``data`` with per-sample PIL transforms."""
    train = data.split("Training")
    if len(train) == 0:
        raise ValueError(f"{data.source}: no 'Training' rows to build the naive loader from.")
    dataset = PILFaceDataset(train.images.numpy(), train.emotion.numpy(), starter_transforms(crop))
    return DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=num_workers,
                      generator=torch.Generator().manual_seed(seed), drop_last=False,
                      persistent_workers=num_workers > 0)


def train_naive(data: FaceSet, steps: int, *, warmup: int = 2, batch_size: int = 128, num_workers: int = 0,
                seed: int = 0, device: str | torch.device = "cpu", config: TrainConfig | None = None) -> NaiveRun:
    """Train a fresh NCHW MiniXception for ``warmup`` untimed then ``steps`` timed steps, starter-kit style.

    The loader restarts when the Training split runs out, so ``steps`` may exceed one epoch. Worker start-up
    (``num_workers > 0``) happens during the warm-up steps and is not timed.
    """
    if steps < 1 or warmup < 0:
        raise ValueError(f"train_naive: steps must be >= 1 and warmup >= 0 (got steps={steps}, warmup={warmup}).")
    cfg = config or TrainConfig(batch_size=batch_size, seed=seed)
    device = torch.device(device)
    torch.manual_seed(cfg.seed)
    model = MiniXception(num_classes=len(EMOTIONS), bn_momentum=cfg.bn_momentum).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    loader = naive_loader(data, batch_size=cfg.batch_size, num_workers=num_workers, seed=cfg.seed, crop=cfg.crop)
    model.train()

    def batches():
        while True:
            yield from loader

    stream = batches()
    images = done = 0
    loss_sum, t0, c0 = 0.0, time.perf_counter(), time.process_time()
    for step in range(warmup + steps):
        if step == warmup:
            images, loss_sum, t0, c0 = 0, 0.0, time.perf_counter(), time.process_time()
        x, y = next(stream)
        x, y = x.to(device), y.to(device)
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss_sum += loss.item() * len(y)
        images += len(y)
        done = step + 1 - warmup
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    del stream, loader
    return NaiveRun(images, done, seconds, loss_sum / max(images, 1), cpu)
