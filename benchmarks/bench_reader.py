"""Reader scaling: time to load and validate a manifest of N nodes, Python and Java, one run.

Each manifest is a chain of N relu nodes on a (1, 1, 1) input (the conformance corpus's
``many_nodes`` builder), so the time is the readers' own per-node work: JSON, structure, wiring,
shape rules. Python is ``pd2java.backends.manifest.load``; Java is ``Model.load`` in the parity
JVM (through the py4j gateway, self-test off), each on a fresh copy so nothing is cached. Best of
``--repeat`` runs.

    python benchmarks/bench_reader.py [--nodes 1000 20000 80000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from conformance.cases import many_nodes

from pd2java.backends import manifest
from pd2java.backends.java import bridge


def _best(fn, paths: list[Path]) -> float:
    times = []
    for path in paths:
        start = time.perf_counter()
        fn(path)
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, nargs="+", default=[1000, 20000, 80000])
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    bridge.model_info(_warm_up(), self_test=False)  # JVM start and class loading, not timed
    print("| nodes | manifest bytes | Python load | Java load |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="pd2java-bench-reader-") as tmp:
        for n in args.nodes:
            copies = []
            for r in range(2 * args.repeat):
                d = Path(tmp) / f"n{n}-{r}"
                d.mkdir()
                copies.append(many_nodes(n)(d))
            py = _best(manifest.load, copies[: args.repeat])
            java = _best(lambda m: bridge.model_info(m, self_test=False), copies[args.repeat :])
            size = copies[0].stat().st_size
            print(f"| {n:,} | {size:,} | {py:.2f} s | {java:.2f} s |", flush=True)
    return 0


def _warm_up() -> Path:
    d = Path(tempfile.mkdtemp(prefix="pd2java-bench-reader-warm-"))
    return many_nodes(100)(d)


if __name__ == "__main__":
    raise SystemExit(main())
