"""Java runtime benchmark: parity on 1,000 PRPD images and single-thread latency.

For the zoo models (PDModel as ``lenet``, fp32; PDLightModel as ``light``, BN folded, as the demo
deploys it) and for network families of the test corpus that take the (1, 60, 120) PRPD image
(tests/architectures.py: ``resnet18``, ``mobilenetv3_small``, ``prpd_phase_circular``; random
weights with measured BN statistics, BN folded where the tests fold it) this script measures, in
one run:

- Java vs PyTorch (and Java vs the NumPy reference) max abs error on 1,000 synthetic GIS PRPD
  images, and argmax agreement;
- single-thread latency per image, median and p99 after warm-up, for the Java runtime (timed
  inside the JVM by ``org.pd2java.gateway.Bench``, no py4j on the timed path), PyTorch
  (``torch.set_num_threads(1)``) and onnxruntime (``intra_op_num_threads=1``);
- Java model load time (with and without the golden self-test) and the runtime jar's size.

Zoo models: trained checkpoints from ``pd2java demo`` when ``--checkpoints DIR`` holds
``gis_lenet.pt`` / ``gis_light.pt`` (default ``./pd2java-demo``), else random initialisation with
randomised BN statistics (parity does not need training; latency does not depend on it).

Usage::

    python benchmarks/bench_java.py [--models lenet,light,resnet18,mobilenetv3_small]
                                    [--images 1000] [--iters 300] [--write-docs]

``--write-docs`` replaces the results section of docs/PARITY.md. Speed is measured here, never
asserted in tests; the machine is shared, so compare numbers from the same run only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "PARITY.md"
BEGIN = "<!-- bench_java:begin -->"
ZOO = ("lenet", "light")
DEFAULT_MODELS = "lenet,light,resnet18,mobilenetv3_small"
END = "<!-- bench_java:end -->"


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile, as the Java side computes it."""
    ordered = sorted(values)
    rank = int(np.ceil(p / 100.0 * len(ordered)))
    return ordered[max(0, min(len(ordered) - 1, rank - 1))]


def time_per_image(fn, images: np.ndarray, warmup: int, iters: int) -> tuple[float, float]:
    """(median, p99) milliseconds of ``fn(one_image_batch)``, cycling over ``images``."""
    for i in range(warmup):
        fn(images[i % len(images)][None])
    times = []
    for i in range(iters):
        x = images[i % len(images)][None]
        t0 = time.perf_counter()
        fn(x)
        times.append((time.perf_counter() - t0) * 1000.0)
    return float(np.median(times)), percentile(times, 99)


def _architectures() -> dict:
    """The test corpus's architectures that take the PRPD image, by name."""
    sys.path.insert(0, str(ROOT / "tests"))
    from architectures import ARCHITECTURES, PRPD

    return {a.name: a for a in ARCHITECTURES if a.shape == PRPD}


def build_models(
    checkpoints: Path, names: list[str]
) -> list[tuple[str, torch.nn.Module, bool, str]]:
    """(name, model, fold_bn, where it came from) for each requested model."""
    from pd2java.training.checkpoint import load_checkpoint
    from pd2java.training.data import PRODUCTS
    from pd2java.training.models import build_model

    sys.path.insert(0, str(ROOT / "tests"))
    from corpus import randomize_bn  # the tests' deterministic BN randomiser

    archs = _architectures()
    out = []
    for arch in names:
        if arch not in ZOO:
            a = archs[arch]
            out.append((arch, a.build(), a.fold_bn, "random, measured BN statistics"))
            continue
        fold_bn = arch == "light"
        ckpt = checkpoints / f"gis_{arch}.pt"
        if ckpt.is_file():
            model = load_checkpoint(ckpt).build_model().eval()
            source = f"trained checkpoint {ckpt}"
        else:
            torch.manual_seed(0)
            model = randomize_bn(build_model(arch, list(PRODUCTS["gis"])), seed=1).eval()
            source = "random init, randomised BN statistics"
        out.append((arch, model, fold_bn, source))
    return out


def run(args: argparse.Namespace) -> dict:
    import onnxruntime as ort

    from pd2java.backends import reference
    from pd2java.backends.java import bridge, build
    from pd2java.exporter import export
    from pd2java.training.data import synthesize

    torch.set_num_threads(1)
    per_class = -(-args.images // 7)
    ds = synthesize("gis", per_class=per_class, seed=args.seed)
    pick = np.random.default_rng(args.seed).permutation(len(ds.labels))[: args.images]
    images = np.ascontiguousarray(ds.images[pick][:, None], dtype=np.float32)
    jar = build.build_runtime()

    results = {
        "command": "python benchmarks/bench_java.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared), "
        f"{platform.python_implementation()} {platform.python_version()}",
        "torch": torch.__version__,
        "onnxruntime": ort.__version__,
        "images": len(images),
        "runtime_jar_bytes": jar.stat().st_size,
        "models": [],
    }
    with tempfile.TemporaryDirectory(prefix="bench-java-") as tmp:
        for arch, model, fold_bn, source in build_models(Path(args.checkpoints), args.models):
            print(f"== {arch} ({source})", file=sys.stderr)
            t0 = time.perf_counter()
            manifest = export(
                model,
                Path(tmp) / arch,
                input_shape=(1, 60, 120),
                classes=list(getattr(model, "classes", [])) or None,
                name=f"gis_{arch}",
                fold_bn=fold_bn,
                onnx=True,
            )
            export_s = time.perf_counter() - t0
            with torch.no_grad():
                torch_out = torch.cat(
                    [
                        model(torch.from_numpy(images[i : i + 100]))
                        for i in range(0, len(images), 100)
                    ]
                ).numpy()
            t0 = time.perf_counter()
            java_out = bridge.java_predict(manifest, images)
            java_batch_s = time.perf_counter() - t0
            ref_out = reference.run(manifest, images)
            err_torch = np.abs(java_out.astype(np.float64) - torch_out)
            err_ref = np.abs(java_out.astype(np.float64) - ref_out)
            agree = float(np.mean(np.argmax(java_out, 1) == np.argmax(torch_out, 1)))

            print("   Java latency (in the JVM)", file=sys.stderr)
            jb = bridge.java_bench(
                manifest, images[:200], warmup=args.warmup, iters=args.iters, loads=args.loads
            )
            print("   PyTorch latency", file=sys.stderr)
            with torch.no_grad():
                pt_med, pt_p99 = time_per_image(
                    lambda x, m=model: m(torch.from_numpy(x)), images[:200], args.warmup, args.iters
                )
            print("   onnxruntime latency", file=sys.stderr)
            so = ort.SessionOptions()
            so.intra_op_num_threads = 1
            so.inter_op_num_threads = 1
            onnx_path = manifest.with_name(f"gis_{arch}.onnx")
            sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
            in_name = sess.get_inputs()[0].name
            ort_med, ort_p99 = time_per_image(
                lambda x, s=sess, n=in_name: s.run(None, {n: x}),
                images[:200],
                args.warmup,
                args.iters,
            )
            weights = json.loads(manifest.read_text())["weights"]["bytes"]
            results["models"].append(
                {
                    "model": arch,
                    "fold_bn": fold_bn,
                    "source": source,
                    "parameters": int(sum(p.numel() for p in model.parameters())),
                    "weights_bytes": int(weights),
                    "export_seconds": export_s,
                    "max_abs_java_vs_torch": float(err_torch.max()),
                    "max_abs_java_vs_reference": float(err_ref.max()),
                    "argmax_agreement": agree,
                    "java_batch_seconds_over_py4j": java_batch_s,
                    "java_median_ms": jb.median_ms,
                    "java_p99_ms": jb.p99_ms,
                    "java_load_ms": jb.load_ms,
                    "java_load_ms_no_self_test": jb.load_ms_no_self_test,
                    "torch_median_ms": pt_med,
                    "torch_p99_ms": pt_p99,
                    "onnxruntime_median_ms": ort_med,
                    "onnxruntime_p99_ms": ort_p99,
                    "java_version": jb.java_version,
                }
            )
    return results


def markdown(r: dict) -> str:
    lines = [
        BEGIN,
        (
            f"Measured {r['date']} on {r['machine']}; torch {r['torch']}, onnxruntime "
            f"{r['onnxruntime']}, Java {r['models'][0]['java_version']}. Command: `{r['command']}`."
        ),
        "",
        f"Parity on {r['images']} synthetic GIS PRPD images (seeded, never used in training):",
        "",
        "| model | weights | max abs Java vs PyTorch | max abs Java vs NumPy | argmax agreement |",
        "|---|---|---|---|---|",
    ]
    for m in r["models"]:
        lines.append(
            f"| {m['model']}{' (BN folded)' if m['fold_bn'] else ''} | {m['source']} | "
            f"{m['max_abs_java_vs_torch']:.2e} | {m['max_abs_java_vs_reference']:.2e} | "
            f"{m['argmax_agreement']:.1%} |"
        )
    lines += [
        "",
        "Single-thread latency per image (one image per call, after warm-up; ms):",
        "",
        (
            "| model | Java median | Java p99 | PyTorch median | PyTorch p99 | onnxruntime median "
            "| onnxruntime p99 | Java load (self-test on / off) |"
        ),
        "|---|---|---|---|---|---|---|---|",
    ]
    for m in r["models"]:
        lines.append(
            f"| {m['model']} | {m['java_median_ms']:.2f} | {m['java_p99_ms']:.2f} | "
            f"{m['torch_median_ms']:.2f} | {m['torch_p99_ms']:.2f} | "
            f"{m['onnxruntime_median_ms']:.2f} | {m['onnxruntime_p99_ms']:.2f} | "
            f"{m['java_load_ms']:.0f} / {m['java_load_ms_no_self_test']:.0f} ms |"
        )
    lines += [
        "",
        (
            f"Runtime jar: {r['runtime_jar_bytes']:,} bytes "
            f"({r['runtime_jar_bytes'] / 1024:.1f} KiB), no third-party classes."
        ),
        END,
    ]
    return "\n".join(lines)


def write_docs(block: str) -> None:
    text = DOC.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{DOC}: markers {BEGIN} / {END} not found")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    tmp = DOC.with_name(f".{DOC.name}.tmp")
    tmp.write_text(head + block + tail, encoding="utf-8")
    os.replace(tmp, DOC)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=1000)
    p.add_argument("--iters", type=int, default=300, help="timed images per runtime")
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--loads", type=int, default=5, help="Model.load repetitions")
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument(
        "--checkpoints",
        default="pd2java-demo",
        help="folder with gis_lenet.pt / gis_light.pt (from pd2java demo)",
    )
    p.add_argument(
        "--models",
        default=DEFAULT_MODELS,
        help="comma-separated, in table order: the zoo models "
        f"({', '.join(ZOO)}) and PRPD-input architectures of tests/architectures.py "
        f"({', '.join(_architectures())}); default {DEFAULT_MODELS}",
    )
    p.add_argument("--write-docs", action="store_true", help="update docs/PARITY.md")
    p.add_argument("--json", help="also write the raw results here")
    args = p.parse_args()
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in args.models if m not in ZOO and m not in _architectures()]
    if unknown or not args.models:
        p.error(f"--models: unknown {unknown}; choose from {', '.join([*ZOO, *_architectures()])}")
    results = run(args)
    block = markdown(results)
    print(block)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if args.write_docs:
        write_docs(block)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
