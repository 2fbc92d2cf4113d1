"""``facekit synth``: write synthetic data sets to disk.

``facekit synth fer --out PATH [--n-scale F] [--seed S] [--domain lab|wild]`` writes a FER2013-format CSV
(``emotion,pixels,Usage``) and ``<stem>_au.csv`` beside it (AU intensities and landmarks per row);
``facekit synth au --out DIR [--n N] [--size 128] [--color] ...`` writes PNG faces and ``labels.csv`` for Task 2.
Also runs as ``python -m facekit.synth.cli ...``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from facekit.argtypes import bounded, positive_float, positive_int, seed_int
from facekit.io import check_output
from facekit.runtime import set_threads
from facekit.synth.dataset import make_au_dataset, make_fer_dataset, write_au_folder, write_fer_csv


#: The most faces one ``facekit synth`` call renders (FER2013 has 35,887): a typo must not start hours of rendering.
MAX_FACES = 200_000
#: FER2013's size, for ``--n-scale``.
FER2013_FACES = 35_887


def _check_outputs(paths, force: bool) -> str | None:
    """None when every path can be written (or replaced with ``force``), else the message that says why not."""
    try:
        for path in paths:
            check_output(path, force=force)
    except OSError as exc:
        return str(exc)
    return None


def _cmd_fer(args: argparse.Namespace) -> int:
    out = Path(args.out)
    problem = _check_outputs([out, out.with_name(f"{out.stem}_au.csv")], args.force)
    if problem:
        print(f"facekit synth fer: {problem}", file=sys.stderr)
        return 2
    set_threads(args.threads)
    data = make_fer_dataset(n_scale=args.n_scale, seed=args.seed, domain=args.domain, progress=not args.quiet)
    rate = data.meta["render_rate_faces_per_s"]
    print(f"rendered {len(data):,} faces in {data.meta['render_seconds']:.1f} s ({rate:,.0f} faces/s)")
    start = time.perf_counter()
    csv_path, side = write_fer_csv(data, args.out)
    print(f"wrote {csv_path} and {side} in {time.perf_counter() - start:.1f} s")
    return 0


def _cmd_au(args: argparse.Namespace) -> int:
    problem = _check_outputs([Path(args.out) / "labels.csv"], args.force)
    if problem:
        print(f"facekit synth au: {problem}", file=sys.stderr)
        return 2
    set_threads(args.threads)
    start = time.perf_counter()
    batch = make_au_dataset(args.n, seed=args.seed, domain=args.domain, size=args.size, color=args.color,
                            progress=not args.quiet)
    seconds = time.perf_counter() - start
    print(f"rendered {len(batch):,} faces of {args.size}x{args.size} in {seconds:.1f} s "
          f"({len(batch) / max(seconds, 1e-9):,.0f} faces/s)")
    labels = write_au_folder(batch, args.out)
    print(f"wrote {len(batch):,} images and {labels}")
    return 0


def _n_scale(text: str) -> float:
    value = positive_float(text)
    if value * FER2013_FACES > MAX_FACES:
        raise argparse.ArgumentTypeError(
            f"{text} x FER2013's {FER2013_FACES:,} faces = {value * FER2013_FACES:,.0f} faces; the most is "
            f"{MAX_FACES:,} (--n-scale {MAX_FACES / FER2013_FACES:.2f})")
    return value


def add_command(subparsers) -> argparse.ArgumentParser:
    """Add the ``synth`` command (sub-commands ``fer`` and ``au``) to a ``facekit`` argument parser."""
    synth = subparsers.add_parser("synth", help="write synthetic FACS face data sets (FER2013 CSV, AU images)")
    sub = synth.add_subparsers(dest="synth_command", required=True, metavar="KIND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--seed", type=seed_int, default=0, help="random seed (same seed, byte-identical output)")
    common.add_argument("--domain", choices=("lab", "wild"), default="lab",
                        help="lab: training distribution; wild: harsher light, pose, occlusion, other identities")
    common.add_argument("--threads", type=positive_int, default=None, help="torch threads (default: all cores)")
    common.add_argument("--quiet", action="store_true", help="no progress bar")
    common.add_argument("--force", action="store_true", help="replace existing output files")
    fer = sub.add_parser("fer", parents=[common], help="a FER2013-format CSV with FER2013's exact class counts")
    fer.add_argument("--out", required=True, metavar="PATH", help="CSV to write (e.g. data/cache/fer_synth.csv)")
    fer.add_argument("--n-scale", type=_n_scale, default=1.0,
                     help="fraction of FER2013's 35,887 faces (each split/class cell rounded, at least 1)")
    fer.set_defaults(func=_cmd_fer)
    au = sub.add_parser("au", parents=[common], help="PNG faces with AU intensity labels (Task 2)")
    au.add_argument("--out", required=True, metavar="DIR", help="folder for images/ and labels.csv")
    au.add_argument("--n", type=bounded(positive_int, 1, MAX_FACES), default=2000,
                    help=f"number of faces (1-{MAX_FACES:,})")
    au.add_argument("--size", type=bounded(positive_int, 32, 512, " pixels"), default=128,
                    help="image side in pixels (32-512)")
    au.add_argument("--color", action="store_true", help="RGB instead of gray")
    au.set_defaults(func=_cmd_au)
    return synth


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="facekit")
    add_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
