"""linear: torch lowering (nn.Linear), shape rule and NumPy kernel."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from pd2java.ops.lowering import Lowered
from pd2java.ops.registry import Attrs, Shape, ShapeError, register, want_rank


def lower_linear_module(mod: object) -> Lowered:
    return Lowered(
        "linear",
        {"in_features": int(mod.in_features), "out_features": int(mod.out_features)},
        {"weight": "weight", "bias": "bias" if mod.bias is not None else None},
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
