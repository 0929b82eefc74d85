"""CLI verb ``pd2java compress``: a thin wrapper over ``pd2java.training.compress.compress``.

pd2java compress MODEL.pt -o SMALL.pt --data DATA [--low-rank RANK|ENERGY
                 [--low-rank-layers NAME[,NAME]]] [--prune FRACTION]
                 [--distill-from TEACHER.pt [--temperature T] [--alpha A]]
                 [--epochs N] [--lr LR] [--batch-size B] [--seed S] [--val-fraction F]
                 [--no-augment] [--threads N] [-q]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pd2java.training.commands import DATA_HELP


def _compress(args: argparse.Namespace) -> int:
    from pd2java.training.checkpoint import file_size_mb
    from pd2java.training.compress import compress, describe_step

    layers = None
    if args.low_rank_layers is not None:
        layers = args.low_rank_layers.split(",")
    result = compress(
        args.model,
        args.data,
        out=args.out,
        low_rank=args.low_rank,
        low_rank_layers=layers,
        prune=args.prune,
        distill_from=args.distill_from,
        temperature=args.temperature,
        alpha=args.alpha,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        val_fraction=args.val_fraction,
        seed=args.seed,
        augment=args.augment,
        progress=not args.quiet,
        threads=args.threads,
    )
    ckpt = result.checkpoint
    for step in ckpt.recipe["steps"]:
        print(describe_step(step))
    m = ckpt.metrics
    before, after = m["parameters_before"], m["parameters"]

    def pct(v: float | None) -> str:
        return "n/a (no validation split)" if v is None else f"{100 * v:.2f}%"

    print(
        f"wrote {args.out} ({file_size_mb(args.out):.2f} MB): {ckpt.arch}, "
        f"{before:,} -> {after:,} parameters ({100 * after / before:.1f}%), validation "
        f"accuracy {pct(m['val_accuracy_before'])} -> {pct(m['val_accuracy'])}, "
        f"{m['compress_seconds']:.0f} s"
    )
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``compress``."""
    p = subparsers.add_parser(
        "compress",
        help="make a checkpoint smaller: low-rank linear layers, pruned channels, "
        "distillation / fine-tuning",
        description="Compress a pd2java checkpoint into a smaller one. Steps, applied in this "
        "order: --low-rank (SVD factorisation of large linear layers), --prune (structured "
        "channel pruning), then fine-tuning on --data, by distillation from --distill-from if "
        "given. The result is an ordinary checkpoint (evaluate and export take it) whose recipe "
        "records every step and the validation accuracy before and after it.",
    )
    p.add_argument("model", type=Path, metavar="MODEL", help="the pd2java checkpoint (.pt)")
    p.add_argument("-o", "--out", type=Path, required=True, help="checkpoint file to write")
    p.add_argument("--data", required=True, help="data to fine-tune on: " + DATA_HELP)
    p.add_argument(
        "--low-rank",
        metavar="RANK|ENERGY",
        help="factorise large linear layers by SVD: an integer rank (e.g. 8), or a number in "
        "(0, 1] with a decimal point (e.g. 0.9): the share of squared singular-value energy kept",
    )
    p.add_argument(
        "--low-rank-layers",
        metavar="NAME[,NAME]",
        help="the linear layers to factorise (e.g. classifier.0); default: every one with more "
        "than 32,768 weights",
    )
    p.add_argument(
        "--prune",
        type=float,
        metavar="FRACTION",
        help="remove this fraction (0 < f < 1) of each layer's prunable channels: light's "
        "expansion channels (by BN gamma), lenet's conv channels (by filter L1 norm)",
    )
    p.add_argument(
        "--distill-from",
        type=Path,
        metavar="TEACHER",
        help="a checkpoint with the same classes to distil from (on logits)",
    )
    p.add_argument("--temperature", type=float, help="distillation temperature T (default 4)")
    p.add_argument(
        "--alpha",
        type=float,
        help="weight of the soft (teacher) loss; 1 - alpha weights the labels (default 0.7)",
    )
    p.add_argument(
        "--epochs", type=int, help="epochs of fine-tuning after the steps (default 3; 0: none)"
    )
    p.add_argument("--lr", type=float, help="peak learning rate of the fine-tuning (1e-3)")
    p.add_argument("--batch-size", type=int, help="images per batch before augmentation (32)")
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed for the split, order and augmentation (the training run's keeps its "
        "validation images out)",
    )
    p.add_argument(
        "--val-fraction", type=float, default=0.2, help="share of each class held out (0.2)"
    )
    p.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="add an augmented copy of every batch (phase jitter, amplitude gain); on by default",
    )
    p.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_compress)
