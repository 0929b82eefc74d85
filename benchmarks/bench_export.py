"""Export benchmark: per zoo model, export time, file sizes next to the checkpoint size, and the
NumPy reference's max abs error against PyTorch over 1,000 synthetic PRPD images.

    python benchmarks/bench_export.py [--images 1000] [--checkpoint lenet=PATH --checkpoint light=PATH]

Without checkpoints the zoo models are built for the 7 GIS classes with seeded random weights and
randomised batch-norm statistics (so BN is not the identity). Each model is exported twice:
plain and with --fold-bn. Prints a Markdown table (recorded in docs/EXPORT.md).
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from corpus import randomize_bn

from pd2java.backends import reference
from pd2java.exporter import export
from pd2java.training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from pd2java.training.data import PRODUCTS, synthesize
from pd2java.training.models import build_model


def _kb(path: Path) -> str:
    return f"{path.stat().st_size / 1024:.1f}"


def _max_err(manifest: Path, model: torch.nn.Module, images: np.ndarray) -> tuple[float, float]:
    """(max abs error, seconds for the reference) over ``images`` in batches of 100."""
    worst = 0.0
    ref_time = 0.0
    agree = 0
    for start in range(0, len(images), 100):
        x = images[start : start + 100]
        t = time.perf_counter()
        got = reference.run(manifest, x)
        ref_time += time.perf_counter() - t
        with torch.no_grad():
            want = model(torch.from_numpy(x)).numpy()
        worst = max(worst, float(np.abs(got.astype(np.float64) - want).max()))
        agree += int((got.argmax(1) == want.argmax(1)).sum())
    if agree != len(images):
        print(f"  warning: argmax differs on {len(images) - agree} images", file=sys.stderr)
    return worst, ref_time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--checkpoint", action="append", default=[], metavar="ARCH=PATH")
    args = parser.parse_args(argv)
    given = dict(item.split("=", 1) for item in args.checkpoint)
    classes = list(PRODUCTS["gis"])
    per_class = -(-args.images // len(classes))
    images = synthesize("gis", per_class=per_class, seed=123).images[: args.images]
    images = np.ascontiguousarray(images[:, None], dtype=np.float32)
    print(
        f"# pd2java export benchmark ({platform.machine()}, {torch.get_num_threads()} torch "
        f"threads, torch {torch.__version__}, {len(images)} synthetic GIS PRPD images)\n"
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        # Warm-up: the first export in a process pays one-off imports and fx's traceback setup.
        warm = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 3), torch.nn.Flatten()).eval()
        export(warm, root / "warm", input_shape=(1, 8, 8), name="warm")
        for arch in ("lenet", "light"):
            if arch in given:
                ckpt_path = Path(given[arch])
                metrics = load_checkpoint(ckpt_path).metrics
                acc = metrics.get("val_accuracy")
                source = "trained" + (f", val acc {acc:.0%}" if isinstance(acc, float) else "")
            else:
                torch.manual_seed(0)
                model = randomize_bn(build_model(arch, classes), seed=1).eval()
                ckpt_path = save_checkpoint(Checkpoint.from_model(model), root / f"{arch}.pt")
                source = "random weights, randomised BN"
            model = load_checkpoint(ckpt_path).build_model()
            for fold in (False, True):
                out = root / f"{arch}-{'fold' if fold else 'plain'}"
                t = time.perf_counter()
                manifest = export(
                    model, out, input_shape=(1, 60, 120), classes=classes, name=arch, fold_bn=fold
                )
                seconds = time.perf_counter() - t
                err, ref_s = _max_err(manifest, model, images)
                rows.append(
                    (
                        f"{arch}{' --fold-bn' if fold else ''}",
                        source,
                        f"{seconds:.2f}",
                        _kb(ckpt_path),
                        _kb(manifest),
                        _kb(out / f"{arch}.safetensors"),
                        _kb(out / f"{arch}.onnx"),
                        f"{err:.2e}",
                        f"{1000 * ref_s / len(images):.2f}",
                    )
                )
    print(
        "| model | weights | export s | checkpoint KB | manifest KB | safetensors KB | "
        "onnx KB | max abs err (ref vs torch) | reference ms/image |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
