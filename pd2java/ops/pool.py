"""Pools (max_pool2d, avg_pool2d, global_avg_pool, global_max_pool, adaptive_avg_pool2d,
adaptive_max_pool2d): torch lowerings, shape rules, NumPy kernels and ONNX mappings.

``max_pool2d@2`` and ``avg_pool2d@2`` add per-side padding (``pad_h`` [top, bottom], ``pad_w``
[left, right]) and PyTorch's ``ceil_mode``; lowerings and the ONNX importer write ``@1`` when the
pads are symmetric and ceil_mode is off, so those exports stay as they were. nn.AdaptiveAvgPool2d
and nn.AdaptiveMaxPool2d to output size 1 are the global pools (x.mean((2, 3)) and x.amax((2, 3))
lower to the same ops); to any other size they are the adaptive pools, with PyTorch's bins. ONNX
has no adaptive pool: the writer emits AveragePool / MaxPool when each input extent is a multiple
of the output extent (uniform bins) and refuses the other sizes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from pd2java.errors import ErrorCode, UserError
from pd2java.ops.frontend_registry import onnx_export, onnx_import, torch_function, torch_module
from pd2java.ops.lowering import (
    Call,
    Lowered,
    Pending,
    Unsupported,
    Value,
    as_pair,
    as_single,
)
from pd2java.ops.onnx_conventions import PartialMean, Runtime, int_list
from pd2java.ops.registry import (
    Attrs,
    Shape,
    ShapeError,
    check_pool_padding,
    pair,
    register,
    single,
    want_rank,
    window_out,
)

if TYPE_CHECKING:
    from onnx import NodeProto

    from pd2java.backends.onnx import Emitter
    from pd2java.frontends.onnx import Importer
    from pd2java.ir import Node


def _window(
    kernel_size: object,
    stride: object,
    padding: object,
    as_: Callable[[object, str], Any] = as_pair,
) -> tuple[Any, Any, Any]:
    """Kernel, stride (PyTorch's default: the kernel) and padding of a pool as int pairs (or, with
    ``as_`` = ``as_single``, ints for a 1-D pool). The padding limit is the shape rule's
    (``check_pool_padding``, ``ceil_window_out``), checked when the node is made."""
    kernel = as_(kernel_size, "kernel_size")
    strides = kernel if stride is None or stride == [] or stride == () else as_(stride, "stride")
    return kernel, strides, as_(padding, "padding")


def lower_max_pool_call(
    dims: int,
    kernel_size: object,
    stride: object = None,
    padding: object = 0,
    dilation: object = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Lowered:
    """F.max_pool1d / F.max_pool2d (``dims`` 1 or 2) and the modules' arguments -> max_pool1d /
    max_pool2d (stride defaults to the kernel); max_pool2d@1 unless ceil_mode is on."""
    if return_indices:
        raise Unsupported("max pool with return_indices=True")
    if dims == 1:
        kernel, stride_, pad = _window(kernel_size, stride, padding, as_single)
        attrs = {"kernel_size": kernel, "stride": stride_, "padding": (pad, pad)}
        attrs |= {"dilation": as_single(dilation, "dilation"), "ceil_mode": bool(ceil_mode)}
        return Lowered("max_pool1d", attrs)
    kernel, strides, pads = _window(kernel_size, stride, padding)
    attrs = pool_attrs(kernel, strides, (pads[0], pads[0], pads[1], pads[1]), bool(ceil_mode))
    attrs["dilation"] = as_pair(dilation, "dilation")
    return Lowered("max_pool2d", attrs, version=2 if "ceil_mode" in attrs else 1)


def pool_attrs(
    kernel: tuple[int, int],
    strides: tuple[int, int],
    pads: tuple[int, int, int, int],
    ceil_mode: bool,
) -> dict[str, Any]:
    """A pool's window attributes from pads (top, bottom, left, right): @1's ``padding`` when the
    pads are symmetric and ceil_mode is off, else @2's ``pad_h``, ``pad_w`` and ``ceil_mode``
    (the caller picks the version from the presence of ``ceil_mode``)."""
    top, bottom, left, right = pads
    if top == bottom and left == right and not ceil_mode:
        return {"kernel_size": kernel, "stride": strides, "padding": (top, left)}
    return {
        "kernel_size": kernel,
        "stride": strides,
        "pad_h": (top, bottom),
        "pad_w": (left, right),
        "ceil_mode": ceil_mode,
    }


def _max_pool_module_args(mod: Any) -> tuple[object, ...]:
    """An nn.MaxPool1d / nn.MaxPool2d's settings, in the functional form's order."""
    return (
        mod.kernel_size,
        mod.stride,
        mod.padding,
        mod.dilation,
        mod.ceil_mode,
        mod.return_indices,
    )


def _max_pool_call_args(call: Call) -> dict[str, Any]:
    """F.max_pool1d / F.max_pool2d arguments bound, with PyTorch's defaults."""
    names = ["kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"]
    return call.bind(
        names,
        {"stride": None, "padding": 0, "dilation": 1, "ceil_mode": False, "return_indices": False},
    )


@torch_module("torch.nn.MaxPool2d", ops=("max_pool2d",))
def _max_pool2d_module(mod: object, x: Value) -> Lowered:
    return lower_max_pool_call(2, *_max_pool_module_args(mod))


# F.max_pool2d is a boolean_dispatch wrapper: its two branches are matched too, unlisted.
@torch_function(
    "torch.nn.functional.max_pool2d",
    ops=("max_pool2d",),
    aliases=("torch.nn.functional._max_pool2d", "torch.max_pool2d"),
)
def _max_pool2d_call(call: Call) -> Lowered:
    return lower_max_pool_call(2, **_max_pool_call_args(call))


@torch_module("torch.nn.MaxPool1d", ops=("max_pool1d",))
def _max_pool1d_module(mod: object, x: Value) -> Lowered:
    return lower_max_pool_call(1, *_max_pool_module_args(mod))


# F.max_pool1d is a boolean_dispatch wrapper too.
@torch_function(
    "torch.nn.functional.max_pool1d",
    ops=("max_pool1d",),
    aliases=("torch.nn.functional._max_pool1d", "torch.max_pool1d"),
)
def _max_pool1d_call(call: Call) -> Lowered:
    return lower_max_pool_call(1, **_max_pool_call_args(call))


def lower_avg_pool_call(
    dims: int,
    kernel_size: object,
    stride: object = None,
    padding: object = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: object = None,
) -> Lowered:
    """F.avg_pool1d / F.avg_pool2d (``dims`` 1 or 2) and the modules' arguments -> avg_pool1d /
    avg_pool2d with explicit count_include_pad; avg_pool2d@1 unless ceil_mode is on."""
    if divisor_override is not None:
        raise Unsupported(f"avg pool with divisor_override={divisor_override!r}")
    if dims == 1:
        kernel, stride_, pad = _window(kernel_size, stride, padding, as_single)
        attrs = {"kernel_size": kernel, "stride": stride_, "padding": (pad, pad)}
        attrs |= {"ceil_mode": bool(ceil_mode), "count_include_pad": bool(count_include_pad)}
        return Lowered("avg_pool1d", attrs)
    kernel, strides, pads = _window(kernel_size, stride, padding)
    attrs = pool_attrs(kernel, strides, (pads[0], pads[0], pads[1], pads[1]), bool(ceil_mode))
    attrs["count_include_pad"] = bool(count_include_pad)
    return Lowered("avg_pool2d", attrs, version=2 if "ceil_mode" in attrs else 1)


_AVG_NOTE = "`count_include_pad` written explicitly"


@torch_module("torch.nn.AvgPool2d", ops=("avg_pool2d",), note=_AVG_NOTE)
def _avg_pool2d_module(mod: object, x: Value) -> Lowered:
    return lower_avg_pool_call(
        2,
        mod.kernel_size,
        mod.stride,
        mod.padding,
        mod.ceil_mode,
        mod.count_include_pad,
        mod.divisor_override,
    )


# F.avg_pool1d's arguments after the input, with PyTorch's defaults (F.avg_pool2d adds
# divisor_override).
_AVG_POOL_ARGS = ["kernel_size", "stride", "padding", "ceil_mode", "count_include_pad"]
_AVG_POOL_DEFAULTS = {"stride": None, "padding": 0, "ceil_mode": False, "count_include_pad": True}


@torch_function("torch.nn.functional.avg_pool2d", ops=("avg_pool2d",), note=_AVG_NOTE)
def _avg_pool2d_call(call: Call) -> Lowered:
    b = call.bind(
        [*_AVG_POOL_ARGS, "divisor_override"], {**_AVG_POOL_DEFAULTS, "divisor_override": None}
    )
    return lower_avg_pool_call(2, **b)


@torch_module("torch.nn.AvgPool1d", ops=("avg_pool1d",), note=_AVG_NOTE)
def _avg_pool1d_module(mod: Any, x: Value) -> Lowered:
    return lower_avg_pool_call(
        1, mod.kernel_size, mod.stride, mod.padding, mod.ceil_mode, mod.count_include_pad
    )


@torch_function("torch.nn.functional.avg_pool1d", ops=("avg_pool1d",), note=_AVG_NOTE)
def _avg_pool1d_call(call: Call) -> Lowered:
    return lower_avg_pool_call(1, **call.bind(_AVG_POOL_ARGS, _AVG_POOL_DEFAULTS))


def lower_adaptive_pool1d_call(
    op: str, output_size: object, x: Value, return_indices: bool = False
) -> Lowered:
    """Adaptive 1-D pool to an output size m dividing the input length L: its bins are the
    windows of a plain pool (``op``, max_pool1d or avg_pool1d) with kernel = stride = L / m.
    Other sizes have unequal bins, which no 1-D op computes."""
    if return_indices:
        raise Unsupported("adaptive max pool with return_indices=True")
    if x.rank != 3:
        raise Unsupported(f"adaptive 1-D pool of a rank-{x.rank} tensor (only (N, C, L))")
    length = x.shape[1]
    size = length if output_size is None else as_single(output_size, "output_size")
    if size < 1 or length % size:
        raise Unsupported(
            f"adaptive 1-D pool of length {length} to {size}: only an output size dividing the "
            "length is supported (equal windows, a plain pool)"
        )
    k = length // size
    attrs: dict[str, Any] = {"kernel_size": k, "stride": k, "padding": (0, 0)}
    if op == "max_pool1d":
        return Lowered(op, {**attrs, "dilation": 1, "ceil_mode": False})
    return Lowered(op, {**attrs, "ceil_mode": False, "count_include_pad": True})


_ADAPTIVE1D_NOTE = (
    "an output size m dividing the length L (1 included): a pool with kernel = stride = L / m"
)


@torch_module("torch.nn.AdaptiveAvgPool1d", ops=("avg_pool1d",), note=_ADAPTIVE1D_NOTE)
def _adaptive_avg_pool1d_module(mod: Any, x: Value) -> Lowered:
    return lower_adaptive_pool1d_call("avg_pool1d", mod.output_size, x)


@torch_function(
    "torch.nn.functional.adaptive_avg_pool1d",
    ops=("avg_pool1d",),
    shown={"torch.nn.functional.adaptive_avg_pool1d": "F.adaptive_avg_pool1d(x, output_size)"},
    note=_ADAPTIVE1D_NOTE,
)
def _adaptive_avg_pool1d_call(call: Call) -> Lowered:
    b = call.bind(["output_size"], {})
    return lower_adaptive_pool1d_call("avg_pool1d", b["output_size"], call.tensor(0))


@torch_module("torch.nn.AdaptiveMaxPool1d", ops=("max_pool1d",), note=_ADAPTIVE1D_NOTE)
def _adaptive_max_pool1d_module(mod: Any, x: Value) -> Lowered:
    return lower_adaptive_pool1d_call("max_pool1d", mod.output_size, x, mod.return_indices)


# F.adaptive_max_pool1d is a boolean_dispatch wrapper: its no-indices branch is matched too.
@torch_function(
    "torch.nn.functional.adaptive_max_pool1d",
    ops=("max_pool1d",),
    shown={"torch.nn.functional.adaptive_max_pool1d": "F.adaptive_max_pool1d(x, output_size)"},
    note=_ADAPTIVE1D_NOTE,
    aliases=("torch.nn.functional._adaptive_max_pool1d",),
)
def _adaptive_max_pool1d_call(call: Call) -> Lowered:
    b = call.bind(["output_size", "return_indices"], {"return_indices": False})
    return lower_adaptive_pool1d_call(
        "max_pool1d", b["output_size"], call.tensor(0), b["return_indices"]
    )


def adaptive_output_size(output_size: object, x: Value) -> tuple[int, int]:
    """PyTorch's adaptive ``output_size`` (an int, or a pair whose None entries keep the input's
    extent) resolved against the (C, H, W) input at capture time."""
    if x.rank != 4:
        raise Unsupported(f"adaptive pool of a rank-{x.rank} tensor (only (N, C, H, W))")
    if output_size is None or isinstance(output_size, int):
        output_size = (output_size, output_size)
    if not isinstance(output_size, (tuple, list)) or len(output_size) != 2:
        raise Unsupported(f"adaptive pool output_size={output_size!r} is not an int or a pair")
    sizes = []
    for size, extent in zip(output_size, x.shape[1:]):
        if size is None:
            size = extent
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise Unsupported(f"adaptive pool output_size={output_size!r} (each must be >= 1)")
        sizes.append(int(size))
    return sizes[0], sizes[1]


def lower_adaptive_avg_pool2d_call(output_size: object, x: Value) -> Lowered:
    """Adaptive average pool to 1x1 is a global average pool keeping (C, 1, 1); to any other size
    an adaptive_avg_pool2d."""
    size = adaptive_output_size(output_size, x)
    if size == (1, 1):
        return Lowered("global_avg_pool", {"keepdims": True})
    return Lowered("adaptive_avg_pool2d", {"output_size": size})


_GAP_NOTE = "keepdim either way for the means"
_ADAPTIVE_NOTE = (
    "output size 1 is the global pool, any other the adaptive pool (None entries resolved "
    "from the input shape)"
)


@torch_module(
    "torch.nn.AdaptiveAvgPool2d",
    ops=("global_avg_pool", "adaptive_avg_pool2d"),
    shown="AdaptiveAvgPool2d",
    note=_ADAPTIVE_NOTE,
)
def _adaptive_avg_pool2d_module(mod: object, x: Value) -> Lowered:
    return lower_adaptive_avg_pool2d_call(mod.output_size, x)


@torch_function(
    "torch.nn.functional.adaptive_avg_pool2d",
    ops=("global_avg_pool", "adaptive_avg_pool2d"),
    shown={"torch.nn.functional.adaptive_avg_pool2d": "F.adaptive_avg_pool2d(x, output_size)"},
    note=_ADAPTIVE_NOTE,
)
def _adaptive_avg_pool2d_call(call: Call) -> Lowered:
    b = call.bind(["output_size"], {})
    return lower_adaptive_avg_pool2d_call(b["output_size"], call.tensor(0))


def lower_adaptive_max_pool2d_call(
    output_size: object, x: Value, return_indices: bool = False
) -> Lowered:
    """Adaptive max pool to 1x1 is a global max pool keeping (C, 1, 1); to any other size an
    adaptive_max_pool2d."""
    if return_indices:
        raise Unsupported("adaptive max pool with return_indices=True")
    size = adaptive_output_size(output_size, x)
    if size == (1, 1):
        return Lowered("global_max_pool", {"keepdims": True})
    return Lowered("adaptive_max_pool2d", {"output_size": size})


@torch_module(
    "torch.nn.AdaptiveMaxPool2d",
    ops=("global_max_pool", "adaptive_max_pool2d"),
    shown="AdaptiveMaxPool2d",
    note=_ADAPTIVE_NOTE,
)
def _adaptive_max_pool2d_module(mod: object, x: Value) -> Lowered:
    return lower_adaptive_max_pool2d_call(mod.output_size, x, mod.return_indices)


# F.adaptive_max_pool2d is a boolean_dispatch wrapper: its no-indices branch is matched too.
@torch_function(
    "torch.nn.functional.adaptive_max_pool2d",
    ops=("global_max_pool", "adaptive_max_pool2d"),
    shown={"torch.nn.functional.adaptive_max_pool2d": "F.adaptive_max_pool2d(x, output_size)"},
    note=_ADAPTIVE_NOTE,
    aliases=("torch.nn.functional._adaptive_max_pool2d",),
)
def _adaptive_max_pool2d_call(call: Call) -> Lowered:
    b = call.bind(["output_size", "return_indices"], {"return_indices": False})
    return lower_adaptive_max_pool2d_call(b["output_size"], call.tensor(0), b["return_indices"])


@torch_function(
    "torch.amax",
    methods=("amax",),
    ops=("global_max_pool",),
    shown={"torch.amax": "torch.amax(x, (2, 3))", "amax": "x.amax((2, 3))"},
    note="keepdim either way",
)
def _amax_call(call: Call) -> Lowered:
    x = call.tensor(0)
    b = call.bind(["dim", "keepdim"], {"dim": (), "keepdim": False})
    dims = b["dim"]
    dims = tuple(dims) if isinstance(dims, (list, tuple)) else (dims,)
    if x.rank != 4 or not all(isinstance(d, int) and -4 <= d < 4 for d in dims):
        raise Unsupported(
            f"amax over {b['dim']!r} of a rank-{x.rank} tensor (only over H and W of (N, C, H, W))"
        )
    if {d % 4 for d in dims} != {2, 3} or len(dims) != 2:
        raise Unsupported(f"amax over dims {list(dims)} (only (2, 3))")
    return Lowered("global_max_pool", {"keepdims": bool(b["keepdim"])})


class HalfMean(Pending):
    """``x.mean(3)`` (over W) awaiting ``.mean(2)`` (over H) to become a global average pool."""

    misuse = "x.mean(3) is only supported when followed directly by .mean(2) (global average pool)"

    def __init__(self, tensor: Value, keepdim: bool) -> None:
        self.tensor = tensor
        self.keepdim = keepdim


@torch_function(
    "torch.mean",
    methods=("mean",),
    ops=("global_avg_pool",),
    shown={"torch.mean": "torch.mean(x, (2, 3))", "mean": "x.mean((2, 3)), x.mean(3).mean(2)"},
    note=_GAP_NOTE,
)
def _mean_call(call: Call) -> Lowered | HalfMean:
    src = call.args[0] if call.args else None
    b = call.bind(["dim", "keepdim"], {"dim": None, "keepdim": False})
    dims = b["dim"]
    dims = tuple(dims) if isinstance(dims, (list, tuple)) else (dims,)
    keep = bool(b["keepdim"])
    if isinstance(src, HalfMean):
        # second half of x.mean(3).mean(2): over H of a (N, C, H[, 1]) value
        rank = 4 if src.keepdim else 3
        norm_dims = {d + rank if isinstance(d, int) and d < 0 else d for d in dims}
        if norm_dims != {2} or keep != src.keepdim:
            raise Unsupported("x.mean(3) must be followed by .mean(2) with the same keepdim")
        return Lowered("global_avg_pool", {"keepdims": keep}, inputs=(src.tensor,))
    x = call.tensor(0)
    if x.rank != 4 or None in dims:
        raise Unsupported(
            f"mean over {b['dim']!r} of a rank-{x.rank} tensor (only over H and W of (N, C, H, W))"
        )
    norm_dims = {d + x.rank if d < 0 else d for d in dims}
    if norm_dims == {2, 3}:
        return Lowered("global_avg_pool", {"keepdims": keep})
    if norm_dims == {3}:
        return HalfMean(x, keep)
    raise Unsupported(f"mean over dims {sorted(norm_dims)} (only (2, 3), or 3 then 2)")


def _max_infer(attrs: Attrs, shapes: list[Shape]) -> Shape:
    (shape,) = shapes
    want_rank(shape, 3, "max_pool2d")
    c, h, w = shape
    kh, kw = pair(attrs["kernel_size"], "kernel_size")
    sh, sw = pair(attrs["stride"], "stride")
    ph, pw = pair(attrs["padding"], "padding")
    dh, dw = pair(attrs["dilation"], "dilation")
    check_pool_padding((kh, kw), (ph, pw))
    return (c, window_out(h, kh, sh, ph, dh, "height"), window_out(w, kw, sw, pw, dw, "width"))


def _taps(
    xp: np.ndarray,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    out_hw: tuple[int, int],
) -> Iterator[np.ndarray]:
    """Yield, for each kernel tap (i, j), the strided (N, C, Ho, Wo) slice of the padded input
    it sees. Looping over the few taps is much faster than reducing a 6-D window view."""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, stride, dilation, out_hw
    for i in range(kh):
        for j in range(kw):
            yield xp[
                :,
                :,
                i * dh : i * dh + sh * (ho - 1) + 1 : sh,
                j * dw : j * dw + sw * (wo - 1) + 1 : sw,
            ]


@register("max_pool2d", 1, infer=_max_infer)
def max_pool2d_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    """Max over windows; padding cells are -inf so they never win."""
    ph, pw = pair(attrs["padding"], "padding")
    x = inputs[0]
    _, ho, wo = _max_infer(attrs, [tuple(x.shape[1:])])
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    taps = _taps(
        xp,
        pair(attrs["kernel_size"], "kernel_size"),
        pair(attrs["stride"], "stride"),
        pair(attrs["dilation"], "dilation"),
        (ho, wo),
    )
    out = next(taps).copy()
    for tap in taps:
        np.maximum(out, tap, out=out)
    return out.astype(np.float32)


def _avg_infer(attrs: Attrs, shapes: list[Shape]) -> Shape:
    (shape,) = shapes
    want_rank(shape, 3, "avg_pool2d")
    c, h, w = shape
    kh, kw = pair(attrs["kernel_size"], "kernel_size")
    sh, sw = pair(attrs["stride"], "stride")
    ph, pw = pair(attrs["padding"], "padding")
    check_pool_padding((kh, kw), (ph, pw))
    if not isinstance(attrs["count_include_pad"], bool):
        raise ShapeError("count_include_pad must be a bool", ErrorCode.INVALID_ATTRIBUTE)
    return (c, window_out(h, kh, sh, ph, 1, "height"), window_out(w, kw, sw, pw, 1, "width"))


@register("avg_pool2d", 1, infer=_avg_infer)
def avg_pool2d_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    """Mean over windows: divide by kh*kw (count_include_pad) or by the real cells counted."""
    kernel = pair(attrs["kernel_size"], "kernel_size")
    stride = pair(attrs["stride"], "stride")
    ph, pw = pair(attrs["padding"], "padding")
    x = inputs[0].astype(np.float64)
    _, ho, wo = _avg_infer(attrs, [tuple(x.shape[1:])])
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    sums = np.zeros((x.shape[0], x.shape[1], ho, wo))
    for tap in _taps(xp, kernel, stride, (1, 1), (ho, wo)):
        sums += tap
    if attrs["count_include_pad"]:
        return (sums / (kernel[0] * kernel[1])).astype(np.float32)
    ones = np.pad(np.ones((1, 1) + x.shape[2:]), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    counts = np.zeros((1, 1, ho, wo))
    for tap in _taps(ones, kernel, stride, (1, 1), (ho, wo)):
        counts += tap
    return (sums / counts).astype(np.float32)


def ceil_window_out(
    size: int, k: int, s: int, begin: int, end: int, d: int, ceil_mode: bool, axis: str
) -> int:
    """PyTorch's pool output extent with per-side padding: floor (or ceil) of
    (size + begin + end - d*(k-1) - 1) / s + 1; with ceil_mode a last window that would start
    beyond the input and its begin padding is dropped."""
    if k < 1 or s < 1 or d < 1:
        raise ShapeError(
            f"{axis}: kernel, stride, dilation must be >= 1", ErrorCode.INVALID_ATTRIBUTE
        )
    if begin < 0 or end < 0 or 2 * begin > k or 2 * end > k:
        raise ShapeError(
            f"{axis}: padding [{begin}, {end}] must be >= 0 and at most half the kernel {k} "
            "(kernel // 2, as in PyTorch)",
            ErrorCode.INVALID_ATTRIBUTE,
        )
    span = d * (k - 1) + 1
    num = size + begin + end - span
    # floor division rounds down for a negative num too: with ceil_mode a window longer than
    # the padded input still gives one output (it starts inside), as in PyTorch
    n = (num + (s - 1 if ceil_mode else 0)) // s + 1
    if n < 1:
        raise ShapeError(
            f"{axis}: window of span {span} does not fit input length {size} with padding "
            f"[{begin}, {end}]"
        )
    if ceil_mode and (n - 1) * s >= size + begin:
        n -= 1
    return n


def _geometry2(attrs: Attrs, shape: Shape, op: str, dilated: bool) -> dict[str, Any]:
    """The checked window of a max_pool2d@2 / avg_pool2d@2 node on a (C, H, W) input."""
    want_rank(shape, 3, op)
    kernel = pair(attrs["kernel_size"], "kernel_size")
    stride = pair(attrs["stride"], "stride")
    pad_h = pair(attrs["pad_h"], "pad_h")
    pad_w = pair(attrs["pad_w"], "pad_w")
    dilation = pair(attrs["dilation"], "dilation") if dilated else (1, 1)
    if not isinstance(attrs["ceil_mode"], bool):
        raise ShapeError("ceil_mode must be a bool", ErrorCode.INVALID_ATTRIBUTE)
    out = tuple(
        ceil_window_out(
            shape[1 + i], kernel[i], stride[i], *pads, dilation[i], attrs["ceil_mode"], axis
        )
        for i, (pads, axis) in enumerate(((pad_h, "height"), (pad_w, "width")))
    )
    return {
        "kernel": kernel,
        "stride": stride,
        "pads": (pad_h, pad_w),
        "dilation": dilation,
        "out": out,
    }


def _padded2(x: np.ndarray, geo: dict[str, Any], value: float) -> np.ndarray:
    """x padded by the node's pads, plus ``value`` beyond the end padding as far as the last
    (ceil_mode) window reaches."""
    widths = [(0, 0), (0, 0)]
    for i in range(2):
        begin, end = geo["pads"][i]
        span = geo["dilation"][i] * (geo["kernel"][i] - 1) + 1
        reach = (geo["out"][i] - 1) * geo["stride"][i] + span
        widths.append((begin, max(end, reach - begin - x.shape[2 + i])))
    return np.pad(x, widths, constant_values=value)


def _max2_infer(attrs: Attrs, shapes: list[Shape]) -> Shape:
    (shape,) = shapes
    geo = _geometry2(attrs, shape, "max_pool2d", dilated=True)
    return (shape[0], *geo["out"])


@register("max_pool2d", 2, infer=_max2_infer)
def max_pool2d_v2_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    """Max over windows; padding and cells beyond it are -inf so they never win."""
    x = inputs[0]
    geo = _geometry2(attrs, tuple(x.shape[1:]), "max_pool2d", dilated=True)
    taps = _taps(
        _padded2(x, geo, -np.inf), geo["kernel"], geo["stride"], geo["dilation"], geo["out"]
    )
    out = next(taps).copy()
    for tap in taps:
        np.maximum(out, tap, out=out)
    return out.astype(np.float32)


def _avg2_infer(attrs: Attrs, shapes: list[Shape]) -> Shape:
    (shape,) = shapes
    geo = _geometry2(attrs, shape, "avg_pool2d", dilated=False)
    if not isinstance(attrs["count_include_pad"], bool):
        raise ShapeError("count_include_pad must be a bool", ErrorCode.INVALID_ATTRIBUTE)
    return (shape[0], *geo["out"])


@register("avg_pool2d", 2, infer=_avg2_infer)
def avg_pool2d_v2_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    """Mean over windows, as PyTorch divides: by the window clipped to the padded input
    (count_include_pad) or by the real cells."""
    x = inputs[0].astype(np.float64)
    geo = _geometry2(attrs, tuple(x.shape[1:]), "avg_pool2d", dilated=False)
    _avg2_infer(attrs, [tuple(x.shape[1:])])  # count_include_pad checked
    sums = np.zeros(x.shape[:2] + geo["out"])
    for tap in _taps(_padded2(x, geo, 0.0), geo["kernel"], geo["stride"], (1, 1), geo["out"]):
        sums += tap
    # 1 on the cells the divisor counts, 0 elsewhere (and beyond the padded input)
    (top, bottom), (left, right) = geo["pads"]
    h, w = x.shape[2:]
    counted = np.zeros_like(_padded2(x[:1, :1], geo, 0.0))
    if attrs["count_include_pad"]:
        counted[:, :, : top + h + bottom, : left + w + right] = 1.0
    else:
        counted[:, :, top : top + h, left : left + w] = 1.0
    counts = np.zeros((1, 1) + geo["out"])
    for tap in _taps(counted, geo["kernel"], geo["stride"], (1, 1), geo["out"]):
        counts += tap
    return (sums / counts).astype(np.float32)


def pool1d_as_2d(attrs: Attrs, shape: Shape, op: str) -> tuple[dict[str, Any], int]:
    """A max_pool1d / avg_pool1d node on a (C, L) input, checked: the attributes of the
    max_pool2d@2 / avg_pool2d@2 it is on the (C, 1, L) view (a (1, k) window, no padding along
    H), and its output length. The value rules are the 2-D pools' (``ceil_window_out``)."""
    want_rank(shape, 2, op)
    k = single(attrs["kernel_size"], "kernel_size")
    s = single(attrs["stride"], "stride")
    pads = pair(attrs["padding"], "padding")
    d = single(attrs["dilation"], "dilation") if op == "max_pool1d" else 1
    if not isinstance(attrs["ceil_mode"], bool):
        raise ShapeError("ceil_mode must be a bool", ErrorCode.INVALID_ATTRIBUTE)
    out = ceil_window_out(shape[1], k, s, *pads, d, attrs["ceil_mode"], "length")
    view = {"kernel_size": (1, k), "stride": (1, s), "pad_h": (0, 0), "pad_w": pads}
    if op == "max_pool1d":
        return {**view, "dilation": (1, d), "ceil_mode": attrs["ceil_mode"]}, out
    if not isinstance(attrs["count_include_pad"], bool):
        raise ShapeError("count_include_pad must be a bool", ErrorCode.INVALID_ATTRIBUTE)
    view |= {"ceil_mode": attrs["ceil_mode"], "count_include_pad": attrs["count_include_pad"]}
    return view, out


def _pool1d_infer(op: str, attrs: Attrs, shapes: list[Shape]) -> Shape:
    (shape,) = shapes
    return (shape[0], pool1d_as_2d(attrs, shape, op)[1])


@register("max_pool1d", 1, infer=lambda attrs, shapes: _pool1d_infer("max_pool1d", attrs, shapes))
def max_pool1d_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    """max_pool2d@2 of the (N, C, 1, L) view."""
    view, _ = pool1d_as_2d(attrs, tuple(inputs[0].shape[1:]), "max_pool1d")
    return max_pool2d_v2_kernel(view, [inputs[0][:, :, None, :]], params)[:, :, 0, :]


@register("avg_pool1d", 1, infer=lambda attrs, shapes: _pool1d_infer("avg_pool1d", attrs, shapes))
def avg_pool1d_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    """avg_pool2d@2 of the (N, C, 1, L) view."""
    view, _ = pool1d_as_2d(attrs, tuple(inputs[0].shape[1:]), "avg_pool1d")
    return avg_pool2d_v2_kernel(view, [inputs[0][:, :, None, :]], params)[:, :, 0, :]


def _global_infer(attrs: Attrs, shapes: list[Shape], op: str) -> Shape:
    (shape,) = shapes
    want_rank(shape, 3, op)
    if not isinstance(attrs["keepdims"], bool):
        raise ShapeError("keepdims must be a bool", ErrorCode.INVALID_ATTRIBUTE)
    return (shape[0], 1, 1) if attrs["keepdims"] else (shape[0],)


@register(
    "global_avg_pool",
    1,
    infer=lambda attrs, shapes: _global_infer(attrs, shapes, "global_avg_pool"),
)
def global_avg_pool_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    """Mean over H and W."""
    mean = inputs[0].astype(np.float64).mean(axis=(2, 3), keepdims=bool(attrs["keepdims"]))
    return mean.astype(np.float32)


@register(
    "global_max_pool",
    1,
    infer=lambda attrs, shapes: _global_infer(attrs, shapes, "global_max_pool"),
)
def global_max_pool_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    """Max over H and W."""
    return inputs[0].max(axis=(2, 3), keepdims=bool(attrs["keepdims"])).astype(np.float32)


def _adaptive_infer(attrs: Attrs, shapes: list[Shape], op: str) -> Shape:
    (shape,) = shapes
    want_rank(shape, 3, op)
    oh, ow = pair(attrs["output_size"], "output_size")
    if oh < 1 or ow < 1:
        raise ShapeError(
            f"output_size [{oh}, {ow}] must have entries >= 1", ErrorCode.INVALID_ATTRIBUTE
        )
    return (shape[0], oh, ow)


def adaptive_bins(n: int, m: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive bins along an axis of input extent n and output extent m: output i
    covers [floor(i * n / m), ceil((i + 1) * n / m)), never empty."""
    return [(i * n // m, -(-(i + 1) * n // m)) for i in range(m)]


def _adaptive_pool(attrs: Attrs, x: np.ndarray, reduce: Any) -> np.ndarray:
    oh, ow = pair(attrs["output_size"], "output_size")
    h, w = x.shape[2:]
    out = np.empty(x.shape[:2] + (oh, ow), dtype=np.float64)
    for i, (h0, h1) in enumerate(adaptive_bins(h, oh)):
        for j, (w0, w1) in enumerate(adaptive_bins(w, ow)):
            out[:, :, i, j] = reduce(x[:, :, h0:h1, w0:w1], axis=(2, 3))
    return out.astype(np.float32)


@register(
    "adaptive_avg_pool2d",
    1,
    infer=lambda attrs, shapes: _adaptive_infer(attrs, shapes, "adaptive_avg_pool2d"),
)
def adaptive_avg_pool2d_kernel(
    attrs: Attrs, inputs: list[np.ndarray], params: Mapping
) -> np.ndarray:
    """Mean over each adaptive bin (summed in float64)."""
    return _adaptive_pool(attrs, inputs[0].astype(np.float64), np.mean)


@register(
    "adaptive_max_pool2d",
    1,
    infer=lambda attrs, shapes: _adaptive_infer(attrs, shapes, "adaptive_max_pool2d"),
)
def adaptive_max_pool2d_kernel(
    attrs: Attrs, inputs: list[np.ndarray], params: Mapping
) -> np.ndarray:
    """Max over each adaptive bin."""
    return _adaptive_pool(attrs, inputs[0], np.max)


# --- ONNX -----------------------------------------------------------------------------------


def _pool_window(
    im: Importer, node: NodeProto, attrs: dict[str, Any], dilated: bool
) -> tuple[Runtime, dict[str, Any], int, int]:
    """A MaxPool / AveragePool node's input, its window attributes, the IR op's version and its
    spatial axes: 2 on a (C, H, W) input (``pool_attrs``; @2 for asymmetric pads or ceil_mode),
    1 on a (C, L) input (max_pool1d / avg_pool1d, per-side ``padding``)."""
    x = im.runtime(node.input[0])
    dims = len(x.shape) - 1
    if dims not in (1, 2):
        raise im.fail(
            f"its input {node.input[0]!r} has per-sample shape {list(x.shape)}; pd2java pools "
            "a (C, L) or (C, H, W) value"
        )
    if "kernel_shape" not in attrs:
        raise im.fail("kernel_shape is missing")
    kernel = int_list(attrs["kernel_shape"])
    if len(kernel) != dims:
        raise im.fail(f"kernel {kernel} is not {dims}-D like its input {list(x.shape)}")
    strides = int_list(attrs.get("strides", [1] * dims))
    dilations = int_list(attrs.get("dilations", [1] * dims))
    ceil_mode = bool(int(attrs.get("ceil_mode", 0)))
    auto_pad = attrs.get("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else str(auto_pad)
    if len(strides) != dims or len(dilations) != dims or min(strides + dilations) < 1:
        raise im.fail(f"strides {strides} and dilations {dilations} must be {dims} ints >= 1 each")
    if not dilated and dilations != [1] * dims:
        raise im.fail(f"dilations {dilations} are not supported for average pooling")
    if auto_pad == "NOTSET":
        pads = int_list(attrs.get("pads", [0] * 2 * dims))
        if len(pads) != 2 * dims or min(pads) < 0:
            sides = "top, left, bottom, right" if dims == 2 else "left, right"
            raise im.fail(f"pads {pads} must be {2 * dims} ints >= 0 ({sides})")
    elif auto_pad == "VALID":
        pads = [0] * 2 * dims
    elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        if ceil_mode:
            raise im.fail(f"auto_pad={auto_pad} with ceil_mode=1 is not supported")
        # ONNX: output = ceil(in / stride); the odd padding cell goes to the end (UPPER) or
        # the beginning (LOWER)
        pads = [0] * 2 * dims
        for i, size in enumerate(x.shape[1:]):
            out = -(-size // strides[i])
            total = max(0, (out - 1) * strides[i] + dilations[i] * (kernel[i] - 1) + 1 - size)
            small, large = total // 2, total - total // 2
            pads[i], pads[i + dims] = (small, large) if auto_pad == "SAME_UPPER" else (large, small)
    else:
        raise im.fail(f"auto_pad={auto_pad!r} is not a known value")
    if dims == 1:
        attrs_ir: dict[str, Any] = {
            "kernel_size": kernel[0],
            "stride": strides[0],
            "padding": (pads[0], pads[1]),
        }
        if dilated:
            attrs_ir["dilation"] = dilations[0]
        return x, {**attrs_ir, "ceil_mode": ceil_mode}, 1, dims
    attrs_ir = pool_attrs(
        (kernel[0], kernel[1]),
        (strides[0], strides[1]),
        (pads[0], pads[2], pads[1], pads[3]),
        ceil_mode,
    )
    if dilated:
        attrs_ir["dilation"] = (dilations[0], dilations[1])
    return x, attrs_ir, 2 if "ceil_mode" in attrs_ir else 1, dims


@onnx_import(
    "MaxPool",
    ops=("max_pool2d", "max_pool1d"),
    form="2-D on a (C, H, W) input, 1-D on a (C, L) input; pads at most kernel // 2 per side, "
    "`ceil_mode` 0 or 1, `auto_pad` NOTSET, VALID, SAME_UPPER or SAME_LOWER (pads computed "
    "from the input shape; not with `ceil_mode` 1), the `Indices` output unused; max_pool2d@1 "
    "for symmetric pads and `ceil_mode` 0, else @2. A `ceil_mode` 1 node whose last window "
    "would start in the end padding (dropped by PyTorch and onnxruntime, kept by ONNX opset "
    "< 19 shape inference) is refused by the shape cross-check",
)
def _max_pool_from_onnx(im: Importer, node: NodeProto) -> None:
    attrs = im.attrs(node)
    im.only_first_output(node, "pd2java's max pools do not return indices")
    x, attrs_ir, version, dims = _pool_window(im, node, attrs, dilated=True)
    im.emit(f"max_pool{dims}d", [x], node.output[0], attrs=attrs_ir, version=version)


@onnx_import(
    "AveragePool",
    ops=("avg_pool2d", "avg_pool1d"),
    form="2-D on a (C, H, W) input, 1-D on a (C, L) input; pads at most kernel // 2 per side, "
    "no dilation, `ceil_mode` 0 or 1, `auto_pad` NOTSET, VALID, SAME_UPPER or SAME_LOWER (pads "
    "computed from the input shape; not with `ceil_mode` 1), `count_include_pad` carried "
    "(ONNX's default 0, for SAME pads too, as onnxruntime computes); avg_pool2d@1 for "
    "symmetric pads and `ceil_mode` 0, else @2; `ceil_mode` 1 as for MaxPool",
)
def _avg_pool_from_onnx(im: Importer, node: NodeProto) -> None:
    attrs = im.attrs(node)
    x, attrs_ir, version, dims = _pool_window(im, node, attrs, dilated=False)
    attrs_ir["count_include_pad"] = bool(int(attrs.get("count_include_pad", 0)))
    im.emit(f"avg_pool{dims}d", [x], node.output[0], attrs=attrs_ir, version=version)


@onnx_import(
    "GlobalAveragePool",
    ops=("global_avg_pool", "avg_pool1d"),
    form="global_avg_pool with `keepdims` true; on a (C, L) input (torch's AdaptiveAvgPool1d(1)) "
    "avg_pool1d with kernel = stride = L",
)
def _global_avg_pool_from_onnx(im: Importer, node: NodeProto) -> None:
    _global_pool_from_onnx(im, node, "global_avg_pool")


def _global_pool_from_onnx(im: Importer, node: NodeProto, op: str) -> None:
    x = im.runtime(node.input[0])
    if len(x.shape) != 2:
        x = im.image(node.input[0])
        im.emit(op, [x], node.output[0], attrs={"keepdims": True})
        return
    # (C, L) -> (C, 1): the one window of a 1-D pool over the whole length
    whole = {"kernel_size": x.shape[1], "stride": x.shape[1], "padding": (0, 0)}
    if op == "global_max_pool":
        im.emit(
            "max_pool1d", [x], node.output[0], attrs={**whole, "dilation": 1, "ceil_mode": False}
        )
        return
    attrs = {**whole, "ceil_mode": False, "count_include_pad": True}
    im.emit("avg_pool1d", [x], node.output[0], attrs=attrs)


@onnx_import(
    "GlobalMaxPool",
    ops=("global_max_pool", "max_pool1d"),
    form="global_max_pool with `keepdims` true; on a (C, L) input (torch's AdaptiveMaxPool1d(1)) "
    "max_pool1d with kernel = stride = L",
)
def _global_max_pool_from_onnx(im: Importer, node: NodeProto) -> None:
    _global_pool_from_onnx(im, node, "global_max_pool")


def _reduce_axes(im: Importer, node: NodeProto, attrs: dict) -> list[int] | None:
    """A Reduce* node's axes: a constant input from opset 18, an attribute before; None if
    absent."""
    if im.opset >= 18:
        axes_input = node.input[1] if len(node.input) > 1 and node.input[1] else None
        return (
            None if axes_input is None else int_list(im.const(axes_input, "axes").array.reshape(-1))
        )
    return int_list(attrs["axes"]) if "axes" in attrs else None


@onnx_import(
    "ReduceMax",
    ops=("global_max_pool",),
    form="axes {2, 3} (negative axes too), as an attribute (opset < 18) or a constant input "
    "(opset >= 18), `keepdims` 0 or 1",
)
def _reduce_max_from_onnx(im: Importer, node: NodeProto) -> None:
    attrs = im.attrs(node)
    keepdims = bool(int(attrs.get("keepdims", 1)))
    axes = _reduce_axes(im, node, attrs)
    if not axes or not all(-4 <= a < 4 for a in axes) or sorted(a % 4 for a in axes) != [2, 3]:
        raise im.fail(
            f"ReduceMax over axes {axes} is not supported; pd2java supports a max over H and W "
            "(axes [2, 3]) of an (N, C, H, W) value"
        )
    x = im.image(node.input[0])
    im.emit("global_max_pool", [x], node.output[0], attrs={"keepdims": keepdims})


@onnx_import(
    "ReduceMean",
    ops=("global_avg_pool",),
    form="axes {2, 3} (negative axes too), as an attribute (opset < 18) or a constant input "
    "(opset >= 18), `keepdims` 0 or 1; also two chained single-axis means with the same "
    "`keepdims` (`x.mean(3).mean(2)`)",
)
def _reduce_mean_from_onnx(im: Importer, node: NodeProto) -> None:
    attrs = im.attrs(node)
    keepdims = bool(int(attrs.get("keepdims", 1)))
    axes = _reduce_axes(im, node, attrs)
    if im.opset >= 18 and axes is None and int(attrs.get("noop_with_empty_axes", 0)):
        raise im.fail(
            "ReduceMean with no axes and noop_with_empty_axes=1 is an identity; remove it"
        )
    if not axes:
        raise im.fail(
            "ReduceMean over every axis (no axes given) would average over the batch; "
            "pd2java supports a mean over H and W (axes [2, 3])"
        )
    value = im.get(node.input[0])
    if isinstance(value, PartialMean):
        if not im.consumers.get(node.input[0], 0) == 1:
            raise im.fail(
                "a ReduceMean over H or W alone is used twice; pd2java supports a "
                "mean over H and W together"
            )
        source, done, rank = value.source, value.axes, 4 if value.keepdims else 4 - len(value.axes)
        if value.keepdims != keepdims:
            raise im.fail(
                "chained ReduceMeans mix keepdims=0 and keepdims=1; pd2java supports "
                "a mean over H and W giving (C) or (C, 1, 1)"
            )
        first = value.node_name
    else:
        source = im.image(node.input[0])
        done, rank, first = frozenset(), 4, node.name
    # Map this node's axes (of a rank-`rank` tensor) back to axes of the original (N, C, H, W).
    remaining = [a for a in range(4) if a not in done] if rank < 4 else list(range(4))
    original: set[int] = set()
    for axis in axes:
        if not -rank <= axis < rank:
            raise im.fail(f"axis {axis} is out of range for a rank-{rank} tensor")
        original.add(remaining[axis % rank])
    total = frozenset(done | original)
    if not total <= {2, 3} or original & done:
        raise im.fail(
            f"ReduceMean over axes {sorted(total)} of (N, C, H, W) is not supported; "
            "pd2java supports a mean over H and W (axes [2, 3]) only"
        )
    if total != {2, 3}:
        im.env[node.output[0]] = PartialMean(source, total, keepdims, first)
        return
    im.emit(
        "global_avg_pool",
        [source],
        node.output[0],
        attrs={"keepdims": keepdims},
        node_name=first,
    )


@onnx_export(
    "max_pool2d",
    1,
    doc="`MaxPool` (`kernel_shape`, `strides`, `pads`, `dilations`, `ceil_mode` = 0)",
)
def _max_pool_to_onnx(e: Emitter, node: Node) -> None:
    _pool_to_onnx(e, node, "MaxPool", dilations=e.pair(node, "dilation"))


def _pool_to_onnx(e: Emitter, node: Node, op_type: str, **extra: object) -> None:
    """A 2-D pool with symmetric pads and floor output size, plus the op's own attributes."""
    ph, pw = e.pair(node, "padding")
    kernel, stride = e.pair(node, "kernel_size"), e.pair(node, "stride")
    _emit_window(e, node, op_type, kernel, stride, [ph, pw, ph, pw], False, **extra)


def _emit_window(
    e: Emitter,
    node: Node,
    op_type: str,
    kernel: list[int],
    stride: list[int],
    pads: list[int],
    ceil: bool,
    **extra: object,
) -> None:
    """An ONNX MaxPool / AveragePool of ``node`` with its window written out."""
    e.add(
        op_type,
        node.inputs,
        node.outputs,
        node.name,
        kernel_shape=kernel,
        strides=stride,
        pads=pads,
        ceil_mode=int(ceil),
        **extra,
    )


@onnx_export(
    "max_pool2d",
    2,
    doc="`MaxPool` (`kernel_shape`, `strides`, `pads` [top, left, bottom, right], `dilations`, "
    "`ceil_mode` 1 only where it gives more outputs than floor on this input, else 0: the same "
    "windows)",
)
def _max_pool_v2_to_onnx(e: Emitter, node: Node) -> None:
    _pool_v2_to_onnx(e, node, "MaxPool", dilations=e.pair(node, "dilation"))


def _ceil_adds_window(size: int, k: int, s: int, begin: int, end: int, d: int) -> bool:
    """Whether ceil_mode gives more outputs than floor along an axis (floor may give none)."""
    n = ceil_window_out(size, k, s, begin, end, d, True, "")
    try:
        return n != ceil_window_out(size, k, s, begin, end, d, False, "")
    except ShapeError:
        return True


def _pool_v2_to_onnx(e: Emitter, node: Node, op_type: str, **extra: object) -> None:
    """A 2-D pool with per-side pads and ceil_mode, plus the op's own attributes."""
    top, bottom = e.pair(node, "pad_h")
    left, right = e.pair(node, "pad_w")
    _, h, w = e.graph.value_shape(node.inputs[0])
    _ceil_pool_to_onnx(
        e,
        node,
        op_type,
        (h, w),
        e.pair(node, "kernel_size"),
        e.pair(node, "stride"),
        ([top, left], [bottom, right]),
        extra.get("dilations", [1, 1]),  # type: ignore[arg-type]
        **extra,
    )


def _ceil_pool_to_onnx(
    e: Emitter,
    node: Node,
    op_type: str,
    sizes: tuple[int, ...],
    kernel: list[int],
    stride: list[int],
    pads: tuple[list[int], list[int]],
    dilation: list[int],
    **extra: object,
) -> None:
    """A pool with per-side ``pads`` (begins, ends) and the node's ceil_mode on an input of
    spatial ``sizes``, plus the op's own attributes.

    ``ceil_mode`` is written 1 only where ceil gives more outputs than floor on this input; where
    it gives as many (also where PyTorch drops a last window starting in the end padding) the
    windows are the same and 0 is written: ONNX opset 17's shape inference does not drop that
    window, so it would disagree with the output shape."""
    begins, ends = pads
    ceil = bool(node.attrs["ceil_mode"]) and any(
        _ceil_adds_window(*axis) for axis in zip(sizes, kernel, stride, begins, ends, dilation)
    )
    _emit_window(e, node, op_type, kernel, stride, [*begins, *ends], ceil, **extra)


def _pool1d_to_onnx(e: Emitter, node: Node, op_type: str, **extra: object) -> None:
    """A max_pool1d / avg_pool1d on the (N, C, L) tensor, plus the op's own attributes."""
    left, right = e.pair(node, "padding")
    _, length = e.graph.value_shape(node.inputs[0])
    d = int(node.attrs.get("dilation", 1))
    _ceil_pool_to_onnx(
        e,
        node,
        op_type,
        (length,),
        [int(node.attrs["kernel_size"])],
        [int(node.attrs["stride"])],
        ([left], [right]),
        [d],
        **extra,
    )


@onnx_export(
    "max_pool1d",
    1,
    doc="`MaxPool` on the (N, C, L) tensor (`kernel_shape` `[k]`, `strides`, `pads` "
    "[left, right], `dilations`, `ceil_mode` as for max_pool2d@2)",
)
def _max_pool1d_to_onnx(e: Emitter, node: Node) -> None:
    _pool1d_to_onnx(e, node, "MaxPool", dilations=[int(node.attrs["dilation"])])


@onnx_export(
    "avg_pool1d",
    1,
    doc="`AveragePool` on the (N, C, L) tensor (`kernel_shape` `[k]`, `strides`, `pads` "
    "[left, right], `count_include_pad`, `ceil_mode` as for max_pool2d@2)",
)
def _avg_pool1d_to_onnx(e: Emitter, node: Node) -> None:
    _pool1d_to_onnx(
        e, node, "AveragePool", count_include_pad=int(bool(node.attrs["count_include_pad"]))
    )


@onnx_export(
    "avg_pool2d",
    2,
    doc="`AveragePool` (`kernel_shape`, `strides`, `pads` [top, left, bottom, right], "
    "`count_include_pad`, `ceil_mode` 1 only where it gives more outputs than floor on this "
    "input, else 0: the same windows)",
)
def _avg_pool_v2_to_onnx(e: Emitter, node: Node) -> None:
    _pool_v2_to_onnx(
        e, node, "AveragePool", count_include_pad=int(bool(node.attrs["count_include_pad"]))
    )


@onnx_export(
    "avg_pool2d",
    1,
    doc="`AveragePool` (`kernel_shape`, `strides`, `pads`, `count_include_pad`, `ceil_mode` = 0)",
)
def _avg_pool_to_onnx(e: Emitter, node: Node) -> None:
    _pool_to_onnx(
        e, node, "AveragePool", count_include_pad=int(bool(node.attrs["count_include_pad"]))
    )


@onnx_export(
    "global_avg_pool",
    1,
    doc="`GlobalAveragePool`; with `keepdims` false followed by `Flatten(axis=1)` named "
    "`<node>.flatten`, through the value `<output>.pooled`",
)
def _global_avg_pool_to_onnx(e: Emitter, node: Node) -> None:
    _global_pool_to_onnx(e, node, "GlobalAveragePool")


def _global_pool_to_onnx(e: Emitter, node: Node, op_type: str) -> None:
    """A global pool; with keepdims false followed by ``Flatten(axis=1)``."""
    if node.attrs["keepdims"]:
        e.add(op_type, node.inputs, node.outputs, node.name)
        return
    # The ONNX global pools keep (N, C, 1, 1); the IR's keepdims=False value is (N, C).
    pooled = e.fresh(f"{node.outputs[0]}.pooled")
    channels = e.graph.value_shape(node.inputs[0])[0]
    e.value_info(pooled, (channels, 1, 1))
    e.add(op_type, node.inputs, [pooled], node.name)
    e.add("Flatten", [pooled], node.outputs, e.fresh(f"{node.name}.flatten"), axis=1)


@onnx_export(
    "global_max_pool",
    1,
    doc="`GlobalMaxPool`; with `keepdims` false followed by `Flatten(axis=1)` named "
    "`<node>.flatten`, through the value `<output>.pooled`",
)
def _global_max_pool_to_onnx(e: Emitter, node: Node) -> None:
    _global_pool_to_onnx(e, node, "GlobalMaxPool")


def _adaptive_to_onnx(e: Emitter, node: Node, op_type: str, **extra: object) -> None:
    """Uniform bins (each input extent a multiple of the output extent) as a plain pool with
    kernel = stride = input // output; any other size has no ONNX form and is refused."""
    _, h, w = e.graph.value_shape(node.inputs[0])
    oh, ow = e.pair(node, "output_size")
    if h % oh or w % ow:
        raise UserError(
            f"node {node.name!r} ({node.key}): output size [{oh}, {ow}] of a {h}x{w} input has "
            "no ONNX form (ONNX has no adaptive pool; only input extents that are multiples of "
            "the output extents map onto a plain pool); export without ONNX (onnx=False, "
            "or --no-onnx)"
        )
    kernel = [h // oh, w // ow]
    _emit_window(e, node, op_type, kernel, kernel, [0, 0, 0, 0], False, **extra)


@onnx_export(
    "adaptive_avg_pool2d",
    1,
    doc="`AveragePool` with `kernel_shape` = `strides` = input extent // output extent, no pads, "
    "when each input extent is a multiple of the output extent; any other size has no ONNX form "
    "and the export is refused naming the node",
)
def _adaptive_avg_pool_to_onnx(e: Emitter, node: Node) -> None:
    _adaptive_to_onnx(e, node, "AveragePool", count_include_pad=0)


@onnx_export(
    "adaptive_max_pool2d",
    1,
    doc="`MaxPool` with `kernel_shape` = `strides` = input extent // output extent, no pads, "
    "when each input extent is a multiple of the output extent; any other size has no ONNX form "
    "and the export is refused naming the node",
)
def _adaptive_max_pool_to_onnx(e: Emitter, node: Node) -> None:
    _adaptive_to_onnx(e, node, "MaxPool")
