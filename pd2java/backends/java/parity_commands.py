"""CLI verb ``pd2java verify``: a thin wrapper over :func:`pd2java.backends.java.verify.verify`."""

from __future__ import annotations

import argparse
import sys

from pd2java.backends.java.verify import DEFAULT_ATOL, DEFAULT_RTOL


def _run(args: argparse.Namespace) -> int:
    from pd2java.backends.java.verify import check, verify

    report = verify(
        args.outdir,
        samples=args.samples,
        per_layer=args.per_layer,
        checkpoint=args.checkpoint,
        module=args.module,
        weights=args.weights,
        atol=args.atol,
        rtol=args.rtol,
        seed=args.seed,
        data=args.data,
        progress=lambda msg: print(f"... {msg}", file=sys.stderr),
    )
    print(report.table())
    check(report)  # ParityError -> exit 2 (pd2java.cli)
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``verify``."""
    p = subparsers.add_parser(
        "verify",
        help="check the Java runtime against PyTorch and the NumPy reference",
        description=(
            "Run an export in the Java runtime (over py4j) and compare it with the NumPy reference "
            "and, when a checkpoint or module is at hand, with PyTorch, on the golden vectors, N "
            "random inputs and N synthetic PRPD images. Passes when every probability is within "
            f"{DEFAULT_ATOL:g} + {DEFAULT_RTOL:g} * |expected| and every argmax agrees (ties "
            "within tolerance count as agreeing). Exit 0 pass, 1 bad input, 2 parity failure."
        ),
    )
    p.add_argument("outdir", help="export folder (with one *.manifest.json) or a manifest path")
    p.add_argument(
        "--samples",
        "-n",
        type=int,
        default=16,
        help="random inputs and synthetic PRPD images each (default 16)",
    )
    p.add_argument(
        "--per-layer",
        action="store_true",
        help="compare every node's output and name the first that diverges",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--checkpoint",
        metavar="PT",
        help="pd2java checkpoint to compare with (default: the one the export "
        "recorded, if it still exists)",
    )
    src.add_argument(
        "--module",
        metavar="FILE.py:NAME",
        help="an nn.Module, or a function returning one, as FILE.py:NAME or package.module:NAME",
    )
    p.add_argument(
        "--weights",
        metavar="PT",
        help="a state dict (torch.save(model.state_dict())) to load into the --module model",
    )
    p.add_argument("--atol", type=float, default=DEFAULT_ATOL, help=argparse.SUPPRESS)
    p.add_argument("--rtol", type=float, default=DEFAULT_RTOL, help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help="seed of the random and PRPD inputs")
    p.add_argument(
        "--data",
        metavar="DATA",
        help="labelled dataset (folder, or synth:gis / synth:transformer): also report the "
        "accuracy of the export and of the PyTorch checkpoint, and the change (for compressed "
        "weights, what int8 or fp16 costs)",
    )
    p.set_defaults(func=_run)
