"""What a torch lowering sees and returns, shared by the op families and the fx front end.

A lowering turns one torch module (or functional / method call, with its arguments already
resolved by the front end) into an op of the table with every attribute explicit. It never
imports torch: it only reads attributes of the module object it is given, or the ``Call``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pd2java.ir import AttrValue


class Unsupported(Exception):
    """A torch construct outside op set v1; the message says which setting is the problem."""


@dataclass(frozen=True)
class Value:
    """A per-sample tensor value as a lowering sees it: its IR name and per-sample shape."""

    name: str
    shape: tuple[int, ...]

    @property
    def rank(self) -> int:
        """Rank of the torch tensor, batch axis included."""
        return len(self.shape) + 1


@dataclass(frozen=True, eq=False)
class ConstantOperand:
    """A constant operand of an elementwise op (``x * 0.5``, ``x - self.mean``), the same for
    every sample: a Python number (``value``, shape ``(1,)``) or a tensor of the model
    (``source``) viewed with per-sample ``shape``. The front end writes it as a ``constant`` node
    feeding the op."""

    shape: tuple[int, ...]
    value: np.ndarray | None = None
    source: Constant | None = None


def as_operand(value: Any, rank: int) -> ConstantOperand | None:
    """``value`` as the constant operand of an elementwise op whose other operand has ``rank``
    per-sample dims, or None when it is a run-time value. A tensor of the model broadcasts with
    the torch value *including* its batch axis, so its leading size-1 axes beyond ``rank`` are
    dropped, any other extra axis (which would broadcast over the batch) is refused, and a 0-D
    tensor becomes ``(1,)``."""
    if is_runtime(value):
        return None
    if isinstance(value, Constant):
        shape = list(value.shape)
        while len(shape) > rank and shape[0] == 1:
            shape.pop(0)
        if len(shape) > rank:
            raise Unsupported(
                f"tensor attribute {value.name!r} of shape {list(value.shape)} would broadcast "
                f"over the batch axis of a value with {rank} per-sample dims"
            )
        return ConstantOperand(tuple(shape) or (1,), source=value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Unsupported(f"constant {value!r} is not a number or a tensor of the model")
    if not np.isfinite(float(value)) or abs(float(value)) > float(np.finfo(np.float32).max):
        raise Unsupported(f"constant {value!r} is not finite as a float32")
    return ConstantOperand((1,), value=np.full((1,), float(value), dtype=np.float32))


@dataclass(frozen=True)
class Lowered:
    """An op with its attrs. ``params`` maps a slot to the module's tensor attribute name
    (``"weight"``, ``"running_mean"``) or None for an absent optional slot. ``op`` None means
    "no op" (Dropout, Identity): the input passes through. ``inputs`` are the op's tensor inputs;
    empty means the call's first argument. An input may be a ``ConstantOperand`` (``x * 0.5``):
    the front end writes it as a ``constant`` node feeding the op."""

    op: str | None
    attrs: Mapping[str, AttrValue] = field(default_factory=dict)
    params: Mapping[str, str | None] = field(default_factory=dict)
    inputs: tuple[Value | ConstantOperand, ...] = ()
    # The op version to write; None: the newest (``current_version``). A lowering picks an older
    # version when it is enough (``add@1`` for two equal shapes), so existing exports stay as
    # they were when a new version is added.
    version: int | None = None


IDENTITY = Lowered(None)


class _Previous:
    def __repr__(self) -> str:
        return "PREVIOUS"


# In a later step's ``inputs`` of a ``LoweredSeq``: the previous step's output.
PREVIOUS = _Previous()


@dataclass(frozen=True)
class LoweredSeq:
    """Several ops applied one after the other (``nn.Conv2d(padding_mode='circular')``: a pad
    op, then conv2d with padding 0). The first step takes the call's inputs (or its own
    ``inputs``); each later step takes the previous step's output, or names its inputs with
    ``PREVIOUS`` among them (``torch.cat([a, b, c])``: concat(a, b), then concat(PREVIOUS, c)).
    Every step's ``params`` name attributes of the one module lowered; no step may be "no op"."""

    steps: tuple[Lowered, ...]

    def __post_init__(self) -> None:
        if not self.steps or any(s.op is None for s in self.steps):
            raise ValueError("a LoweredSeq needs at least one step, each an op")
        if any(PREVIOUS in s.inputs for s in self.steps[:1]):
            raise ValueError("the first step of a LoweredSeq has no previous step")
        if any(s.inputs and PREVIOUS not in s.inputs for s in self.steps[1:]):
            raise ValueError("a later step of a LoweredSeq naming its inputs must use PREVIOUS")


def steps_of(lowered: Lowered | LoweredSeq) -> tuple[Lowered, ...]:
    """The ops a lowering gives, in order: one for a ``Lowered``, each step of a sequence."""
    return lowered.steps if isinstance(lowered, LoweredSeq) else (lowered,)


class Pending:
    """A partial result only a later call may consume (``x.mean(3)`` awaiting ``.mean(2)``).

    A lowering returns it instead of a ``Lowered``; the front end keeps it as the call's value and
    hands it back as an argument of later calls. ``misuse`` says why it cannot be used elsewhere.
    """

    misuse = "this partial result can only be consumed by the call that completes it"


class _BatchSize:
    def __repr__(self) -> str:
        return "x.size(0)"


# ``x.size(0)`` / ``x.shape[0]`` as an argument: only meaningful as the batch entry of a reshape.
BATCH = _BatchSize()


@dataclass(frozen=True)
class Opaque:
    """A run-time value that is neither a tensor nor the batch size (``x.shape``, a placeholder
    fixed to its default)."""

    name: str


@dataclass(frozen=True)
class Constant:
    """A constant tensor argument: a parameter, buffer or tensor attribute of the traced model
    (``self.weight`` in ``F.conv2d(x, self.weight)``), by its qualified attribute name
    (``"features.0.weight"``) and its full shape (no batch axis: it is not per-sample).

    A lowering binds it to a parameter slot by putting its ``name`` in ``Lowered.params``; the
    front end stores the tensor once under that name, however often it is used. ``flattened()``
    names the same values as a 1-D tensor, for slots stored flat (layer_norm's weight)."""

    name: str
    shape: tuple[int, ...]

    def flattened(self) -> Constant:
        """The same values as one 1-D tensor, named ``<name>_flat`` (itself if already 1-D)."""
        if len(self.shape) == 1:
            return self
        size = 1
        for d in self.shape:
            size *= d
        return Constant(f"{self.name}{FLAT_SUFFIX}", (size,))


# The name suffix of a flattened ``Constant``; the front end derives the flat tensor from it.
FLAT_SUFFIX = "_flat"


@dataclass(frozen=True)
class Call:
    """A functional or method call: every argument, run-time ones resolved by the front end to
    ``Value``, ``Pending``, ``BATCH`` or ``Opaque``; tensor attributes of the model to
    ``Constant``; other constants as they are."""

    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]

    def tensor(self, index: int = 0) -> Value:
        """Positional argument ``index`` as a tensor value; Unsupported otherwise."""
        if index >= len(self.args):
            raise Unsupported(f"missing tensor argument {index}")
        return as_tensor(self.args[index])

    def bind(
        self,
        names: Sequence[str],
        defaults: Mapping[str, Any],
        *,
        ignored: Sequence[str] = ("input", "inplace", "_stacklevel"),
        tensors: Sequence[str] = (),
    ) -> dict[str, Any]:
        """``args[1:]`` and kwargs bound to ``names`` (the parameters after the tensor input);
        every bound value must be a constant. The names in ``tensors`` take a ``Constant`` (a
        tensor of the model, for a parameter slot) or None; no other name takes a ``Constant``."""
        values: dict[str, Any] = dict(defaults)
        rest = self.args[1:]
        if len(rest) > len(names):
            raise Unsupported(f"too many arguments {list(rest)}")
        for name, value in zip(names, rest):
            values[name] = value
        for key, value in self.kwargs.items():
            if key in ignored:
                continue
            if key not in names:
                raise Unsupported(f"unsupported keyword argument {key}={value!r}")
            values[key] = value
        missing = [n for n in names if n not in values]
        if missing:
            raise Unsupported(f"missing argument(s) {missing}")
        for key, value in values.items():
            if key in tensors:
                if value is not None and not isinstance(value, Constant):
                    raise Unsupported(_not_a_constant_tensor(key, value))
                continue
            if is_runtime(value):
                raise Unsupported(
                    f"argument {key} depends on the input at run time; it must be constant"
                )
            if _holds_constant(value):
                raise Unsupported(
                    f"argument {key} is a tensor attribute of the model ({value!r}); "
                    "it must be a plain constant"
                )
        return values


def _not_a_constant_tensor(key: str, value: Any) -> str:
    """Why ``value`` cannot fill the parameter slot argument ``key``."""
    if isinstance(value, Value):
        what = f"the tensor {value.name!r}, computed from the input at run time"
    elif isinstance(value, Opaque):
        what = f"{value.name!r}, computed from the input at run time"
    elif isinstance(value, Pending) or value is BATCH:
        what = "a value known only at run time"
    else:
        what = f"the constant {value!r}, not a tensor"
    return (
        f"argument {key} is {what}; it is stored with the op as a weight, so it must be a "
        "parameter or buffer of the model (e.g. self.weight, or a view of it such as "
        "self.weight.view(...))"
    )


def _holds_constant(value: Any) -> bool:
    if isinstance(value, Constant):
        return True
    if isinstance(value, (list, tuple)):
        return any(_holds_constant(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_constant(v) for v in value.values())
    return False


def as_tensor(value: Any) -> Value:
    """``value`` as a tensor value; Unsupported naming what it is otherwise."""
    if isinstance(value, Value):
        return value
    if isinstance(value, Pending):
        raise Unsupported(value.misuse)
    if isinstance(value, Opaque):
        raise Unsupported(f"argument {value.name!r} is not a tensor value")
    if value is BATCH:
        raise Unsupported("argument x.size(0) is not a tensor value")
    if isinstance(value, Constant):
        raise Unsupported(
            f"tensor attribute {value.name!r} of the model where a tensor computed from the "
            "input is needed (a model attribute is only accepted as the weight of an op)"
        )
    raise Unsupported(f"constant {value!r} where a tensor value is needed")


def is_runtime(value: Any) -> bool:
    """True if ``value`` is (or holds) a value known only at run time."""
    if isinstance(value, (Value, Pending, Opaque)) or value is BATCH:
        return True
    if isinstance(value, (list, tuple)):
        return any(is_runtime(v) for v in value)
    if isinstance(value, dict):
        return any(is_runtime(v) for v in value.values())
    return False


def as_pair(value: object, what: str) -> tuple[int, int]:
    """PyTorch's int-or-pair argument as an explicit (h, w) pair of ints."""
    if isinstance(value, bool):
        raise Unsupported(f"{what}={value!r} is not an int or pair of ints")
    if isinstance(value, int):
        return (value, value)
    if (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        return (int(value[0]), int(value[1]))
    if isinstance(value, (tuple, list)) and len(value) == 1 and isinstance(value[0], int):
        return (int(value[0]), int(value[0]))
    raise Unsupported(f"{what}={value!r} is not an int or pair of ints")


def as_single(value: object, what: str) -> int:
    """PyTorch's int-or-1-tuple argument of a 1-D op (``Conv1d.kernel_size`` is ``(k,)``)."""
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, int):
        raise Unsupported(f"{what}={value!r} is not an int")
    return int(value)
