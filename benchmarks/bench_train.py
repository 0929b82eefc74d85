"""Benchmark: the default GIS synthetic task for both zoo models, over several seeds.

For each seed s: train on ``synthesize("gis", per_class=80, seed=s)`` with the default recipe
(stratified 20% validation split, best-validation weights kept), test on
``synthesize("gis", per_class=100, seed=1000 + s)``. Reports test accuracy mean +- std (sample std
over seeds), trainable parameters, checkpoint size and training time on this machine, as a
markdown table. Each finished run is appended to ``OUT/runs.jsonl`` as it completes, so a long
run can be inspected (and a killed one still leaves its results).

    python benchmarks/bench_train.py --seeds 0 1 2 --threads 1 -o bench-out

Speed figures depend on the machine and its load; they are measured here, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from pd2java.training.data import synthesize
from pd2java.training.models import count_parameters
from pd2java.training.train import train


def test_accuracy(model: torch.nn.Module, images: np.ndarray, labels: np.ndarray) -> float:
    x = torch.from_numpy(images).unsqueeze(1)
    with torch.no_grad():
        pred = torch.cat([model(x[i : i + 256]).argmax(1) for i in range(0, len(x), 256)])
    return float((pred.numpy() == labels).mean())


def run(seeds: list[int], archs: list[str], out: Path, epochs: int | None, preset: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    log = out / "runs.jsonl"
    rows: list[dict] = []
    for seed in seeds:
        train_set = synthesize("gis", per_class=80, seed=seed)
        test_set = synthesize("gis", per_class=100, seed=1000 + seed)
        for arch in archs:
            path = out / f"{arch}-seed{seed}.pt"
            started = time.perf_counter()
            ckpt = train(
                train_set,
                arch=arch,
                out=path,
                seed=seed,
                epochs=epochs,
                preset=preset,
                progress=False,
            )
            seconds = time.perf_counter() - started
            model = ckpt.build_model()
            row = {
                "arch": arch,
                "seed": seed,
                "preset": ckpt.recipe["name"],
                "epochs": ckpt.recipe["epochs"],
                "test_accuracy": test_accuracy(model, test_set.images, test_set.labels),
                "val_accuracy": ckpt.metrics["val_accuracy"],
                "best_epoch": ckpt.metrics["best_epoch"],
                "parameters": count_parameters(model),
                "checkpoint_bytes": os.path.getsize(path),
                "train_seconds": seconds,
                "torch_threads": torch.get_num_threads(),
            }
            rows.append(row)
            with log.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)
    print()
    print(table(rows))


def table(rows: list[dict]) -> str:
    """Markdown table, one line per architecture."""
    lines = [
        (
            "| model | preset (epochs) | seeds | test accuracy (mean +- std) | parameters "
            "| checkpoint | training time (mean) |"
        ),
        "|---|---|---|---|---|---|---|",
    ]
    for arch in dict.fromkeys(r["arch"] for r in rows):
        mine = [r for r in rows if r["arch"] == arch]
        acc = [100 * r["test_accuracy"] for r in mine]
        std = statistics.stdev(acc) if len(acc) > 1 else 0.0
        lines.append(
            f"| {arch} | {mine[0]['preset']} ({mine[0]['epochs']}) | {len(mine)} "
            f"| {statistics.mean(acc):.2f}% +- {std:.2f} (min {min(acc):.2f}) "
            f"| {mine[0]['parameters']:,} | {mine[0]['checkpoint_bytes'] / 1e6:.2f} MB "
            f"| {statistics.mean(r['train_seconds'] for r in mine):.0f} s |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--archs", nargs="+", default=["lenet", "light"])
    parser.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    parser.add_argument("--preset", default="default")
    parser.add_argument("-o", "--out", type=Path, default=Path("bench-train-out"))
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (1 by default: on a shared 2-core machine two OpenMP threads per "
        "process oversubscribe the cores and run up to 10x slower)",
    )
    parser.add_argument(
        "--table-only", action="store_true", help="print the table of OUT/runs.jsonl and exit"
    )
    args = parser.parse_args()
    if args.table_only:
        rows = [json.loads(x) for x in (args.out / "runs.jsonl").read_text().splitlines() if x]
        print(table(rows))
        return
    torch.set_num_threads(args.threads)
    run(args.seeds, args.archs, args.out, args.epochs, args.preset)


if __name__ == "__main__":
    main()
