"""CLI verbs ``pd2java train``, ``pd2java pretrain`` and ``pd2java evaluate`` (a checkpoint or an
export): thin wrappers over ``pd2java.training.train.train``,
``pd2java.training.finetune.pretrain`` and ``pd2java.training.evaluate.evaluate``.

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
        init=args.init,
        freeze=args.freeze,
    )
    _report(ckpt, args.out)
    return 0


def _report(ckpt, out: Path) -> None:
    from pd2java.training.checkpoint import file_size_mb
    from pd2java.training.finetune import describe_init

    m = ckpt.metrics
    val = m.get("val_accuracy")
    val_text = f"{100 * val:.2f}%" if val is not None else "n/a (no validation split)"
    stopped = (
        f" (stopped early after {m['epochs_run']})"
        if m.get("epochs_run", ckpt.recipe["epochs"]) < ckpt.recipe["epochs"]
        else ""
    )
    print(
        f"wrote {out} ({file_size_mb(out):.2f} MB): {ckpt.arch}, "
        f"{len(ckpt.classes)} classes, {m['parameters']:,} parameters; best epoch "
        f"{m['best_epoch']}/{ckpt.recipe['epochs']}{stopped}, validation accuracy {val_text}, "
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
    if ckpt.recipe.get("init"):
        print(f"fine-tuned {describe_init(ckpt.recipe['init'])}")
    if ckpt.recipe.get("freeze"):
        print(f"frozen: {', '.join(ckpt.recipe['freeze']['modules'])}")


def _pretrain(args: argparse.Namespace) -> int:
    from pd2java.training.finetune import pretrain

    ckpt = pretrain(
        args.product,
        args.out,
        per_class=args.per_class,
        epochs=args.epochs,
        seed=args.seed,
        difficulty=args.difficulty,
        randomization=args.randomization,
        progress=not args.quiet,
        threads=args.threads,
    )
    _report(ckpt, args.out)
    print(f"regenerate with: {ckpt.recipe['pretrain']['command']}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from pd2java.training.evaluate import evaluate

    report = evaluate(args.checkpoint, args.data, out_dir=args.out)
    print(report.table())
    if args.out is not None:
        print(f"\nwrote {args.out / 'report.txt'}, report.json, confusion.png and index.html")
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``train``, ``pretrain`` and ``evaluate``."""
    p = subparsers.add_parser(
        "train",
        help="train a PD classifier (lenet or light) on PRPD images",
        description="Train a zoo model with a stratified validation split and fixed seeds; "
        "keeps the best-validation weights in a weights-only checkpoint.",
    )
    p.add_argument("data", help=DATA_HELP)
    p.add_argument(
        "--arch",
        default=None,
        help="lenet (PDModel) or light (PDLightModel); default light, or the --init model's",
    )
    p.add_argument("-o", "--out", type=Path, required=True, help="checkpoint file to write")
    p.add_argument(
        "--preset",
        default="default",
        help="default (fast, augmented), finetune (small data with --init: lr 3e-4, stronger "
        "augmentation, early stopping), seed-lenet (80 epochs, batch 64) or seed-light "
        "(36 epochs at lr 1e-4 then 17 at 1e-5, batch 4)",
    )
    p.add_argument(
        "--init",
        metavar="PRETRAINED",
        help="start from this checkpoint, or gis / transformer (the shipped pretrained light "
        "models): classes matched by name, lr x0.1 unless --lr or --preset finetune",
    )
    p.add_argument(
        "--freeze",
        choices=("stem", "features"),
        help="keep these layers fixed (lenet: first conv / all convs; light: stem / everything "
        "before the pool); their BN layers stay in eval mode",
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
        default=None,
        choices=("softmax", "sigmoid"),
        help="probability head of the exported model (default softmax, or the --init model's; "
        "the seed baseline used sigmoid)",
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

    from pd2java.training.finetune import PRETRAIN_RECIPES

    r = PRETRAIN_RECIPES["gis"]
    pre = subparsers.add_parser(
        "pretrain",
        help="synthetic pretraining of a light model, to fine-tune with train --init",
        description="The recommended synthetic pretraining (docs/TRAINING.md, 'Fine-tuning'): "
        f"{r.per_class} images per class of the product's synthetic PRPD (seed {r.seed}, "
        f"difficulty {r.difficulty}), the light model trained {r.epochs} epochs with the "
        f"default preset, {r.val_fraction:.0%} held out. The checkpoint records the data, the "
        "synthesizer's spec and the command that regenerates it.",
    )
    pre.add_argument("--product", required=True, choices=sorted(PRETRAIN_RECIPES))
    pre.add_argument("-o", "--out", type=Path, required=True, help="checkpoint file to write")
    pre.add_argument("--per-class", type=int, help=f"images per class ({r.per_class})")
    pre.add_argument("--epochs", type=int, help=f"training epochs ({r.epochs})")
    pre.add_argument("--seed", type=int, help=f"synthesis seed ({r.seed})")
    pre.add_argument("--difficulty", type=float, help=f"synthesis difficulty ({r.difficulty})")
    pre.add_argument(
        "--randomization",
        help="the synthesizer's randomization mode, when it has that switch (default: its own)",
    )
    pre.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    pre.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    pre.set_defaults(func=_pretrain)

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
