"""What a torch lowering returns, shared by the op families and the fx front end.

A lowering turns one torch module (or functional call, with its constant arguments already
resolved) into an op of the table with every attribute explicit. It never imports torch: it only
reads attributes of the module object it is given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pd2java.ir import AttrValue


class Unsupported(Exception):
    """A torch construct outside op set v1; the message says which setting is the problem."""


@dataclass(frozen=True)
class Lowered:
    """An op with its attrs. ``params`` maps a slot to the module's tensor attribute name
    (``"weight"``, ``"running_mean"``) or None for an absent optional slot. ``op`` None means
    "no op" (Dropout, Identity): the input passes through."""

    op: str | None
    attrs: Mapping[str, AttrValue] = field(default_factory=dict)
    params: Mapping[str, str | None] = field(default_factory=dict)


IDENTITY = Lowered(None)


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
