"""conv2d and conv1d: torch lowerings (nn.Conv2d, nn.Conv1d and their functional forms), shape
rules, NumPy reference kernels and ONNX mappings.

conv1d works on a (C, L) value, which is laid out exactly like (C, 1, L): its shape rule and
kernel are conv2d's with a (1, k) window, here and in the Java runtime. A padding conv1d cannot
express (a ``padding_mode`` other than zeros, an odd ``'same'`` total, asymmetric ONNX pads) is a
2-D pad op applied to the value viewed as (C, 1, L) first (``pad.pad1d_steps``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pd2java.errors import ErrorCode
from pd2java.ops.frontend_registry import onnx_export, onnx_import, torch_function, torch_module
from pd2java.ops.lowering import (
    Call,
    Constant,
    Lowered,
    LoweredSeq,
    Unsupported,
    Value,
    as_pair,
    as_single,
)
from pd2java.ops.onnx_conventions import Const, Runtime, int_list
from pd2java.ops.pad import TORCH_MODES, emit_chain, pad1d_steps, pad_attrs
from pd2java.ops.registry import (
    Attrs,
    Shape,
    ShapeError,
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


@torch_module(
    "torch.nn.Conv2d",
    ops=("conv2d", "constant_pad2d", "circular_pad2d", "reflection_pad2d", "replication_pad2d"),
    note="any groups, stride, dilation, padding incl. `'same'`/`'valid'`, with or without "
    "bias; a `padding_mode` other than zeros, or an odd `'same'` total, adds a pad op first",
)
def lower_conv2d_module(mod: object, x: Value) -> Lowered | LoweredSeq:
    """nn.Conv2d -> conv2d, preceded by a pad op when the padding is not symmetric zeros.

    PyTorch's own split is used: ``padding='same'`` puts the odd extra row/column at the
    bottom/right, and a non-zeros ``padding_mode`` pads explicitly, then convolves unpadded.
    """
    padding_mode = _padding_mode(mod)
    return _lower_conv2d(
        in_channels=int(mod.in_channels),
        out_channels=int(mod.out_channels),
        kernel=as_pair(mod.kernel_size, "kernel_size"),
        stride=as_pair(mod.stride, "stride"),
        padding=mod.padding,
        dilation=as_pair(mod.dilation, "dilation"),
        groups=int(mod.groups),
        padding_mode=padding_mode,
        params={"weight": "weight", "bias": "bias" if mod.bias is not None else None},
    )


def _padding_mode(mod: object) -> str:
    """A conv module's ``padding_mode``: 'zeros' or one a pad op computes."""
    padding_mode = getattr(mod, "padding_mode", "zeros")
    if padding_mode != "zeros" and padding_mode not in TORCH_MODES:
        raise Unsupported(
            f"padding_mode={padding_mode!r} (supported: 'zeros', "
            f"{', '.join(map(repr, TORCH_MODES))})"
        )
    return padding_mode


def _torch_conv_pads(
    padding: object,
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
) -> list[tuple[int, int]]:
    """(begin, end) per spatial axis of a PyTorch conv's ``padding``: an int or one per axis,
    ``'valid'``, or ``'same'`` split as PyTorch does (the odd extra cell at the end)."""
    if padding == "valid":
        return [(0, 0)] * len(kernel)
    if padding == "same":
        if any(s != 1 for s in stride):  # pragma: no cover - PyTorch refuses this at construction
            raise Unsupported("padding='same' with a stride other than 1")
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return [(t // 2, t - t // 2) for t in totals]
    if len(kernel) == 1:
        return [(as_single(padding, "padding"),) * 2]
    return [(p, p) for p in as_pair(padding, "padding")]


def _lower_conv2d(
    *,
    in_channels: int,
    out_channels: int,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: object,
    dilation: tuple[int, int],
    groups: int,
    padding_mode: str,
    params: dict[str, str | None],
) -> Lowered | LoweredSeq:
    """conv2d, preceded by a pad op when the padding is not symmetric zeros; ``padding`` as
    PyTorch takes it (an int, a pair, ``'same'`` or ``'valid'``)."""
    (top, bottom), (left, right) = _torch_conv_pads(padding, kernel, stride, dilation)

    def conv(pad: tuple[int, int]) -> Lowered:
        return Lowered(
            "conv2d",
            {
                "in_channels": in_channels,
                "out_channels": out_channels,
                "kernel_size": kernel,
                "stride": stride,
                "padding": pad,
                "dilation": dilation,
                "groups": groups,
            },
            params,
        )

    if top == bottom == left == right == 0:
        return conv((0, 0))
    if padding_mode == "zeros":
        if top == bottom and left == right:
            return conv((top, left))
        pad_op, pad_attrs_ = "constant_pad2d", pad_attrs("constant_pad2d", top, bottom, left, right)
    else:
        pad_op = TORCH_MODES[padding_mode]
        pad_attrs_ = pad_attrs(pad_op, top, bottom, left, right)
    return LoweredSeq((Lowered(pad_op, pad_attrs_), conv((0, 0))))


@torch_function(
    "torch.nn.functional.conv2d",
    ops=("conv2d", "constant_pad2d"),
    shown={"torch.nn.functional.conv2d": "F.conv2d(x, self.w, self.b, ...)"},
    note="F.conv2d: weight and bias tensors of the model, the same settings",
)
def _conv2d_call(call: Call) -> Lowered | LoweredSeq:
    f = _functional_conv(call, "F.conv2d", 2)
    return _lower_conv2d(
        in_channels=f.x.shape[0],
        out_channels=f.weight.shape[0],
        kernel=(f.weight.shape[2], f.weight.shape[3]),
        stride=as_pair(f.args["stride"], "stride"),
        padding=f.args["padding"],
        dilation=as_pair(f.args["dilation"], "dilation"),
        groups=f.args["groups"],
        padding_mode="zeros",
        params=f.params,
    )


@dataclass(frozen=True)
class _FunctionalConv:
    """The checked arguments of an F.conv1d / F.conv2d call: the input, the weight (a tensor
    of the model), every bound argument and the parameter slots."""

    x: Value
    weight: Constant
    args: dict[str, Any]
    params: dict[str, str | None]


def _functional_conv(call: Call, what: str, dims: int) -> _FunctionalConv:
    """F.conv1d (``dims`` 1) or F.conv2d (2) arguments, checked: a (N, C, *spatial) input, a
    weight of the same rank whose channels fit it with ``groups``, a bias of [C_out], a padding
    PyTorch accepts ('same' only with stride 1)."""
    x = call.tensor(0)
    b = call.bind(
        ["weight", "bias", "stride", "padding", "dilation", "groups"],
        {"bias": None, "stride": 1, "padding": 0, "dilation": 1, "groups": 1},
        tensors=("weight", "bias"),
    )
    weight, bias = b["weight"], b["bias"]
    if weight is None:
        raise Unsupported(f"{what} without a weight")
    if x.rank != dims + 2 or len(weight.shape) != dims + 2:
        layout, kernel = ("(N, C, L)", "k") if dims == 1 else ("(N, C, H, W)", "kH, kW")
        raise Unsupported(
            f"{what} of a rank-{x.rank} input with a rank-{len(weight.shape)} weight "
            f"(only an {layout} input and a (C_out, C_in / groups, {kernel}) weight)"
        )
    groups = b["groups"]
    if not isinstance(groups, int) or isinstance(groups, bool):
        raise Unsupported(f"groups={groups!r} is not an int")
    cout, cin_g = weight.shape[:2]
    if cin_g * groups != x.shape[0]:
        raise Unsupported(
            f"weight {weight.name!r} of shape {list(weight.shape)} with groups={groups} does not "
            f"fit an input of {x.shape[0]} channels"
        )
    if bias is not None and bias.shape != (cout,):
        raise Unsupported(f"bias {bias.name!r} of shape {list(bias.shape)}, expected [{cout}]")
    padding = b["padding"]
    stride = as_single(b["stride"], "stride") if dims == 1 else as_pair(b["stride"], "stride")
    if padding == "same" and stride not in (1, (1, 1)):
        raise Unsupported("padding='same' with a stride other than 1")
    if isinstance(padding, str) and padding not in ("same", "valid"):
        forms = "an int" if dims == 1 else "an int, a pair"
        raise Unsupported(f"padding={padding!r} (only {forms}, 'same' or 'valid')")
    params = {"weight": weight.name, "bias": None if bias is None else bias.name}
    return _FunctionalConv(x, weight, b, params)


# The ops around a pad op on a (C, L) value viewed as (C, 1, L) (``pad1d_steps``).
_VIEW_OPS = ("unsqueeze", "squeeze")


@torch_module(
    "torch.nn.Conv1d",
    ops=(
        "conv1d",
        *_VIEW_OPS,
        "constant_pad2d",
        "circular_pad2d",
        "reflection_pad2d",
        "replication_pad2d",
    ),
    note="as Conv2d; a `padding_mode` other than zeros, or an odd `'same'` total, adds "
    "unsqueeze, a pad op and squeeze first (the value viewed as (C, 1, L))",
)
def _conv1d_module(mod: object, x: Value) -> Lowered | LoweredSeq:
    padding_mode = _padding_mode(mod)
    if x.rank != 3:
        raise Unsupported(f"Conv1d of a rank-{x.rank} tensor (only (N, C, L))")
    return _lower_conv1d(
        in_channels=int(mod.in_channels),
        out_channels=int(mod.out_channels),
        kernel=as_single(mod.kernel_size, "kernel_size"),
        stride=as_single(mod.stride, "stride"),
        padding=mod.padding,
        dilation=as_single(mod.dilation, "dilation"),
        groups=int(mod.groups),
        padding_mode=padding_mode,
        params={"weight": "weight", "bias": "bias" if mod.bias is not None else None},
    )


def _lower_conv1d(
    *,
    in_channels: int,
    out_channels: int,
    kernel: int,
    stride: int,
    padding: object,
    dilation: int,
    groups: int,
    padding_mode: str,
    params: dict[str, str | None],
) -> Lowered | LoweredSeq:
    """conv1d, preceded by a pad op on the (C, 1, L) view when the padding is not symmetric
    zeros (``pad1d_steps``)."""
    ((left, right),) = _torch_conv_pads(padding, (kernel,), (stride,), (dilation,))
    own = left if padding_mode == "zeros" and left == right else 0
    conv = Lowered(
        "conv1d",
        {
            "in_channels": in_channels,
            "out_channels": out_channels,
            "kernel_size": kernel,
            "stride": stride,
            "padding": own,
            "dilation": dilation,
            "groups": groups,
        },
        params,
    )
    if own or left == right == 0:
        return conv
    pad_op = "constant_pad2d" if padding_mode == "zeros" else TORCH_MODES[padding_mode]
    return LoweredSeq((*pad1d_steps(pad_op, left, right), conv))


@torch_function(
    "torch.nn.functional.conv1d",
    ops=("conv1d", *_VIEW_OPS, "constant_pad2d"),
    shown={"torch.nn.functional.conv1d": "F.conv1d(x, self.w, self.b, ...)"},
    note="F.conv1d: weight and bias tensors of the model, the same settings",
)
def _conv1d_call(call: Call) -> Lowered | LoweredSeq:
    f = _functional_conv(call, "F.conv1d", 1)
    return _lower_conv1d(
        in_channels=f.x.shape[0],
        out_channels=f.weight.shape[0],
        kernel=f.weight.shape[2],
        stride=as_single(f.args["stride"], "stride"),
        padding=f.args["padding"],
        dilation=as_single(f.args["dilation"], "dilation"),
        groups=f.args["groups"],
        padding_mode="zeros",
        params=f.params,
    )


def conv_groups(attrs: Attrs) -> tuple[int, int, int, int, int]:
    """(kh, kw, in_channels, out_channels, groups) of a conv2d / conv_transpose2d, with groups
    dividing both channel counts, all >= 1 (INVALID_ATTRIBUTE otherwise)."""
    kh, kw = pair(attrs["kernel_size"], "kernel_size")
    cin, cout, groups = int(attrs["in_channels"]), int(attrs["out_channels"]), int(attrs["groups"])
    if groups < 1 or cin < 1 or cout < 1 or cin % groups or cout % groups:
        raise ShapeError(
            f"groups={groups} must divide in_channels={cin} and out_channels={cout}, all >= 1",
            ErrorCode.INVALID_ATTRIBUTE,
        )
    return kh, kw, cin, cout, groups


def conv_param_shapes(attrs: Attrs) -> dict[str, Shape]:
    kh, kw, cin, cout, groups = conv_groups(attrs)
    return {"weight": (cout, cin // groups, kh, kw), "bias": (cout,)}


def _conv_infer(
    attrs: Attrs, shapes: list[Shape], axes: tuple[str, str] = ("height", "width")
) -> Shape:
    (shape,) = shapes
    want_rank(shape, 3, "conv2d")
    c, h, w = shape
    if c != attrs["in_channels"]:
        raise ShapeError(f"input has {c} channels but in_channels={attrs['in_channels']}")
    conv_param_shapes(attrs)
    kh, kw = pair(attrs["kernel_size"], "kernel_size")
    sh, sw = pair(attrs["stride"], "stride")
    ph, pw = pair(attrs["padding"], "padding")
    dh, dw = pair(attrs["dilation"], "dilation")
    return (
        int(attrs["out_channels"]),
        window_out(h, kh, sh, ph, dh, axes[0]),
        window_out(w, kw, sw, pw, dw, axes[1]),
    )


def conv2d_nchw(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None,
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    groups: int,
) -> np.ndarray:
    """Grouped 2-D cross-correlation on (N, C, H, W), accumulated in float64.

    Depthwise convs (one input channel per group) accumulate kernel taps elementwise; all others
    build im2col columns in (group, N*Ho*Wo, kh*kw*Cg) order, tap by tap, and do one batched
    matmul per group.
    """
    n = x.shape[0]
    cout, cg, kh, kw = weight.shape
    (ph, pw), (sh, sw), (dh, dw) = padding, stride, dilation
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    hp, wp = xp.shape[2], xp.shape[3]
    ho = window_out(hp, kh, sh, 0, dh, "height")  # xp is padded already
    wo = window_out(wp, kw, sw, 0, dw, "width")
    og = cout // groups
    w64 = weight.astype(np.float64)

    def tap(src: np.ndarray, i: int, j: int) -> np.ndarray:  # (..., Ho, Wo) seen by tap (i, j)
        return src[
            ..., i * dh : i * dh + sh * (ho - 1) + 1 : sh, j * dw : j * dw + sw * (wo - 1) + 1 : sw
        ]

    if cg == 1 and groups > 1:  # depthwise: a few elementwise passes beat im2col
        xg = xp.reshape(n, groups, 1, hp, wp)
        wg = w64.reshape(1, groups, og, kh, kw)
        out = np.zeros((n, groups, og, ho, wo))
        for i in range(kh):
            for j in range(kw):
                out += tap(xg, i, j) * wg[:, :, :, i, j, None, None]
        out = out.reshape(n, cout, ho, wo)
    else:
        xg = xp.reshape(n, groups, cg, hp, wp).transpose(1, 0, 3, 4, 2)  # G, N, Hp, Wp, Cg
        cols = np.empty((groups, n, ho, wo, kh, kw, cg))
        for i in range(kh):
            for j in range(kw):
                cols[:, :, :, :, i, j, :] = xg[
                    :,
                    :,
                    i * dh : i * dh + sh * (ho - 1) + 1 : sh,
                    j * dw : j * dw + sw * (wo - 1) + 1 : sw,
                    :,
                ]
        wmat = w64.reshape(groups, og, cg, kh, kw).transpose(0, 3, 4, 2, 1)
        out = np.matmul(
            cols.reshape(groups, n * ho * wo, kh * kw * cg), wmat.reshape(groups, kh * kw * cg, og)
        )
        out = out.reshape(groups, n, ho, wo, og).transpose(1, 0, 4, 2, 3).reshape(n, cout, ho, wo)
    if bias is not None:
        out = out + bias.astype(np.float64).reshape(1, cout, 1, 1)
    return out.astype(np.float32)


@register("conv2d", 1, infer=_conv_infer, param_shapes=conv_param_shapes)
def conv2d_kernel(
    attrs: Attrs, inputs: list[np.ndarray], params: Mapping[str, np.ndarray | None]
) -> np.ndarray:
    """Reference conv2d on a (N, C, H, W) batch."""
    return conv2d_nchw(
        inputs[0],
        params["weight"],
        params["bias"],
        pair(attrs["stride"], "stride"),
        pair(attrs["padding"], "padding"),
        pair(attrs["dilation"], "dilation"),
        int(attrs["groups"]),
    )


def conv1d_as_2d(attrs: Attrs) -> dict[str, object]:
    """A conv1d's attributes as those of the conv2d it is on the (C, 1, L) view: a (1, k)
    window, no padding along H."""
    return {
        "in_channels": attrs["in_channels"],
        "out_channels": attrs["out_channels"],
        "kernel_size": (1, single(attrs["kernel_size"], "kernel_size")),
        "stride": (1, single(attrs["stride"], "stride")),
        "padding": (0, single(attrs["padding"], "padding")),
        "dilation": (1, single(attrs["dilation"], "dilation")),
        "groups": attrs["groups"],
    }


def _conv1d_param_shapes(attrs: Attrs) -> dict[str, Shape]:
    cout, cg, _, k = conv_param_shapes(conv1d_as_2d(attrs))["weight"]
    return {"weight": (cout, cg, k), "bias": (cout,)}


def _conv1d_infer(attrs: Attrs, shapes: list[Shape]) -> Shape:
    (shape,) = shapes
    want_rank(shape, 2, "conv1d")
    cout, _, length = _conv_infer(conv1d_as_2d(attrs), [(shape[0], 1, shape[1])], ("", "length"))
    return (cout, length)


@register("conv1d", 1, infer=_conv1d_infer, param_shapes=_conv1d_param_shapes)
def conv1d_kernel(
    attrs: Attrs, inputs: list[np.ndarray], params: Mapping[str, np.ndarray | None]
) -> np.ndarray:
    """Reference conv1d on a (N, C, L) batch: conv2d of the (N, C, 1, L) view."""
    a = conv1d_as_2d(attrs)
    out = conv2d_nchw(
        inputs[0][:, :, None, :],
        params["weight"][:, :, None, :],
        params["bias"],
        a["stride"],
        a["padding"],
        a["dilation"],
        int(attrs["groups"]),
    )
    return out[:, :, 0, :]


# --- ONNX -----------------------------------------------------------------------------------


@onnx_import(
    "Conv",
    ops=("conv2d", "conv1d", "constant_pad2d", "unsqueeze", "squeeze"),
    form="2-D on a (C, H, W) input, 1-D on a (C, L) input; constant weight (and bias); any "
    "`auto_pad`, `pads`, `group`, `strides`, `dilations`: `SAME_UPPER`/`SAME_LOWER` and "
    "asymmetric `pads` become constant_pad2d + conv2d (for 1-D: unsqueeze, constant_pad2d, "
    "squeeze, conv1d)",
)
def _conv_from_onnx(im: Importer, node: NodeProto) -> None:
    attrs = im.attrs(node)
    x = im.runtime(node.input[0])
    dims = len(x.shape) - 1
    if dims not in (1, 2):
        raise im.fail(
            f"its input {node.input[0]!r} has per-sample shape {list(x.shape)}; pd2java "
            "convolves a (C, L) or (C, H, W) value"
        )
    w, (out_c, per_group, *k), kernel = onnx_conv_weight(im, node, attrs, "convolution", dims)
    attrs, pre_pad = _explicit_pads(attrs, x.shape, kernel)
    if pre_pad is not None:  # asymmetric: zero padding first, then an unpadded conv
        x = _zero_pad_first(im, node, x, pre_pad)
    strides, pads, dilations = im.spatial(node, attrs, kernel)
    groups = int(attrs.get("group", 1))
    c = x.shape[0]
    if groups < 1 or c % groups or out_c % groups or per_group * groups != c:
        raise im.fail(
            f"weight shape {list(w.array.shape)} with group={groups} does not fit "
            f"{c} input channels"
        )
    window = {
        "kernel_size": tuple(k),
        "stride": tuple(strides),
        "padding": tuple(pads),
        "dilation": tuple(dilations),
    }
    if dims == 1:  # conv1d's window attributes are single ints
        window = {name: value[0] for name, value in window.items()}
    im.emit(
        "conv2d" if dims == 2 else "conv1d",
        [x],
        node.output[0],
        attrs={"in_channels": c, "out_channels": out_c, **window, "groups": groups},
        params=onnx_conv_params(im, node, w, out_c),
    )


def _zero_pad_first(
    im: Importer, node: NodeProto, x: Runtime, pads: list[tuple[int, int]]
) -> Runtime:
    """``x`` zero-padded by (begin, end) per spatial axis: one constant_pad2d on a (C, H, W)
    value (named ``<output>.pad``, node ``<node>_pad``); on a (C, L) value the three steps of
    ``pad1d_steps``, the pad named as in 2-D, the others ``.unsqueeze`` / ``.squeeze``."""
    if len(pads) == 2:
        (top, bottom), (left, right) = pads
        steps: tuple[Lowered, ...] = (
            Lowered("constant_pad2d", pad_attrs("constant_pad2d", top, bottom, left, right)),
        )
    else:
        steps = pad1d_steps("constant_pad2d", *pads[0])
    return emit_chain(im, steps, x, prefix=node.output[0], node=node.name or "Conv")


def onnx_conv_weight(
    im: Importer, node: NodeProto, attrs: dict, what: str, dims: int = 2
) -> tuple[Const, tuple[int, ...], list[int]]:
    """The constant weight of an ONNX Conv / ConvTranspose (``what`` names the kind) with
    ``dims`` spatial axes, its shape and the kernel_shape, which must match the weight's."""
    w = im.const(node.input[1], "weight")
    if w.array.ndim != dims + 2:
        raise im.fail(
            f"weight {node.input[1]!r} has shape {list(w.array.shape)}; pd2java "
            f"supports {dims}-D {what} (a {dims + 2}-D weight) on this input"
        )
    shape = tuple(int(v) for v in w.array.shape)
    kernel = int_list(attrs.get("kernel_shape", list(shape[2:])))
    if kernel != list(shape[2:]):
        raise im.fail(f"kernel_shape {kernel} does not match the weight's {list(shape[2:])}")
    return w, shape, kernel


def onnx_conv_params(
    im: Importer, node: NodeProto, w: Const, out_channels: int
) -> dict[str, str | None]:
    """The weight and the optional constant bias (of shape [out_channels]) as parameter slots."""
    params: dict[str, str | None] = {"weight": im.param(w, w.array, "", "weight"), "bias": None}
    if len(node.input) > 2 and node.input[2]:
        b = im.const(node.input[2], "bias")
        if b.array.shape != (out_channels,):
            raise im.fail(
                f"bias {node.input[2]!r} has shape {list(b.array.shape)}, expected [{out_channels}]"
            )
        params["bias"] = im.param(b, b.array, "", "bias")
    return params


def _explicit_pads(
    attrs: dict, shape: tuple[int, ...], kernel: list[int]
) -> tuple[dict, list[tuple[int, int]] | None]:
    """Conv attributes with ``auto_pad`` SAME_UPPER/SAME_LOWER resolved to explicit pads (ONNX's
    rule: total = max((ceil(in / s) - 1) * s + d * (k - 1) + 1 - in, 0), the odd one at the end
    for SAME_UPPER, at the start for SAME_LOWER); and when the pads are asymmetric, pads 0 plus
    the (begin, end) per spatial axis a zero padding must add first. Malformed values are left
    for ``Importer.spatial`` to refuse."""
    raw = attrs.get("auto_pad", b"NOTSET")
    auto_pad = raw.decode() if isinstance(raw, bytes) else str(raw)
    dims = len(shape) - 1
    strides = int_list(attrs.get("strides", [1] * dims))
    dilations = int_list(attrs.get("dilations", [1] * dims))
    if not len(kernel) == len(strides) == len(dilations) == dims:
        return attrs, None
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        if min(strides) < 1 or min(dilations) < 1:
            return attrs, None
        begin, end = [], []
        for size, k, s, d in zip(shape[1:], kernel, strides, dilations):
            total = max((-(-size // s) - 1) * s + d * (k - 1) + 1 - size, 0)
            small, big = total // 2, total - total // 2
            begin.append(small if auto_pad == "SAME_UPPER" else big)
            end.append(big if auto_pad == "SAME_UPPER" else small)
        pads = [*begin, *end]
    elif auto_pad == "NOTSET":
        pads = int_list(attrs.get("pads", [0] * 2 * dims))
        if len(pads) != 2 * dims or min(pads) < 0:
            return attrs, None
    else:
        return attrs, None
    attrs = {**attrs, "auto_pad": b"NOTSET"}
    if pads[:dims] == pads[dims:]:
        return {**attrs, "pads": pads}, None
    return {**attrs, "pads": [0] * 2 * dims}, list(zip(pads[:dims], pads[dims:]))


def onnx_weight_bias_inputs(e: Emitter, node: Node) -> list[str]:
    """The inputs of an ONNX Conv / ConvTranspose: x, the weight, and the bias when present."""
    inputs = [node.inputs[0], e.tensor(str(node.params["weight"]), node)]
    if node.params.get("bias") is not None:
        inputs.append(e.tensor(str(node.params["bias"]), node))
    return inputs


@onnx_export(
    "conv2d",
    1,
    doc="`Conv` (`kernel_shape`, `strides`, `pads` = `[ph, pw, ph, pw]`, `dilations`, `group`); "
    "bias input only when present",
)
def _conv_to_onnx(e: Emitter, node: Node) -> None:
    ph, pw = e.pair(node, "padding")
    _emit_conv(
        e,
        node,
        e.pair(node, "kernel_size"),
        e.pair(node, "stride"),
        [ph, pw, ph, pw],
        e.pair(node, "dilation"),
    )


@onnx_export(
    "conv1d",
    1,
    doc="`Conv` on the (N, C, L) tensor (`kernel_shape` `[k]`, `strides`, `pads` = `[p, p]`, "
    "`dilations`, `group`); bias input only when present",
)
def _conv1d_to_onnx(e: Emitter, node: Node) -> None:
    a = {name: int(node.attrs[name]) for name in ("kernel_size", "stride", "padding", "dilation")}
    _emit_conv(e, node, [a["kernel_size"]], [a["stride"]], [a["padding"]] * 2, [a["dilation"]])


def _emit_conv(
    e: Emitter,
    node: Node,
    kernel: list[int],
    strides: list[int],
    pads: list[int],
    dilations: list[int],
) -> None:
    """An ONNX Conv of a conv2d / conv1d node with its window written out."""
    e.add(
        "Conv",
        onnx_weight_bias_inputs(e, node),
        node.outputs,
        node.name,
        kernel_shape=kernel,
        strides=strides,
        pads=pads,
        dilations=dilations,
        group=int(node.attrs["groups"]),
    )
