"""Compression benchmark: the seed team's table of PDModel and PDLightModel, reproduced and
compressed (distillation, structured pruning, low-rank, int8 and fp16 weights), side by side.

For each product (GIS, transformer) and seed: synthesize a training set and a test set from
another seed, train PDModel (lenet) and PDLightModel (light), then compress:

- lenet low-rank: ``compress --low-rank ENERGY`` (the 5376 -> 64 layer) + fine-tune, exported
  with int8 weights;
- light + KD: ``compress --distill-from lenet`` (distillation only);
- + pruning: that model ``compress --prune F --distill-from lenet``;
- + int8 / + fp16: the pruned model exported with int8 or fp16 weights.

Every row is exported (``--fold-bn``) and scored on the test set through the NumPy reference,
which computes what the Java runtime computes (held to it at 1e-5 + 1e-4 |x| by the test suite);
for the first seed of GIS it is also measured in Java: resident heap per loaded model (a fresh
JVM holding many copies, after a full GC), single-thread median latency per image in Java and in
onnxruntime, in one run on one machine. "parameters" is the bytes of the model's tensors in
the export's weights file (stored as float32, float16 or int8 plus scales); "file" adds the
three golden vectors the file also holds for the load-time self-test (86 KB of PRPD images).

    python benchmarks/bench_compress.py                    # the recorded run (about 20 minutes)
    python benchmarks/bench_compress.py --seeds 1 --per-class 20 --epochs 2   # a smoke run
    python benchmarks/bench_compress.py --write-docs       # update docs/COMPRESSION.md

The goal it checks: a compressed light model at or above the fp32 PDModel's accuracy minus 0.5
points, at no more than 8% of the fp32 PDModel's size.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "COMPRESSION.md"
BEGIN, END = "<!-- bench_compress: begin -->", "<!-- bench_compress: end -->"

ROWS = (
    ("lenet", "PDModel fp32"),
    ("lenet_lowrank_int8", "PDModel low-rank + int8"),
    ("light", "PDLightModel fp32"),
    ("light_kd", "PDLightModel + KD from PDModel"),
    ("light_kd_pruned", "+ structured pruning"),
    ("light_kd_pruned_int8", "+ int8"),
    ("light_kd_pruned_fp16", "+ fp16 (instead of int8)"),
)


def _accuracy(manifest: Path, test: Any) -> float:
    from pd2java.training.evaluate import evaluate

    return evaluate(manifest, test).accuracy


def _param_bytes(manifest: Path) -> int:
    """Bytes of the model's own tensors in its weights file: every tensor but the golden
    vectors (three sample inputs and outputs, stored for the self-test)."""
    from pd2java.backends.safetensors_io import parse_header

    path = manifest.with_suffix("").with_suffix(".safetensors")
    header, _, _ = parse_header(path.read_bytes(), path)
    return sum(
        e["data_offsets"][1] - e["data_offsets"][0]
        for name, e in header.items()
        if not name.startswith("golden.")
    )


def _one(product: str, seed: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Train, compress and export every row for one product and seed; their exports and
    accuracies."""
    from pd2java.exporter import export_checkpoint
    from pd2java.training.compress import compress
    from pd2java.training.data import synthesize
    from pd2java.training.train import train

    train_set = synthesize(product, per_class=args.per_class, seed=seed)
    test_set = synthesize(product, per_class=args.test_per_class, seed=seed + 1000)
    d = work / f"{product}_{seed}"
    d.mkdir(parents=True)
    common = {"seed": seed, "progress": not args.quiet, "threads": args.threads}
    lenet = train(train_set, arch="lenet", out=d / "lenet.pt", epochs=args.epochs_lenet, **common)
    light = train(train_set, arch="light", out=d / "light.pt", epochs=args.epochs_light, **common)
    ft = {"epochs": args.finetune_epochs, **common}
    compress(lenet, train_set, out=d / "lenet_lr.pt", low_rank=args.low_rank, **ft)
    compress(light, train_set, out=d / "light_kd.pt", distill_from=lenet, **ft)
    compress(
        d / "light_kd.pt",
        train_set,
        out=d / "light_kd_pruned.pt",
        prune=args.prune,
        distill_from=lenet,
        **ft,
    )
    plans = {
        "lenet": ("lenet.pt", "fp32"),
        "lenet_lowrank_int8": ("lenet_lr.pt", "int8"),
        "light": ("light.pt", "fp32"),
        "light_kd": ("light_kd.pt", "fp32"),
        "light_kd_pruned": ("light_kd_pruned.pt", "fp32"),
        "light_kd_pruned_int8": ("light_kd_pruned.pt", "int8"),
        "light_kd_pruned_fp16": ("light_kd_pruned.pt", "fp16"),
    }
    out: dict[str, Any] = {}
    for row, (ckpt, weights) in plans.items():
        manifest = export_checkpoint(
            d / ckpt, d / f"export_{row}", fold_bn=True, weights=weights, int8_clip="mse"
        )
        out[row] = {
            "manifest": str(manifest),
            "bytes": _param_bytes(manifest),
            "file_bytes": manifest.with_suffix("").with_suffix(".safetensors").stat().st_size,
            "accuracy": _accuracy(manifest, test_set),
        }
    return out


def _runtime(manifest: Path, args: argparse.Namespace) -> dict[str, float]:
    """Java heap per model and latencies, Java and onnxruntime, for one export."""
    from pd2java.backends.java.bridge import java_bench, java_heap_per_model

    rng = np.random.default_rng(0)
    x = rng.random((64, 1, 60, 120), dtype=np.float32)
    heap = java_heap_per_model(manifest, copies=args.copies)["bytes_per_model"]
    java = java_bench(manifest, x, warmup=args.warmup, iters=args.iters, loads=3)
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(
        str(manifest.with_suffix("").with_suffix(".onnx")),
        sess_options=opts,
        providers=["CPUExecutionProvider"],
    )
    name = sess.get_inputs()[0].name
    for i in range(args.warmup):
        sess.run(None, {name: x[i % len(x) : i % len(x) + 1]})
    times = []
    for i in range(args.iters):
        t0 = time.perf_counter()
        sess.run(None, {name: x[i % len(x) : i % len(x) + 1]})
        times.append(time.perf_counter() - t0)
    return {
        "heap_bytes": heap,
        "java_ms": java.median_ms,
        "ort_ms": 1000 * statistics.median(times),
        "java_version": java.java_version,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"args": vars(args), "products": {}}
    with tempfile.TemporaryDirectory(prefix="pd2java-bench-compress-") as tmp:
        work = Path(tmp)
        for product in args.products:
            runs = [_one(product, seed, args, work) for seed in range(args.seeds)]
            rows = {}
            for row, _ in ROWS:
                accs = [r[row]["accuracy"] for r in runs]
                rows[row] = {
                    "accuracy_mean": statistics.mean(accs),
                    "accuracy_std": statistics.pstdev(accs),
                    "bytes": runs[0][row]["bytes"],
                    "file_bytes": runs[0][row]["file_bytes"],
                }
                if product == args.products[0] and not args.no_runtime:
                    rows[row].update(_runtime(Path(runs[0][row]["manifest"]), args))
            results["products"][product] = rows
    return results


def _kb(n: float) -> str:
    return f"{n / 1024:.0f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.2f} MB"


def markdown(r: dict[str, Any]) -> str:
    products = list(r["products"])
    first = r["products"][products[0]]
    a = r["args"]
    intro = (
        f"`python benchmarks/bench_compress.py` ({a['seeds']} seeds, {a['per_class']} training and "
        f"{a['test_per_class']} test images per class; lenet {a['epochs_lenet']} and light "
        f"{a['epochs_light']} epochs, {a['finetune_epochs']} epochs per compression step; low-rank "
        f"energy {a['low_rank']}, prune {a['prune']}; int8 with MSE clipping; every export "
        f"--fold-bn). Runtime columns: {products[0]} seed 0, one thread, one image per call, "
        f"Java {first['lenet'].get('java_version', 'not run')}."
    )
    lines = [
        intro,
        "",
        "| model | "
        + " | ".join(f"{p} accuracy" for p in products)
        + " | parameters | vs PDModel | file | Java heap / model | Java ms | ORT ms |",
        "|---|" + "---|" * len(products) + "---|---|---|---|---|---|",
    ]
    base = first["lenet"]["bytes"]
    for row, label in ROWS:
        accs = " | ".join(
            f"{100 * r['products'][p][row]['accuracy_mean']:.1f} ± "
            f"{100 * r['products'][p][row]['accuracy_std']:.1f}%"
            for p in products
        )
        f = first[row]
        runtime = (
            f"{_kb(f['heap_bytes'])} | {f['java_ms']:.2f} | {f['ort_ms']:.2f}"
            if "heap_bytes" in f
            else "- | - | -"
        )
        lines.append(
            f"| {label} | {accs} | {_kb(f['bytes'])} | {100 * f['bytes'] / base:.1f}% | "
            f"{_kb(f['file_bytes'])} | {runtime} |"
        )
    goal_acc = first["lenet"]["accuracy_mean"] - 0.005
    met = [
        label
        for row, label in ROWS
        if row.startswith("light")
        and first[row]["accuracy_mean"] >= goal_acc
        and first[row]["bytes"] <= 0.08 * base
    ]
    lines += [
        "",
        f"Goal ({products[0]}): a light model at or above {100 * goal_acc:.1f}% (PDModel fp32 "
        f"minus 0.5 points) in at most {_kb(0.08 * base)} (8% of PDModel fp32). "
        + (f"Met by: {', '.join(met)}." if met else "Not met by any row."),
    ]
    return "\n".join(lines)


def write_docs(block: str) -> None:
    text = DOC.read_text("utf-8")
    if BEGIN in text:
        head, rest = text.split(BEGIN, 1)
        text = head + BEGIN + "\n" + block + "\n" + END + rest.split(END, 1)[1]
    else:
        text = text.rstrip() + "\n\n## Benchmark\n\n" + BEGIN + "\n" + block + "\n" + END + "\n"
    DOC.write_text(text, "utf-8")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--products", nargs="+", default=["gis", "transformer"])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--per-class", type=int, default=60)
    p.add_argument("--test-per-class", type=int, default=40)
    p.add_argument("--epochs-lenet", type=int, default=8)
    p.add_argument("--epochs-light", type=int, default=14)
    p.add_argument("--finetune-epochs", type=int, default=4)
    p.add_argument("--epochs", type=int, help="set every epoch count (a smoke run)")
    p.add_argument("--low-rank", default="0.9", help="energy or rank of the lenet factorisation")
    p.add_argument("--prune", type=float, default=0.5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--copies", type=int, default=100, help="models held to measure the heap")
    p.add_argument("--iters", type=int, default=300)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--no-runtime", action="store_true", help="skip the Java and ORT columns")
    p.add_argument("--write-docs", action="store_true", help="update docs/COMPRESSION.md")
    p.add_argument("--json", help="also write the raw results here")
    args = p.parse_args()
    if args.epochs is not None:
        args.epochs_lenet = args.epochs_light = args.finetune_epochs = args.epochs
    sys.path.insert(0, str(ROOT))
    results = run(args)
    block = markdown(results)
    print(block)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2), "utf-8")
    if args.write_docs:
        write_docs(block)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
