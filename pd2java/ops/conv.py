"""conv2d: torch lowering (nn.Conv2d), shape rule, NumPy reference kernel and ONNX mappings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from pd2java.errors import ErrorCode
from pd2java.ops.frontend_registry import onnx_export, onnx_import, torch_module
from pd2java.ops.lowering import Lowered, Unsupported, Value, as_pair
from pd2java.ops.onnx_conventions import int_list
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
    ops=("conv2d",),
    note="any groups, stride, dilation, zero padding incl. `'same'`/`'valid'`, "
    "with or without bias",
)
def lower_conv2d_module(mod: object, x: Value) -> Lowered:
    """nn.Conv2d -> conv2d. Only zero padding; 'same'/'valid' strings become explicit pads."""
    padding_mode = getattr(mod, "padding_mode", "zeros")
    if padding_mode != "zeros":
        raise Unsupported(f"padding_mode={padding_mode!r} (only 'zeros' is supported)")
    kernel = as_pair(mod.kernel_size, "kernel_size")
    dilation = as_pair(mod.dilation, "dilation")
    stride = as_pair(mod.stride, "stride")
    padding = mod.padding
    if padding == "valid":
        padding = (0, 0)
    elif padding == "same":
        # PyTorch pads asymmetrically when the total padding is odd; v1 has symmetric pads only.
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        if any(t % 2 for t in totals):
            raise Unsupported("padding='same' with an even receptive field needs asymmetric pads")
        padding = (totals[0] // 2, totals[1] // 2)
    return Lowered(
        "conv2d",
        {
            "in_channels": int(mod.in_channels),
            "out_channels": int(mod.out_channels),
            "kernel_size": kernel,
            "stride": stride,
            "padding": as_pair(padding, "padding"),
            "dilation": dilation,
            "groups": int(mod.groups),
        },
        {"weight": "weight", "bias": "bias" if mod.bias is not None else None},
    )


def conv_param_shapes(attrs: Attrs) -> dict[str, Shape]:
    kh, kw = pair(attrs["kernel_size"], "kernel_size")
    cin, cout, groups = int(attrs["in_channels"]), int(attrs["out_channels"]), int(attrs["groups"])
    if groups < 1 or cin < 1 or cout < 1 or cin % groups or cout % groups:
        raise ShapeError(
            f"groups={groups} must divide in_channels={cin} and out_channels={cout}, all >= 1",
            ErrorCode.INVALID_ATTRIBUTE,
        )
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
    ops=("conv2d",),
    form="2-D; constant weight (and bias); `auto_pad` NOTSET or VALID; symmetric `pads`; any "
    "`group`, `strides`, `dilations`",
)
def _conv_from_onnx(im: Importer, node: NodeProto) -> None:
    attrs = im.attrs(node)
    x = im.image(node.input[0])
    w = im.const(node.input[1], "weight")
    if w.array.ndim != 4:
        raise im.fail(
            f"weight {node.input[1]!r} has shape {list(w.array.shape)}; pd2java "
            "supports 2-D convolution (a 4-D weight)"
        )
    out_c, per_group, kh, kw = (int(v) for v in w.array.shape)
    kernel = int_list(attrs.get("kernel_shape", [kh, kw]))
    if kernel != [kh, kw]:
        raise im.fail(f"kernel_shape {kernel} does not match the weight's {[kh, kw]}")
    strides, pads, dilations = im.spatial(node, attrs, kernel)
    groups = int(attrs.get("group", 1))
    c = x.shape[0]
    if groups < 1 or c % groups or out_c % groups or per_group * groups != c:
        raise im.fail(
            f"weight shape {list(w.array.shape)} with group={groups} does not fit "
            f"{c} input channels"
        )
    params: dict[str, str | None] = {"weight": im.param(w, w.array, "", "weight"), "bias": None}
    if len(node.input) > 2 and node.input[2]:
        b = im.const(node.input[2], "bias")
        if b.array.shape != (out_c,):
            raise im.fail(
                f"bias {node.input[2]!r} has shape {list(b.array.shape)}, expected [{out_c}]"
            )
        params["bias"] = im.param(b, b.array, "", "bias")
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


@onnx_export(
    "conv2d",
    1,
    doc="`Conv` (`kernel_shape`, `strides`, `pads` = `[ph, pw, ph, pw]`, `dilations`, `group`); "
    "bias input only when present",
)
def _conv_to_onnx(e: Emitter, node: Node) -> None:
    ph, pw = e.pair(node, "padding")
    inputs = [node.inputs[0], e.tensor(str(node.params["weight"]), node)]
    if node.params.get("bias") is not None:
        inputs.append(e.tensor(str(node.params["bias"]), node))
    e.add(
        "Conv",
        inputs,
        node.outputs,
        node.name,
        kernel_shape=e.pair(node, "kernel_size"),
        strides=e.pair(node, "stride"),
        pads=[ph, pw, ph, pw],
        dilations=e.pair(node, "dilation"),
        group=int(node.attrs["groups"]),
    )
