"""PRPD datasets on disk: one sub-folder per class, plus an optional ``classes.json``.

Layout written by ``save_dataset`` (and read by ``load_dataset``)::

    DIR/classes.json          {"format": "pd2java.dataset", "classes": [...], ...}
    DIR/<class>/<index>.npy   (60, 120) float32 in [0, 1]
    DIR/preview.png           examples per class (not read back)

``classes.json`` fixes the class order (the model's output order); it may also be a plain JSON
list of names. Without it the class order is the sorted sub-folder names.

Image files: ``.npy`` (any real dtype), ``.csv`` (60 rows of 120 numbers, comma or whitespace
separated) and grayscale ``.png`` (8- or 16-bit). For ``.npy`` and ``.csv``, values in [0, 1] are
kept as they are; whole-number values above 1 are a raw pulse-count histogram and are
log-normalised. A PNG holds display intensities: pixel / 255 (or / 65535) is the value, and PNG
row 0 is the TOP of the picture, i.e. the HIGHEST amplitude bin (it is flipped on load so that
array row 0 is the lowest amplitude, as everywhere else in pd2java). ``write_png`` uses the same
convention, so a PNG written by pd2java loads back to the same image (to 16-bit precision).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np

from pd2java.errors import UserError
from pd2java.training.data.convention import (
    IMAGE_CONVENTION,
    IMAGE_SHAPE,
    Dataset,
    normalize_counts,
)

IMAGE_SUFFIXES = (".npy", ".csv", ".png")
CLASSES_FILE = "classes.json"
PREVIEW_FILE = "preview.png"
DATASET_FORMAT = "pd2java.dataset"


def _natural_key(path: Path) -> list[object]:
    # 2.npy before 10.npy: split digit runs into ints.
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def _read_csv(path: Path) -> np.ndarray:
    text = path.read_text(encoding="utf-8-sig")
    rows = [r for r in text.splitlines() if r.strip()]
    delimiter = "," if rows and "," in rows[0] else None
    try:
        return np.loadtxt(rows, delimiter=delimiter, dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise UserError(f"{path}: not a table of numbers ({exc})") from None


def _read_png(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            mode = img.mode
            if mode == "L":
                full_scale = 255.0
            elif mode in ("I;16", "I;16B", "I;16L", "I"):
                full_scale = 65535.0
            else:
                raise UserError(
                    f"{path}: PNG mode {mode!r} is not grayscale; save PRPD images as 8-bit 'L' "
                    "or 16-bit grayscale"
                )
            pixels = np.asarray(img, dtype=np.float64)
    except (UnidentifiedImageError, OSError) as exc:
        raise UserError(f"{path}: cannot read PNG ({exc})") from None
    if mode == "I" and pixels.size and (pixels.min() < 0 or pixels.max() > 65535):
        raise UserError(f"{path}: 32-bit PNG values outside 0..65535 are not PRPD intensities")
    # PNG row 0 is the top of the picture = highest amplitude; pd2java row 0 is the lowest.
    return pixels[::-1] / full_scale


def read_array(path: str | os.PathLike) -> np.ndarray:
    """The raw 2-D array stored in a ``.npy`` or ``.csv`` file (no checks beyond readability)."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            try:
                arr = np.load(path, allow_pickle=False)
            except ValueError as exc:  # object arrays need pickle: refuse, never unpickle
                raise UserError(f"{path}: not a plain numeric .npy array ({exc})") from None
        elif suffix == ".csv":
            arr = _read_csv(path)
        else:
            raise UserError(f"{path}: unsupported file type {suffix!r}; use .npy or .csv")
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc})") from None
    if not isinstance(arr, np.ndarray):
        raise UserError(f"{path}: expected one array, found {type(arr).__name__}")
    if arr.dtype.kind not in "biuf":
        raise UserError(f"{path}: dtype {arr.dtype} is not a real number type")
    return arr


def to_image(arr: np.ndarray, where: str) -> np.ndarray:
    """Check a (60, 120) PRPD array and bring it to the convention: values in [0, 1] kept, a
    whole-number count histogram log-normalised. ``where`` names the source in errors."""
    a = np.asarray(arr)
    if a.ndim == 3 and a.shape[0] == 1:
        a = a[0]  # (1, 60, 120): a single-channel model input
    if a.shape != IMAGE_SHAPE:
        hint = (
            " (looks transposed: axis 0 must be amplitude)" if a.shape == IMAGE_SHAPE[::-1] else ""
        )
        raise UserError(
            f"{where}: shape {a.shape} is not (60, 120) = (amplitude bins, phase bins){hint}"
        )
    if a.dtype.kind not in "biuf":
        raise UserError(f"{where}: dtype {a.dtype} is not a real number type")
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        bad = np.argwhere(~np.isfinite(a))[0]
        raise UserError(f"{where}: NaN or infinity at (amplitude {bad[0]}, phase {bad[1]})")
    if a.min() < 0:
        bad = np.unravel_index(int(np.argmin(a)), a.shape)
        raise UserError(
            f"{where}: negative value {a.min():g} at (amplitude {bad[0]}, phase {bad[1]}); "
            "PRPD values are counts or intensities >= 0"
        )
    if a.max() <= 1.0:
        return a.astype(np.float32)
    if not np.all(a == np.round(a)):
        raise UserError(
            f"{where}: values go up to {a.max():g} but are not whole numbers; an image must be "
            "either in [0, 1] (normalised) or a raw pulse-count histogram (integers)"
        )
    return normalize_counts(a)


def load_image(path: str | os.PathLike) -> np.ndarray:
    """One PRPD image from ``.npy``, ``.csv`` or grayscale ``.png``, as (60, 120) float32."""
    path = Path(path)
    if path.suffix.lower() == ".png":
        try:
            pixels = _read_png(path)
        except OSError as exc:
            raise UserError(f"{path}: cannot read ({exc})") from None
        return to_image(pixels, str(path))
    return to_image(read_array(path), str(path))


def write_png(image: np.ndarray, path: str | os.PathLike) -> None:
    """Save an image as a 16-bit grayscale PNG, highest amplitude in row 0 (see module doc)."""
    from PIL import Image

    img = to_image(image, str(path))
    pixels = np.round(img[::-1].astype(np.float64) * 65535.0).astype(np.uint16)
    Image.fromarray(pixels).save(path, format="PNG")


def _read_classes_file(path: Path) -> tuple[str, ...]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: cannot read class list ({exc})") from None
    names = data.get("classes") if isinstance(data, dict) else data
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise UserError(
            f"{path}: expected a JSON list of class names or an object with a 'classes' list"
        )
    if len(set(names)) != len(names):
        raise UserError(f"{path}: class names repeat: {names}")
    for name in names:
        if name in (".", "..") or "/" in name or "\\" in name:
            raise UserError(f"{path}: class name {name!r} is not a plain folder name")
    return tuple(names)


def load_dataset(path: str | os.PathLike) -> Dataset:
    """Load a dataset folder: one sub-folder of images per class (order from ``classes.json`` if
    present, else sorted folder names). Needs at least two classes, each with an image."""
    root = Path(path)
    if not root.exists():
        raise UserError(f"{root}: dataset folder does not exist")
    if not root.is_dir():
        raise UserError(f"{root}: is a file; a dataset is a folder with one sub-folder per class")
    folders = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    classes_file = root / CLASSES_FILE
    if classes_file.exists():
        classes = _read_classes_file(classes_file)
        missing = [c for c in classes if c not in folders]
        if missing:
            raise UserError(f"{root}: {CLASSES_FILE} lists {missing} but there is no such folder")
        extra = [f for f in folders if f not in classes]
        if extra:
            raise UserError(
                f"{root}: folders {extra} are not in {CLASSES_FILE}; add them or move them out"
            )
    else:
        classes = tuple(folders)
    if len(classes) < 2:
        raise UserError(
            f"{root}: found {len(classes)} class folder(s) {list(classes)}; a classifier needs "
            "at least 2 (one sub-folder of images per class)"
        )
    images: list[np.ndarray] = []
    labels: list[int] = []
    sources: list[str] = []
    for label, name in enumerate(classes):
        folder = root / name
        files = sorted(
            (
                f
                for f in folder.iterdir()
                if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith(".")
            ),
            key=_natural_key,
        )
        if not files:
            raise UserError(f"{folder}: class folder {name!r} holds no images (.npy, .csv or .png)")
        for f in files:
            images.append(load_image(f))
            labels.append(label)
            sources.append(str(f))
    return Dataset(
        images=np.stack(images).astype(np.float32, copy=False),
        labels=np.asarray(labels, dtype=np.int64),
        classes=classes,
        sources=tuple(sources),
    )


def prepare_output_dir(out_dir: str | os.PathLike, *, marker: str = CLASSES_FILE) -> Path:
    """Check that ``out_dir`` may be (re)written: absent, an empty folder, or a folder pd2java
    wrote before (it holds ``marker``). Creates the parent. Returns the absolute path."""
    out = Path(out_dir).absolute()
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: output path is a file; give a folder to write into")
    if out.is_dir() and any(out.iterdir()) and not (out / marker).exists():
        raise UserError(
            f"{out}: folder exists and is not empty (and not written by pd2java: no {marker}); "
            "choose a new output folder"
        )
    if out.parent.exists() and not out.parent.is_dir():
        raise UserError(f"{out.parent}: parent of the output folder is a file")
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


def publish_dir(tmp: Path, out: Path) -> None:
    """Move the finished temporary folder ``tmp`` to ``out``, replacing an old ``out``; the old
    folder is only removed once the new one is in place."""
    old: Path | None = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.rmdir(old)
        os.replace(out, old)
    try:
        os.replace(tmp, out)
    except OSError:
        if old is not None:
            os.replace(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def save_dataset(
    ds: Dataset, out_dir: str | os.PathLike, *, preview: bool = True, meta: dict | None = None
) -> Path:
    """Write ``ds`` as ``DIR/<class>/<index>.npy`` + ``DIR/classes.json`` (+ ``preview.png``).

    Everything is written into a temporary folder next to ``DIR`` and renamed into place at the
    end, so an interrupted or failed save leaves no half-written dataset. An existing ``DIR`` is
    replaced only if it is empty or was written by pd2java. ``meta`` adds keys to classes.json
    (e.g. the synth parameters). Returns the dataset folder.
    """
    out = prepare_output_dir(out_dir)
    for name in ds.classes:
        if name in (".", "..") or "/" in name or "\\" in name or name.startswith("."):
            raise UserError(f"class name {name!r} cannot be a folder name")
    images = ds.images
    if images.size and (not np.all(np.isfinite(images)) or images.min() < 0 or images.max() > 1):
        raise UserError("save_dataset: images must be finite and in [0, 1]")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        counters = [0] * len(ds.classes)
        for name in ds.classes:
            (tmp / name).mkdir()
        for image, label in zip(images, ds.labels):
            name = ds.classes[int(label)]
            np.save(tmp / name / f"{counters[label]}.npy", np.ascontiguousarray(image))
            counters[label] += 1
        info = {
            "format": DATASET_FORMAT,
            "classes": list(ds.classes),
            "counts": {n: c for n, c in zip(ds.classes, counters)},
            "image_convention": IMAGE_CONVENTION,
            **(meta or {}),
        }
        (tmp / CLASSES_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        if preview and len(ds):
            from pd2java.training.data.preview import render_preview

            render_preview(ds, tmp / PREVIEW_FILE, title=str((meta or {}).get("title", "")) or None)
        publish_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
