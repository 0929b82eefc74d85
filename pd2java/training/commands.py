"""CLI verbs ``pd2java train`` and ``pd2java evaluate`` (a checkpoint or an export): thin wrappers
over ``pd2java.training.train.train`` and ``pd2java.training.evaluate.evaluate``.

DATA is a dataset folder or ``synth:gis`` / ``synth:transformer`` with optional
``?per_class=80&seed=0&difficulty=0.6`` (synthesised on the fly).
"""

from __future__ import annotations

import argparse
from pathlib import Path

DATA_HELP = (
    "dataset folder, or synth:gis / synth:transformer to synthesise on the fly "
    "(options: synth:gis?per_class=80&seed=0&difficulty=0.6)"
)


def _train(args: argparse.Namespace) -> int:
    from pd2java.training.checkpoint import file_size_mb
    from pd2java.training.train import train

    ckpt = train(
        args.data,
        arch=args.arch,
        out=args.out,
        preset=args.preset,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        val_fraction=args.val_fraction,
        seed=args.seed,
        head=args.head,
        augment=args.augment,
        progress=not args.quiet,
        threads=args.threads,
    )
    m = ckpt.metrics
    val = m.get("val_accuracy")
    val_text = f"{100 * val:.2f}%" if val is not None else "n/a (no validation split)"
    print(
        f"wrote {args.out} ({file_size_mb(args.out):.2f} MB): {ckpt.arch}, "
        f"{len(ckpt.classes)} classes, {m['parameters']:,} parameters; best epoch "
        f"{m['best_epoch']}/{ckpt.recipe['epochs']}, validation accuracy {val_text}, "
        f"{m['train_seconds']:.0f} s"
    )
    cal = ckpt.calibration
    if cal is not None:
        rej = cal["rejection"]
        print(
            f"calibration: temperature {cal['temperature']:.3f} (folded into the last layer), "
            f"expected calibration error on validation {100 * cal['ece_before']:.2f}% -> "
            f"{100 * cal['ece_after']:.2f}%; unsure below {rej['score']} {rej['threshold']:.4f} "
            f"(target false reject {100 * rej['target_false_reject']:g}%, "
            f"{100 * rej['val_false_reject']:.1f}% on validation)"
        )
    if m.get("calibration_note"):
        print(m["calibration_note"])
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from pd2java.training.evaluate import evaluate

    report = evaluate(args.checkpoint, args.data, out_dir=args.out)
    print(report.table())
    if args.out is not None:
        print(f"\nwrote {args.out / 'report.txt'}, report.json, confusion.png and index.html")
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``train`` and ``evaluate``."""
    p = subparsers.add_parser(
        "train",
        help="train a PD classifier (lenet or light) on PRPD images",
        description="Train a zoo model with a stratified validation split and fixed seeds; "
        "keeps the best-validation weights in a weights-only checkpoint.",
    )
    p.add_argument("data", help=DATA_HELP)
    p.add_argument("--arch", default="light", help="lenet (PDModel) or light (PDLightModel)")
    p.add_argument("-o", "--out", type=Path, required=True, help="checkpoint file to write")
    p.add_argument(
        "--preset",
        default="default",
        help="default (fast, augmented), seed-lenet (80 epochs, batch 64) or seed-light "
        "(36 epochs at lr 1e-4 then 17 at 1e-5, batch 4)",
    )
    p.add_argument("--epochs", type=int, help="override the preset's number of epochs")
    p.add_argument("--batch-size", type=int, help="override the preset's batch size")
    p.add_argument("--lr", type=float, help="override the preset's (peak) learning rate")
    p.add_argument("--seed", type=int, default=0, help="seed for split, init and order")
    p.add_argument(
        "--val-fraction", type=float, default=0.2, help="share of each class held out (0.2)"
    )
    p.add_argument(
        "--head",
        default="softmax",
        choices=("softmax", "sigmoid"),
        help="probability head of the exported model (the seed baseline used sigmoid)",
    )
    p.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="phase jitter (<= 18 deg) and amplitude gain; on in the default preset",
    )
    p.add_argument(
        "--threads",
        type=int,
        help="torch threads for training (default: torch's); 1 is fastest on a busy machine",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_train)

    e = subparsers.add_parser(
        "evaluate",
        help="score a checkpoint or an export: accuracy, per-class precision/recall, confusion "
        "matrix",
        description="Score a pd2java checkpoint (run by PyTorch) or an export folder / "
        "NAME.manifest.json (run by the NumPy reference, as the Java runtime would run it) on a "
        "labelled dataset. An export must carry class names matching the dataset's.",
    )
    e.add_argument(
        "checkpoint",
        type=Path,
        metavar="MODEL",
        help="a pd2java checkpoint (.pt), or an export folder or its NAME.manifest.json",
    )
    e.add_argument("data", help=DATA_HELP)
    e.add_argument(
        "-o",
        "--out",
        type=Path,
        help="folder for report.txt, report.json, confusion.png and the model card index.html",
    )
    e.set_defaults(func=_evaluate)
