"""Load test of the Java ModelRegistry: hundreds of resident models, calls racing hot reloads.

The scenario of a monitoring server with a different small model per product, all resident:

- ``--models`` exports (300 by default) of the zoo models, a mix of PDLightModel (``light``, BN
  folded, two in three) and PDModel (``lenet``, one in three), each randomly initialised with its
  own seed (and randomised BN statistics) so that every weights file is distinct. Exports are
  made with :func:`pd2java.exporter.export` into a model tree cached under the pd2java cache
  folder (``PD2JAVA_CACHE``) and reused by later runs (a run only exports what is missing);
- a fresh registry root is made from the tree (hard links where possible) and a Java main
  (``benchmarks/java/RegistryLoadTest.java``, compiled here against the runtime jar, never part of
  it) opens a ``ModelRegistry`` on it: the start-up time of ``open`` for all models (parallel
  loads, each verifying size and SHA-256 and running the golden self-test);
- ``--threads`` threads (2) classify random synthetic PRPD-like images against random ids for
  ``--seconds`` (60) after an untimed warm-up, while the main thread publishes a new version of a
  random model every ``--reload-every`` seconds (1) the safe way (written into a dot-folder,
  renamed into place) and reloads it; one publish in ``--corrupt-every`` (10) is corrupt or
  half-written (a flipped weights byte, the safetensors truncated, the manifest cut in half, in
  turn) and must be rejected with the old version still serving;
- it reports throughput, latency p50/p99 of ``ModelRegistry.classify``, failed calls (must be 0:
  every model stays healthy), corrupt reloads rejected out of expected, reload time, used heap
  (after ``System.gc``) empty, after ``open`` and after the run, and whether every replaced
  version was garbage collected (weak references to them, all cleared after GC).

Usage::

    python benchmarks/bench_registry.py [--models 300] [--seconds 60] [--threads 2]
                                        [--quick] [--write-docs] [--json FILE]

Progress goes to stderr, the markdown report to stdout. ``--write-docs`` replaces the generated
block of docs/REGISTRY.md. ``--quick`` (20 models, 3 s, a reload every 0.1 s, one in 3 corrupt)
checks the tooling and the invariants, and measures nothing worth writing down. The exit status
is 1 when an invariant is broken (a failed call, a corrupt export accepted, a good one refused, a
replaced version not collected).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pd2java.fsutil import replace_marked_block

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "REGISTRY.md"
BEGIN = "<!-- bench_registry:begin -->"
END = "<!-- bench_registry:end -->"
JAVA_MAIN = ROOT / "benchmarks" / "java" / "RegistryLoadTest.java"
PRPD_SHAPE = (1, 60, 120)
# Bump when the way the model tree is made changes, so an old cached tree is not reused.
TREE_RECIPE = "1"
QUICK = {
    "models": 20,
    "seconds": 3.0,
    "reload_every": 0.1,
    "corrupt_every": 3,
    "warmup": 0.5,
}
_T0 = time.perf_counter()


def say(message: str) -> None:
    """Progress on stderr, with the time since the start."""
    print(f"[{time.perf_counter() - _T0:7.1f} s] {message}", file=sys.stderr, flush=True)


# --- the model tree -------------------------------------------------------------------------------


def arch_of(index: int) -> str:
    """Two light models for one lenet: ``lenet`` for every third index."""
    return "lenet" if index % 3 == 2 else "light"


def model_ids(count: int) -> list[str]:
    """The ids of the first ``count`` models (folder names): ``light-000``, ``lenet-002``..."""
    return [f"{arch_of(i)}-{i:03d}" for i in range(count)]


def tree_dir() -> Path:
    """The cached model tree, keyed by what its exports depend on."""
    import torch

    from pd2java import __version__
    from pd2java.resources import cache_dir

    key = hashlib.sha256(f"{TREE_RECIPE}|{__version__}|{torch.__version__}".encode()).hexdigest()
    return cache_dir() / f"bench-registry-tree-{key[:16]}"


def build_tree(tree: Path, count: int) -> dict:
    """Export the first ``count`` models into ``tree`` (those not there yet); each export is
    written into a dot-folder and renamed into place, so an interrupted run leaves no half one."""
    import torch

    from pd2java.exporter import export
    from pd2java.training.data import PRODUCTS
    from pd2java.training.models import build_model

    sys.path.insert(0, str(ROOT / "tests"))
    from corpus import randomize_bn  # the tests' deterministic BN randomiser

    tree.mkdir(parents=True, exist_ok=True)
    ids = model_ids(count)
    missing = [(i, mid) for i, mid in enumerate(ids) if not (tree / mid).is_dir()]
    if not missing:
        say(f"model tree: {count} exports cached in {tree}")
        return {"exported": 0, "seconds": 0.0, "tree": str(tree)}
    say(f"model tree: exporting {len(missing)} of {count} models into {tree}")
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    classes = list(PRODUCTS["gis"])
    for n, (i, mid) in enumerate(missing, 1):
        arch = arch_of(i)
        torch.manual_seed(10_000 + i)
        model = randomize_bn(build_model(arch, classes), seed=i).eval()
        tmp = tree / f".{mid}-tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        export(
            model,
            tmp,
            input_shape=PRPD_SHAPE,
            name=f"gis_{arch}_{i:03d}",
            fold_bn=arch == "light",
            onnx=False,
        )
        try:
            os.rename(tmp, tree / mid)
        except OSError:  # another run exported it meanwhile
            shutil.rmtree(tmp, ignore_errors=True)
            if not (tree / mid).is_dir():
                raise
        if n % 10 == 0 or n == len(missing):
            elapsed = time.perf_counter() - t0
            say(f"   exported {n}/{len(missing)} ({elapsed:.0f} s, {elapsed / n:.2f} s each)")
    return {"exported": len(missing), "seconds": time.perf_counter() - t0, "tree": str(tree)}


def make_root(tree: Path, ids: list[str], root: Path) -> None:
    """A registry root holding ``ids`` from the tree: hard links (the load test never writes a
    file in place; it publishes copies), else copies."""
    root.mkdir()
    for mid in ids:
        (root / mid).mkdir()
        for f in (tree / mid).iterdir():
            try:
                os.link(f, root / mid / f.name)
            except OSError:
                shutil.copy2(f, root / mid / f.name)


# --- the Java side --------------------------------------------------------------------------------


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def checks(r: dict, models: int) -> dict[str, bool]:
    """The invariants: every one must hold."""
    j = r["java"]
    return {
        "every model loaded at open": j["models"] == models and not j["open_failures"],
        "no failed call": j["failed_calls"] == 0,
        "every corrupt export rejected": j["corrupt_rejected"] == j["corrupt_reloads"],
        "old version kept after each rejection": (
            j["corrupt_kept_old_version"] == j["corrupt_reloads"]
        ),
        "no corrupt export accepted": j["corrupt_accepted"] == 0,
        "no good export refused": j["good_reloads_refused"] == 0,
        "every replaced version collected": (
            j["replaced_versions_collected"] == j["replaced_versions"]
        ),
        "every model serving after the run": j["models_serving_after"] == models,
        "stats count every call": j["stats_calls"] == j["stats_expected_calls"],
    }


def run(args: argparse.Namespace) -> dict:
    """Export (or reuse) the models, run the Java load test, return every measurement."""
    from pd2java.backends.java import build
    from pd2java.backends.java.bridge import VECTOR_OPTION

    jar = build.build_runtime()
    main = build.build_program("bench-registry", JAVA_MAIN.parent, [jar])
    tree = Path(args.tree) if args.tree else tree_dir()
    export_info = build_tree(tree, args.models)
    ids = model_ids(args.models)
    java = args.java or build._tool("java")
    from pd2java.resources import cache_dir

    with tempfile.TemporaryDirectory(prefix="bench-registry-", dir=cache_dir()) as tmp:
        root = Path(tmp) / "root"
        make_root(tree, ids, root)
        cmd = [
            java,
            *([] if args.no_vector else [VECTOR_OPTION]),
            f"-Xmx{args.xmx}",
            *args.jvm_arg,
            "-cp",
            os.pathsep.join([str(jar), str(main)]),
            "RegistryLoadTest",
            "--root",
            str(root),
            "--source",
            str(tree),
            "--seconds",
            str(args.seconds),
            "--warmup-seconds",
            str(args.warmup),
            "--threads",
            str(args.threads),
            "--reload-every-ms",
            str(max(1, round(args.reload_every * 1000))),
            "--corrupt-every",
            str(args.corrupt_every),
            "--seed",
            str(args.seed),
        ]
        say(
            f"load test: {args.models} models, {args.threads} threads, {args.seconds:g} s, "
            f"a reload every {args.reload_every:g} s, 1 in {args.corrupt_every} corrupt"
        )
        proc = subprocess.run(
            cmd, capture_output=True, text=True, check=False, timeout=args.timeout
        )
    if proc.returncode != 0:
        raise SystemExit(f"the Java load test failed ({proc.returncode}):\n{proc.stderr}")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise SystemExit(f"the Java load test printed no result:\n{proc.stdout}{proc.stderr}")
    result = {
        "quick": args.quick,
        "argv": args.argv,
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d"),
        "vector": not args.no_vector,
        "xmx": args.xmx,
        "settings": {
            "models": args.models,
            "seconds": args.seconds,
            "threads": args.threads,
            "reload_every": args.reload_every,
            "corrupt_every": args.corrupt_every,
            "warmup": args.warmup,
        },
        "export": export_info,
        "java": json.loads(lines[-1]),
    }
    result["checks"] = checks(result, args.models)
    result["ok"] = all(result["checks"].values())
    return result


# --- report ---------------------------------------------------------------------------------------


def _mb(v: float) -> str:
    return f"{v / 1e6:,.1f} MB"


def markdown(r: dict) -> str:
    """The report: one table between the markers, then the invariants."""
    j, s = r["java"], r["settings"]
    per_arch = ", ".join(
        f"{n} {a} ({_mb(j['weight_bytes_by_arch'][a])} each)"
        for a, n in j["models_by_arch"].items()
    )
    codes = ", ".join(f"{k} {v}" for k, v in j["rejected_codes"].items()) or "none"
    rows = [
        ("Models resident", f"{j['models']}: {per_arch}"),
        ("Weight bytes resident (`residentBytes()`)", _mb(j["resident_bytes"])),
        (
            (
                f"Start-up: `ModelRegistry.open`, {j['load_threads']} load threads, SHA-256 and "
                "self-test on"
            ),
            f"{j['startup_seconds']:.2f} s (one load: {j['mean_load_ms']:.1f} ms on average)",
        ),
        (
            "Used heap after `System.gc`: empty / after open / after the run",
            (
                f"{_mb(j['heap_empty_bytes'])} / {_mb(j['heap_after_open_bytes'])} / "
                f"{_mb(j['heap_after_run_bytes'])}"
            ),
        ),
        (
            (
                f"Load: {j['threads']} threads, `classify(randomId, image)`, {j['seconds']:.0f} s "
                f"(after a {s['warmup']:g} s warm-up)"
            ),
            f"{j['calls']:,} calls, {j['calls_per_second']:,.0f} calls/s",
        ),
        (
            "Latency per call p50 / p99 / max",
            (
                f"{j['latency_p50_ms']:.3f} / {j['latency_p99_ms']:.3f} / "
                f"{j['latency_max_ms']:.1f} ms"
            ),
        ),
        ("Failed calls (every model stays healthy)", str(j["failed_calls"])),
        (
            f"Reloads (one every {s['reload_every']:g} s, 1 in {s['corrupt_every']} corrupt)",
            f"{j['reloads']}: {j['good_reloads']} good, {j['corrupt_reloads']} corrupt",
        ),
        (
            "Corrupt exports rejected, old version kept serving",
            (
                f"{j['corrupt_rejected']} / {j['corrupt_reloads']} rejected, "
                f"{j['corrupt_kept_old_version']} kept ({codes})"
            ),
        ),
        (
            "Reload time (publish excluded) p50 / max",
            f"{j['reload_p50_ms']:.1f} / {j['reload_max_ms']:.1f} ms",
        ),
        (
            "Replaced versions garbage collected (weak references cleared after GC)",
            f"{j['replaced_versions_collected']} / {j['replaced_versions']}",
        ),
    ]
    command = " ".join(["python benchmarks/bench_registry.py", *r["argv"]])
    lines = [BEGIN]
    if r["quick"]:
        lines += ["", "**QUICK SMOKE RUN: checks the tooling, measures nothing.**"]
    lines += [
        "",
        (
            f"Measured by `{command}` on {r['date']}: {r['cpu']}, {r['cores']} cores, "
            f"Java {j['java_version']} (-Xmx{r['xmx']}), `{j['kernel_info']}`. The machine is "
            "shared; compare numbers from one run only."
        ),
        "",
        "| Measure | Result |",
        "|---|---|",
        *(f"| {measure} | {result} |" for measure, result in rows),
        "",
        "Invariants: "
        + ", ".join(f"{name}: {'yes' if ok else '**NO**'}" for name, ok in r["checks"].items())
        + ".",
        END,
    ]
    return "\n".join(lines)


def write_block(path: Path, block: str) -> None:
    """Replace the text between the markers of ``path`` by ``block``, atomically."""
    replace_marked_block(path, BEGIN, END, block)


# --- command line ---------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", type=int, default=300, help="resident models (default 300)")
    p.add_argument("--seconds", type=float, default=60.0, help="timed load (default 60)")
    p.add_argument("--threads", type=int, default=2, help="classifying threads (default 2)")
    p.add_argument(
        "--reload-every", type=float, default=1.0, help="seconds between reloads (default 1)"
    )
    p.add_argument(
        "--corrupt-every",
        type=int,
        default=10,
        help="one publish in N is corrupt or half-written (default 10)",
    )
    p.add_argument("--warmup", type=float, default=5.0, help="untimed load first (default 5 s)")
    p.add_argument("--xmx", default="3g", help="the JVM's -Xmx (default 3g)")
    p.add_argument(
        "--jvm-arg",
        action="append",
        default=[],
        help="one more JVM option, e.g. --jvm-arg=-XX:G1HeapRegionSize=4m (repeatable)",
    )
    p.add_argument(
        "--no-vector",
        action="store_true",
        help="run without --add-modules=jdk.incubator.vector (the scalar kernels)",
    )
    p.add_argument("--java", help="java executable (default $JAVA_HOME/bin/java, else PATH)")
    p.add_argument(
        "--tree",
        help="folder of the exported models (default: a folder in the pd2java cache, reused)",
    )
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--timeout", type=float, default=1800, help="seconds for the JVM run")
    p.add_argument(
        "--quick",
        action="store_true",
        help="a fast smoke run (20 models, 3 s, a reload every 0.1 s, 1 in 3 corrupt); cannot "
        "be combined with --write-docs",
    )
    p.add_argument(
        "--write-docs", action="store_true", help="update the generated block of docs/REGISTRY.md"
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
                setattr(args, key, value)
    for key in ("models", "threads", "corrupt_every"):
        if getattr(args, key) < 1:
            p.error(f"--{key.replace('_', '-')} must be >= 1")
    if args.models > 1000:
        p.error("--models: at most 1000 (ids have three digits)")
    if args.seconds <= 0 or args.reload_every <= 0 or args.warmup < 0:
        p.error("--seconds and --reload-every must be > 0, --warmup >= 0")
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
        say(f"wrote {DOC.relative_to(ROOT)}")
    broken = [name for name, ok in results["checks"].items() if not ok]
    if broken:
        say("INVARIANTS BROKEN: " + "; ".join(broken))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
