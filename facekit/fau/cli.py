"""``facekit train-fau``: pretrain the FAU heatmap model (or train it on real AU labels) and optionally ship it."""
from __future__ import annotations

import argparse
import sys
import time

from facekit.argtypes import int_list
from facekit.argtypes import non_negative_float
from facekit.argtypes import positive_float
from facekit.argtypes import positive_int
from facekit.argtypes import seed_int
from facekit.fau.model import FAUConfig
from facekit.fau.train import FAUTrainingDiverged
from facekit.fau.train import pretrain_fau
from facekit.fau.train import slim_checkpoint
from facekit.io import check_output
from facekit.io import resume_note
from facekit import paths
from facekit.runtime import set_threads


def _cmd_train_fau(args: argparse.Namespace) -> int:

    set_threads(args.threads)
    if args.skin_tone is not None and not args.robust:
        print("facekit train-fau: --skin-tone is one of the --robust augmentations; add --robust.", file=sys.stderr)
        return 2
    robust = {"skin": (args.skin_tone, 1.0)} if args.skin_tone is not None else args.robust
    config = FAUConfig.resnet50() if args.resnet50 else FAUConfig()
    if args.all_aus:
        config = FAUConfig.all_aus(**{k: v for k, v in config.to_dict().items() if k not in ("aus", "num_aus")})
    if args.layers:
        config = FAUConfig(**{**config.to_dict(), "layers": args.layers})
    if args.width:
        config = FAUConfig(**{**config.to_dict(), "base_width": args.width})
    if args.patch_attention:
        config = FAUConfig(**{**config.to_dict(), "patch_attention": True})
    name = args.name or ("fau_resnet" + ("_allau" if args.all_aus else "_robust" if args.robust else "")
                         + ("_patchattn" if args.patch_attention else ""))
    ckpt = args.out or str(paths.checkpoint_dir() / f"{name}_train.pt")
    try:  # an unwritable --out must fail now, not after the first epoch
        # the default build/ file is facekit's own and --resume continues a file; any other existing file the user
        # named (a shipped checkpoint above all) is replaced only with --force
        check_output(ckpt, force=args.force or args.resume or not args.out)
        note = resume_note(ckpt, args.resume, args.epochs)
    except (OSError, ValueError) as exc:  # ValueError: a corrupt or foreign checkpoint to resume
        print(f"facekit train-fau: {exc}", file=sys.stderr)
        return 2
    if note:
        print(f"facekit train-fau: {note}", file=sys.stderr)
    t0 = time.perf_counter()
    try:
        model, history, scores = pretrain_fau(
            ckpt, config=config, n_train=args.n_train, n_val=args.n_val, epochs=args.epochs,
            batch_size=args.batch_size, lr=args.lr, seed=args.seed, resume=args.resume,
            augment=not args.no_augment, freeze_backbone=args.freeze_backbone, fg_weight=args.fg_weight, train_csv=args.train_csv,
            val_csv=args.val_csv, init=args.init, robust=robust, init_backbone=args.init_backbone)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        print(f"facekit train-fau: {exc}", file=sys.stderr)
        return 2
    except FAUTrainingDiverged as exc:
        print(f"facekit train-fau: {exc}", file=sys.stderr)
        return 1
    wall = time.perf_counter() - t0
    print(scores.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"facekit train-fau: {wall:.0f} s wall; checkpoint {ckpt}")
    if args.ship:
        dst = paths.shipped_checkpoint_dir() / f"{name}.pt"
        try:  # refuses non-finite weights or scores: the shipped file then stays as it was
            slim_checkpoint(ckpt, dst, wall_seconds=wall, command=" ".join(["facekit", *sys.argv[1:]]))
        except ValueError as exc:
            print(f"facekit train-fau: not shipped: {exc}", file=sys.stderr)
            return 1
        print(f"facekit train-fau: shipped {dst} ({dst.stat().st_size / 1e6:.1f} MB)")
    return 0


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def add_command(subparsers) -> None:

    p = subparsers.add_parser("train-fau", help="pretrain the FAU heatmap model on generated lab faces "
                                                "(or train it on real AU labels)")
    p.add_argument("--epochs", type=positive_int, default=10, help="passes over the training set (default 10)")
    p.add_argument("--n-train", type=positive_int, default=4000, help="generated training faces (default 4000)")
    p.add_argument("--n-val", type=positive_int, default=500, help="held-out lab and wild faces each (default 500)")
    p.add_argument("--batch-size", type=positive_int, default=16)
    p.add_argument("--lr", type=positive_float, default=3e-3, help="Adam learning rate, cosine-decayed (default 3e-3)")
    p.add_argument("--fg-weight", type=non_negative_float, default=5.0,
                   help="extra loss weight around the AU points (0 = plain MSE as the port; default 5)")
    p.add_argument("--seed", type=seed_int, default=0)
    p.add_argument("--threads", type=positive_int, default=None, help="torch threads (default: all cores)")
    p.add_argument("--out", metavar="PT", help="training checkpoint (default build/checkpoints/fau_resnet_train.pt)")
    p.add_argument("--resume", action="store_true", help="continue from --out if it exists")
    p.add_argument("--force", action="store_true", help="replace an existing --out file")
    p.add_argument("--ship", action="store_true",
                   help="also write the slim copy data/checkpoints/fau_resnet.pt that the demo notebook loads")
    p.add_argument("--no-augment", action="store_true", help="no flip/shift/brightness augmentation")
    p.add_argument("--freeze-backbone", action="store_true", help="train only deconv_layers and final_layer")
    p.add_argument("--init", metavar="PT", help="start from this FAU checkpoint (fine-tuning)")
    p.add_argument("--train-csv", metavar="CSV", help="real AU data: path,AU6,AU10,AU12,AU14,AU17[,points]")
    p.add_argument("--val-csv", metavar="CSV", help="real AU validation data (same format)")
    p.add_argument("--resnet50", action="store_true", help="the assignment's ResNet-50 layout (slow on CPU)")
    p.add_argument("--layers", type=int_list, help="blocks per stage, e.g. 2,2,2,2")
    p.add_argument("--width", type=positive_int, help="base width (default 16)")
    p.add_argument("--patch-attention", action="store_true",
                   help="D-PAttNet-style patch attention (facekit.fau.attention); ships fau_resnet_patchattn.pt")
    p.add_argument("--all-aus", action="store_true",
                   help="predict every AU the generator renders (17 AUs, 34 maps); ships fau_resnet_allau.pt")
    p.add_argument("--robust", action="store_true",
                   help="lab-to-wild augmentations: pose, light, contrast, blur, noise, occlusion (facekit.fau.augment; "
                        "--skin-tone adds one)")
    p.add_argument("--skin-tone", type=_fraction, metavar="LO",
                   help="with --robust: darken the face region (not the background) by a factor drawn from [LO, 1], "
                        "for skin darker than the training faces' (off by default; e.g. 0.5)")
    p.add_argument("--init-backbone", metavar="PT",
                   help="start from this FAU checkpoint's weights except final_layer (e.g. a 5-AU model for --all-aus)")
    p.add_argument("--name", help="name of the shipped checkpoint (default fau_resnet[_allau|_robust][_patchattn])")
    p.set_defaults(func=_cmd_train_fau)
