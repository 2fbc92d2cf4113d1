"""``facekit train-emotions``: train the Task 1 MiniXception and write the shipped checkpoint.

    facekit train-emotions                      # 20 epochs on the full FER-sized set -> build/checkpoints/...
    facekit train-emotions --ship               # ... and replace the shipped data/checkpoints/ file
    facekit train-emotions --n-scale 0.05 --epochs 2 --out /tmp/m.pt     # a quick try
    facekit train-emotions --bench              # trainer img/s next to bare model forward+backward img/s

Real FER2013 is used when ``data/fer2013/`` holds it, the cached synthetic set otherwise (see data/README.md).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from facekit.argtypes import bounded
from facekit.argtypes import positive_float
from facekit.argtypes import positive_int
from facekit.argtypes import seed_int
from facekit.argtypes import unit_interval
from facekit.emotion.checkpoint import CHECKPOINT_NAME
from facekit.emotion.checkpoint import load_emotion_model
from facekit.emotion.checkpoint import save_emotion_model
from facekit.emotion.data import load_emotion_data
from facekit.emotion.metrics import predict
from facekit.emotion.metrics import summarize
from facekit.emotion.train import TrainConfig
from facekit.emotion.train import TrainingDiverged
from facekit.emotion.train import measure_throughput
from facekit.emotion.train import train_classifier
from facekit.io import check_output
from facekit.io import check_output_dir
from facekit.io import resume_note
from facekit import paths
from facekit.runtime import seed_everything
from facekit.runtime import set_threads
from facekit.synth.cli import FER2013_FACES
from facekit.synth.cli import MAX_FACES
import torch


def add_command(subparsers) -> None:

    p = subparsers.add_parser("train-emotions", help="train the Task 1 MiniXception (writes build/checkpoints/)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=positive_int, default=20, help="epochs (default 20, the starter's)")
    p.add_argument("--batch-size", type=positive_int, default=128, help="batch size (default 128)")
    p.add_argument("--lr", type=positive_float, default=0.01, help="SGD learning rate (default 0.01)")
    p.add_argument("--schedule", choices=("cosine", "constant"), default="cosine",
                   help="learning-rate schedule (default cosine; 'constant' is the starter's recipe)")
    p.add_argument("--bn-momentum", type=unit_interval, default=0.01,
                   help="PyTorch BatchNorm momentum (default 0.01 = Keras 0.99; 0.99 reproduces the porting bug)")
    p.add_argument("--n-scale", type=bounded(positive_float, 1e-4, MAX_FACES / FER2013_FACES), default=1.0,
                   help="data size as a fraction of FER2013 (synthetic only)")
    p.add_argument("--seed", type=seed_int, default=0, help="seed of the data, the initialisation and the shuffling")
    p.add_argument("--photo", action="store_true", help="train on the synthetic twin with real faces as identities "
                   "(the generator's opt-in 'photo' feature; cannot be combined with --ship)")
    p.add_argument("--threads", type=positive_int, default=None, help="torch threads (default: all cores)")
    p.add_argument("--out", default=None, help="where the best model goes (default build/checkpoints/train-"
                                                "emotions/emotion_minixception.pt); an existing file needs --force")
    p.add_argument("--ship", action="store_true", help="write the shipped data/checkpoints/emotion_minixception.pt "
                                                       "(the only way to replace a shipped checkpoint)")
    p.add_argument("--force", action="store_true", help="replace an existing --out file")
    p.add_argument("--work-dir", default=None, help="best/last checkpoints while training (default "
                                                     "build/checkpoints/train-emotions/); --resume reads it")
    p.add_argument("--resume", action="store_true", help="continue from <work-dir>/emotion_minixception_last.pt")
    p.add_argument("--bench", action="store_true", help="only measure img/s (trainer vs bare model) and exit")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bars (logs)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:


    problem = None if args.bench else _output_problem(args)
    if args.photo and args.ship:
        problem = "--photo cannot be shipped: the workbook's checkpoint is trained on the default faces"
    if problem:
        print(f"train-emotions: {problem}", file=sys.stderr)
        return 2
    out = _output(args)
    threads = set_threads(args.threads)
    seed_everything(args.seed)
    data = load_emotion_data(args.n_scale, seed=args.seed, photo=args.photo)
    print(f"train-emotions: {len(data):,} faces from {data.source}; {threads} thread(s)", file=sys.stderr)
    sizes = {split: len(data.split(split)) for split in ("Training", "PublicTest", "PrivateTest")}
    if not sizes["Training"]:
        print(f"train-emotions: {data.source} has no Training rows ({sizes}); nothing to train on.", file=sys.stderr)
        return 2
    for split, meaning in (("PublicTest", "the last epoch is kept instead of the best public one"),
                           ("PrivateTest", "no held-out test scores are reported (null in the metrics)")):
        if not sizes[split]:
            print(f"train-emotions: note: the data has no {split} rows: {meaning}.", file=sys.stderr)
    if args.bench:
        print(json.dumps(measure_throughput(data, batch_size=args.batch_size, seed=args.seed), indent=2))
        return 0
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, schedule=args.schedule,
                         bn_momentum=args.bn_momentum, seed=args.seed)
    work = Path(args.work_dir) if args.work_dir else paths.build_dir("checkpoints", "train-emotions")
    note = resume_note(work / f"{CHECKPOINT_NAME.removesuffix('.pt')}_last.pt", args.resume, args.epochs)
    if note:
        print(f"train-emotions: {note}", file=sys.stderr)
    t0 = time.perf_counter()
    try:
        model, history = train_classifier(data, config, ckpt_dir=work, resume=args.resume,
                                          progress=not args.no_progress)
    except TrainingDiverged as exc:
        print(f"train-emotions: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # e.g. --resume with another recipe or data
        print(f"train-emotions: {exc}", file=sys.stderr)
        return 2
    wall = time.perf_counter() - t0
    private = data.split("PrivateTest")
    preds = predict(model, private) if len(private) else None
    stats = summarize(private.emotion, preds.pred) if preds is not None else {}
    best = int(history["public_acc"].idxmax()) if history["public_acc"].notna().any() else len(history) - 1
    metrics = {"best_epoch": int(history["epoch"].iloc[best]), "epochs": len(history), "wall_s": wall,
               "train_acc": history["train_acc"].iloc[best], "train_loss": history["train_loss"].iloc[best],
               "public_acc": history["public_acc"].iloc[best], "public_loss": history["public_loss"].iloc[best],
               "private_acc": preds.accuracy if preds else None, "private_loss": preds.loss if preds else None,
               "macro_f1": stats.get("macro_f1"), "balanced_accuracy": stats.get("balanced_accuracy"),
               "disgust_recall": stats.get("recall_disgust"),
               "train_img_per_s": float(history["train_img_per_s"].median()), "threads": threads,
               "torch": torch.__version__}
    metrics = {k: (float(v) if hasattr(v, "item") else v) for k, v in metrics.items()}
    metrics = {k: (None if isinstance(v, float) and v != v else v) for k, v in metrics.items()}  # NaN: not measured
    metrics["torch"] = str(torch.__version__)
    command = "facekit train-emotions " + " ".join(sys.argv[2:]) if len(sys.argv) > 1 else "facekit train-emotions"
    try:  # refuses non-finite weights, and a shipped file with non-finite metrics
        save_emotion_model(model, out, history=history.to_dict("records"), train_config=config.__dict__,
                           metrics=metrics, data_source=data.source, command=command)
    except ValueError as exc:
        print(f"train-emotions: {exc}", file=sys.stderr)
        return 1
    load_emotion_model(out)  # the file we ship must load
    print(json.dumps(metrics, indent=2))
    print(f"train-emotions: best model (epoch {metrics['best_epoch']}) -> {out}", file=sys.stderr)
    return 0


def _output(args: argparse.Namespace) -> Path:

    if args.ship:
        return paths.shipped_checkpoint_dir() / CHECKPOINT_NAME
    # not build/checkpoints/ itself: notebooks prefer a checkpoint there over the shipped one (find_checkpoint)
    return Path(args.out) if args.out else paths.build_dir("checkpoints", "train-emotions") / CHECKPOINT_NAME


def _output_problem(args: argparse.Namespace) -> str | None:
    """Why the model could not be written where asked (checked before the data loads), or None."""
    if args.ship and args.out:
        return "give either --out or --ship (which writes data/checkpoints/), not both."
    out = _output(args)
    shipped = out.resolve().parent == paths.shipped_checkpoint_dir().resolve()
    if shipped and not args.ship:
        return (f"{out} is a shipped checkpoint; replace it only with --ship (after checking the new model), "
                "or write elsewhere with --out.")
    try:  # the default build/ file is facekit's own and may be replaced; a file the user named needs --force
        check_output(out, force=args.force or args.ship or not args.out, ship=args.ship)
        if args.work_dir:
            check_output_dir(args.work_dir)
    except OSError as exc:
        return (f"--work-dir {args.work_dir}: {exc.strerror}" if args.work_dir and exc.filename == args.work_dir
                else str(exc))
    return None
