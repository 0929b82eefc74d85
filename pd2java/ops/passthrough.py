"""Torch forms that compute nothing at inference (Dropout, AlphaDropout, Identity,
``x.contiguous()``): they lower to no op, so their output is their input. No table op, no
kernel; loaded with the families by ``pd2java.ops.frontend_registry``."""

from __future__ import annotations

from pd2java.ops.frontend_registry import torch_function, torch_module
from pd2java.ops.lowering import IDENTITY, Call, Lowered, Value


def _identity_module(mod: object, x: Value) -> Lowered:
    return IDENTITY


for _target in (
    "torch.nn.Dropout",
    "torch.nn.Dropout2d",
    "torch.nn.AlphaDropout",
    "torch.nn.Identity",
):
    torch_module(_target, ops=())(_identity_module)


@torch_function(
    "torch.nn.functional.dropout",
    "torch.nn.functional.dropout2d",
    "torch.nn.functional.alpha_dropout",
    "torch.dropout",
    methods=("contiguous",),
    ops=(),
)
def _passthrough_call(call: Call) -> Lowered:
    call.tensor(0)
    return IDENTITY
