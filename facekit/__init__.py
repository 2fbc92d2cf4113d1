"""facekit: the helper package of an explainable facial-expression workbook.

Every notebook in ``notebooks/`` imports this package. Importing it has no side effects: seeding, device choice,
thread count and output folders are explicit calls (:func:`setup`, :func:`seed_everything`, :func:`pick_device`).
"""
from facekit.io import save_checkpoint, load_checkpoint, save_fig, save_metrics, save_table
from facekit.paths import checkpoint_dir, data_dir, figures_dir, find_checkpoint, repo_root
from facekit.runtime import pick_device, seed_everything, set_threads, setup

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "checkpoint_dir",
    "data_dir",
    "figures_dir",
    "find_checkpoint",
    "load_checkpoint",
    "pick_device",
    "repo_root",
    "save_checkpoint",
    "save_fig",
    "save_metrics",
    "save_table",
    "seed_everything",
    "set_threads",
    "setup",
]
