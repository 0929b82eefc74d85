"""Run exported models in the Java runtime from Python, over py4j (the parity bridge).

One JVM per Python process: it is started lazily on first use with py4j's ``launch_gateway``
(``die_on_exit=True``, so it dies with this process), reused by every later call, and shut down
at exit. The JVM's classpath is the runtime jar plus the gateway jar (``org.pd2java.gateway``, which
lives beside the runtime, never in it) plus py4j's own jar.

Tensors cross the wire as one ``bytes`` object of little-endian float32 per call, never element by
element: py4j ships ``bytes`` as a Java ``byte[]`` in one message.

Errors raised by the Java runtime come back as :class:`JavaError` (a ``UserError``: a model the
runtime refuses is something the user can fix) carrying the runtime's error code, the Java
exception class and its message.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import subprocess
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pd2java.errors import UserError

# Samples per py4j call: bounds the size of one message (each sample of the PRPD models is 28.8 KB)
# without paying a round trip per image.
_CHUNK = 128

# The JVM option that enables the runtime's Vector API kernels (docs/JAVA.md, "Vector API").
VECTOR_OPTION = "--add-modules=jdk.incubator.vector"
_VECTOR_ENV = "PD2JAVA_JAVA_VECTOR"
_vector: bool | None = None  # None: from the environment variable


def vector_enabled() -> bool:
    """Whether the JVMs pd2java starts get :data:`VECTOR_OPTION`: set by :func:`use_vector`, else
    by the environment variable ``PD2JAVA_JAVA_VECTOR`` (``1``/``true``/``on``; off by default,
    as in a JVM started without the flag)."""
    if _vector is not None:
        return _vector
    return os.environ.get(_VECTOR_ENV, "").strip().lower() in ("1", "true", "on", "yes")


def use_vector(on: bool | None) -> None:
    """Start later JVMs with (``True``) or without (``False``) the Vector API kernels, or follow
    the environment again (``None``). A running parity JVM of the other kind is shut down, so the
    next call starts one as asked."""
    global _vector
    before = vector_enabled()
    _vector = on
    if vector_enabled() != before:
        shutdown()


def java_options() -> list[str]:
    """The options every JVM pd2java starts gets, before the class path."""
    return ["-Xss8m", "-Djava.awt.headless=true", *([VECTOR_OPTION] if vector_enabled() else [])]


class JavaError(UserError):
    """The Java runtime refused a model or an input; ``code`` is its error code (or None)."""

    def __init__(self, message: str, *, code: str | None, java_class: str) -> None:
        # The runtime's messages usually start with their code already; do not repeat it.
        prefix = f"[{code}] " if code and not message.startswith(f"[{code}]") else ""
        super().__init__(f"Java runtime: {prefix}{message}")
        self.code = code
        self.java_class = java_class
        self.java_message = message


class JavaBridgeError(RuntimeError):
    """The JVM could not be started or died; the message holds the tail of its stderr."""


@dataclass(frozen=True)
class ModelInfo:
    """What the Java runtime reports about a loaded model."""

    name: str
    classes: tuple[str, ...] | None
    input_shape: tuple[int, ...]
    output_shapes: tuple[tuple[int, ...], ...]  # primary first
    output_kinds: tuple[str, ...]
    kernels: str  # Model.kernelInfo(): "vector: ...", "scalar: ..." or "reference: ..."

    @property
    def output_shape(self) -> tuple[int, ...]:
        """The primary output's per-sample shape."""
        return self.output_shapes[0]


class _Jvm:
    """The one JVM of this process, with its py4j connection and the gateway entry object."""

    def __init__(self) -> None:
        from py4j.java_gateway import GatewayParameters, JavaGateway, launch_gateway

        from pd2java.backends.java import build

        runtime_jar = Path(build.build_runtime())
        gateway_jar = Path(build.build_gateway())
        self.stderr: deque[str] = deque(maxlen=200)
        self.stdout: deque[str] = deque(maxlen=200)
        port, proc = launch_gateway(
            classpath=os.pathsep.join([str(runtime_jar), str(gateway_jar)]),
            javaopts=java_options(),
            die_on_exit=True,
            redirect_stdout=self.stdout,
            redirect_stderr=self.stderr,
            return_proc=True,
        )
        self.proc: subprocess.Popen[bytes] = proc
        self.gateway = JavaGateway(
            gateway_parameters=GatewayParameters(port=port, auto_convert=False, auto_close=True)
        )
        self.entry = self.gateway.jvm.org.pd2java.gateway.Gateway()
        self.gateway_class = self.gateway.jvm.org.pd2java.gateway.Gateway

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        # Close the Python side without a round trip (a "shutdown" command to a JVM that exits
        # while answering makes py4j log connection errors), then close the JVM's stdin: it was
        # started with --die-on-broken-pipe, so it exits by itself.
        with contextlib.suppress(Exception):
            self.gateway.close()
        with contextlib.suppress(Exception):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def stderr_tail(self, lines: int = 20) -> str:
        # The deque is filled with appendleft, newest first.
        return "".join(reversed(list(self.stderr)[:lines]))


_lock = threading.Lock()
_jvm: _Jvm | None = None


def _get_jvm() -> _Jvm:
    global _jvm
    with _lock:
        if _jvm is not None and not _jvm.alive():
            _jvm.close()  # it died (killed, crashed): drop its connections, start a fresh one
            _jvm = None
        if _jvm is None:
            try:
                _jvm = _Jvm()
            except Exception as exc:
                raise JavaBridgeError(f"could not start the Java parity gateway: {exc}") from exc
        return _jvm


def shutdown() -> None:
    """Stop the JVM if one is running (also done automatically at exit)."""
    global _jvm
    with _lock:
        if _jvm is not None:
            _jvm.close()
            _jvm = None


atexit.register(shutdown)


def _call(jvm: _Jvm, method: str, *args: Any, target: Any = None) -> Any:
    """Call a gateway method (of ``target``, default the entry object), turning Java exceptions
    into JavaError."""
    from py4j.protocol import Py4JError, Py4JJavaError, Py4JNetworkError

    try:
        return getattr(jvm.entry if target is None else target, method)(*args)
    except Py4JJavaError as exc:
        throwable = exc.java_exception
        code = jvm.gateway_class.errorCode(throwable)
        message = jvm.gateway_class.describe(throwable)
        raise JavaError(
            str(message),
            code=None if code is None else str(code),
            java_class=str(throwable.getClass().getName()),
        ) from None
    except (Py4JNetworkError, Py4JError) as exc:
        if not jvm.alive():
            raise JavaBridgeError(
                f"the JVM died during {method}(); its stderr ends with:\n{jvm.stderr_tail()}"
            ) from exc
        raise


def _manifest_arg(manifest_path: str | os.PathLike[str]) -> str:
    # Absolute, but not resolved or pre-checked: the runtime applies the format's path rules
    # (regular file, symlinks, the export folder) itself and says which one failed.
    return str(Path(manifest_path).absolute())


def model_info(manifest_path: str | os.PathLike[str], *, self_test: bool = True) -> ModelInfo:
    """Load the model in Java (cached) and report its name, classes and shapes."""
    jvm = _get_jvm()
    raw = json.loads(str(_call(jvm, "info", _manifest_arg(manifest_path), self_test)))
    classes = raw["classes"]
    return ModelInfo(
        name=raw["name"],
        classes=None if classes is None else tuple(classes),
        input_shape=tuple(raw["input_shape"]),
        output_shapes=tuple(tuple(o["shape"]) for o in raw["outputs"]),
        output_kinds=tuple(o["kind"] for o in raw["outputs"]),
        kernels=str(raw["kernels"]),
    )


def _check_input(x: Any, info: ModelInfo, manifest: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != len(info.input_shape) + 1 or tuple(arr.shape[1:]) != info.input_shape:
        raise UserError(
            f"{manifest}: input of shape {tuple(arr.shape)} does not match the model's "
            f"(N, {', '.join(map(str, info.input_shape))})"
        )
    if not np.issubdtype(arr.dtype, np.floating):
        raise UserError(f"{manifest}: input dtype {arr.dtype} is not floating point")
    return np.ascontiguousarray(arr, dtype="<f4")


def java_predict(
    manifest_path: str | os.PathLike[str], x: Any, *, self_test: bool = True
) -> np.ndarray:
    """Run a float32 batch (N, *input shape) through the Java runtime; returns its primary
    output (N, *output shape) float32 (``java_predict_all`` gives every output).

    The model is loaded once per JVM (cached by path and modification time). ``self_test=False``
    skips the runtime's load-time golden-vector check (``pd2java verify`` does, to report the
    numbers itself rather than stop at the first mismatch).
    """
    return java_predict_all(manifest_path, x, self_test=self_test)[0]


def java_predict_all(
    manifest_path: str | os.PathLike[str], x: Any, *, self_test: bool = True
) -> tuple[np.ndarray, ...]:
    """Every output of the model on a float32 batch (N, *input shape), primary first, each
    (N, *its shape) float32, computed by the Java runtime."""
    manifest = _manifest_arg(manifest_path)
    info = model_info(manifest, self_test=self_test)
    arr = _check_input(x, info, manifest)
    jvm = _get_jvm()
    sizes = [int(np.prod(shape)) for shape in info.output_shapes]
    parts: list[list[np.ndarray]] = [[] for _ in sizes]
    for start in range(0, arr.shape[0], _CHUNK):
        chunk = arr[start : start + _CHUNK]
        n = int(chunk.shape[0])
        raw = _call(jvm, "predict", manifest, chunk.tobytes(), n, self_test)
        flat = np.frombuffer(bytes(raw), dtype="<f4")
        at = 0
        for k, size in enumerate(sizes):
            parts[k].append(flat[at : at + n * size].reshape(n, size))
            at += n * size
    return tuple(
        (np.concatenate(p) if p else np.zeros((0, size), "<f4"))
        .astype(np.float32, copy=False)
        .reshape((arr.shape[0], *shape))
        for p, size, shape in zip(parts, sizes, info.output_shapes)
    )


def java_layers(
    manifest_path: str | os.PathLike[str], x: Any, *, self_test: bool = False
) -> dict[str, np.ndarray]:
    """Every node's output for one sample, by node name in execution order.

    ``x`` is one sample (the input shape) or a batch of one (1, *input shape). Each value is
    the node's
    per-sample output flattened to 1-D float32 (the Java runtime reports element counts only);
    reshape with the node's ``output_shape`` from the manifest when needed.
    """
    manifest = _manifest_arg(manifest_path)
    info = model_info(manifest, self_test=self_test)
    arr = np.asarray(x)
    if arr.ndim == len(info.input_shape):
        arr = arr[None]
    if arr.shape[0] != 1:
        raise UserError(f"{manifest}: java_layers takes one sample, got a batch of {arr.shape[0]}")
    arr = _check_input(arr, info, manifest)
    jvm = _get_jvm()
    packed = _call(jvm, "layerOutputs", manifest, arr.tobytes(), self_test)
    names = str(packed.names()).split("\n") if str(packed.names()) else []
    lengths = np.frombuffer(bytes(packed.lengths()), dtype="<i4")
    data = np.frombuffer(bytes(packed.data()), dtype="<f4")
    out: dict[str, np.ndarray] = {}
    offset = 0
    for name, length in zip(names, lengths):
        out[name] = data[offset : offset + int(length)].astype(np.float32)
        offset += int(length)
    return out


@dataclass(frozen=True)
class JavaBenchResult:
    """Timings and allocation measured inside the JVM by ``org.pd2java.gateway.Bench``.

    ``median_ms``/``p99_ms``/``mean_ms`` are ``Model.predict``'s (one image per call, single
    thread); the ``into_`` fields are the allocation-free ``predictInto(x, out, ws)``'s, over the
    same number of calls. ``*_bytes_per_call`` is what the calling thread allocated per call
    (``com.sun.management.ThreadMXBean``; -1 where the JVM cannot tell) and ``*_gc_count`` the
    garbage collections during that loop of ``iters`` calls.
    """

    median_ms: float
    p99_ms: float
    mean_ms: float
    iters: int
    warmup: int
    load_ms: float  # Model.load with the golden self-test (the default), warm JVM, median
    load_ms_no_self_test: float
    java_version: str
    # Throughput of predictBatch over a pool of 1 and of 2 threads, images per second.
    images_per_s_1_thread: float
    images_per_s_2_threads: float
    into_median_ms: float
    into_p99_ms: float
    into_mean_ms: float
    bytes_per_call: float
    into_bytes_per_call: float
    gc_count: int
    into_gc_count: int
    batch: int  # images in the throughput batch
    kernel_info: str  # Model.kernelInfo(): which kernel family ran
    weight_bytes: int  # Model.weightBytes()
    # Model.profile over node_iters calls: (node, kernel class, mean ms), in execution order.
    node_times: tuple[tuple[str, str, float], ...]
    gc_names: tuple[str, ...]
    vm: str
    java_command: tuple[str, ...]  # the JVM and its options, without the class path


def _java_command() -> list[str]:
    """``java`` (``$JAVA_HOME/bin/java`` when set), :func:`java_options` and the class path of the
    runtime and gateway jars (built and cached on first use): a command line to add a main class
    and its arguments to."""
    from pd2java.backends.java import build

    classpath = os.pathsep.join([str(build.build_runtime()), str(build.build_gateway())])
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else "java"
    return [java, *java_options(), "-cp", classpath]


def _bench_command(java: str | os.PathLike[str] | None, vector: bool | None) -> list[str]:
    """:func:`_java_command` with another ``java`` executable and/or with the Vector API option
    forced on or off (``None``: as :func:`java_options` says)."""
    cmd = _java_command()
    exe, options, classpath = cmd[0], cmd[1:-2], cmd[-2:]
    if java is not None:
        exe = str(java)
    if vector is not None:
        options = [o for o in options if o != VECTOR_OPTION] + ([VECTOR_OPTION] if vector else [])
    return [exe, *options, *classpath]


def java_heap_per_model(
    manifest_path: str | os.PathLike[str],
    *,
    copies: int = 200,
    timeout: float = 600,
    java: str | os.PathLike[str] | None = None,
    vector: bool | None = None,
) -> dict[str, Any]:
    """Resident heap of one loaded model, measured in a fresh JVM: ``copies`` loads (self-test
    off) kept alive, used heap after a full GC before and after, divided by ``copies``. Returns
    ``{"bytes_per_model", "copies", "model", "weight_bytes", "kernel_info", "java", ...}``.

    ``java`` is the ``java`` executable to run (default: ``$JAVA_HOME/bin/java`` or ``java``);
    ``vector`` starts it with (``True``) or without (``False``) :data:`VECTOR_OPTION` (default:
    :func:`vector_enabled`)."""
    cmd = [
        *_bench_command(java, vector),
        "org.pd2java.gateway.HeapProbe",
        _manifest_arg(manifest_path),
        str(copies),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise JavaBridgeError(f"heap probe failed ({proc.returncode}): {proc.stderr.strip()}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def java_bench(
    manifest_path: str | os.PathLike[str],
    x: Any,
    *,
    warmup: int = 200,
    iters: int = 1000,
    loads: int = 5,
    timeout: float = 600,
    batch: int | None = None,
    node_iters: int = 0,
    java: str | os.PathLike[str] | None = None,
    vector: bool | None = None,
) -> JavaBenchResult:
    """Time the model on one sample at a time in a fresh JVM (no py4j on the timed path).

    ``x`` (N, *input shape) is cycled through; the JVM runs ``warmup`` untimed calls of
    ``predict`` and of ``predictInto`` first so the JIT has compiled the kernels, then ``iters``
    timed calls of each. Load time is the median of ``loads`` ``Model.load`` calls after one
    untimed load. Throughput is ``predictBatch`` of ``batch`` images (default ``iters``) on 1 and 2
    threads; ``node_iters > 0`` adds every node's mean time over that many calls
    (``Model.profile``). ``java`` and ``vector`` choose the JVM as in :func:`java_heap_per_model`.
    """
    import tempfile

    manifest = _manifest_arg(manifest_path)
    arr = np.ascontiguousarray(np.asarray(x), dtype="<f4")
    if arr.ndim < 2 or arr.shape[0] == 0:
        raise UserError(f"java_bench: expected a non-empty (N, ...) batch, got {arr.shape}")
    base = _bench_command(java, vector)
    with tempfile.TemporaryDirectory(prefix="pd2java-bench-") as tmp:
        inputs = Path(tmp) / "inputs.f32"
        inputs.write_bytes(arr.tobytes())
        cmd = [
            *base,
            "org.pd2java.gateway.Bench",
            manifest,
            str(inputs),
            str(arr.shape[0]),
            str(warmup),
            str(iters),
            str(loads),
            "--node-iters",
            str(node_iters),
            *(["--batch", str(batch)] if batch is not None else []),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise JavaBridgeError(f"Java benchmark failed ({proc.returncode}): {proc.stderr.strip()}")
    raw = json.loads(proc.stdout.strip().splitlines()[-1])
    return JavaBenchResult(
        median_ms=raw["median_us"] / 1000.0,
        p99_ms=raw["p99_us"] / 1000.0,
        mean_ms=raw["mean_us"] / 1000.0,
        iters=int(raw["iters"]),
        warmup=int(raw["warmup"]),
        load_ms=float(raw["load_ms_selftest"]),
        load_ms_no_self_test=float(raw["load_ms_no_selftest"]),
        java_version=str(raw["java"]),
        images_per_s_1_thread=float(raw["images_per_s_1_thread"]),
        images_per_s_2_threads=float(raw["images_per_s_2_threads"]),
        into_median_ms=raw["into_median_us"] / 1000.0,
        into_p99_ms=raw["into_p99_us"] / 1000.0,
        into_mean_ms=raw["into_mean_us"] / 1000.0,
        bytes_per_call=float(raw["bytes_per_call"]),
        into_bytes_per_call=float(raw["into_bytes_per_call"]),
        gc_count=int(raw["gc_count"]),
        into_gc_count=int(raw["into_gc_count"]),
        batch=int(raw["batch"]),
        kernel_info=str(raw["kernel_info"]),
        weight_bytes=int(raw["weight_bytes"]),
        node_times=tuple((str(n["node"]), str(n["kernel"]), float(n["ms"])) for n in raw["nodes"]),
        gc_names=tuple(str(g) for g in raw["gc"]),
        vm=str(raw["vm"]),
        java_command=tuple(base[:-2]),
    )


@dataclass(frozen=True)
class JavaPrpd:
    """What the Java runtime's ``Prpd`` made of raw data: the (60, 120) float32 image, the pulse
    total and whether it holds PD activity (``Prpd.hasActivity``)."""

    image: np.ndarray
    pulses: float
    has_activity: bool


def _prpd(method: str, *args: Any) -> JavaPrpd:
    jvm = _get_jvm()
    prpds = jvm.gateway.jvm.org.pd2java.gateway.Prpds
    made = _call(jvm, method, *args, target=prpds)
    image = np.frombuffer(bytes(prpds.image(made)), dtype="<f4").astype(np.float32)
    return JavaPrpd(image.reshape(60, 120), float(made.pulses()), bool(made.hasActivity()))


def _le(values: Any, dtype: str) -> bytes:
    return np.ascontiguousarray(np.asarray(values).reshape(-1), dtype=dtype).tobytes()


def java_prpd_from_counts(counts: Any) -> JavaPrpd:
    """``Prpd.fromCounts`` of a (60, 120) count histogram: ``int[]`` for integer counts (which
    must fit 32 bits), ``double[]`` otherwise."""
    arr = np.asarray(counts)
    if arr.dtype.kind in "iub":
        if arr.size and (arr.min() < -(2**31) or arr.max() >= 2**31):
            raise UserError("java_prpd_from_counts: integer counts must fit 32 bits (Java int)")
        return _prpd("fromCounts", _le(arr, "<i4"))
    return _prpd("fromCountsDouble", _le(arr, "<f8"))


def java_prpd_from_pulses(phase_deg: Any, amplitude: Any, full_scale: float) -> JavaPrpd:
    """``Prpd.fromPulses`` (the twin of ``convention.pulses_to_counts``)."""
    return _prpd("fromPulses", _le(phase_deg, "<f8"), _le(amplitude, "<f8"), float(full_scale))


def java_prpd_from_prps(prps: Any, full_scale: float) -> JavaPrpd:
    """``Prpd.fromPrps`` of a (cycles, windows) PRPS matrix, sent as float32."""
    arr = np.asarray(prps)
    if arr.ndim != 2:
        raise UserError(f"java_prpd_from_prps: PRPS must be 2-D, got shape {arr.shape}")
    cycles, windows = (int(n) for n in arr.shape)
    return _prpd("fromPrps", _le(arr, "<f4"), cycles, windows, float(full_scale))
