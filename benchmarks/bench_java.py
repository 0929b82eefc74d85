"""Java runtime benchmark: parity, speed and memory, side by side with onnxruntime and PyTorch.

For the zoo models (PDModel as ``lenet``, fp32; PDLightModel as ``light``, BN folded, as the demo
deploys it) and for the network families of the test corpus that take the (1, 60, 120) PRPD image
(tests/architectures.py: ``resnet18``, ``mobilenetv3_small``, ``prpd_phase_circular``; random
weights with measured BN statistics, BN folded where the tests fold it) this script measures, in
ONE run, so that every ratio compares numbers taken minutes apart on the same machine:

- parity: Java vs PyTorch (and vs the NumPy reference) max abs error on 1,000 synthetic GIS PRPD
  images, and argmax agreement, for the scalar and the vector kernel family (py4j, Java 17);
- for each Java configuration (Java 17 and Java 25, each scalar and vector, i.e. without and with
  ``--add-modules=jdk.incubator.vector``), in a fresh JVM (``org.pd2java.gateway.Bench``, no py4j
  on the timed path): single-thread latency of ``predictInto(x, out, ws)`` (median, p99) and of
  ``predict`` (median); ``Model.kernelInfo()``; load time with and without the golden self-test;
  bytes allocated per call and garbage collections over the timed loop (``--iters`` calls of
  each, 10,000 by default); ``predictBatch`` throughput on 1 and 2 threads; every node's time;
- onnxruntime (``intra_op_num_threads=1``; throughput also with 2) and PyTorch (1 thread)
  latency, and the ratios Java / onnxruntime and Java / PyTorch per configuration;
- heap per resident model (``org.pd2java.gateway.HeapProbe``: 1,000 copies of light, 300 of
  lenet) in bytes and as a ratio to ``Model.weightBytes()``, per configuration;
- a roofline line: FLOPs per image counted from the manifest (conv2d, conv1d, linear; every other
  op ignored), the GFLOP/s each runtime achieves, against a practical single-core peak measured in
  the same run (float32 ``torch.mm`` on one thread) and the theoretical peak of the CPU.

Zoo models: trained checkpoints from ``pd2java demo`` when ``--checkpoints DIR`` holds
``gis_lenet.pt`` / ``gis_light.pt`` (default ``./pd2java-demo``; only read), else random
initialisation with randomised BN statistics (latency does not depend on training).

Usage::

    python benchmarks/bench_java.py [--models lenet,light,...] [--configs java17-scalar,...]
                                    [--iters 10000] [--java25 PATH] [--quick] [--write-docs]

It prints progress on stderr (a full run takes tens of minutes on 2 cores), the markdown report on
stdout, and with ``--json FILE`` the raw results. ``--write-docs`` replaces the generated blocks
of docs/PARITY.md (everything) and README.md (a compact table); docs/JAVA.md, "Performance",
says how to read them. Speed is measured here, never asserted in tests; the machine is shared,
so compare numbers from the same run only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pd2java.fsutil import replace_marked_block

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "PARITY.md"
README = ROOT / "README.md"
BEGIN = "<!-- bench_java:begin -->"
END = "<!-- bench_java:end -->"
ZOO = ("lenet", "light")
PRPD_SHAPE = (1, 60, 120)
DEFAULT_MODELS = "lenet,light,resnet18,mobilenetv3_small,prpd_phase_circular"
JAVA25_DEFAULT = "/usr/lib/jvm/temurin-25-jdk-amd64/bin/java"
# Configuration key -> (JDK, Vector API option on). Table order.
CONFIGS = {
    "java17-scalar": ("java17", False),
    "java17-vector": ("java17", True),
    "java25-scalar": ("java25", False),
    "java25-vector": ("java25", True),
}
# Ops whose FLOPs are counted (multiply-add = 2 FLOPs); every other op counts 0.
FLOP_OPS = ("conv2d", "conv1d", "linear")
# Kernel classes of the Vector API family are named Vector*/Vec* (a heuristic, said as such).
VECTOR_CLASS_PREFIX = "Vec"
_T0 = time.perf_counter()


def say(message: str) -> None:
    """Progress on stderr, with the time since the start."""
    print(f"[{time.perf_counter() - _T0:7.1f} s] {message}", file=sys.stderr, flush=True)


def shout(message: str) -> None:
    """A warning that must not be missed."""
    bar = "!" * 78
    print(f"\n{bar}\n!!! WARNING: {message}\n{bar}\n", file=sys.stderr, flush=True)


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


def images_per_second(fn, images: np.ndarray, count: int, reps: int = 3) -> float:
    """Images per second of ``fn`` on ``count`` images one at a time (after 10 untimed), best of
    ``reps`` passes, as the Java side measures its batches."""
    for i in range(min(10, count)):
        fn(images[i % len(images)][None])
    best = 0.0
    for _ in range(reps):
        t0 = time.perf_counter()
        for i in range(count):
            fn(images[i % len(images)][None])
        best = max(best, count / (time.perf_counter() - t0))
    return best


# --- FLOPs and peaks ------------------------------------------------------------------------------


def manifest_flops(manifest: dict) -> dict:
    """FLOPs of one image (batch 1) from a manifest's nodes: conv2d and conv1d count
    2 * out_channels * output positions * (in_channels / groups) * kernel taps, linear
    2 * in_features * out_features (per row); every other op is ignored and listed.

    Returns ``{"total", "by_op": {op: flops}, "ignored": [op, ...]}``."""
    by_op: dict[str, int] = {}
    ignored: set[str] = set()
    for node in manifest["nodes"]:
        op, attrs = node["op"], node.get("attrs", {})
        out_shape = [int(d) for d in node.get("output_shape", [])]
        if op in ("conv2d", "conv1d"):
            k = attrs["kernel_size"]
            taps = int(np.prod(k)) if isinstance(k, list) else int(k)
            cin_per_group = int(attrs["in_channels"]) // int(attrs["groups"])
            positions = int(np.prod(out_shape[1:]))
            flops = 2 * int(attrs["out_channels"]) * positions * cin_per_group * taps
        elif op == "linear":
            rows = int(np.prod(out_shape[:-1])) if len(out_shape) > 1 else 1
            flops = 2 * int(attrs["in_features"]) * int(attrs["out_features"]) * rows
        else:
            ignored.add(op)
            continue
        by_op[op] = by_op.get(op, 0) + flops
    return {"total": sum(by_op.values()), "by_op": by_op, "ignored": sorted(ignored)}


def practical_peak(size: int, reps: int) -> dict:
    """Best-of-``reps`` GFLOP/s of a float32 ``torch.mm`` of two size x size matrices on one
    thread (the caller has set torch's thread count to 1)."""
    import torch

    g = torch.Generator().manual_seed(0)
    a = torch.rand((size, size), generator=g, dtype=torch.float32)
    b = torch.rand((size, size), generator=g, dtype=torch.float32)
    torch.mm(a, b)  # warm-up
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return {
        "gflops": 2.0 * size**3 / best / 1e9,
        "method": f"float32 torch.mm {size}x{size} @ {size}x{size}, 1 thread "
        f"(torch.set_num_threads(1)), best of {reps}",
    }


def cpu_info() -> dict:
    """Model name, vendor, family, flags and clock from /proc/cpuinfo (empty where absent)."""
    info: dict = {"model_name": platform.processor() or platform.machine(), "flags": []}
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return info
    first = text.split("\n\n", 1)[0]
    for line in first.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "model name":
            info["model_name"] = value
        elif key == "vendor_id":
            info["vendor"] = value
        elif key == "cpu family":
            info["family"] = int(value)
        elif key == "model":
            info["model"] = int(value)
        elif key == "cpu MHz":
            info["mhz"] = float(value)
        elif key == "flags":
            info["flags"] = value.split()
    return info


def theoretical_peak(cpu: dict) -> dict | None:
    """Single-core float32 peak = FLOPs per cycle (FMA units x lanes x 2) x clock, or None when
    the CPU is not one of the known cases. The assumptions are returned with the number."""
    flags = set(cpu.get("flags", []))
    mhz = cpu.get("mhz")
    if not mhz or "fma" not in flags:
        return None
    vendor, family = cpu.get("vendor", ""), cpu.get("family", 0)
    if vendor == "AuthenticAMD" and family == 25:
        # Zen 3 / Zen 4: two 256-bit FMA pipes; Zen 4 runs a 512-bit op as two 256-bit halves.
        per_cycle, how = 2 * 8 * 2, "two 256-bit FMA pipes (Zen 3/Zen 4; AVX-512 double-pumped)"
    elif vendor == "AuthenticAMD" and family >= 26 and "avx512f" in flags:
        per_cycle, how = 2 * 16 * 2, "two 512-bit FMA pipes (Zen 5)"
    elif vendor == "GenuineIntel" and "avx512f" in flags:
        per_cycle, how = 2 * 16 * 2, "two 512-bit FMA units (server SKUs; some have one)"
    elif "avx2" in flags:
        per_cycle, how = 2 * 8 * 2, "two 256-bit FMA units"
    else:
        return None
    return {
        "gflops": per_cycle * mhz / 1000.0,
        "flops_per_cycle": per_cycle,
        "ghz": mhz / 1000.0,
        "assumptions": f"{per_cycle} float32 FLOPs/cycle/core ({how}, 1 FMA = 2 FLOPs) x "
        f"{mhz / 1000.0:.2f} GHz ('cpu MHz' of /proc/cpuinfo: the nominal clock, no boost), "
        "one core",
    }


# --- Java configurations --------------------------------------------------------------------------


@dataclass(frozen=True)
class JavaConfig:
    key: str  # java17-scalar, ...
    java: str  # the java executable
    vector: bool
    version: str  # what `java -version` says
    major: int

    @property
    def label(self) -> str:
        return f"Java {self.major} {'vector' if self.vector else 'scalar'}"


def java_version(java: str) -> str | None:
    """``java -version``'s version string, or None when it does not run."""
    try:
        proc = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except OSError:
        return None
    found = re.search(r'version "([^"]+)"', proc.stderr + proc.stdout)
    return found.group(1) if proc.returncode == 0 and found else None


def _major(version: str) -> int:
    head = version.split(".")[0]
    return int(version.split(".")[1]) if head == "1" else int(re.sub(r"\D.*", "", head) or 0)


def resolve_configs(keys: list[str], java17: str | None, java25: str) -> tuple[list, list[str]]:
    """The configurations to run and, for those that cannot, why (said on stderr too)."""
    from pd2java.backends.java.bridge import _java_command

    jdks = {"java17": java17 or _java_command()[0], "java25": java25}
    found: dict[str, str | None] = {}
    configs, skipped = [], []
    for key in keys:
        jdk, vector = CONFIGS[key]
        if jdk not in found:
            exe = shutil.which(jdks[jdk]) or jdks[jdk]
            found[jdk] = java_version(exe) if Path(exe).is_file() else None
            want = 17 if jdk == "java17" else 25
            if found[jdk] is None:
                msg = (
                    f"{jdk}: no runnable JDK at {jdks[jdk]!r} (--{jdk} PATH): "
                    f"its configurations are skipped"
                )
                skipped.append(msg)
                shout(msg)
            elif _major(found[jdk]) != want:
                shout(f"{jdk}: {jdks[jdk]} is Java {found[jdk]}, not {want}; labelled as it is")
            jdks[jdk] = exe
        if found[jdk] is not None:
            version = found[jdk]
            configs.append(JavaConfig(key, jdks[jdk], vector, version, _major(version)))
    return configs, skipped


# --- models ---------------------------------------------------------------------------------------


@dataclass
class Bench:
    """One model to measure."""

    name: str
    model: object  # torch.nn.Module
    fold_bn: bool
    source: str
    input_shape: tuple[int, ...] = PRPD_SHAPE


def _architectures() -> dict:
    """The test corpus's architectures that take the PRPD image, by name."""
    sys.path.insert(0, str(ROOT / "tests"))
    from architectures import ARCHITECTURES, PRPD

    return {a.name: a for a in ARCHITECTURES if a.shape == PRPD}


def build_models(checkpoints: Path, names: list[str]) -> list[Bench]:
    """The requested models, in order."""
    import torch

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
            out.append(Bench(arch, a.build(), a.fold_bn, "random, measured BN statistics"))
            continue
        ckpt = checkpoints / f"gis_{arch}.pt"
        if ckpt.is_file():
            model = load_checkpoint(ckpt).build_model().eval()
            source = f"trained checkpoint {ckpt}"
        else:
            torch.manual_seed(0)
            model = randomize_bn(build_model(arch, list(PRODUCTS["gis"])), seed=1).eval()
            source = "random init, randomised BN statistics"
        out.append(Bench(arch, model, arch == "light", source))
    return out


def inputs_for(shape: tuple[int, ...], count: int, seed: int) -> np.ndarray:
    """``count`` inputs: synthetic GIS PRPD images for the PRPD shape, else seeded uniform."""
    if tuple(shape) == PRPD_SHAPE:
        from pd2java.training.data import synthesize

        ds = synthesize("gis", per_class=-(-count // 7), seed=seed)
        pick = np.random.default_rng(seed).permutation(len(ds.labels))[:count]
        return np.ascontiguousarray(ds.images[pick][:, None], dtype=np.float32)
    rng = np.random.default_rng(seed)
    return rng.random((count, *shape), dtype=np.float32)


# --- the run --------------------------------------------------------------------------------------


def _parity(manifest: Path, model, images: np.ndarray, vector_too: bool) -> dict:
    import torch

    from pd2java.backends import reference
    from pd2java.backends.java import bridge

    with torch.no_grad():
        torch_out = torch.cat(
            [model(torch.from_numpy(images[i : i + 100])) for i in range(0, len(images), 100)]
        ).numpy()
    ref_out = reference.run(manifest, images)
    out = {}
    for family in ("scalar", "vector") if vector_too else ("scalar",):
        bridge.use_vector(family == "vector")
        java_out = bridge.java_predict(manifest, images).astype(np.float64)
        out[family] = {
            "max_abs_java_vs_torch": float(np.abs(java_out - torch_out).max()),
            "max_abs_java_vs_reference": float(np.abs(java_out - ref_out).max()),
            "argmax_agreement": float(
                np.mean(
                    np.argmax(java_out.reshape(len(images), -1), 1)
                    == np.argmax(torch_out.reshape(len(images), -1), 1)
                )
            ),
            "kernels": bridge.model_info(manifest).kernels,
        }
    bridge.use_vector(None)
    return out


def _vector_check(cfg: JavaConfig, kernel_info: str, nodes: list[dict]) -> str | None:
    """Why a vector configuration did not really run the Vector API kernels, or None."""
    if not cfg.vector:
        return None
    if not kernel_info.startswith("vector"):
        return f"{cfg.label}: kernelInfo() says {kernel_info!r}: the SCALAR kernels ran"
    if nodes and not any(n["kernel"].startswith(VECTOR_CLASS_PREFIX) for n in nodes):
        return (
            f"{cfg.label}: kernelInfo() says {kernel_info!r}, but no node ran a "
            f"{VECTOR_CLASS_PREFIX}* kernel class: every op fell back to the scalar kernels"
        )
    return None


def run(args: argparse.Namespace, models: list[Bench] | None = None) -> dict:
    """Measure everything; ``models`` replaces ``--models`` (the tests pass a tiny one)."""
    import onnxruntime as ort
    import torch

    from pd2java.backends.java import bridge, build
    from pd2java.exporter import export

    torch.set_num_threads(1)
    configs, skipped = resolve_configs(args.configs, args.java17, args.java25)
    if not configs:
        raise SystemExit("no Java configuration can run: " + "; ".join(skipped))
    say(f"configurations: {', '.join(c.key + ' (' + c.version + ')' for c in configs)}")
    jar = build.build_runtime()
    build.build_gateway()
    cpu = cpu_info()
    say(f"practical peak: {args.mm_size}x{args.mm_size} torch.mm on one thread")
    peak = practical_peak(args.mm_size, args.mm_reps)
    say(f"   {peak['gflops']:.1f} GFLOP/s")
    results: dict = {
        "command": "python benchmarks/bench_java.py " + " ".join(args.argv),
        "quick": bool(args.quick),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared), "
        f"{platform.python_implementation()} {platform.python_version()}",
        "cpu": cpu.get("model_name", ""),
        "avx512": "avx512f" in cpu.get("flags", []),
        "torch": torch.__version__,
        "onnxruntime": ort.__version__,
        "runtime_jar_bytes": jar.stat().st_size,
        "settings": {
            k: getattr(args, k)
            for k in ("images", "iters", "warmup", "loads", "ref_iters", "batch", "node_iters")
        },
        "configs": [
            {
                "key": c.key,
                "label": c.label,
                "java": c.java,
                "vector": c.vector,
                "version": c.version,
            }
            for c in configs
        ],
        "skipped": skipped,
        "warnings": [],
        "peak": {"practical": peak, "theoretical": theoretical_peak(cpu)},
        "flop_ops": list(FLOP_OPS),
        "models": [],
    }
    if models is None:
        models = build_models(Path(args.checkpoints), args.models)
    heap_counts = dict(args.heap)
    vector_parity = any(c.vector for c in configs)
    with tempfile.TemporaryDirectory(prefix="bench-java-") as tmp:
        for b in models:
            say(f"== {b.name} ({b.source})")
            images = inputs_for(b.input_shape, args.images, args.seed)
            t0 = time.perf_counter()
            manifest = export(
                b.model,
                Path(tmp) / b.name,
                input_shape=b.input_shape,
                classes=list(getattr(b.model, "classes", [])) or None,
                name=f"gis_{b.name}",
                fold_bn=b.fold_bn,
                onnx=True,
            )
            export_s = time.perf_counter() - t0
            doc = json.loads(manifest.read_text(encoding="utf-8"))
            flops = manifest_flops(doc)
            say(f"   parity on {len(images)} images (py4j, scalar{' and vector' * vector_parity})")
            parity = _parity(manifest, b.model, images, vector_parity)
            sample = images[: min(len(images), 200)]

            say(f"   onnxruntime latency ({args.ref_iters} calls) and throughput")
            onnx_path = manifest.with_name(f"gis_{b.name}.onnx")
            sessions = {}
            for threads in (1, 2):
                so = ort.SessionOptions()
                so.intra_op_num_threads = threads
                so.inter_op_num_threads = 1
                sessions[threads] = ort.InferenceSession(
                    str(onnx_path), so, providers=["CPUExecutionProvider"]
                )
            feed = sessions[1].get_inputs()[0].name
            ort_fn = {t: (lambda x, s=s, n=feed: s.run(None, {n: x})) for t, s in sessions.items()}
            ort_med, ort_p99 = time_per_image(ort_fn[1], sample, args.warmup, args.ref_iters)
            ort_ips = {t: images_per_second(ort_fn[t], sample, args.batch) for t in (1, 2)}
            say(f"   PyTorch latency ({args.ref_iters} calls)")
            with torch.no_grad():
                pt_med, pt_p99 = time_per_image(
                    lambda x, m=b.model: m(torch.from_numpy(x)), sample, args.warmup, args.ref_iters
                )

            java = {}
            for cfg in configs:
                say(
                    f"   {cfg.label}: Bench ({args.warmup} warm-up, {args.iters} predictInto + "
                    f"{args.iters} predict, batch {args.batch}, per-node {args.node_iters})"
                )
                r = bridge.java_bench(
                    manifest,
                    sample,
                    warmup=args.warmup,
                    iters=args.iters,
                    loads=args.loads,
                    batch=args.batch,
                    node_iters=args.node_iters,
                    java=cfg.java,
                    vector=cfg.vector,
                    timeout=args.timeout,
                )
                nodes = [{"node": n, "kernel": k, "ms": ms} for n, k, ms in r.node_times]
                entry = {
                    "label": cfg.label,
                    "java_version": r.java_version,
                    "vm": r.vm,
                    "kernel_info": r.kernel_info,
                    "java_command": list(r.java_command),
                    "into_median_ms": r.into_median_ms,
                    "into_p99_ms": r.into_p99_ms,
                    "predict_median_ms": r.median_ms,
                    "predict_p99_ms": r.p99_ms,
                    "ratio_to_onnxruntime": r.into_median_ms / ort_med,
                    "ratio_to_torch": r.into_median_ms / pt_med,
                    "load_ms": r.load_ms,
                    "load_ms_no_self_test": r.load_ms_no_self_test,
                    "bytes_per_call_predict": r.bytes_per_call,
                    "bytes_per_call_predict_into": r.into_bytes_per_call,
                    "gc_count_predict": r.gc_count,
                    "gc_count_predict_into": r.into_gc_count,
                    "gc_calls": r.iters,
                    "gc_names": list(r.gc_names),
                    "images_per_s_1_thread": r.images_per_s_1_thread,
                    "images_per_s_2_threads": r.images_per_s_2_threads,
                    "gflops": flops["total"] / (r.into_median_ms / 1000.0) / 1e9,
                    "weight_bytes": r.weight_bytes,
                    "vector_nodes": sum(n["kernel"].startswith(VECTOR_CLASS_PREFIX) for n in nodes),
                    "nodes": nodes,
                }
                problem = _vector_check(cfg, r.kernel_info, nodes)
                if problem:
                    problem = f"{b.name}: {problem}"
                    shout(problem)
                    results["warnings"].append(problem)
                say(
                    f"      predictInto {r.into_median_ms:.3f} ms "
                    f"({entry['ratio_to_onnxruntime']:.2f}x ORT), kernels: {r.kernel_info}"
                )
                java[cfg.key] = entry

            heap = {}
            if b.name in heap_counts:
                for cfg in configs:
                    copies = heap_counts[b.name]
                    say(f"   {cfg.label}: heap of {copies} resident copies")
                    h = bridge.java_heap_per_model(
                        manifest,
                        copies=copies,
                        java=cfg.java,
                        vector=cfg.vector,
                        timeout=args.timeout,
                    )
                    h["ratio_to_weight_bytes"] = h["bytes_per_model"] / max(1, h["weight_bytes"])
                    heap[cfg.key] = h

            results["models"].append(
                {
                    "model": b.name,
                    "fold_bn": b.fold_bn,
                    "source": b.source,
                    "input_shape": list(b.input_shape),
                    "parameters": int(sum(p.numel() for p in b.model.parameters())),
                    "weights_bytes": int(doc["weights"]["bytes"]),
                    "export_seconds": export_s,
                    "images": len(images),
                    "parity": parity,
                    "flops": flops,
                    "onnxruntime": {
                        "median_ms": ort_med,
                        "p99_ms": ort_p99,
                        "gflops": flops["total"] / (ort_med / 1000.0) / 1e9,
                        "images_per_s_1_thread": ort_ips[1],
                        "images_per_s_2_threads": ort_ips[2],
                    },
                    "torch": {"median_ms": pt_med, "p99_ms": pt_p99},
                    "java": java,
                    "heap": heap,
                }
            )
    say(f"done in {time.perf_counter() - _T0:.0f} s")
    results["seconds"] = time.perf_counter() - _T0
    return results


# --- markdown -------------------------------------------------------------------------------------


def _ms(v: float) -> str:
    return f"{v:.2f}" if v >= 0.1 else f"{v:.3f}"


def _bytes(v: float) -> str:
    if v < 0:
        return "n/a"
    return f"{v / 1e6:.2f} MB" if v >= 1e6 else f"{v / 1e3:.1f} kB" if v >= 1e3 else f"{v:.0f} B"


def _configs(r: dict) -> list[dict]:
    return r["configs"]


def _header(r: dict) -> list[str]:
    javas = ", ".join(f"{c['label']} = `{c['java']}` {c['version']}" for c in _configs(r))
    lines = []
    if r.get("quick"):
        lines += ["**QUICK SMOKE RUN: too few iterations to be a measurement.**", ""]
    lines += [
        (
            f"Measured {r['date']} on {r['machine']}, {r['cpu']}"
            f"{' (AVX-512)' if r.get('avx512') else ''}; torch {r['torch']}, onnxruntime "
            f"{r['onnxruntime']}; {javas}. One run: `{r['command']}` ({r['seconds'] / 60:.0f} min)."
        ),
        "",
    ]
    for s in r["skipped"]:
        lines += [f"Skipped: {s}.", ""]
    for w in r["warnings"]:
        lines += [f"**WARNING: {w}.**", ""]
    return lines


def markdown(r: dict) -> str:
    """The full report (docs/PARITY.md's block)."""
    cfgs = _configs(r)
    st = r["settings"]
    lines = [BEGIN, *_header(r)]
    families = ["scalar"] + (["vector"] if any(c["vector"] for c in cfgs) else [])
    lines += [
        (
            "Kernel family of each configuration, as `Model.kernelInfo()` reports it, and the nodes "
            f"that ran a {VECTOR_CLASS_PREFIX}* (Vector API) kernel class:"
        ),
        "",
        "| configuration | JVM | kernelInfo() | nodes on Vector API kernels |",
        "|---|---|---|---|",
    ]
    for c in cfgs:
        first = next(m["java"][c["key"]] for m in r["models"])
        counts = ", ".join(
            f"{m['model']} {m['java'][c['key']]['vector_nodes']}/{len(m['java'][c['key']]['nodes'])}"
            for m in r["models"]
        )
        lines.append(f"| {c['label']} | {first['vm']} | {first['kernel_info']} | {counts} |")
    n_img = r["models"][0]["images"] if r["models"] else 0
    lines += [
        "",
        (
            f"Parity on {n_img} inputs (synthetic GIS PRPD images, seeded, never used in training), "
            "Java over py4j:"
        ),
        "",
        (
            "| model | weights | family | max abs Java vs PyTorch | max abs Java vs NumPy "
            "| argmax agreement |"
        ),
        "|---|---|---|---|---|---|",
    ]
    for m in r["models"]:
        for fam in families:
            p = m["parity"][fam]
            lines.append(
                f"| {m['model']}{' (BN folded)' if m['fold_bn'] else ''} | {m['source']} | {fam} "
                f"| {p['max_abs_java_vs_torch']:.2e} | {p['max_abs_java_vs_reference']:.2e} | "
                f"{p['argmax_agreement']:.1%} |"
            )
    lines += [
        "",
        (
            f"Single-thread latency per image (one image per call, ms): Java `predictInto(x, out, ws)` "
            f"median and p99 over {st['iters']:,} calls after {st['warmup']} warm-up, `predict` "
            f"median over as many; onnxruntime (intra_op 1) and PyTorch (1 thread) over "
            f"{st['ref_iters']:,} calls. Ratios are Java's predictInto median over theirs "
            "(below 1: Java is faster)."
        ),
        "",
        "| model | runtime | median | p99 | predict median | Java / onnxruntime | Java / PyTorch |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in r["models"]:
        o, t = m["onnxruntime"], m["torch"]
        lines.append(
            f"| {m['model']} | onnxruntime | {_ms(o['median_ms'])} | {_ms(o['p99_ms'])} | | | |"
        )
        lines.append(
            f"| {m['model']} | PyTorch | {_ms(t['median_ms'])} | {_ms(t['p99_ms'])} | | | |"
        )
        for c in cfgs:
            j = m["java"][c["key"]]
            lines.append(
                f"| {m['model']} | {c['label']} | {_ms(j['into_median_ms'])} | "
                f"{_ms(j['into_p99_ms'])} | {_ms(j['predict_median_ms'])} | "
                f"{j['ratio_to_onnxruntime']:.2f}x | {j['ratio_to_torch']:.2f}x |"
            )
    lines += [
        "",
        (
            f"Load, allocation and GC (per configuration, its own JVM): `Model.load` median of "
            f"{st['loads']} after one untimed load, with the golden self-test / without; bytes the "
            "calling thread allocated per call (`ThreadMXBean.getThreadAllocatedBytes`); garbage "
            f"collections (all collectors) during {st['iters']:,} calls:"
        ),
        "",
        (
            "| model | configuration | load ms (self-test on / off) | bytes/call predict | "
            "bytes/call predictInto | GCs predict | GCs predictInto |"
        ),
        "|---|---|---|---|---|---|---|",
    ]
    for m in r["models"]:
        for c in cfgs:
            j = m["java"][c["key"]]
            lines.append(
                f"| {m['model']} | {c['label']} | {j['load_ms']:.1f} / "
                f"{j['load_ms_no_self_test']:.1f} | {_bytes(j['bytes_per_call_predict'])} | "
                f"{_bytes(j['bytes_per_call_predict_into'])} | {j['gc_count_predict']} | "
                f"{j['gc_count_predict_into']} |"
            )
    heap_models = [m for m in r["models"] if m["heap"]]
    if heap_models:
        lines += [
            "",
            (
                "Heap per resident model (`HeapProbe`: N copies loaded with the self-test off and "
                "kept alive, used heap after full GCs before and after, divided by N), and its ratio "
                "to `Model.weightBytes()`:"
            ),
            "",
            "| model | configuration | copies | heap per model | weightBytes() | ratio |",
            "|---|---|---|---|---|---|",
        ]
        for m in heap_models:
            for c in cfgs:
                h = m["heap"][c["key"]]
                lines.append(
                    f"| {m['model']} | {c['label']} | {h['copies']:,} | "
                    f"{_bytes(h['bytes_per_model'])} | {_bytes(h['weight_bytes'])} | "
                    f"{h['ratio_to_weight_bytes']:.2f}x |"
                )
    node_cfg = next((c for c in cfgs if c["key"] == "java17-vector"), cfgs[0])
    lines += [
        "",
        (
            f"Slowest 5 nodes, {node_cfg['label']} (`Model.profile`, mean over {st['node_iters']} "
            "calls; share of the sum over all nodes):"
        ),
        "",
        "| model | node | kernel class | ms | share |",
        "|---|---|---|---|---|",
    ]
    for m in r["models"]:
        nodes = m["java"][node_cfg["key"]]["nodes"]
        total = sum(n["ms"] for n in nodes) or 1.0
        for n in sorted(nodes, key=lambda n: -n["ms"])[:5]:
            lines.append(
                f"| {m['model']} | {n['node']} | {n['kernel']} | {n['ms']:.3f} | "
                f"{n['ms'] / total:.0%} |"
            )
    pk = r["peak"]
    prac = pk["practical"]["gflops"]
    theo = pk["theoretical"]
    lines += [
        "",
        f"Roofline: FLOPs per image counted from the manifest ({', '.join(r['flop_ops'])}; a "
        "multiply-add is 2 FLOPs; every other op is ignored), achieved GFLOP/s = FLOPs / median "
        f"latency, and its share of the practical single-core peak, {prac:.1f} GFLOP/s "
        f"({pk['practical']['method']}, this run)"
        + (
            f"; theoretical single-core peak {theo['gflops']:.1f} GFLOP/s ({theo['assumptions']}; "
            "a core boosting above that clock can exceed it)."
            if theo
            else "; the theoretical peak of this CPU is not derived (unknown FMA width)."
        ),
        "",
        "| model | MFLOP/image | ignored ops | "
        + " | ".join(c["label"] for c in cfgs)
        + " | onnxruntime |",
        "|---|---|---|" + "---|" * (len(cfgs) + 1),
    ]
    for m in r["models"]:
        cells = [
            f"{m['java'][c['key']]['gflops']:.2f} ({m['java'][c['key']]['gflops'] / prac:.0%})"
            for c in cfgs
        ]
        o = m["onnxruntime"]["gflops"]
        lines.append(
            f"| {m['model']} | {m['flops']['total'] / 1e6:.1f} | "
            f"{', '.join(m['flops']['ignored']) or 'none'} | "
            + " | ".join(cells)
            + f" | {o:.2f} ({o / prac:.0%}) |"
        )
    lines += [
        "",
        (
            f"Throughput, images/s: Java `predictBatch(xs, n, executor, threads)` of {st['batch']} "
            "images on 1 and 2 threads; onnxruntime on the same images one call each, intra_op 1 "
            "and 2; best of 3 passes each:"
        ),
        "",
        "| model | runtime | 1 thread | 2 threads |",
        "|---|---|---|---|",
    ]
    for m in r["models"]:
        o = m["onnxruntime"]
        lines.append(
            f"| {m['model']} | onnxruntime | {o['images_per_s_1_thread']:,.0f} | "
            f"{o['images_per_s_2_threads']:,.0f} |"
        )
        for c in cfgs:
            j = m["java"][c["key"]]
            lines.append(
                f"| {m['model']} | {c['label']} | {j['images_per_s_1_thread']:,.0f} | "
                f"{j['images_per_s_2_threads']:,.0f} |"
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


def readme_markdown(r: dict) -> str:
    """The compact table (README.md's block): lenet and light."""
    cfgs = _configs(r)
    rows = [m for m in r["models"] if m["model"] in ZOO] or r["models"]
    j17 = [c for c in cfgs if c["key"].startswith("java17")] or cfgs[:1]
    lines = [
        BEGIN,
        *_header(r),
        (
            "Single-thread latency per image, ms (Java: `predictInto` median, and its ratio to "
            "onnxruntime's intra_op 1 median); heap per resident model over `weightBytes()`, bytes "
            f"allocated per `predictInto` call and load time (self-test on) for "
            f"{' / '.join(c['label'] for c in j17)}. Everything else: "
            "[docs/PARITY.md](docs/PARITY.md#benchmark)."
        ),
        "",
        "| model | onnxruntime | "
        + " | ".join(c["label"] for c in cfgs)
        + " | heap / weights | bytes/call | load ms |",
        "|---|---|" + "---|" * (len(cfgs) + 3),
    ]
    for m in rows:
        cells = [
            f"{_ms(m['java'][c['key']]['into_median_ms'])} "
            f"({m['java'][c['key']]['ratio_to_onnxruntime']:.1f}x)"
            for c in cfgs
        ]
        heap = " / ".join(
            f"{m['heap'][c['key']]['ratio_to_weight_bytes']:.2f}x"
            if c["key"] in m["heap"]
            else "n/a"
            for c in j17
        )
        per_call = " / ".join(
            _bytes(m["java"][c["key"]]["bytes_per_call_predict_into"]) for c in j17
        )
        load = " / ".join(f"{m['java'][c['key']]['load_ms']:.0f}" for c in j17)
        lines.append(
            f"| {m['model']} | {_ms(m['onnxruntime']['median_ms'])} | "
            + " | ".join(cells)
            + f" | {heap} | {per_call} | {load} |"
        )
    lines.append(END)
    return "\n".join(lines)


def write_block(path: Path, block: str) -> None:
    """Replace the text between the markers of ``path`` by ``block``, atomically."""
    replace_marked_block(path, BEGIN, END, block)


# --- command line ---------------------------------------------------------------------------------

QUICK = {
    "images": 40,
    "iters": 200,
    "warmup": 30,
    "loads": 2,
    "ref_iters": 100,
    "batch": 16,
    "node_iters": 10,
    "mm_size": 512,
    "mm_reps": 2,
    "heap": "light=40,lenet=20",
    "models": "lenet,light",
}


def _heap_counts(text: str) -> list[tuple[str, int]]:
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, count = part.partition("=")
        if not count.isdigit() or int(count) < 1:
            raise argparse.ArgumentTypeError(f"--heap: {part!r} is not MODEL=COPIES")
        out.append((name.strip(), int(count)))
    return out


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=1000, help="parity inputs (default 1000)")
    p.add_argument(
        "--iters",
        type=int,
        default=10_000,
        help="timed Java calls of predictInto and of predict each; latency, bytes/call and the GC "
        "count come from these loops (default 10000)",
    )
    p.add_argument(
        "--warmup",
        type=int,
        default=3000,
        help="untimed calls first (default 3000: after 300, the Vector API kernels were still "
        "recompiled once inside the timed loop, allocating 18 MB in one go)",
    )
    p.add_argument("--loads", type=int, default=10, help="timed Model.load calls of each kind")
    p.add_argument("--ref-iters", type=int, default=1000, help="timed onnxruntime / PyTorch calls")
    p.add_argument("--batch", type=int, default=300, help="images per throughput batch")
    p.add_argument("--node-iters", type=int, default=200, help="calls timed per node")
    p.add_argument(
        "--heap",
        type=_heap_counts,
        default="light=1000,lenet=300",
        help="resident copies per model for the heap probe, MODEL=N,... (default "
        "light=1000,lenet=300; models not listed are not probed)",
    )
    p.add_argument("--mm-size", type=int, default=2048, help="matrix size of the peak probe")
    p.add_argument("--mm-reps", type=int, default=5)
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument(
        "--checkpoints",
        default="pd2java-demo",
        help="folder with gis_lenet.pt / gis_light.pt (from pd2java demo); only read",
    )
    p.add_argument(
        "--models",
        default=None,
        help="comma-separated, in table order: the zoo models "
        f"({', '.join(ZOO)}) and PRPD-input architectures of tests/architectures.py; "
        f"default {DEFAULT_MODELS}",
    )
    p.add_argument(
        "--configs",
        default=",".join(CONFIGS),
        help=f"comma-separated Java configurations, from {', '.join(CONFIGS)} (default all)",
    )
    p.add_argument(
        "--java17",
        help="java executable for the Java 17 configurations "
        "(default $JAVA_HOME/bin/java, else java on PATH)",
    )
    p.add_argument(
        "--java25",
        default=JAVA25_DEFAULT,
        help=f"java executable for the Java 25 configurations (default {JAVA25_DEFAULT}); "
        "when it is absent those configurations are skipped, and the report says so",
    )
    p.add_argument("--timeout", type=float, default=3600, help="seconds per JVM run")
    p.add_argument(
        "--quick",
        action="store_true",
        help="a fast smoke run (lenet and light, few iterations): checks the tooling, measures "
        "nothing; cannot be combined with --write-docs",
    )
    p.add_argument(
        "--write-docs",
        action="store_true",
        help="update the generated blocks of docs/PARITY.md and README.md",
    )
    p.add_argument("--json", help="also write the raw results here")
    args = p.parse_args(argv)
    args.argv = list(argv)
    if args.quick:
        if args.write_docs:
            p.error("--quick measures nothing worth writing into the docs: drop --write-docs")
        given = {a.split("=")[0].lstrip("-").replace("-", "_") for a in argv if a.startswith("--")}
        for key, value in QUICK.items():
            if key not in given:
                setattr(args, key, _heap_counts(value) if key == "heap" else value)
    if isinstance(args.heap, str):
        args.heap = _heap_counts(args.heap)
    args.models = [m.strip() for m in (args.models or DEFAULT_MODELS).split(",") if m.strip()]
    known = [*ZOO, *_architectures()]
    unknown = [m for m in args.models if m not in known]
    if unknown or not args.models:
        p.error(f"--models: unknown {unknown}; choose from {', '.join(known)}")
    args.configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    bad = [c for c in args.configs if c not in CONFIGS]
    if bad or not args.configs:
        p.error(f"--configs: unknown {bad}; choose from {', '.join(CONFIGS)}")
    for key in ("images", "iters", "loads", "ref_iters", "batch", "mm_size", "mm_reps"):
        if getattr(args, key) < 1:
            p.error(f"--{key.replace('_', '-')} must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    results = run(args)
    block = markdown(results)
    print(block)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if args.write_docs:
        write_block(DOC, block)
        write_block(README, readme_markdown(results))
        say(f"wrote {DOC.relative_to(ROOT)} and {README.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
