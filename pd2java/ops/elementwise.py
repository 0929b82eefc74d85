"""add: lowering of ``a + b`` / ``torch.add(a, b)`` (two tensors, same shape, alpha 1), shape
rule and NumPy kernel."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from pd2java.ops.registry import Attrs, Shape, ShapeError, register


def _add_infer(attrs: Attrs, shapes: list[Shape]) -> Shape:
    a, b = shapes
    if a != b:
        raise ShapeError(f"add needs equal shapes (no broadcasting), got {list(a)} and {list(b)}")
    return a


@register("add", 1, infer=_add_infer)
def add_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    return (inputs[0] + inputs[1]).astype(np.float32)
