"""``pd2java data ...`` verbs: ``synth``, ``from-prps`` and ``preview``.

Each verb is a thin wrapper over a public function of ``pd2java.training.data``; errors the user can fix
are raised as ``UserError`` (exit 1) by those functions.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from pd2java.errors import UserError
from pd2java.fsutil import atomic_path
from pd2java.training.data.convention import PRODUCTS
from pd2java.training.data.io import (
    CLASSES_FILE,
    load_dataset,
    prepare_output_dir,
    publish_dir,
    read_array,
    save_dataset,
)
from pd2java.training.data.prps import prps_to_prpd
from pd2java.training.data.synth import DEFAULT_DIFFICULTY, synthesize

PRPS_MARKER = "prps_source.json"
_PRPS_SUFFIXES = (".npy", ".csv")


def _convert_one(path: Path, amplitude_max: float | None) -> np.ndarray:
    try:
        return prps_to_prpd(read_array(path), amplitude_max=amplitude_max)
    except UserError as exc:
        msg = str(exc)
        raise UserError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None


def _save_npy_atomic(array: np.ndarray, target: Path) -> None:
    with atomic_path(target) as tmp, open(tmp, "wb") as handle:
        np.save(handle, array)


def convert_prps(
    source: str | os.PathLike,
    out: str | os.PathLike,
    *,
    amplitude_max: float | None = None,
    progress: bool = False,
) -> list[Path]:
    """Convert PRPS matrices (``.npy`` / ``.csv``, cycles x phase windows) to PRPD ``.npy`` files.

    ``source`` a file: ``out`` is the output ``.npy`` file, or a folder to put ``<stem>.npy`` in.
    ``source`` a folder: every PRPS file below it is converted into the same relative place under
    the folder ``out`` (so a folder of class sub-folders becomes a PRPD dataset; its
    ``classes.json`` is copied). Nothing is written unless every file converts. Returns the
    written files.
    """
    src = Path(source)
    dst = Path(out)
    if not src.exists():
        raise UserError(f"{src}: PRPS input does not exist")
    if src.is_file():
        if src.suffix.lower() not in _PRPS_SUFFIXES:
            raise UserError(f"{src}: PRPS input must be .npy or .csv, got {src.suffix!r}")
        image = _convert_one(src, amplitude_max)
        if dst.suffix.lower() != ".npy" or dst.is_dir():
            if dst.exists() and not dst.is_dir():
                raise UserError(f"{dst}: output must be a .npy file name or a folder")
            dst.mkdir(parents=True, exist_ok=True)
            dst = dst / f"{src.stem}.npy"
        elif not dst.parent.is_dir():
            if dst.parent.exists():
                raise UserError(f"{dst.parent}: parent of the output file is not a folder")
            dst.parent.mkdir(parents=True)
        _save_npy_atomic(image, dst)
        return [dst]

    files = sorted(
        p
        for p in src.rglob("*")
        if p.is_file()
        and p.suffix.lower() in _PRPS_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(src).parts)
    )
    if not files:
        raise UserError(f"{src}: folder holds no PRPS files (.npy or .csv)")
    target = prepare_output_dir(dst, marker=PRPS_MARKER)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    written: list[Path] = []
    try:
        iterator = files
        if progress:
            from tqdm import tqdm

            iterator = tqdm(files, desc="from-prps", unit="file", leave=False)
        for f in iterator:
            rel = f.relative_to(src).with_suffix(".npy")
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            np.save(tmp / rel, _convert_one(f, amplitude_max))
            written.append(target / rel)
        if (src / CLASSES_FILE).is_file():
            shutil.copyfile(src / CLASSES_FILE, tmp / CLASSES_FILE)
        info = {"source": str(src.absolute()), "files": len(files), "amplitude_max": amplitude_max}
        (tmp / PRPS_MARKER).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        publish_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return written


def _cmd_synth(args: argparse.Namespace) -> int:
    ds = synthesize(
        args.product, args.per_class, args.seed, args.difficulty, progress=not args.quiet
    )
    meta = {
        "product": args.product,
        "seed": args.seed,
        "difficulty": args.difficulty,
        "per_class": args.per_class,
        "generator": "pd2java.training.data.synthesize",
    }
    out = save_dataset(ds, args.output, preview=not args.no_preview, meta=meta)
    print(f"wrote {len(ds)} images ({len(ds.classes)} classes x {args.per_class}) to {out}")
    if not args.no_preview:
        print(f"preview: {out / 'preview.png'}")
    return 0


def _cmd_from_prps(args: argparse.Namespace) -> int:
    written = convert_prps(
        args.input, args.output, amplitude_max=args.amplitude_max, progress=not args.quiet
    )
    where = written[0] if len(written) == 1 else Path(args.output)
    print(f"converted {len(written)} PRPS file(s) to PRPD images in {where}")
    return 0


def _cmd_preview(args: argparse.Namespace) -> int:
    from pd2java.training.data.preview import render_preview

    ds = load_dataset(args.dataset)
    out = Path(args.output) if args.output else Path(args.dataset) / "preview.png"
    if out.is_dir():
        raise UserError(f"{out}: is a folder; give a .png file name")
    with atomic_path(out, suffix=".png") as tmp:
        render_preview(ds, tmp, per_class=args.per_class, title=str(args.dataset))
    counts = ", ".join(f"{k}={v}" for k, v in ds.counts().items())
    print(f"{len(ds)} images: {counts}\npreview: {out}")
    return 0


def _difficulty(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {value}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``pd2java data`` and its sub-verbs."""
    data = subparsers.add_parser("data", help="make, convert and inspect PRPD datasets")
    verbs = data.add_subparsers(dest="data_command", metavar="<data command>")
    data.set_defaults(func=lambda args: (data.print_help(), 1)[1])

    synth = verbs.add_parser(
        "synth",
        help="write a synthetic PRPD dataset from partial-discharge physics",
        description="Write DIR/<class>/<index>.npy, DIR/classes.json and DIR/preview.png.",
    )
    synth.add_argument("--product", choices=sorted(PRODUCTS), default="gis")
    synth.add_argument("--per-class", type=_positive_int, default=80)
    synth.add_argument("--seed", type=_non_negative_int, default=0)
    synth.add_argument(
        "--difficulty",
        type=_difficulty,
        default=DEFAULT_DIFFICULTY,
        help=f"nuisance strength in [0, 1] (default {DEFAULT_DIFFICULTY})",
    )
    synth.add_argument("-o", "--output", required=True, help="dataset folder to write")
    synth.add_argument("--no-preview", action="store_true", help="skip preview.png")
    synth.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    synth.set_defaults(func=_cmd_synth)

    prps = verbs.add_parser(
        "from-prps",
        help="convert PRPS matrices (cycles x phase windows) to PRPD .npy images",
        description="INPUT is a .npy/.csv PRPS file or a folder of them (sub-folders mirrored).",
    )
    prps.add_argument("input")
    prps.add_argument("-o", "--output", required=True, help="output .npy file or folder")
    prps.add_argument(
        "--amplitude-max",
        type=float,
        default=None,
        help="full-scale amplitude (default: 255 for 8-bit data, 65535 for 16-bit, 1 for [0, 1])",
    )
    prps.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    prps.set_defaults(func=_cmd_from_prps)

    preview = verbs.add_parser("preview", help="render a PNG grid of examples per class")
    preview.add_argument("dataset")
    preview.add_argument("-o", "--output", help="PNG file (default DATASET/preview.png)")
    preview.add_argument("--per-class", type=_positive_int, default=6)
    preview.set_defaults(func=_cmd_preview)
