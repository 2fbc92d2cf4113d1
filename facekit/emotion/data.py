"""Task 1's data source: real FER2013 from ``data/fer2013/`` when it is there, else the synthetic FER2013 twin.

Lives in ``emotion`` (not ``data``) so that imports run one way: ``synth`` builds on ``data``'s formats, and this
module chooses between the two.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from facekit.data.faceset import FaceSet
from facekit.data.fer import SPLITS
from facekit.data.loaders import find_fer2013, load_fer2013, real_fer2013_path
from facekit.io import atomic_path
from facekit.io import plain
from facekit import paths
from facekit.synth import FEATURES
from facekit.synth import make_fer_dataset
from facekit.synth.photo import PHOTO_VERSION
from facekit.synth.render import GENERATOR_VERSION


def synthetic_cache_path(n_scale: float = 1.0, seed: int = 0, domain: str = "lab", photo: bool = False) -> Path:

    tag = ""
    if photo:  # photo faces change with the photo feature's own version too (the default pixels do not)

        tag = f"_photo{PHOTO_VERSION}"
    return paths.cache_dir("synth", f"fer_{domain}_s{n_scale:g}_seed{seed}{tag}_v{GENERATOR_VERSION}.pt")


def subsample(data: FaceSet, fraction: float, seed: int = 0) -> FaceSet:
    """``fraction`` of each split's faces, drawn at random (seeded), in their original order; the whole set when
    ``fraction >= 1``. QUICK runs use it on real FER2013 as the synthetic twin uses ``n_scale``."""
    if fraction >= 1:
        return data
    g = torch.Generator().manual_seed(int(seed))
    keep = []
    for code in range(len(SPLITS)):
        rows = (data.usage == code).nonzero().flatten()
        n = max(1, round(len(rows) * fraction)) if len(rows) else 0
        keep.append(rows[torch.randperm(len(rows), generator=g)[:n]])
    subset = data.subset(torch.cat(keep).sort().values)
    subset.source = f"{data.source}, {fraction:.0%} subsample (seed {seed})"
    return subset


def load_emotion_data(n_scale: float = 1.0, seed: int = 0, domain: str = "lab", verbose: bool = True,
                      photo: bool = False, fer2013: str | os.PathLike | None = None) -> FaceSet:
    """The Task 1 data: real FER2013 from ``fer2013`` (a CSV or a folder; default ``data/fer2013/``, searched one
    level down, ``fer2013.csv`` or ``icml_face_data.csv``) when present (``domain="lab"`` only; ``"wild"`` is always
    synthetic), else the synthetic twin (generated once, cached under ``data/cache/synth/`` keyed by its parameters
    and the generator version, written atomically). Real data is subsampled to ``n_scale`` of each split (seeded)
    when ``n_scale < 1``, as the twin is. Prints which one it uses. ``photo=True``: the twin with real faces as
    identities (the generator's opt-in ``"photo"`` feature). ``data.meta["real"]`` says which it is."""
    if fer2013 is not None:
        real = find_fer2013(fer2013)
        if real is None:
            raise FileNotFoundError(f"No FER2013 at {fer2013}: expected fer2013.csv or icml_face_data.csv there or "
                                    "one folder down (or Kaggle's train/ and test/ folders). Pass the CSV's path, "
                                    "or FER2013 = None to use data/fer2013/ or the synthetic faces.")
    else:
        real = real_fer2013_path()
    if real is not None and domain == "lab":
        data = load_fer2013(real)
        full = len(data)
        data = subsample(data, n_scale, seed)
        data.meta["real"] = True
        if verbose:
            part = f" ({n_scale:.0%} of each split, seed {seed})" if len(data) < full else ""
            print(f"Using real FER2013 from {real}: {len(data):,} of {full:,} faces{part}.")
        return data

    cache = synthetic_cache_path(n_scale, seed, domain, photo)
    if cache.is_file():
        try:
            data = FaceSet(**torch.load(cache, weights_only=True))  # a cache file cannot run code
            if verbose:
                print(f"No real FER2013 in data/fer2013/: using synthetic FACS faces ({len(data):,}, cached {cache}).")
            return data
        except Exception:  # a stale or corrupt cache is regenerated
            cache.unlink(missing_ok=True)

    data = make_fer_dataset(n_scale=n_scale, seed=seed, domain=domain, progress=verbose,
                            features=FEATURES + ("photo",) if photo else None)
    with atomic_path(cache) as tmp:
        torch.save(plain({"images": data.images, "emotion": data.emotion, "usage": data.usage,
                          "source": data.source, "au": data.au, "aus": list(data.aus), "landmarks": data.landmarks,
                          "clean_emotion": data.clean_emotion, "meta": data.meta}), tmp)
    if verbose:
        print(f"No real FER2013 in data/fer2013/: generated {len(data):,} synthetic FACS faces at "
              f"{data.meta['render_rate_faces_per_s']:,.0f} faces/s (cached in {cache}).")
    return data
