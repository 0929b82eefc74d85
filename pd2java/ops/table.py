"""The one op table (see docs/CONTRIBUTING.md): every op pd2java can export, declared once.

Everything else (manifest JSON Schema, docs/OPS.md, the fx and ONNX front ends, the NumPy
reference, the check against the Java kernel registry) is derived from or checked against this
table. Attribute names follow PyTorch.

Attribute kinds: ``int``, ``float``, ``bool``, ``int2`` (a list of exactly two ints, [height, width]).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

AttrKind = Literal["int", "float", "bool", "int2"]


@dataclass(frozen=True)
class AttrSpec:
    name: str
    kind: AttrKind
    doc: str


@dataclass(frozen=True)
class ParamSpec:
    name: str
    optional: bool
    doc: str
    # Every element must be >= 0 (a batch norm's running variance); both readers refuse others.
    nonnegative: bool = False


@dataclass(frozen=True)
class OpSpec:
    name: str
    version: int
    num_inputs: int
    params: tuple[ParamSpec, ...]
    attrs: tuple[AttrSpec, ...]
    doc: str

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}"


_K = AttrSpec("kernel_size", "int2", "window [kh, kw]")
_S = AttrSpec("stride", "int2", "step [sh, sw]")
_P = AttrSpec(
    "padding", "int2", "implicit zero (conv, avg) or -inf (max) padding [ph, pw] per side"
)
_D = AttrSpec("dilation", "int2", "spacing between kernel taps [dh, dw]")

OP_LIST: tuple[OpSpec, ...] = (
    OpSpec(
        "conv2d",
        1,
        1,
        (
            ParamSpec("weight", False, "float (out_channels, in_channels/groups, kh, kw)"),
            ParamSpec("bias", True, "float (out_channels)"),
        ),
        (
            AttrSpec("in_channels", "int", "input channels"),
            AttrSpec("out_channels", "int", "output channels"),
            _K,
            _S,
            _P,
            _D,
            AttrSpec("groups", "int", "channel groups; groups == in_channels is depthwise"),
        ),
        "2-D cross-correlation with zero padding, as torch.nn.Conv2d(padding_mode='zeros').",
    ),
    OpSpec(
        "batch_norm2d",
        1,
        1,
        (
            ParamSpec("running_mean", False, "float (C)"),
            ParamSpec("running_var", False, "float (C), every element >= 0", nonnegative=True),
            ParamSpec("weight", True, "float (C), gamma; absent when affine=False"),
            ParamSpec("bias", True, "float (C), beta; absent when affine=False"),
        ),
        (
            AttrSpec("num_features", "int", "channels C"),
            AttrSpec("eps", "float", "added to running_var before the square root"),
        ),
        "Inference batch norm: (x - mean) / sqrt(var + eps) * weight + bias, per channel.",
    ),
    OpSpec("relu", 1, 1, (), (), "max(x, 0)."),
    OpSpec("relu6", 1, 1, (), (), "min(max(x, 0), 6)."),
    OpSpec(
        "leaky_relu",
        1,
        1,
        (),
        (
            AttrSpec(
                "negative_slope", "float", "slope for x < 0 (PyTorch default 0.01, never assumed)"
            ),
        ),
        "x if x >= 0 else negative_slope * x.",
    ),
    OpSpec("sigmoid", 1, 1, (), (), "1 / (1 + exp(-x))."),
    OpSpec(
        "max_pool2d",
        1,
        1,
        (),
        (_K, _S, _P, _D),
        "Max over windows; padded cells never win (treated as -inf); floor output size (no ceil_mode).",
    ),
    OpSpec(
        "avg_pool2d",
        1,
        1,
        (),
        (
            _K,
            _S,
            _P,
            AttrSpec("count_include_pad", "bool", "divide by the full window including padding"),
        ),
        "Mean over windows; floor output size (no ceil_mode).",
    ),
    OpSpec(
        "global_avg_pool",
        1,
        1,
        (),
        (AttrSpec("keepdims", "bool", "true: (C,1,1) output; false: (C)"),),
        "Mean over H and W of a (C, H, W) value.",
    ),
    OpSpec(
        "flatten", 1, 1, (), (), "Flatten a per-sample value to 1-D in C, H, W (row-major) order."
    ),
    OpSpec(
        "linear",
        1,
        1,
        (
            ParamSpec("weight", False, "float (out_features, in_features)"),
            ParamSpec("bias", True, "float (out_features)"),
        ),
        (
            AttrSpec("in_features", "int", "input length"),
            AttrSpec("out_features", "int", "output length"),
        ),
        "y = W x + b on a 1-D per-sample value.",
    ),
    OpSpec(
        "softmax",
        1,
        1,
        (),
        (AttrSpec("dim", "int", "axis counted with the batch axis, as in PyTorch (1 for (N, K))"),),
        "exp(x - max) / sum(exp(x - max)) along dim.",
    ),
    OpSpec(
        "add", 1, 2, (), (), "Elementwise sum of two values of the same shape (no broadcasting)."
    ),
)

OPS: dict[str, OpSpec] = {}
for _spec in OP_LIST:
    if _spec.key in OPS:  # pragma: no cover - guards edits to the table above
        raise RuntimeError(f"duplicate op {_spec.key}")
    OPS[_spec.key] = _spec


def supported_ops() -> str:
    """Human-readable list for error messages."""
    return ", ".join(sorted(OPS))


def current_version(name: str) -> int:
    """The newest version of op ``name``: what front ends write. KeyError listing what exists."""
    versions = [spec.version for spec in OP_LIST if spec.name == name]
    if not versions:
        raise KeyError(f"unsupported op {name}; supported: {supported_ops()}")
    return max(versions)


def lookup(name: str, version: int = 1, *, where: str = "") -> OpSpec:
    """The spec of ``name@version``; an error naming ``where`` and listing what exists otherwise."""
    spec = OPS.get(f"{name}@{version}")
    if spec is None:
        at = f" at {where}" if where else ""
        raise KeyError(f"unsupported op {name}@{version}{at}; supported: {supported_ops()}")
    return spec
