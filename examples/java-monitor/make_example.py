"""Make the java-monitor example's inputs: one model folder per product and a few devices' data.

    python examples/java-monitor/make_example.py OUT [--gis CKPT] [--transformer CKPT]
                                                     [--epochs N] [--untrained]

Writes:
- ``OUT/models/<product>/``: a pd2java export per product (the registry's layout: one folder per
  model id). A product's checkpoint comes from ``--gis`` / ``--transformer``; without one, a
  light model is trained on pd2java's synthetic data for ``--epochs`` epochs (progress shown),
  or, with ``--untrained``, exported with its initial weights (for tests: the diagnoses are
  then meaningless).
- ``OUT/devices/``: one data file per device, in the three forms a monitor produces: a PRPD
  count histogram (60 x 120 integers), a PRPS matrix (cycles x phase windows of 8-bit peak
  amplitudes) and a pulse list (phase in degrees, amplitude in mV), each made from pd2java's
  synthetic pulse generator; one quiet device has only a few stray pulses.
- ``OUT/devices.csv``: device, product, format, file and full scale of each device.

The Java program (``Monitor.java``) reads only ``OUT``; nothing there needs Python.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

from pd2java.training.data.convention import PRODUCTS
from pd2java.training.data.synth import image_rng, record_pulses

# (device, product, class whose pulses it shows, format, full scale in the file's unit)
DEVICES = (
    ("GIS-BAY-01", "gis", "void", "prpd", 1.0),
    ("GIS-BAY-02", "gis", "floating_electrode", "prps", 255.0),
    ("GIS-BAY-03", "gis", "free_particle", "pulses", 500.0),
    ("GIS-BAY-04", "gis", None, "pulses", 500.0),
    ("TR-T1", "transformer", "corona", "prpd", 1.0),
    ("TR-T2", "transformer", "surface", "prps", 255.0),
)
PRPS_CYCLES = 600
PRPS_WINDOWS = 128


def _pulses(product: str, class_name: str, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Phases (degrees) and amplitudes (fraction of full scale) of one synthetic record."""
    rng = image_rng(7, product, PRODUCTS[product].index(class_name), index)
    phase, amp = record_pulses(product, class_name, rng, 0.5)
    keep = amp > 0
    return np.mod(phase[keep], 360.0), amp[keep]


def _write_prpd(path: Path, phase: np.ndarray, amp: np.ndarray) -> None:
    pbin = np.minimum((phase / 3.0).astype(np.int64), 119)
    abin = np.minimum((amp * 60).astype(np.int64), 59)
    counts = np.bincount(abin * 120 + pbin, minlength=7200).reshape(60, 120)
    np.savetxt(path, counts, fmt="%d", delimiter=",")


def _write_prps(path: Path, phase: np.ndarray, amp: np.ndarray, rng: np.random.Generator) -> None:
    """Each pulse lands in a random cycle; a cell keeps the peak 8-bit amplitude it saw."""
    cycle = rng.integers(0, PRPS_CYCLES, phase.size)
    window = np.minimum((phase / 360.0 * PRPS_WINDOWS).astype(np.int64), PRPS_WINDOWS - 1)
    value = np.clip(np.rint(amp * 255.0), 1, 255).astype(np.int64)
    prps = np.zeros((PRPS_CYCLES, PRPS_WINDOWS), dtype=np.int64)
    np.maximum.at(prps, (cycle, window), value)
    np.savetxt(path, prps, fmt="%d", delimiter=",")


def _write_pulses(path: Path, phase: np.ndarray, amp: np.ndarray, full_scale: float) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("phase_deg,amplitude_mV\n")
        for p, a in zip(phase, amp):
            f.write(f"{p:.3f},{a * full_scale:.3f}\n")


def _model(product: str, out: Path, checkpoint: str | None, epochs: int, untrained: bool) -> None:
    import torch

    from pd2java.exporter import export_source
    from pd2java.training.checkpoint import Checkpoint, save_checkpoint
    from pd2java.training.models import PDLightModel
    from pd2java.training.train import train

    folder = out / "models" / product
    if checkpoint is None:
        checkpoint = str(out / f"{product}.pt")
        if untrained:
            torch.manual_seed(0)
            save_checkpoint(
                Checkpoint.from_model(PDLightModel(list(PRODUCTS[product]))), checkpoint
            )
        else:
            print(f"training a light model for {product} ({epochs} epochs)", file=sys.stderr)
            train(f"synth:{product}?per_class=120&seed=0", arch="light", out=checkpoint,
                  epochs=epochs)  # fmt: skip
    export_source(Path(checkpoint), folder, name=product, onnx=False)
    print(f"model {product}: {folder}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--gis", help="checkpoint of the GIS model (default: train one)")
    ap.add_argument("--transformer", help="checkpoint of the transformer model")
    ap.add_argument("--epochs", type=int, default=8, help="epochs when training (default 8)")
    ap.add_argument("--untrained", action="store_true", help="export initial weights (tests)")
    args = ap.parse_args(argv)
    out: Path = args.out
    (out / "devices").mkdir(parents=True, exist_ok=True)
    for product in PRODUCTS:
        _model(product, out, getattr(args, product), args.epochs, args.untrained)
    rows = []
    for i, (device, product, class_name, fmt, full_scale) in enumerate(DEVICES):
        if class_name is None:  # a quiet bay: a few stray pulses, below the activity floor
            rng = np.random.default_rng(i)
            phase, amp = rng.uniform(0, 360, 3), rng.uniform(0.05, 0.2, 3)
        else:
            phase, amp = _pulses(product, class_name, i)
        path = out / "devices" / f"{device}.{fmt}.csv"
        if fmt == "prpd":
            _write_prpd(path, phase, amp)
        elif fmt == "prps":
            _write_prps(path, phase, amp, np.random.default_rng(i))
        else:
            _write_pulses(path, phase, amp, full_scale)
        rows.append([device, product, fmt, path.relative_to(out).as_posix(), full_scale])
    with (out / "devices.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["device", "product", "format", "file", "full_scale"])
        w.writerows(rows)
    print(f"{len(rows)} devices: {out / 'devices.csv'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
