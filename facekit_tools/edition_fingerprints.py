"""``facekit refresh-fingerprints``: store the checks' reference outputs (``facekit/checks_fingerprints.json``) from
the instructor's checkout, after a shipped checkpoint was retrained or the test faces regenerated.

Edition tooling, not course code: it refuses to run in a student edition (whose model code is stubbed), which it
recognises by the edition's stamp file or the absence of solution regions. ``facekit.checks`` never imports it.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from facekit.checks import FINGERPRINTS, compute_fingerprints
from facekit_tools.edition import STAMP, module_regions
from facekit.io import atomic_write_text
from facekit import paths


def refresh_fingerprints(path: str | Path | None = None) -> Path:
    """Recompute and store the fingerprints (atomically). Refuses to run in a student edition."""
    root = paths.repo_root()
    if (root / STAMP).exists() or not module_regions(root):
        raise RuntimeError(f"{root} is a student edition (or has no solution regions): refresh the fingerprints in "
                           "the instructor's checkout, whose facekit holds the reference solutions.")
    return atomic_write_text(path or FINGERPRINTS, json.dumps(compute_fingerprints(), indent=1) + "\n")


def _cmd_refresh(args) -> int:
    try:
        print(f"wrote {refresh_fingerprints(args.out)}")
    except RuntimeError as exc:
        print(f"facekit refresh-fingerprints: {exc}", file=sys.stderr)
        return 1
    return 0


def add_command(subparsers) -> None:
    """``facekit refresh-fingerprints [--out FILE]``."""
    cmd = subparsers.add_parser("refresh-fingerprints", help="store the checks' reference outputs (instructors)")
    cmd.add_argument("--out", metavar="FILE", help=f"where to write them (default: {FINGERPRINTS.name} in facekit/)")
    cmd.set_defaults(func=_cmd_refresh)
