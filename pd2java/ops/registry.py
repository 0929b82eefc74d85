"""Registry of op implementations: shape rule, parameter shapes and NumPy reference kernel.

Each op family module (``conv``, ``norm``, ``activation``, ``pool``, ``shape``, ``linear``,
``elementwise``) registers its ops here with :func:`register`; :func:`impl` looks one up. The
registry is checked against ``pd2java.ops.table`` in both directions (``check_complete`` and
tests), so an op cannot exist in one and not the other. NumPy only: no torch import here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from pd2java.errors import ErrorCode
from pd2java.ops.table import OPS, lookup

Shape = tuple[int, ...]
Attrs = Mapping[str, object]
InferFn = Callable[[Attrs, list[Shape]], Shape]
ParamShapesFn = Callable[[Attrs], dict[str, Shape]]
KernelFn = Callable[[Attrs, list[np.ndarray], Mapping[str, "np.ndarray | None"]], np.ndarray]

FAMILIES = (
    "conv",
    "norm",
    "activation",
    "pool",
    "shape",
    "linear",
    "elementwise",
    "pad",
    "upsample",
)


class ShapeError(ValueError):
    """An input shape, attribute or parameter shape that the op's rule rejects.

    ``code`` is the :class:`ErrorCode` a reader reports: SHAPE_MISMATCH (the default) when the
    input shape does not fit the op, INVALID_ATTRIBUTE when an attribute value is invalid whatever
    the input (a zero kernel, a non-positive eps, padding over half the kernel).
    """

    def __init__(self, message: str, code: ErrorCode = ErrorCode.SHAPE_MISMATCH) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class OpImpl:
    """How one ``name@version`` behaves: per-sample shape rule, param shapes and NumPy kernel.

    ``infer(attrs, input_shapes)`` returns the per-sample output shape (batch axis implicit) or
    raises ShapeError; ``param_shapes(attrs)`` gives the required shape of every parameter slot;
    ``kernel(attrs, inputs, params)`` computes on batched float32 arrays (batch axis first).
    """

    key: str
    infer: InferFn
    param_shapes: ParamShapesFn
    kernel: KernelFn


_IMPLS: dict[str, OpImpl] = {}


def _no_params(attrs: Attrs) -> dict[str, Shape]:
    return {}


def register(
    name: str, version: int, *, infer: InferFn, param_shapes: ParamShapesFn = _no_params
) -> Callable[[KernelFn], KernelFn]:
    """Decorator registering ``kernel`` as ``name@version``; rejects duplicates and ops absent
    from the table."""
    spec = lookup(name, version)

    def deco(kernel: KernelFn) -> KernelFn:
        if spec.key in _IMPLS:
            raise RuntimeError(f"op {spec.key} registered twice")
        _IMPLS[spec.key] = OpImpl(spec.key, infer, param_shapes, kernel)
        return kernel

    return deco


def _load() -> None:
    for family in FAMILIES:
        importlib.import_module(f"pd2java.ops.{family}")


def impl(key: str) -> OpImpl:
    """The implementation of ``key`` (``"conv2d@1"``); KeyError listing what exists otherwise."""
    _load()
    found = _IMPLS.get(key)
    if found is None:
        raise KeyError(f"no implementation of op {key}; implemented: {', '.join(sorted(_IMPLS))}")
    return found


def implemented() -> dict[str, OpImpl]:
    """Every registered implementation, by key."""
    _load()
    return dict(_IMPLS)


def check_complete() -> None:
    """Raise if the table and the registry disagree in either direction."""
    have = set(implemented())
    want = set(OPS)
    if have != want:
        raise RuntimeError(
            f"op table and implementations disagree: missing {sorted(want - have)}, "
            f"extra {sorted(have - want)}"
        )


# --- small shared helpers for the families --------------------------------------------------


def pair(value: object, what: str) -> tuple[int, int]:
    """An ``int2`` attribute as a tuple, checked."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ShapeError(
            f"{what} must be a pair of ints, got {value!r}", ErrorCode.INVALID_ATTRIBUTE
        )
    a, b = value
    if (
        isinstance(a, bool)
        or isinstance(b, bool)
        or not isinstance(a, int)
        or not isinstance(b, int)
    ):
        raise ShapeError(
            f"{what} must be a pair of ints, got {value!r}", ErrorCode.INVALID_ATTRIBUTE
        )
    return int(a), int(b)


def single(value: object, what: str) -> int:
    """An ``int`` attribute, checked (a bool is not an int)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ShapeError(f"{what} must be an int, got {value!r}", ErrorCode.INVALID_ATTRIBUTE)
    return int(value)


def want_rank(shape: Shape, rank: int, what: str) -> None:
    if len(shape) != rank:
        raise ShapeError(f"{what} needs a {rank}-D per-sample input, got shape {list(shape)}")


def window_out(size: int, k: int, s: int, p: int, d: int, axis: str) -> int:
    """Floor output length of a sliding window (PyTorch's formula, no ceil_mode)."""
    if k < 1 or s < 1 or d < 1 or p < 0:
        raise ShapeError(
            f"{axis}: kernel, stride, dilation must be >= 1 and padding >= 0",
            ErrorCode.INVALID_ATTRIBUTE,
        )
    span = d * (k - 1) + 1
    n = (size + 2 * p - span) // s + 1
    if size + 2 * p < span or n < 1:
        raise ShapeError(
            f"{axis}: window of span {span} does not fit input length {size} with padding {p}"
        )
    return n


def check_pool_padding(kernel: tuple[int, int], padding: tuple[int, int]) -> None:
    """The pools' padding rule (PyTorch's): at most half the kernel on each axis."""
    if 2 * padding[0] > kernel[0] or 2 * padding[1] > kernel[1]:
        raise ShapeError(
            f"padding {list(padding)} must not exceed half the kernel {list(kernel)} "
            "(at most kernel // 2, as in PyTorch)",
            ErrorCode.INVALID_ATTRIBUTE,
        )
