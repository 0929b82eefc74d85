"""flatten: torch lowerings (nn.Flatten, torch.flatten(x, 1), x.view(x.size(0), -1)), shape rule
and NumPy kernel."""

from __future__ import annotations

from collections.abc import Mapping
from math import prod

import numpy as np

from pd2java.ops.lowering import Lowered, Unsupported
from pd2java.ops.registry import Attrs, Shape, register


def lower_flatten_call(start_dim: int = 0, end_dim: int = -1, *, rank: int) -> Lowered:
    """Flattening everything but the batch axis is the only flatten v1 has."""
    start = start_dim + rank if start_dim < 0 else start_dim
    end = end_dim + rank if end_dim < 0 else end_dim
    if start != 1 or end != rank - 1:
        raise Unsupported(
            f"flatten(start_dim={start_dim}, end_dim={end_dim}) of a rank-{rank} tensor "
            "(only flattening all but the batch axis, start_dim=1, is supported)"
        )
    return Lowered("flatten")


def lower_flatten_module(mod: object, *, rank: int) -> Lowered:
    return lower_flatten_call(mod.start_dim, mod.end_dim, rank=rank)


def _flatten_infer(attrs: Attrs, shapes: list[Shape]) -> Shape:
    (shape,) = shapes
    return (prod(shape),)


@register("flatten", 1, infer=_flatten_infer)
def flatten_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    x = inputs[0]
    return np.ascontiguousarray(x).reshape(x.shape[0], -1)
