"""What a run ran on: the machine and the software versions, recorded in each executed notebook by the runner."""
from __future__ import annotations

import importlib.metadata as md
import os
import platform
import sys

#: The distributions whose versions the supplementary README lists (the stack ``facekit doctor`` checks, and facekit).
VERSIONED = ("facekit", "torch", "torchvision", "grad-cam", "numpy", "pandas", "scikit-learn", "scikit-image",
             "matplotlib", "seaborn", "opencv-python-headless", "h5py", "papermill", "nbconvert", "jupyterlab",
             "ipykernel", "ipywidgets", "tqdm")


def _version(dist: str) -> str:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return "not installed"


def snapshot() -> dict:
    """The machine (OS, CPU, cores, GPU when torch sees one) and the versions of :data:`VERSIONED`."""
    gpu = None
    torch = sys.modules.get("torch")
    try:
        if torch is None:
            import torch  # lazy: the environment record must survive a broken torch/CUDA install
        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    except Exception:  # noqa: BLE001 - a broken CUDA set-up must not stop the record
        gpu = None
    return {
        "machine": {
            "os": platform.platform(),
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "gpu": gpu,
            "threads": os.environ.get("FACEKIT_THREADS") or None,
        },
        "python": platform.python_version(),
        "versions": {dist: _version(dist) for dist in VERSIONED},
    }
