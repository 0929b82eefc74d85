"""linear: torch lowering (nn.Linear), shape rule, NumPy kernel and ONNX mappings (Gemm, MatMul
with the bias Add after it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from pd2java.ops.frontend_registry import onnx_export, onnx_import, torch_function, torch_module
from pd2java.ops.lowering import Call, Lowered, Unsupported, Value
from pd2java.ops.onnx_conventions import Const, Runtime
from pd2java.ops.registry import Attrs, Shape, ShapeError, register, want_rank

if TYPE_CHECKING:
    from onnx import NodeProto

    from pd2java.backends.onnx import Emitter
    from pd2java.frontends.onnx import Importer
    from pd2java.ir import Node


@torch_module("torch.nn.Linear", ops=("linear",))
def lower_linear_module(mod: object, x: Value) -> Lowered:
    return Lowered(
        "linear",
        {"in_features": int(mod.in_features), "out_features": int(mod.out_features)},
        {"weight": "weight", "bias": "bias" if mod.bias is not None else None},
    )


@torch_function(
    "torch.nn.functional.linear",
    ops=("linear",),
    shown={"torch.nn.functional.linear": "F.linear(x, self.w, self.b)"},
    note="F.linear: weight and bias tensors of the model",
)
def _linear_call(call: Call) -> Lowered:
    x = call.tensor(0)
    b = call.bind(["weight", "bias"], {"bias": None}, tensors=("weight", "bias"))
    weight, bias = b["weight"], b["bias"]
    if weight is None or len(weight.shape) != 2:
        raise Unsupported(
            "F.linear needs a (out_features, in_features) weight"
            + ("" if weight is None else f"; {weight.name!r} has shape {list(weight.shape)}")
        )
    out_f, in_f = weight.shape
    if x.shape[-1:] != (in_f,):
        raise Unsupported(
            f"weight {weight.name!r} of shape {list(weight.shape)} does not fit an input of "
            f"per-sample shape {list(x.shape)}"
        )
    if bias is not None and bias.shape != (out_f,):
        raise Unsupported(f"bias {bias.name!r} of shape {list(bias.shape)}, expected [{out_f}]")
    return Lowered(
        "linear",
        {"in_features": int(in_f), "out_features": int(out_f)},
        {"weight": weight.name, "bias": None if bias is None else bias.name},
    )


def _linear_param_shapes(attrs: Attrs) -> dict[str, Shape]:
    return {
        "weight": (int(attrs["out_features"]), int(attrs["in_features"])),
        "bias": (int(attrs["out_features"]),),
    }


def _linear_infer(attrs: Attrs, shapes: list[Shape]) -> Shape:
    (shape,) = shapes
    want_rank(shape, 1, "linear")
    if shape[0] != attrs["in_features"]:
        raise ShapeError(f"input has {shape[0]} features but in_features={attrs['in_features']}")
    return (int(attrs["out_features"]),)


@register("linear", 1, infer=_linear_infer, param_shapes=_linear_param_shapes)
def linear_kernel(
    attrs: Attrs, inputs: list[np.ndarray], params: Mapping[str, np.ndarray | None]
) -> np.ndarray:
    """y = x W^T + b, accumulated in float64."""
    y = inputs[0].astype(np.float64) @ params["weight"].astype(np.float64).T  # type: ignore[union-attr]
    if params["bias"] is not None:
        y = y + params["bias"].astype(np.float64)
    return y.astype(np.float32)


# --- ONNX -----------------------------------------------------------------------------------


def _linear_from_onnx(
    im: Importer,
    node: NodeProto,
    x: Runtime,
    weight: Const,
    weight_array: np.ndarray,
    tag: str,
    bias: Const | None,
) -> int:
    out_f, in_f = (int(v) for v in weight_array.shape)
    params: dict[str, str | None] = {
        "weight": im.param(weight, weight_array, tag, "weight"),
        "bias": None,
    }
    if bias is not None:
        vector = _bias_vector(im, bias, out_f)
        # Reuse the tensor as is when no reshaping was needed (the usual [out_features] bias).
        tag = "" if bias.array.shape == (out_f,) else "bias"
        params["bias"] = im.param(bias, vector, tag, "bias")
    return im.emit(
        "linear",
        [x],
        node.output[0],
        attrs={"in_features": in_f, "out_features": out_f},
        params=params,
    )


def _bias_vector(im: Importer, bias: Const, out_f: int) -> np.ndarray:
    array = bias.array
    if array.shape in ((out_f,), (1, out_f)):
        return array.reshape(out_f)
    if array.size == 1:  # a broadcast scalar
        return np.full(out_f, array.reshape(()), dtype=np.float32)
    raise im.fail(
        f"bias {bias.source!r} has shape {list(array.shape)}; expected [{out_f}] or [1, {out_f}]"
    )


def _vector_input(im: Importer, name: str) -> Runtime:
    x = im.runtime(name)
    if len(x.shape) != 1:
        raise im.fail(
            f"its input {name!r} has per-sample shape {list(x.shape)}; a linear layer "
            "needs a flat (N, K) input (Flatten first)"
        )
    return x


@onnx_import(
    "Gemm",
    ops=("linear",),
    form="`alpha` = `beta` = 1, `transA` = 0; `transB` 1, or 0 with the weight transposed; bias "
    "`[K]`, `[1, K]` or a scalar",
)
def _gemm_from_onnx(im: Importer, node: NodeProto) -> None:
    attrs = im.attrs(node)
    alpha, beta = float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0))
    trans_a, trans_b = int(attrs.get("transA", 0)), int(attrs.get("transB", 0))
    if alpha != 1.0 or beta != 1.0 or trans_a:
        raise im.fail(
            f"Gemm(alpha={alpha}, beta={beta}, transA={trans_a}) is not a linear "
            "layer; pd2java supports alpha=1, beta=1, transA=0"
        )
    x = _vector_input(im, node.input[0])
    w = im.const(node.input[1], "weight")
    if w.array.ndim != 2:
        raise im.fail(f"weight {node.input[1]!r} has shape {list(w.array.shape)}; expected 2-D")
    weight = w.array if trans_b else w.array.T
    if weight.shape[1] != x.shape[0]:
        raise im.fail(
            f"weight {node.input[1]!r} (transB={trans_b}) has shape "
            f"{list(w.array.shape)}, which does not take {x.shape[0]} inputs"
        )
    bias = im.const(node.input[2], "bias") if len(node.input) > 2 and node.input[2] else None
    _linear_from_onnx(im, node, x, w, weight, "" if trans_b else "T", bias)


@onnx_import(
    "MatMul",
    ops=("linear",),
    shown="`MatMul` (+ `Add`)",
    form="constant `[in, out]` weight (transposed into the IR); an `Add` of a constant `[out]` / "
    "`[1, out]` right after it (the MatMul's only consumer) becomes the bias",
)
def _matmul_from_onnx(im: Importer, node: NodeProto) -> None:
    x = _vector_input(im, node.input[0])
    w = im.const(node.input[1], "weight (the second MatMul input)")
    if w.array.ndim != 2 or w.array.shape[0] != x.shape[0]:
        raise im.fail(
            f"weight {node.input[1]!r} has shape {list(w.array.shape)}; expected "
            f"[{x.shape[0]}, out_features]"
        )
    index = _linear_from_onnx(im, node, x, w, w.array.T, "T", None)
    im.linear_from_matmul[im.nodes[index].outputs[0]] = index


def fold_matmul_bias(im: Importer, node: NodeProto) -> None:
    """An ONNX Add of a constant right after a MatMul: the bias of that linear layer."""
    a, b = (im.get(name) for name in node.input[:2])
    if isinstance(a, Const) and not isinstance(b, Const):
        a, b = b, a
    assert isinstance(b, Const)
    # MatMul + Add(constant) is a linear layer with a bias: fold the bias into it.
    producer = im.linear_from_matmul.get(a.name) if isinstance(a, Runtime) else None
    source = node.input[0] if isinstance(im.get(node.input[0]), Runtime) else node.input[1]
    if producer is None or im.consumers.get(source, 0) != 1:
        raise im.fail(
            "Add with a constant operand is supported only as the bias after a "
            "MatMul (a linear layer)"
        )
    linear = im.nodes[producer]
    out_f = int(linear.attrs["out_features"])
    bias_key = im.param(b, _bias_vector(im, b, out_f), "bias", "bias")
    im.nodes[producer] = linear.with_(params={**linear.params, "bias": bias_key})
    del im.linear_from_matmul[a.name]  # type: ignore[union-attr]
    im.env[node.output[0]] = a


@onnx_export(
    "linear", 1, doc="`Gemm(alpha=1, beta=1, transA=0, transB=1)`; bias input only when present"
)
def _linear_to_onnx(e: Emitter, node: Node) -> None:
    inputs = [node.inputs[0], e.tensor(str(node.params["weight"]), node)]
    if node.params.get("bias") is not None:
        inputs.append(e.tensor(str(node.params["bias"]), node))
    e.add("Gemm", inputs, node.outputs, node.name, alpha=1.0, beta=1.0, transA=0, transB=1)
