"""Activations (relu, relu6, leaky_relu, sigmoid, softmax): torch lowerings, shape rules and
NumPy kernels. nn.Hardtanh(0, 6) and torch.clamp(x, 0, 6) lower to relu6."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from pd2java.ops.lowering import Lowered, Unsupported
from pd2java.ops.registry import Attrs, Shape, ShapeError, register


def _same(attrs: Attrs, shapes: list[Shape]) -> Shape:
    (shape,) = shapes
    return shape


def lower_relu_module(mod: object) -> Lowered:
    return Lowered("relu")


def lower_relu6_module(mod: object) -> Lowered:
    return Lowered("relu6")


def lower_leaky_relu_module(mod: object) -> Lowered:
    return Lowered("leaky_relu", {"negative_slope": float(mod.negative_slope)})


def lower_sigmoid_module(mod: object) -> Lowered:
    return Lowered("sigmoid")


def lower_clamp(min_val: object, max_val: object) -> Lowered:
    """Hardtanh / clamp with explicit bounds: only (0, 6) (relu6) and (0, None) (relu) exist."""
    lo = None if min_val is None else float(min_val)
    hi = None if max_val is None else float(max_val)
    if lo == 0.0 and hi == 6.0:
        return Lowered("relu6")
    if lo == 0.0 and hi is None:
        return Lowered("relu")
    raise Unsupported(f"clamp/hardtanh to [{min_val}, {max_val}] (only [0, 6] is relu6)")


def lower_hardtanh_module(mod: object) -> Lowered:
    return lower_clamp(mod.min_val, mod.max_val)


def lower_leaky_relu_call(negative_slope: float = 0.01, inplace: bool = False) -> Lowered:
    return Lowered("leaky_relu", {"negative_slope": float(negative_slope)})


def lower_softmax(dim: object, rank: int) -> Lowered:
    """Softmax over the class axis of a (N, K) value; dim may be 1 or -1."""
    if rank != 2:
        raise Unsupported(f"softmax of a rank-{rank} tensor (only (N, K) is supported)")
    if dim is None:  # PyTorch's implicit choice for a 2-D input is dim 1
        dim = 1
    if dim not in (1, -1):
        raise Unsupported(f"softmax over dim={dim!r} (only the class axis, dim=1, is supported)")
    return Lowered("softmax", {"dim": 1})


@register("relu", 1, infer=_same)
def relu_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    return np.maximum(inputs[0], np.float32(0))


@register("relu6", 1, infer=_same)
def relu6_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    return np.minimum(np.maximum(inputs[0], np.float32(0)), np.float32(6))


@register("leaky_relu", 1, infer=_same)
def leaky_relu_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    x = inputs[0]
    slope = np.float32(attrs["negative_slope"])
    return np.where(x >= 0, x, x * slope).astype(np.float32)


@register("sigmoid", 1, infer=_same)
def sigmoid_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    x = inputs[0].astype(np.float64)
    # exp(-logaddexp(0, -x)) == 1 / (1 + exp(-x)) without overflow for large |x|.
    return np.exp(-np.logaddexp(0.0, -x)).astype(np.float32)


def _softmax_infer(attrs: Attrs, shapes: list[Shape]) -> Shape:
    (shape,) = shapes
    dim = attrs["dim"]
    if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= len(shape):
        raise ShapeError(
            f"softmax dim={dim!r} is not an axis of a value of per-sample shape {list(shape)} "
            "(dim counts the batch axis: 1 is the first per-sample axis)"
        )
    return shape


@register("softmax", 1, infer=_softmax_infer)
def softmax_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    x = inputs[0].astype(np.float64)
    axis = int(attrs["dim"])  # counted with the batch axis, like the batched array here
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return (e / e.sum(axis=axis, keepdims=True)).astype(np.float32)
