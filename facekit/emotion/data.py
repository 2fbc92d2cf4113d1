"""Task 1's data source: real FER2013 from ``data/fer2013/`` when it is there, else the synthetic FER2013 twin.

Lives in ``emotion`` (not ``data``) so that imports run one way: ``synth`` builds on ``data``'s formats, and this
module chooses between the two.
"""
from __future__ import annotations

from pathlib import Path

import torch

from facekit.data.fer import FERData
from facekit.data.loaders import load_fer2013, real_fer2013_path


def synthetic_cache_path(n_scale: float = 1.0, seed: int = 0, domain: str = "lab", photo: bool = False) -> Path:
    from facekit.paths import cache_dir
    from facekit.synth.render import GENERATOR_VERSION

    tag = ""
    if photo:  # photo faces change with the photo feature's own version too (the default pixels do not)
        from facekit.synth.photo import PHOTO_VERSION

        tag = f"_photo{PHOTO_VERSION}"
    return cache_dir("synth", f"fer_{domain}_s{n_scale:g}_seed{seed}{tag}_v{GENERATOR_VERSION}.pt")


def load_emotion_data(n_scale: float = 1.0, seed: int = 0, domain: str = "lab", verbose: bool = True,
                      photo: bool = False) -> FERData:
    """The Task 1 data: real FER2013 from ``data/fer2013/`` when present (``domain="lab"`` only; ``"wild"`` is always
    synthetic), else the synthetic twin (generated once, cached under ``data/cache/synth/`` keyed by its parameters
    and the generator version, written atomically). Prints which one it uses. ``photo=True``: the twin with real
    faces as identities (the generator's opt-in ``"photo"`` feature)."""
    real = real_fer2013_path()
    if real is not None and domain == "lab":
        data = load_fer2013(real)
        if verbose:
            print(f"Using real FER2013 from {real}: {len(data):,} faces.")
        return data
    from facekit.io import atomic_path, plain
    from facekit.synth import make_fer_dataset

    cache = synthetic_cache_path(n_scale, seed, domain, photo)
    if cache.is_file():
        try:
            data = FERData(**torch.load(cache, weights_only=True))  # a cache file cannot run code
            if verbose:
                print(f"No real FER2013 in data/fer2013/: using synthetic FACS faces ({len(data):,}, cached {cache}).")
            return data
        except Exception:  # a stale or corrupt cache is regenerated
            cache.unlink(missing_ok=True)
    from facekit.synth import FEATURES

    data = make_fer_dataset(n_scale=n_scale, seed=seed, domain=domain, progress=verbose,
                            features=FEATURES + ("photo",) if photo else None)
    with atomic_path(cache) as tmp:
        torch.save(plain({"images": data.images, "labels": data.labels, "usage": data.usage,
                          "source": data.source, "au": data.au, "landmarks": data.landmarks,
                          "clean_labels": data.clean_labels, "meta": data.meta}), tmp)
    if verbose:
        print(f"No real FER2013 in data/fer2013/: generated {len(data):,} synthetic FACS faces at "
              f"{data.meta['render_rate_faces_per_s']:,.0f} faces/s (cached in {cache}).")
    return data
