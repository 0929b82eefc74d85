"""conv2d: torch lowering (nn.Conv2d), shape rule, NumPy reference kernel and ONNX mappings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from pd2java.errors import ErrorCode
from pd2java.ops.frontend_registry import onnx_export, onnx_import, torch_function, torch_module
from pd2java.ops.lowering import Call, Lowered, LoweredSeq, Unsupported, Value, as_pair
from pd2java.ops.onnx_conventions import Const, int_list
from pd2java.ops.pad import TORCH_MODES, pad_attrs
from pd2java.ops.registry import (
    Attrs,
    Shape,
    ShapeError,
    pair,
    register,
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
    padding_mode = getattr(mod, "padding_mode", "zeros")
    if padding_mode != "zeros" and padding_mode not in TORCH_MODES:
        raise Unsupported(
            f"padding_mode={padding_mode!r} (supported: 'zeros', "
            f"{', '.join(map(repr, TORCH_MODES))})"
        )
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
    if padding == "valid":
        top = bottom = left = right = 0
    elif padding == "same":
        if stride != (1, 1):  # pragma: no cover - PyTorch refuses this at construction
            raise Unsupported("padding='same' with a stride other than 1")
        total_h, total_w = (d * (k - 1) for k, d in zip(kernel, dilation))
        top, left = total_h // 2, total_w // 2
        bottom, right = total_h - top, total_w - left
    else:
        top = bottom = as_pair(padding, "padding")[0]
        left = right = as_pair(padding, "padding")[1]

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
    x = call.tensor(0)
    b = call.bind(
        ["weight", "bias", "stride", "padding", "dilation", "groups"],
        {"bias": None, "stride": 1, "padding": 0, "dilation": 1, "groups": 1},
        tensors=("weight", "bias"),
    )
    weight, bias = b["weight"], b["bias"]
    if weight is None:
        raise Unsupported("F.conv2d without a weight")
    if x.rank != 4 or len(weight.shape) != 4:
        raise Unsupported(
            f"F.conv2d of a rank-{x.rank} input with a rank-{len(weight.shape)} weight "
            "(only an (N, C, H, W) input and a (C_out, C_in / groups, kH, kW) weight)"
        )
    groups = b["groups"]
    if not isinstance(groups, int) or isinstance(groups, bool):
        raise Unsupported(f"groups={groups!r} is not an int")
    cout, cin_g, kh, kw = weight.shape
    if cin_g * groups != x.shape[0]:
        raise Unsupported(
            f"weight {weight.name!r} of shape {list(weight.shape)} with groups={groups} does not "
            f"fit an input of {x.shape[0]} channels"
        )
    if bias is not None and bias.shape != (cout,):
        raise Unsupported(f"bias {bias.name!r} of shape {list(bias.shape)}, expected [{cout}]")
    padding = b["padding"]
    stride = as_pair(b["stride"], "stride")
    if padding == "same" and stride != (1, 1):
        raise Unsupported("padding='same' with a stride other than 1")
    if isinstance(padding, str) and padding not in ("same", "valid"):
        raise Unsupported(f"padding={padding!r} (only an int, a pair, 'same' or 'valid')")
    return _lower_conv2d(
        in_channels=x.shape[0],
        out_channels=cout,
        kernel=(kh, kw),
        stride=stride,
        padding=padding,
        dilation=as_pair(b["dilation"], "dilation"),
        groups=groups,
        padding_mode="zeros",
        params={"weight": weight.name, "bias": None if bias is None else bias.name},
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


def _conv_infer(attrs: Attrs, shapes: list[Shape]) -> Shape:
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
        window_out(h, kh, sh, ph, dh, "height"),
        window_out(w, kw, sw, pw, dw, "width"),
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


# --- ONNX -----------------------------------------------------------------------------------


@onnx_import(
    "Conv",
    ops=("conv2d", "constant_pad2d"),
    form="2-D; constant weight (and bias); any `auto_pad`, `pads`, `group`, `strides`, "
    "`dilations`: `SAME_UPPER`/`SAME_LOWER` and asymmetric `pads` become constant_pad2d + conv2d",
)
def _conv_from_onnx(im: Importer, node: NodeProto) -> None:
    attrs = im.attrs(node)
    x = im.image(node.input[0])
    w, (out_c, per_group, kh, kw), kernel = onnx_conv_weight(im, node, attrs, "convolution")
    attrs, pre_pad = _explicit_pads(attrs, x.shape, kernel)
    if pre_pad is not None:  # asymmetric: a constant_pad2d of zeros first, then an unpadded conv
        padded = f"{node.output[0]}.pad"
        while padded in im.env:
            padded += "_"
        im.emit(
            "constant_pad2d",
            [x],
            padded,
            attrs=pad_attrs("constant_pad2d", *pre_pad),
            node_name=f"{node.name or 'Conv'}_pad",
        )
        x = im.image(padded)
    strides, pads, dilations = im.spatial(node, attrs, kernel)
    groups = int(attrs.get("group", 1))
    c = x.shape[0]
    if groups < 1 or c % groups or out_c % groups or per_group * groups != c:
        raise im.fail(
            f"weight shape {list(w.array.shape)} with group={groups} does not fit "
            f"{c} input channels"
        )
    params = onnx_conv_params(im, node, w, out_c)
    im.emit(
        "conv2d",
        [x],
        node.output[0],
        attrs={
            "in_channels": c,
            "out_channels": out_c,
            "kernel_size": (kh, kw),
            "stride": tuple(strides),
            "padding": tuple(pads),
            "dilation": tuple(dilations),
            "groups": groups,
        },
        params=params,
    )


def onnx_conv_weight(
    im: Importer, node: NodeProto, attrs: dict, what: str
) -> tuple[Const, tuple[int, int, int, int], list[int]]:
    """The constant 4-D weight of an ONNX Conv / ConvTranspose (``what`` names the kind), its
    shape and the kernel_shape, which must match the weight's."""
    w = im.const(node.input[1], "weight")
    if w.array.ndim != 4:
        raise im.fail(
            f"weight {node.input[1]!r} has shape {list(w.array.shape)}; pd2java "
            f"supports 2-D {what} (a 4-D weight)"
        )
    a, b, kh, kw = (int(v) for v in w.array.shape)
    kernel = int_list(attrs.get("kernel_shape", [kh, kw]))
    if kernel != [kh, kw]:
        raise im.fail(f"kernel_shape {kernel} does not match the weight's {[kh, kw]}")
    return w, (a, b, kh, kw), kernel


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
) -> tuple[dict, tuple[int, int, int, int] | None]:
    """Conv attributes with ``auto_pad`` SAME_UPPER/SAME_LOWER resolved to explicit pads (ONNX's
    rule: total = max((ceil(in / s) - 1) * s + d * (k - 1) + 1 - in, 0), the odd one at the end
    for SAME_UPPER, at the start for SAME_LOWER); and when the pads are asymmetric, pads 0 plus
    the (top, bottom, left, right) a constant_pad2d must add first. Malformed values are left
    for ``Importer.spatial`` to refuse."""
    raw = attrs.get("auto_pad", b"NOTSET")
    auto_pad = raw.decode() if isinstance(raw, bytes) else str(raw)
    strides = int_list(attrs.get("strides", [1, 1]))
    dilations = int_list(attrs.get("dilations", [1, 1]))
    if len(kernel) != 2 or len(strides) != 2 or len(dilations) != 2:
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
        pads = int_list(attrs.get("pads", [0, 0, 0, 0]))
        if len(pads) != 4 or min(pads) < 0:
            return attrs, None
    else:
        return attrs, None
    attrs = {**attrs, "auto_pad": b"NOTSET"}
    if pads[0] == pads[2] and pads[1] == pads[3]:
        return {**attrs, "pads": pads}, None
    return {**attrs, "pads": [0, 0, 0, 0]}, (pads[0], pads[2], pads[1], pads[3])


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
    e.add(
        "Conv",
        onnx_weight_bias_inputs(e, node),
        node.outputs,
        node.name,
        kernel_shape=e.pair(node, "kernel_size"),
        strides=e.pair(node, "stride"),
        pads=[ph, pw, ph, pw],
        dilations=e.pair(node, "dilation"),
        group=int(node.attrs["groups"]),
    )
