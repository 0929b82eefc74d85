"""Pools (max_pool2d, avg_pool2d, global_avg_pool): torch lowerings, shape rules, NumPy kernels.

Only floor output sizes exist in v1: ``ceil_mode=True`` is refused at lowering. nn.AdaptiveAvgPool2d
is supported for output size 1 only (global average pool); x.mean((2, 3)) lowers to the same op.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np

from pd2java.ops.lowering import Lowered, Unsupported, as_pair
from pd2java.ops.registry import (
    Attrs,
    Shape,
    ShapeError,
    pair,
    register,
    want_rank,
    window_out,
)


def _window(
    kernel_size: object, stride: object, padding: object, what: str
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """Kernel, stride (PyTorch's default: the kernel) and padding of a pool as int pairs; padding
    beyond half the kernel is refused, as PyTorch itself does."""
    kernel = as_pair(kernel_size, "kernel_size")
    strides = (
        kernel if stride is None or stride == [] or stride == () else as_pair(stride, "stride")
    )
    pads = as_pair(padding, "padding")
    if pads[0] * 2 > kernel[0] or pads[1] * 2 > kernel[1]:
        raise Unsupported(f"{what} padding {pads} larger than half the kernel {kernel}")
    return kernel, strides, pads


def lower_max_pool2d_call(
    kernel_size: object,
    stride: object = None,
    padding: object = 0,
    dilation: object = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Lowered:
    """F.max_pool2d / nn.MaxPool2d arguments -> max_pool2d (stride defaults to the kernel)."""
    if ceil_mode:
        raise Unsupported("max pool with ceil_mode=True (only floor output sizes are supported)")
    if return_indices:
        raise Unsupported("max pool with return_indices=True")
    kernel, strides, pads = _window(kernel_size, stride, padding, "max pool")
    return Lowered(
        "max_pool2d",
        {
            "kernel_size": kernel,
            "stride": strides,
            "padding": pads,
            "dilation": as_pair(dilation, "dilation"),
        },
    )


def lower_max_pool2d_module(mod: object) -> Lowered:
    return lower_max_pool2d_call(
        mod.kernel_size, mod.stride, mod.padding, mod.dilation, mod.ceil_mode, mod.return_indices
    )


def lower_avg_pool2d_call(
    kernel_size: object,
    stride: object = None,
    padding: object = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: object = None,
) -> Lowered:
    """F.avg_pool2d / nn.AvgPool2d arguments -> avg_pool2d with explicit count_include_pad."""
    if ceil_mode:
        raise Unsupported("avg pool with ceil_mode=True (only floor output sizes are supported)")
    if divisor_override is not None:
        raise Unsupported(f"avg pool with divisor_override={divisor_override!r}")
    kernel, strides, pads = _window(kernel_size, stride, padding, "avg pool")
    return Lowered(
        "avg_pool2d",
        {
            "kernel_size": kernel,
            "stride": strides,
            "padding": pads,
            "count_include_pad": bool(count_include_pad),
        },
    )


def lower_avg_pool2d_module(mod: object) -> Lowered:
    return lower_avg_pool2d_call(
        mod.kernel_size,
        mod.stride,
        mod.padding,
        mod.ceil_mode,
        mod.count_include_pad,
        mod.divisor_override,
    )


def lower_adaptive_avg_pool2d_call(output_size: object) -> Lowered:
    """Adaptive average pool to 1x1 is a global average pool keeping (C, 1, 1)."""
    if output_size not in (1, (1, 1), [1, 1]):
        raise Unsupported(f"adaptive average pool to {output_size!r} (only output size 1)")
    return Lowered("global_avg_pool", {"keepdims": True})


def lower_adaptive_avg_pool2d_module(mod: object) -> Lowered:
    return lower_adaptive_avg_pool2d_call(mod.output_size)


def _max_infer(attrs: Attrs, shapes: list[Shape]) -> Shape:
    (shape,) = shapes
    want_rank(shape, 3, "max_pool2d")
    c, h, w = shape
    kh, kw = pair(attrs["kernel_size"], "kernel_size")
    sh, sw = pair(attrs["stride"], "stride")
    ph, pw = pair(attrs["padding"], "padding")
    dh, dw = pair(attrs["dilation"], "dilation")
    if 2 * ph > kh or 2 * pw > kw:
        raise ShapeError(f"padding {[ph, pw]} must be at most half the kernel {[kh, kw]}")
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
    if 2 * ph > kh or 2 * pw > kw:
        raise ShapeError(f"padding {[ph, pw]} must be at most half the kernel {[kh, kw]}")
    if not isinstance(attrs["count_include_pad"], bool):
        raise ShapeError("count_include_pad must be a bool")
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


def _gap_infer(attrs: Attrs, shapes: list[Shape]) -> Shape:
    (shape,) = shapes
    want_rank(shape, 3, "global_avg_pool")
    if not isinstance(attrs["keepdims"], bool):
        raise ShapeError("keepdims must be a bool")
    return (shape[0], 1, 1) if attrs["keepdims"] else (shape[0],)


@register("global_avg_pool", 1, infer=_gap_infer)
def global_avg_pool_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    """Mean over H and W."""
    mean = inputs[0].astype(np.float64).mean(axis=(2, 3), keepdims=bool(attrs["keepdims"]))
    return mean.astype(np.float32)
