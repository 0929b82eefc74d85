"""Benchmark: how long the synthetic PRPD generator takes (the target: >= 500 images well under 10 s).

Times ``synthesize`` for 560 and 5600 images (GIS: 7 classes x 80 / x 800) and the transformer
product, at the default difficulty and at the extremes, single process, on whatever load the
machine has (run it on a quiet machine for clean figures). Also reports the mean pulse count per
record, which drives the cost. Speed is measured here, never asserted in tests.

    python benchmarks/bench_synth.py            # 560 and 5600 images
    python benchmarks/bench_synth.py --quick    # 560 only
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from pd2java.training.data import DEFAULT_DIFFICULTY, PRODUCTS, synthesize
from pd2java.training.data.synth import synthesize_counts


def timed(product: str, per_class: int, difficulty: float, repeats: int) -> tuple[int, float]:
    best = float("inf")
    n = 0
    for r in range(repeats):
        started = time.perf_counter()
        ds = synthesize(product, per_class=per_class, seed=r, difficulty=difficulty)
        best = min(best, time.perf_counter() - started)
        n = len(ds)
    return n, best


def mean_pulses(product: str, difficulty: float, per_class: int = 10) -> float:
    totals = [
        synthesize_counts(product, c, i, seed=0, difficulty=difficulty).sum()
        for c in PRODUCTS[product]
        for i in range(per_class)
    ]
    return float(np.mean(totals))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 5600-image run")
    parser.add_argument("--repeats", type=int, default=3, help="best of N for the small runs")
    args = parser.parse_args()
    print(f"cpus={os.cpu_count()} load={os.getloadavg()[0]:.1f} default={DEFAULT_DIFFICULTY}")
    print("| product | images | difficulty | seconds (best) | images/s | mean pulses/record |")
    print("|---|---|---|---|---|---|")
    cases = [
        ("gis", 80, DEFAULT_DIFFICULTY, args.repeats),
        ("gis", 80, 0.0, args.repeats),
        ("gis", 80, 1.0, args.repeats),
        ("transformer", 80, DEFAULT_DIFFICULTY, args.repeats),
    ]
    if not args.quick:
        cases.append(("gis", 800, DEFAULT_DIFFICULTY, 1))
    for product, per_class, difficulty, repeats in cases:
        n, seconds = timed(product, per_class, difficulty, repeats)
        pulses = mean_pulses(product, difficulty)
        print(
            f"| {product} | {n} | {difficulty} | {seconds:.2f} | {n / seconds:.0f} "
            f"| {pulses:,.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
