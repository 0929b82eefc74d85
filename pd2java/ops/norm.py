"""batch_norm2d: torch lowering (nn.BatchNorm2d in eval mode), shape rule, NumPy kernel."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from pd2java.ops.lowering import Lowered, Unsupported
from pd2java.ops.registry import Attrs, Shape, ShapeError, register, want_rank


def lower_batch_norm2d_module(mod: object) -> Lowered:
    """nn.BatchNorm2d -> batch_norm2d using its running statistics (eval semantics)."""
    if not getattr(mod, "track_running_stats", True) or mod.running_mean is None:
        raise Unsupported("BatchNorm2d(track_running_stats=False) has no statistics to export")
    affine = mod.weight is not None
    return Lowered(
        "batch_norm2d",
        {"num_features": int(mod.num_features), "eps": float(mod.eps)},
        {
            "running_mean": "running_mean",
            "running_var": "running_var",
            "weight": "weight" if affine else None,
            "bias": "bias" if mod.bias is not None else None,
        },
    )


def _bn_param_shapes(attrs: Attrs) -> dict[str, Shape]:
    c = int(attrs["num_features"])
    return {"running_mean": (c,), "running_var": (c,), "weight": (c,), "bias": (c,)}


def _bn_infer(attrs: Attrs, shapes: list[Shape]) -> Shape:
    (shape,) = shapes
    want_rank(shape, 3, "batch_norm2d")
    if shape[0] != attrs["num_features"]:
        raise ShapeError(f"input has {shape[0]} channels but num_features={attrs['num_features']}")
    if not float(attrs["eps"]) > 0:  # type: ignore[arg-type]
        raise ShapeError(f"eps must be > 0, got {attrs['eps']}")
    return shape


def bn_scale_shift(
    attrs: Attrs, params: Mapping[str, np.ndarray | None]
) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel float64 (scale, shift) with bn(x) = x * scale + shift; shared by fold_bn."""
    mean = params["running_mean"].astype(np.float64)  # type: ignore[union-attr]
    var = params["running_var"].astype(np.float64)  # type: ignore[union-attr]
    gamma = params["weight"]
    beta = params["bias"]
    scale = 1.0 / np.sqrt(var + float(attrs["eps"]))  # type: ignore[arg-type]
    if gamma is not None:
        scale = scale * gamma.astype(np.float64)
    shift = -mean * scale
    if beta is not None:
        shift = shift + beta.astype(np.float64)
    return scale, shift


@register("batch_norm2d", 1, infer=_bn_infer, param_shapes=_bn_param_shapes)
def batch_norm2d_kernel(
    attrs: Attrs, inputs: list[np.ndarray], params: Mapping[str, np.ndarray | None]
) -> np.ndarray:
    """(x - mean) / sqrt(var + eps) * weight + bias, per channel, on (N, C, H, W)."""
    x = inputs[0].astype(np.float64)
    mean = params["running_mean"].astype(np.float64)  # type: ignore[union-attr]
    var = params["running_var"].astype(np.float64)  # type: ignore[union-attr]
    y = (x - mean[None, :, None, None]) / np.sqrt(var + float(attrs["eps"]))[None, :, None, None]
    if params["weight"] is not None:
        y = y * params["weight"].astype(np.float64)[None, :, None, None]
    if params["bias"] is not None:
        y = y + params["bias"].astype(np.float64)[None, :, None, None]
    return y.astype(np.float32)
