"""Upsampling ops (nearest and bilinear resize, transposed convolution): torch lowerings, shape
rules, NumPy kernels and ONNX mappings.

Both resize ops carry their output size, never a scale factor: PyTorch's index rules are computed
from (input size, output size) in float32 exactly as its CPU kernels do, so the NumPy reference,
the Java runtime and PyTorch pick the same source pixels. A user's ``scale_factor`` makes PyTorch
use ``1 / scale_factor`` instead of ``input / output`` in that rule; the lowering writes the
output size only when both give the same result (always for integer factors) and refuses
otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from pd2java.errors import ErrorCode, UserError
from pd2java.ops.conv import (
    conv_groups,
    onnx_conv_params,
    onnx_conv_weight,
    onnx_weight_bias_inputs,
)
from pd2java.ops.frontend_registry import onnx_export, onnx_import, torch_function, torch_module
from pd2java.ops.lowering import Call, Lowered, Unsupported, Value, as_pair
from pd2java.ops.onnx_conventions import BATCH, Const, int_list
from pd2java.ops.registry import Attrs, Shape, ShapeError, pair, register, want_rank

if TYPE_CHECKING:
    from onnx import NodeProto

    from pd2java.backends.onnx import Emitter
    from pd2java.frontends.onnx import Importer
    from pd2java.ir import Node


# --- index rules (float32, as PyTorch's CPU kernels compute them) ------------------------------


def nearest_index(in_size: int, out_size: int, inv_scale: float | None = None) -> np.ndarray:
    """Source row of each output row for PyTorch's ``'nearest'``: ``out == in`` copies,
    ``out == 2 * in`` halves, otherwise ``min(floor(float32(dst) * s), in - 1)`` where ``s`` is
    ``float32(in) / float32(out)`` (or ``float32(inv_scale)``, PyTorch's ``1 / scale_factor``)."""
    dst = np.arange(out_size, dtype=np.int64)
    if out_size == in_size:
        return dst
    if out_size == 2 * in_size:
        return dst >> 1
    scale = (
        np.float32(in_size) / np.float32(out_size) if inv_scale is None else np.float32(inv_scale)
    )
    src = np.floor(dst.astype(np.float32) * scale).astype(np.int64)
    return np.minimum(src, in_size - 1)


def onnx_nearest_index(in_size: int, out_size: int, scale: float | None = None) -> np.ndarray:
    """Source row of each output row for ONNX ``Resize`` (nearest, asymmetric, floor):
    ``floor(float32(dst) / scale)`` with ``scale = float32(out) / float32(in)`` when sizes are
    given, clamped to the input."""
    s = np.float32(out_size) / np.float32(in_size) if scale is None else np.float32(scale)
    dst = np.arange(out_size, dtype=np.float32)
    src = np.floor(dst / s).astype(np.int64)
    return np.clip(src, 0, in_size - 1)


def linear_taps(
    in_size: int, out_size: int, align_corners: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each output row: the two source rows and the weight of the second (``lambda``), as
    PyTorch's bilinear computes them in float32. align_corners: ``src = dst * (in-1)/(out-1)``
    (0 for one output row); otherwise ``src = max(in/out * (dst + 0.5) - 0.5, 0)``."""
    dst = np.arange(out_size, dtype=np.int64)
    if out_size == in_size:
        return dst, dst, np.zeros(out_size, dtype=np.float32)
    if align_corners:
        scale = (
            np.float32(in_size - 1) / np.float32(out_size - 1) if out_size > 1 else np.float32(0)
        )
        src = scale * dst.astype(np.float32)
    else:
        scale = np.float32(in_size) / np.float32(out_size)
        src = scale * (dst.astype(np.float32) + np.float32(0.5)) - np.float32(0.5)
        src = np.maximum(src, np.float32(0))
    i0 = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    lam = np.clip(src - i0.astype(np.float32), np.float32(0), np.float32(1)).astype(np.float32)
    i1 = np.where(i0 < in_size - 1, i0 + 1, i0)
    return i0, i1, lam


# --- shape rules and NumPy kernels ------------------------------------------------------------


def _output_size(attrs: Attrs) -> tuple[int, int]:
    oh, ow = pair(attrs["output_size"], "output_size")
    if oh < 1 or ow < 1:
        raise ShapeError(
            f"output_size {[oh, ow]} must be >= 1 on both axes", ErrorCode.INVALID_ATTRIBUTE
        )
    return oh, ow


def _nearest_infer(attrs: Attrs, shapes: list[Shape]) -> Shape:
    (shape,) = shapes
    want_rank(shape, 3, "upsample_nearest2d")
    oh, ow = _output_size(attrs)
    return (shape[0], oh, ow)


@register("upsample_nearest2d", 1, infer=_nearest_infer)
def upsample_nearest2d_kernel(
    attrs: Attrs, inputs: list[np.ndarray], params: Mapping
) -> np.ndarray:
    """Gather rows then columns by PyTorch's nearest index rule."""
    x = inputs[0]
    oh, ow = _output_size(attrs)
    rows = nearest_index(x.shape[2], oh)
    cols = nearest_index(x.shape[3], ow)
    return x[:, :, rows][:, :, :, cols].astype(np.float32)


def _bilinear_infer(attrs: Attrs, shapes: list[Shape]) -> Shape:
    (shape,) = shapes
    want_rank(shape, 3, "upsample_bilinear2d")
    oh, ow = _output_size(attrs)
    if not isinstance(attrs["align_corners"], bool):
        raise ShapeError("align_corners must be a bool", ErrorCode.INVALID_ATTRIBUTE)
    return (shape[0], oh, ow)


@register("upsample_bilinear2d", 1, infer=_bilinear_infer)
def upsample_bilinear2d_kernel(
    attrs: Attrs, inputs: list[np.ndarray], params: Mapping
) -> np.ndarray:
    """Interpolate along W, then along H, with PyTorch's source indices and weights."""
    x = inputs[0].astype(np.float64)
    oh, ow = _output_size(attrs)
    ac = bool(attrs["align_corners"])
    h0, h1, lh = linear_taps(x.shape[2], oh, ac)
    w0, w1, lw = linear_taps(x.shape[3], ow, ac)
    lw64 = lw.astype(np.float64)
    lh64 = lh.astype(np.float64)[:, None]
    rows = x[:, :, :, w0] * (1.0 - lw64) + x[:, :, :, w1] * lw64
    return (rows[:, :, h0] * (1.0 - lh64) + rows[:, :, h1] * lh64).astype(np.float32)


def conv_transpose_param_shapes(attrs: Attrs) -> dict[str, Shape]:
    kh, kw, cin, cout, groups = conv_groups(attrs)
    if kh < 1 or kw < 1:
        raise ShapeError(f"kernel_size {[kh, kw]} must be >= 1", ErrorCode.INVALID_ATTRIBUTE)
    return {"weight": (cin, cout // groups, kh, kw), "bias": (cout,)}


def conv_transpose_out(size: int, k: int, s: int, p: int, op: int, d: int, axis: str) -> int:
    """PyTorch's output length ``(in - 1) * s - 2p + d * (k - 1) + output_padding + 1``."""
    n = (size - 1) * s - 2 * p + d * (k - 1) + op + 1
    if n < 1:
        raise ShapeError(
            f"{axis}: output length {n} of the transposed convolution is not positive "
            f"(input {size}, kernel {k}, stride {s}, padding {p}, dilation {d})"
        )
    return n


def _conv_transpose_geometry(attrs: Attrs) -> tuple[tuple[int, int], ...]:
    conv_transpose_param_shapes(attrs)
    k = pair(attrs["kernel_size"], "kernel_size")
    s = pair(attrs["stride"], "stride")
    p = pair(attrs["padding"], "padding")
    op = pair(attrs["output_padding"], "output_padding")
    d = pair(attrs["dilation"], "dilation")
    for i in range(2):
        if s[i] < 1 or d[i] < 1 or p[i] < 0 or op[i] < 0:
            raise ShapeError(
                f"stride {list(s)} and dilation {list(d)} must be >= 1, padding {list(p)} and "
                f"output_padding {list(op)} >= 0",
                ErrorCode.INVALID_ATTRIBUTE,
            )
        if op[i] >= max(s[i], d[i]):
            raise ShapeError(
                f"output_padding {list(op)} must be smaller than either stride {list(s)} or "
                f"dilation {list(d)} (as in PyTorch)",
                ErrorCode.INVALID_ATTRIBUTE,
            )
    return k, s, p, op, d


def _conv_transpose_infer(attrs: Attrs, shapes: list[Shape]) -> Shape:
    (shape,) = shapes
    want_rank(shape, 3, "conv_transpose2d")
    c, h, w = shape
    k, s, p, op, d = _conv_transpose_geometry(attrs)
    if c != attrs["in_channels"]:
        raise ShapeError(f"input has {c} channels but in_channels={attrs['in_channels']}")
    return (
        int(attrs["out_channels"]),
        conv_transpose_out(h, k[0], s[0], p[0], op[0], d[0], "height"),
        conv_transpose_out(w, k[1], s[1], p[1], op[1], d[1], "width"),
    )


@register(
    "conv_transpose2d", 1, infer=_conv_transpose_infer, param_shapes=conv_transpose_param_shapes
)
def conv_transpose2d_kernel(
    attrs: Attrs, inputs: list[np.ndarray], params: Mapping[str, np.ndarray | None]
) -> np.ndarray:
    """Scatter: input pixel (y, x) adds ``x * w[tap]`` at output (y*s - p + i*d, x*s - p + j*d),
    accumulated in float64 on an uncropped canvas that is then cut to the output size."""
    x = inputs[0].astype(np.float64)
    n, cin, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), _, (dh, dw) = _conv_transpose_geometry(attrs)
    cout, ho, wo = _conv_transpose_infer(attrs, [(cin, h, w)])
    groups = int(attrs["groups"])
    cg, og = cin // groups, cout // groups
    wt = params["weight"].astype(np.float64).reshape(groups, cg, og, kh, kw)
    xg = x.reshape(n, groups, cg, h, w)
    full_h = max((h - 1) * sh + dh * (kh - 1) + 1, ph + ho)
    full_w = max((w - 1) * sw + dw * (kw - 1) + 1, pw + wo)
    canvas = np.zeros((n, groups, og, full_h, full_w))
    for i in range(kh):
        for j in range(kw):
            contrib = np.einsum("ngchw,gco->ngohw", xg, wt[:, :, :, i, j])
            canvas[
                :,
                :,
                :,
                i * dh : i * dh + sh * (h - 1) + 1 : sh,
                j * dw : j * dw + sw * (w - 1) + 1 : sw,
            ] += contrib
    out = canvas.reshape(n, cout, full_h, full_w)[:, :, ph : ph + ho, pw : pw + wo]
    if params.get("bias") is not None:
        out = out + params["bias"].astype(np.float64).reshape(1, cout, 1, 1)
    return out.astype(np.float32)


# --- torch ------------------------------------------------------------------------------------


def _scale_pair(scale_factor: object) -> tuple[float, float]:
    if isinstance(scale_factor, (int, float)) and not isinstance(scale_factor, bool):
        return float(scale_factor), float(scale_factor)
    if (
        isinstance(scale_factor, (tuple, list))
        and len(scale_factor) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in scale_factor)
    ):
        return float(scale_factor[0]), float(scale_factor[1])
    raise Unsupported(f"scale_factor={scale_factor!r} is not a number or a pair of numbers")


def lower_interpolate(
    x: Value,
    size: object,
    scale_factor: object,
    mode: str,
    align_corners: object,
    recompute_scale_factor: object = None,
    antialias: bool = False,
) -> Lowered:
    """F.interpolate / nn.Upsample arguments -> upsample_nearest2d or upsample_bilinear2d with
    an explicit output size."""
    if x.rank != 4:
        raise Unsupported(f"interpolation of a rank-{x.rank} tensor (only (N, C, H, W))")
    if mode not in ("nearest", "bilinear"):
        raise Unsupported(f"interpolation mode {mode!r} (only 'nearest' and 'bilinear')")
    if antialias:
        raise Unsupported("interpolation with antialias=True")
    if mode == "nearest" and align_corners is not None:
        raise Unsupported("align_corners is only valid for mode 'bilinear'")
    ac = bool(align_corners) if mode == "bilinear" and align_corners is not None else False
    _, h, w = x.shape
    if (size is None) == (scale_factor is None):
        raise Unsupported("exactly one of size and scale_factor must be given")
    if size is not None:
        out = as_pair(size, "size")
        inv: tuple[float | None, float | None] = (None, None)
    else:
        sf = _scale_pair(scale_factor)
        out = (math.floor(h * sf[0]), math.floor(w * sf[1]))
        # PyTorch then uses 1 / scale_factor in the index rule unless it recomputes the scale.
        inv = (None, None) if recompute_scale_factor else (1.0 / sf[0], 1.0 / sf[1])
    if out[0] < 1 or out[1] < 1:
        raise Unsupported(f"interpolation to an empty output size {list(out)}")
    for axis, n_in, n_out, inv_scale in (
        ("height", h, out[0], inv[0]),
        ("width", w, out[1], inv[1]),
    ):
        if inv_scale is None or inv_scale <= 0:
            continue
        if mode == "nearest":
            same = np.array_equal(nearest_index(n_in, n_out, inv_scale), nearest_index(n_in, n_out))
        else:
            same = (
                ac or n_out == n_in or np.float32(inv_scale) == np.float32(n_in) / np.float32(n_out)
            )
        if not same:
            raise Unsupported(
                f"{mode} interpolation with scale_factor={scale_factor!r}: PyTorch samples the "
                f"{axis} axis ({n_in} -> {n_out}) with 1/scale_factor, not input/output size, "
                "which differ here; pass size=(h, w) or recompute_scale_factor=True"
            )
    if mode == "nearest":
        return Lowered("upsample_nearest2d", {"output_size": out})
    return Lowered("upsample_bilinear2d", {"output_size": out, "align_corners": ac})


_RESIZE = ("upsample_nearest2d", "upsample_bilinear2d")
_NOTE = (
    "`size`, or `scale_factor` when it samples as the output size does (any integer factor); "
    "modes 'nearest' and 'bilinear'"
)


@torch_module("torch.nn.Upsample", ops=_RESIZE, note=_NOTE)
def _upsample_module(mod: object, x: Value) -> Lowered:
    return lower_interpolate(
        x,
        mod.size,
        mod.scale_factor,
        mod.mode,
        mod.align_corners,
        getattr(mod, "recompute_scale_factor", None),
    )


@torch_module("torch.nn.UpsamplingNearest2d", ops=("upsample_nearest2d",), note=_NOTE)
def _upsampling_nearest_module(mod: object, x: Value) -> Lowered:
    return lower_interpolate(x, mod.size, mod.scale_factor, "nearest", None)


@torch_module(
    "torch.nn.UpsamplingBilinear2d",
    ops=("upsample_bilinear2d",),
    note="UpsamplingBilinear2d is align_corners=True",
)
def _upsampling_bilinear_module(mod: object, x: Value) -> Lowered:
    return lower_interpolate(x, mod.size, mod.scale_factor, "bilinear", True)


@torch_function(
    "torch.nn.functional.interpolate",
    ops=_RESIZE,
    shown={"torch.nn.functional.interpolate": "F.interpolate(x, size or scale_factor, mode)"},
    note=_NOTE,
)
def _interpolate_call(call: Call) -> Lowered:
    names = ["size", "scale_factor", "mode", "align_corners", "recompute_scale_factor", "antialias"]
    b = call.bind(
        names,
        {
            "size": None,
            "scale_factor": None,
            "mode": "nearest",
            "align_corners": None,
            "recompute_scale_factor": None,
            "antialias": False,
        },
    )
    return lower_interpolate(call.tensor(0), **b)


@torch_module(
    "torch.nn.ConvTranspose2d",
    ops=("conv_transpose2d",),
    note="any groups, stride, padding, output_padding, dilation, with or without bias; "
    "called without output_size",
)
def _conv_transpose_module(mod: object, x: Value) -> Lowered:
    padding_mode = getattr(mod, "padding_mode", "zeros")
    if padding_mode != "zeros":
        raise Unsupported(f"padding_mode={padding_mode!r} (only 'zeros' is supported)")
    return Lowered(
        "conv_transpose2d",
        {
            "in_channels": int(mod.in_channels),
            "out_channels": int(mod.out_channels),
            "kernel_size": as_pair(mod.kernel_size, "kernel_size"),
            "stride": as_pair(mod.stride, "stride"),
            "padding": as_pair(mod.padding, "padding"),
            "output_padding": as_pair(mod.output_padding, "output_padding"),
            "dilation": as_pair(mod.dilation, "dilation"),
            "groups": int(mod.groups),
        },
        {"weight": "weight", "bias": "bias" if mod.bias is not None else None},
    )


@torch_function(
    "torch.nn.functional.conv_transpose2d",
    ops=("conv_transpose2d",),
    shown={"torch.nn.functional.conv_transpose2d": "F.conv_transpose2d(x, self.w, self.b, ...)"},
    note="F.conv_transpose2d: weight and bias tensors of the model, the same settings",
)
def _conv_transpose_call(call: Call) -> Lowered:
    x = call.tensor(0)
    b = call.bind(
        ["weight", "bias", "stride", "padding", "output_padding", "groups", "dilation"],
        {"bias": None, "stride": 1, "padding": 0, "output_padding": 0, "groups": 1, "dilation": 1},
        tensors=("weight", "bias"),
    )
    weight, bias, groups = b["weight"], b["bias"], b["groups"]
    if weight is None:
        raise Unsupported("F.conv_transpose2d without a weight")
    if x.rank != 4 or len(weight.shape) != 4:
        raise Unsupported(
            f"F.conv_transpose2d of a rank-{x.rank} input with a rank-{len(weight.shape)} weight "
            "(only an (N, C, H, W) input and a (C_in, C_out / groups, kH, kW) weight)"
        )
    if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
        raise Unsupported(f"groups={groups!r} is not a positive int")
    cin, cout_g, kh, kw = weight.shape
    if cin != x.shape[0] or cin % groups:
        raise Unsupported(
            f"weight {weight.name!r} of shape {list(weight.shape)} with groups={groups} does not "
            f"fit an input of {x.shape[0]} channels"
        )
    cout = cout_g * groups
    if bias is not None and bias.shape != (cout,):
        raise Unsupported(f"bias {bias.name!r} of shape {list(bias.shape)}, expected [{cout}]")
    return Lowered(
        "conv_transpose2d",
        {
            "in_channels": cin,
            "out_channels": cout,
            "kernel_size": (kh, kw),
            "stride": as_pair(b["stride"], "stride"),
            "padding": as_pair(b["padding"], "padding"),
            "output_padding": as_pair(b["output_padding"], "output_padding"),
            "dilation": as_pair(b["dilation"], "dilation"),
            "groups": groups,
        },
        {"weight": weight.name, "bias": None if bias is None else bias.name},
    )


# --- ONNX -------------------------------------------------------------------------------------


def _text(value: Any, default: str) -> str:
    if value is None:
        return default
    return value.decode() if isinstance(value, bytes) else str(value)


def _resize_target(
    im: Importer, node: NodeProto, shape: tuple[int, ...]
) -> tuple[tuple[int, int], tuple[float | None, float | None]]:
    """Output (h, w) of a Resize and the scales it was given ((None, None) for sizes)."""
    scales_name = node.input[2] if len(node.input) > 2 else ""
    sizes_name = node.input[3] if len(node.input) > 3 else ""
    c, h, w = shape
    if sizes_name:
        sizes = im.const(sizes_name, "sizes").array.reshape(-1)
        if len(sizes) != 4 or not all(isinstance(v, (int, np.integer)) for v in sizes[1:]):
            raise im.fail(f"sizes {list(sizes)} must be [N, C, H, W] with constant C, H and W")
        if not (sizes[0] is BATCH or int(sizes[0]) == im.fixed_batch):
            raise im.fail(
                f"sizes {list(sizes)} fix the batch size; it must come from Shape(x) "
                "(or be 1 in a model whose batch dimension is 1)"
            )
        if int(sizes[1]) != c:
            raise im.fail(f"sizes {list(sizes)} change the channel count {c}")
        return (int(sizes[2]), int(sizes[3])), (None, None)
    if not scales_name:
        raise im.fail("neither scales nor sizes is given")
    scales = [float(v) for v in im.const(scales_name, "scales").array.reshape(-1)]
    if len(scales) != 4 or scales[0] != 1.0 or scales[1] != 1.0:
        raise im.fail(f"scales {scales} must be [1, 1, sh, sw]; pd2java resizes H and W only")
    # floor(in * scale) in float32, as onnxruntime sizes the output
    out = (
        int(np.floor(np.float32(h) * np.float32(scales[2]))),
        int(np.floor(np.float32(w) * np.float32(scales[3]))),
    )
    return out, (scales[2], scales[3])


@onnx_import(
    "Resize",
    ops=_RESIZE,
    form="4-D, H and W only, constant `scales` or `sizes`, no `roi` use; `nearest` with "
    "`asymmetric` + `floor` (where its rows match PyTorch's rule: always for integer factors); "
    "`linear` with `half_pixel`, `pytorch_half_pixel` (output extents > 1) or `align_corners`",
)
def _resize_from_onnx(im: Importer, node: NodeProto) -> None:
    attrs = im.attrs(node)
    x = im.image(node.input[0])
    mode = _text(attrs.get("mode"), "nearest")
    ctm = _text(attrs.get("coordinate_transformation_mode"), "half_pixel")
    if int(attrs.get("antialias", 0)):
        raise im.fail("antialias=1 is not supported")
    if _text(attrs.get("keep_aspect_ratio_policy"), "stretch") != "stretch":
        raise im.fail("keep_aspect_ratio_policy other than 'stretch' is not supported")
    if "axes" in attrs:
        raise im.fail("the axes attribute is not supported; give scales or sizes for all axes")
    (oh, ow), scales = _resize_target(im, node, x.shape)
    if oh < 1 or ow < 1:
        raise im.fail(f"the output size {[oh, ow]} is empty")
    _, h, w = x.shape
    if mode == "nearest":
        nearest_mode = _text(attrs.get("nearest_mode"), "round_prefer_floor")
        if ctm != "asymmetric" or nearest_mode != "floor":
            raise im.fail(
                f"nearest Resize with coordinate_transformation_mode={ctm!r} and "
                f"nearest_mode={nearest_mode!r}; pd2java supports 'asymmetric' with 'floor' "
                "(PyTorch's 'nearest')"
            )
        for axis, n_in, n_out, s in (("height", h, oh, scales[0]), ("width", w, ow, scales[1])):
            if not np.array_equal(onnx_nearest_index(n_in, n_out, s), nearest_index(n_in, n_out)):
                raise im.fail(
                    f"nearest Resize of the {axis} axis ({n_in} -> {n_out}) picks other rows "
                    "than PyTorch's floor(dst * in / out) rule that pd2java runs"
                )
        im.emit("upsample_nearest2d", [x], node.output[0], attrs={"output_size": (oh, ow)})
        return
    if mode != "linear":
        raise im.fail(f"Resize mode {mode!r} (only 'nearest' and 'linear')")
    if ctm == "align_corners":
        ac = True
    elif ctm == "half_pixel" or (ctm == "pytorch_half_pixel" and min(oh, ow) > 1):
        ac = False
    else:
        raise im.fail(
            f"linear Resize with coordinate_transformation_mode={ctm!r} to {[oh, ow]}; "
            "pd2java supports 'half_pixel', 'align_corners', and 'pytorch_half_pixel' when "
            "every output extent is > 1"
        )
    if not ac:
        for n_in, n_out, s in ((h, oh, scales[0]), (w, ow, scales[1])):
            if s is not None and not math.isclose(s, n_out / n_in, rel_tol=1e-6):
                raise im.fail(
                    f"scale {s} does not equal output/input size {n_out}/{n_in}; pd2java's "
                    "bilinear samples with input/output size (give sizes instead)"
                )
    im.emit(
        "upsample_bilinear2d",
        [x],
        node.output[0],
        attrs={"output_size": (oh, ow), "align_corners": ac},
    )


@onnx_import(
    "Slice",
    role="folded",
    ir="folded",
    form="only on constants (and `Shape` of a computed value): the `sizes` computation the "
    "PyTorch exporter writes for `F.interpolate(x, size=...)`, and the pads computation it "
    "writes for `F.pad`; a Slice of a computed value only inside circular padding (fused "
    "pattern `circular_pad2d`)",
)
def _slice_fold(im: Importer, node: NodeProto) -> None:
    data = im.const(node.input[0], "data").array
    starts = int_list(im.const(node.input[1], "starts").array.reshape(-1))
    ends = int_list(im.const(node.input[2], "ends").array.reshape(-1))
    has_axes = len(node.input) > 3 and node.input[3]
    axes = int_list(im.const(node.input[3], "axes").array.reshape(-1)) if has_axes else None
    has_steps = len(node.input) > 4 and node.input[4]
    steps = int_list(im.const(node.input[4], "steps").array.reshape(-1)) if has_steps else None
    axes = axes if axes is not None else list(range(len(starts)))
    steps = steps if steps is not None else [1] * len(starts)
    index: list[slice] = [slice(None)] * data.ndim
    for axis, start, end, step in zip(axes, starts, ends, steps):
        index[axis % data.ndim] = slice(start, end, step)
    im.env[node.output[0]] = Const(np.asarray(data[tuple(index)]), node.output[0])


def _resize_to_onnx(e: Emitter, node: Node, **attrs: Any) -> None:
    """A ``Resize`` to the node's output size (empty roi and scales, shared initializers)."""
    roi = e.constant("resize.roi", np.zeros((0,), dtype=np.float32))
    scales = e.constant("resize.scales", np.zeros((0,), dtype=np.float32))
    e.add(
        "Resize",
        [node.inputs[0], roi, scales, _sizes_input(e, node)],
        node.outputs,
        node.name,
        **attrs,
    )


def _sizes_input(e: Emitter, node: Node) -> str:
    """``Concat(Shape(x)[0:2], [oh, ow])``: the full 4-D sizes with the symbolic batch."""
    nc = e.fresh(f"{node.name}.batch_channels")
    e.add("Shape", [node.inputs[0]], [nc], e.fresh(f"{node.name}.shape"), start=0, end=2)
    hw = e.constant(
        f"{node.name}.output_size", np.array(e.pair(node, "output_size"), dtype=np.int64)
    )
    sizes = e.fresh(f"{node.name}.sizes")
    e.add("Concat", [nc, hw], [sizes], e.fresh(f"{node.name}.concat"), axis=0)
    return sizes


@onnx_export(
    "upsample_nearest2d",
    1,
    doc="`Resize` (`mode` nearest, `coordinate_transformation_mode` asymmetric, `nearest_mode` "
    "floor) with `sizes` = `Concat(Shape(x, end=2), [oh, ow])`; refused where ONNX's rows "
    "floor(dst / (out / in)) differ from PyTorch's (some downsampling ratios)",
)
def _nearest_to_onnx(e: Emitter, node: Node) -> None:
    _, h, w = e.graph.value_shape(node.inputs[0])
    oh, ow = e.pair(node, "output_size")
    for axis, n_in, n_out in (("height", h, oh), ("width", w, ow)):
        if not np.array_equal(onnx_nearest_index(n_in, n_out), nearest_index(n_in, n_out)):
            raise UserError(
                f"node {node.name!r} ({node.key}): ONNX Resize's nearest rule picks other "
                f"{axis} rows for {n_in} -> {n_out} than PyTorch's rule this op follows; "
                "this resize has no exact ONNX Resize equivalent"
            )
    _resize_to_onnx(
        e, node, mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor"
    )


@onnx_export(
    "upsample_bilinear2d",
    1,
    doc="`Resize` (`mode` linear, `coordinate_transformation_mode` half_pixel or "
    "align_corners) with `sizes` = `Concat(Shape(x, end=2), [oh, ow])`",
)
def _bilinear_to_onnx(e: Emitter, node: Node) -> None:
    _resize_to_onnx(
        e,
        node,
        mode="linear",
        coordinate_transformation_mode="align_corners"
        if node.attrs["align_corners"]
        else "half_pixel",
    )


@onnx_import(
    "ConvTranspose",
    ops=("conv_transpose2d",),
    form="2-D; constant weight (and bias); `auto_pad` NOTSET or VALID; symmetric `pads`, or end "
    "pads smaller than the start ones (read as output padding); any `group`, `strides`, "
    "`dilations`, `output_padding`; no `output_shape`",
)
def _conv_transpose_from_onnx(im: Importer, node: NodeProto) -> None:
    attrs = im.attrs(node)
    x = im.image(node.input[0])
    if "output_shape" in attrs:
        raise im.fail("output_shape is not supported; give pads and output_padding")
    w, (cin, per_group, kh, kw), kernel = onnx_conv_weight(
        im, node, attrs, "transposed convolution"
    )
    output_padding = int_list(attrs.get("output_padding", [0, 0]))
    if len(output_padding) != 2:
        raise im.fail(f"output_padding {output_padding} is not 2-D")
    # Cropping fewer rows at the end than at the start is output padding (what the writer emits
    # when output_padding is not below the stride, which ONNX refuses).
    raw_pads = int_list(attrs.get("pads", [0, 0, 0, 0]))
    extra = [0, 0]
    if len(raw_pads) == 4 and all(raw_pads[i] >= raw_pads[i + 2] >= 0 for i in range(2)):
        extra = [raw_pads[0] - raw_pads[2], raw_pads[1] - raw_pads[3]]
        attrs = {**attrs, "pads": [raw_pads[0], raw_pads[1], raw_pads[0], raw_pads[1]]}
    strides, pads, dilations = im.spatial(node, attrs, kernel)
    output_padding = [output_padding[0] + extra[0], output_padding[1] + extra[1]]
    groups = int(attrs.get("group", 1))
    if groups < 1 or cin != x.shape[0] or cin % groups:
        raise im.fail(
            f"weight shape {list(w.array.shape)} with group={groups} does not fit "
            f"{x.shape[0]} input channels"
        )
    cout = per_group * groups
    params = onnx_conv_params(im, node, w, cout)
    im.emit(
        "conv_transpose2d",
        [x],
        node.output[0],
        attrs={
            "in_channels": cin,
            "out_channels": cout,
            "kernel_size": (kh, kw),
            "stride": tuple(strides),
            "padding": tuple(pads),
            "output_padding": tuple(output_padding),
            "dilation": tuple(dilations),
            "groups": groups,
        },
        params=params,
    )


@onnx_export(
    "conv_transpose2d",
    1,
    doc="`ConvTranspose` (`kernel_shape`, `strides`, `pads` = `[ph, pw, ph, pw]`, "
    "`output_padding`, `dilations`, `group`); bias input only when present. An output_padding "
    "not below the stride (ONNX refuses it) is written as end pads that much smaller, and "
    "refused when larger than the padding",
)
def _conv_transpose_to_onnx(e: Emitter, node: Node) -> None:
    ph, pw = e.pair(node, "padding")
    oph, opw = e.pair(node, "output_padding")
    sh, sw = e.pair(node, "stride")
    pads = [ph, pw, ph, pw]
    if oph >= sh or opw >= sw:
        # ONNX wants output_padding < stride; PyTorch allows < dilation too. The same output is
        # cropping output_padding fewer rows (columns) at the end, when there are that many.
        if oph > ph or opw > pw:
            raise UserError(
                f"node {node.name!r} ({node.key}): output_padding {[oph, opw]} is not below the "
                f"stride {[sh, sw]} and exceeds the padding {[ph, pw]}; ONNX ConvTranspose "
                "cannot express it"
            )
        pads, oph, opw = [ph, pw, ph - oph, pw - opw], 0, 0
    e.add(
        "ConvTranspose",
        onnx_weight_bias_inputs(e, node),
        node.outputs,
        node.name,
        kernel_shape=e.pair(node, "kernel_size"),
        strides=e.pair(node, "stride"),
        pads=pads,
        output_padding=[oph, opw],
        dilations=e.pair(node, "dilation"),
        group=int(node.attrs["groups"]),
    )
