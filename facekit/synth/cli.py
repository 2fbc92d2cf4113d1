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


def _cmd_fer(args: argparse.Namespace) -> int:
    from facekit.runtime import set_threads
    from facekit.synth.dataset import make_fer_dataset, write_fer_csv

    set_threads(args.threads)
    data = make_fer_dataset(n_scale=args.n_scale, seed=args.seed, domain=args.domain, progress=not args.quiet)
    rate = data.meta["render_rate_faces_per_s"]
    print(f"rendered {len(data):,} faces in {data.meta['render_seconds']:.1f} s ({rate:,.0f} faces/s)")
    start = time.perf_counter()
    csv_path, side = write_fer_csv(data, args.out)
    print(f"wrote {csv_path} and {side} in {time.perf_counter() - start:.1f} s")
    return 0


def _cmd_au(args: argparse.Namespace) -> int:
    from facekit.runtime import set_threads
    from facekit.synth.dataset import make_au_dataset, write_au_folder

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


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``synth`` command (sub-commands ``fer`` and ``au``) to a ``facekit`` argument parser."""
    synth = subparsers.add_parser("synth", help="write synthetic FACS face data sets (FER2013 CSV, AU images)")
    sub = synth.add_subparsers(dest="synth_command", required=True, metavar="KIND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--seed", type=int, default=0, help="random seed (same seed, byte-identical output)")
    common.add_argument("--domain", choices=("lab", "wild"), default="lab",
                        help="lab: training distribution; wild: harsher light, pose, occlusion, other identities")
    common.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    common.add_argument("--quiet", action="store_true", help="no progress bar")
    fer = sub.add_parser("fer", parents=[common], help="a FER2013-format CSV with FER2013's exact class counts")
    fer.add_argument("--out", required=True, metavar="PATH", help="CSV to write (e.g. data/cache/fer_synth.csv)")
    fer.add_argument("--n-scale", type=_positive_float, default=1.0,
                     help="fraction of FER2013's 35,887 faces (each split/class cell rounded, at least 1)")
    fer.set_defaults(func=_cmd_fer)
    au = sub.add_parser("au", parents=[common], help="PNG faces with AU intensity labels (Task 2)")
    au.add_argument("--out", required=True, metavar="DIR", help="folder for images/ and labels.csv")
    au.add_argument("--n", type=int, default=2000, help="number of faces")
    au.add_argument("--size", type=int, default=128, help="image side in pixels")
    au.add_argument("--color", action="store_true", help="RGB instead of gray")
    au.set_defaults(func=_cmd_au)
    return synth


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="facekit")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
