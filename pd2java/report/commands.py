"""The ``pd2java report`` verb: the model card (``index.html``) of an export folder."""

from __future__ import annotations

import argparse
from pathlib import Path


def _report(args: argparse.Namespace) -> int:
    from pd2java.report import report_export

    page = report_export(args.export, args.out, data=args.data)
    print(f"wrote {page}")
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``report``."""
    p = subparsers.add_parser(
        "report",
        help="write the model card (index.html) of an export folder",
        description="Write a self-contained HTML model card for an export: data per class, "
        "confusion matrix, precision/recall, reliability before and after calibration, worst "
        "misclassified images, training curves (from the checkpoint the export names), sizes, "
        "parity, recipe and versions. The model runs in the NumPy reference on --data, or on the "
        "held-out split pd2java train-many recorded.",
    )
    p.add_argument("export", type=Path, metavar="EXPORT_DIR", help="export folder or manifest")
    p.add_argument(
        "--data",
        help="labelled data to evaluate on: a dataset folder or synth:gis?per_class=20&seed=1000 "
        "(default: train-many's held-out split, when the export has one)",
    )
    p.add_argument(
        "-o", "--out", type=Path, help="folder for index.html (default: the export folder)"
    )
    p.set_defaults(func=_report)
