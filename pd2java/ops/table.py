"""The one op table (see docs/CONTRIBUTING.md): every op pd2java can export, declared once.

Everything else (manifest JSON Schema, docs/OPS.md, the fx and ONNX front ends, the NumPy
reference, the check against the Java kernel registry) is derived from or checked against this
table. Attribute names follow PyTorch.

Attribute kinds: ``int``, ``float``, ``bool``, ``int2`` (a list of exactly two ints: [height,
width], or [begin, end] for a per-side padding such as max_pool2d@2's ``pad_w``), ``ints`` (a
list of 1..``pd2java.format_rules.MAX_INTS_LENGTH`` ints, e.g. a per-sample shape).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

AttrKind = Literal["int", "float", "bool", "int2", "ints"]


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
    # The safetensors dtypes the slot's tensor may have (format version 3; versions 1 and 2: F32
    # only). I8 is symmetric per output channel (axis 0), with a scale (FORMAT.md).
    dtypes: tuple[str, ...] = ("F32",)


# The compressible weight slots: float, half or int8 with per-output-channel scales.
COMPRESSIBLE = ("F32", "F16", "I8")


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

# The 1-D ops' window: single ints.
_K1 = AttrSpec("kernel_size", "int", "window length k, >= 1")
_S1 = AttrSpec("stride", "int", "step, >= 1")
_CEIL1 = AttrSpec(
    "ceil_mode",
    "bool",
    "false: floor output length; true: ceil, as PyTorch (a last window must start inside the "
    "input or the left padding, else it is dropped)",
)

OP_LIST: tuple[OpSpec, ...] = (
    OpSpec(
        "conv2d",
        1,
        1,
        (
            ParamSpec(
                "weight",
                False,
                "float (out_channels, in_channels/groups, kh, kw)",
                dtypes=COMPRESSIBLE,
            ),
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
            ParamSpec(
                "weight",
                False,
                "float (out_features, in_features)",
                dtypes=COMPRESSIBLE,
            ),
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
    OpSpec(
        "global_max_pool",
        1,
        1,
        (),
        (AttrSpec("keepdims", "bool", "true: (C,1,1) output; false: (C)"),),
        "Max over H and W of a (C, H, W) value.",
    ),
    OpSpec("tanh", 1, 1, (), (), "tanh(x)."),
    OpSpec("silu", 1, 1, (), (), "x * sigmoid(x) (SiLU, also called swish)."),
    OpSpec("hardswish", 1, 1, (), (), "x * min(max(x + 3, 0), 6) / 6, as torch.nn.Hardswish."),
    OpSpec("hardsigmoid", 1, 1, (), (), "min(max(x + 3, 0), 6) / 6, as torch.nn.Hardsigmoid."),
    OpSpec(
        "elu",
        1,
        1,
        (),
        (
            AttrSpec(
                "alpha",
                "float",
                "scale of exp(x) - 1 for x <= 0 (PyTorch default 1.0, never assumed); a finite "
                "float32",
            ),
        ),
        "x if x > 0 else alpha * (exp(x) - 1).",
    ),
    OpSpec("mish", 1, 1, (), (), "x * tanh(softplus(x)) with softplus(x) = log(1 + exp(x))."),
    OpSpec(
        "gelu",
        1,
        1,
        (),
        (
            AttrSpec(
                "tanh_approximation",
                "bool",
                "false: the exact form x * (1 + erf(x / sqrt(2))) / 2 (PyTorch approximate='none');"
                " true: the tanh form (approximate='tanh')",
            ),
        ),
        "Gaussian error linear unit: x * Phi(x), exactly (erf) or by PyTorch's tanh formula "
        "x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3))) / 2.",
    ),
    OpSpec(
        "log_softmax",
        1,
        1,
        (),
        (
            AttrSpec(
                "dim",
                "int",
                "axis counted with the batch axis, as in PyTorch (1 for (N, K)); 1..rank",
            ),
        ),
        "x - max - log(sum(exp(x - max))) along dim.",
    ),
    OpSpec(
        "clamp",
        1,
        1,
        (),
        (
            AttrSpec(
                "min",
                "float",
                "lower bound, a finite float32; a one-sided clamp without a lower bound writes "
                "-3.4028234663852886e38 (the lowest float32)",
            ),
            AttrSpec(
                "max",
                "float",
                "upper bound, a finite float32, >= min; a one-sided clamp without an upper "
                "bound writes 3.4028234663852886e38 (the largest float32)",
            ),
        ),
        "min(max(x, min), max), as torch.clamp and nn.Hardtanh. Bounds (0, 6) are written as "
        "relu6 and a lone lower bound 0 as relu.",
    ),
    OpSpec(
        "prelu",
        1,
        1,
        (ParamSpec("weight", False, "float (num_parameters), the slope for x < 0"),),
        (
            AttrSpec(
                "num_parameters",
                "int",
                "1 (one slope shared by every channel) or C, the size of the per-sample "
                "value's first axis (one slope per channel)",
            ),
        ),
        "x if x >= 0 else weight[c] * x, c the channel (first per-sample axis); weight[0] when "
        "num_parameters is 1.",
    ),
    OpSpec(
        "group_norm",
        1,
        1,
        (
            ParamSpec("weight", True, "float (C), per-channel scale; absent when affine=False"),
            ParamSpec("bias", True, "float (C), per-channel shift; absent when affine=False"),
        ),
        (
            AttrSpec(
                "num_groups",
                "int",
                "channel groups G >= 1; num_channels must be a multiple of it (else "
                "INVALID_ATTRIBUTE)",
            ),
            AttrSpec("num_channels", "int", "channels C of the (C, ...) per-sample input"),
            AttrSpec("eps", "float", "added to the variance before the square root; finite, > 0"),
        ),
        "Group norm (torch.nn.GroupNorm): each group of C/G consecutive channels is normalised "
        "over its channels and all positions with its own mean and biased variance, then "
        "scaled and shifted per channel. Any per-sample rank >= 1.",
    ),
    OpSpec(
        "instance_norm2d",
        1,
        1,
        (
            ParamSpec("weight", True, "float (C), per-channel scale; absent when affine=False"),
            ParamSpec("bias", True, "float (C), per-channel shift; absent when affine=False"),
        ),
        (
            AttrSpec("num_features", "int", "channels C of the (C, H, W) input, >= 1"),
            AttrSpec("eps", "float", "added to the variance before the square root; finite, > 0"),
        ),
        "Instance norm (torch.nn.InstanceNorm2d without tracked statistics): each channel "
        "normalised over H and W with its own mean and biased variance, then scaled and shifted.",
    ),
    OpSpec(
        "circular_pad2d",
        1,
        1,
        (),
        (
            AttrSpec("pad_h", "int2", "[top, bottom] rows added, each >= 0 and <= the input H"),
            AttrSpec("pad_w", "int2", "[left, right] columns added, each >= 0 and <= the input W"),
        ),
        "Circular (wrap-around) padding of a (C, H, W) value, as torch.nn.CircularPad2d: the "
        "top rows added are the input's last rows, and so on. The natural padding of the PRPD "
        "phase axis, which wraps at 360 degrees.",
    ),
    OpSpec(
        "constant_pad2d",
        1,
        1,
        (),
        (
            AttrSpec("pad_h", "int2", "[top, bottom] rows added, each >= 0"),
            AttrSpec("pad_w", "int2", "[left, right] columns added, each >= 0"),
            AttrSpec("value", "float", "fill value of the added cells; finite as a float32"),
        ),
        "Constant padding of a (C, H, W) value, as torch.nn.ConstantPad2d (ZeroPad2d: value 0).",
    ),
    OpSpec(
        "reflection_pad2d",
        1,
        1,
        (),
        (
            AttrSpec("pad_h", "int2", "[top, bottom] rows added, each >= 0 and < the input H"),
            AttrSpec("pad_w", "int2", "[left, right] columns added, each >= 0 and < the input W"),
        ),
        "Reflection padding of a (C, H, W) value, as torch.nn.ReflectionPad2d: mirrored about "
        "the edge row/column, which is not repeated.",
    ),
    OpSpec(
        "replication_pad2d",
        1,
        1,
        (),
        (
            AttrSpec("pad_h", "int2", "[top, bottom] rows added, each >= 0"),
            AttrSpec("pad_w", "int2", "[left, right] columns added, each >= 0"),
        ),
        "Replication (edge) padding of a (C, H, W) value, as torch.nn.ReplicationPad2d: the "
        "added cells repeat the nearest edge cell.",
    ),
    OpSpec(
        "upsample_nearest2d",
        1,
        1,
        (),
        (AttrSpec("output_size", "int2", "output [oh, ow], each >= 1"),),
        "Nearest-neighbour resize of a (C, H, W) value to (C, oh, ow), as PyTorch's 'nearest': "
        "source row floor(dst * float32(H) / float32(oh)) in float32, clamped to H - 1 "
        "(oh == H copies, oh == 2H takes dst // 2); columns likewise.",
    ),
    OpSpec(
        "upsample_bilinear2d",
        1,
        1,
        (),
        (
            AttrSpec("output_size", "int2", "output [oh, ow], each >= 1"),
            AttrSpec(
                "align_corners",
                "bool",
                "true: src = dst * (H - 1) / (oh - 1) (0 when oh == 1); false: "
                "src = max((dst + 0.5) * H / oh - 0.5, 0)",
            ),
        ),
        "Bilinear resize of a (C, H, W) value to (C, oh, ow), as PyTorch's "
        "F.interpolate(mode='bilinear'): float32 source positions, the two nearest rows "
        "(the last one repeated at the edge) weighted by the fractional part; columns likewise.",
    ),
    OpSpec(
        "conv_transpose2d",
        1,
        1,
        (
            ParamSpec("weight", False, "float (in_channels, out_channels/groups, kh, kw)"),
            ParamSpec("bias", True, "float (out_channels)"),
        ),
        (
            AttrSpec("in_channels", "int", "input channels"),
            AttrSpec("out_channels", "int", "output channels"),
            _K,
            AttrSpec("stride", "int2", "step [sh, sw] between input pixels on the output"),
            AttrSpec("padding", "int2", "[ph, pw] rows/columns cropped from each side"),
            AttrSpec(
                "output_padding",
                "int2",
                "[oph, opw] extra rows/columns at the end, each < stride or < dilation",
            ),
            _D,
            AttrSpec("groups", "int", "channel groups, dividing both channel counts"),
        ),
        "Transposed 2-D convolution, as torch.nn.ConvTranspose2d(padding_mode='zeros'): output "
        "(in - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1 per axis.",
    ),
    OpSpec(
        "adaptive_avg_pool2d",
        1,
        1,
        (),
        (
            AttrSpec(
                "output_size",
                "int2",
                "output extent [oh, ow], each >= 1; may be smaller or larger than the input's",
            ),
        ),
        "Mean over PyTorch's adaptive bins: along an axis of input extent n and output extent m, "
        "output i covers [floor(i * n / m), ceil((i + 1) * n / m)).",
    ),
    OpSpec(
        "adaptive_max_pool2d",
        1,
        1,
        (),
        (
            AttrSpec(
                "output_size",
                "int2",
                "output extent [oh, ow], each >= 1; may be smaller or larger than the input's",
            ),
        ),
        "Max over PyTorch's adaptive bins: along an axis of input extent n and output extent m, "
        "output i covers [floor(i * n / m), ceil((i + 1) * n / m)).",
    ),
    OpSpec(
        "layer_norm",
        1,
        1,
        (
            ParamSpec(
                "weight",
                True,
                "float (normalized_size), the normalised dims' scale flattened row-major; absent "
                "when elementwise_affine=False",
            ),
            ParamSpec(
                "bias",
                True,
                "float (normalized_size), the normalised dims' shift flattened row-major; absent "
                "when there is no bias",
            ),
        ),
        (
            AttrSpec(
                "normalized_dims",
                "int",
                "how many trailing per-sample dims are normalised, >= 1 and <= the input's rank",
            ),
            AttrSpec(
                "normalized_size",
                "int",
                "product of those dims (the weight and bias length), >= 1; must match the input",
            ),
            AttrSpec("eps", "float", "added to the variance before the square root; finite, > 0"),
        ),
        "Layer norm (torch.nn.LayerNorm): each sample's last normalized_dims dims are normalised "
        "with their own mean and biased variance, then scaled and shifted elementwise.",
    ),
    OpSpec(
        "batch_norm1d",
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
            AttrSpec("eps", "float", "added to running_var before the square root; finite, > 0"),
        ),
        "Inference batch norm (torch.nn.BatchNorm1d in eval mode) on a (C) or (C, L) value: "
        "(x - mean) / sqrt(var + eps) * weight + bias, per channel.",
    ),
    OpSpec(
        "add",
        2,
        2,
        (),
        (),
        "Elementwise sum a + b with per-sample broadcasting: shapes right-aligned, the shorter "
        "left-padded with 1s, each dim equal or 1 in one of them, the output takes the larger; "
        "the batch axis is never broadcast. Writers use add@1 when the shapes are equal.",
    ),
    OpSpec("sub", 1, 2, (), (), "Elementwise difference a - b, broadcast as add@2."),
    OpSpec("mul", 1, 2, (), (), "Elementwise product a * b, broadcast as add@2."),
    OpSpec("div", 1, 2, (), (), "Elementwise true division a / b (float32), broadcast as add@2."),
    OpSpec(
        "constant",
        1,
        0,
        (
            ParamSpec(
                "value",
                False,
                "the tensor, of any per-sample shape of rank >= 1 (a number is stored as (1,)); "
                "the node's output shape is this tensor's shape",
            ),
        ),
        (),
        "A value that is the same for every sample (no inputs): the operand of an elementwise "
        "op such as x * 0.5 or x - mean.",
    ),
    OpSpec(
        "max_pool2d",
        2,
        1,
        (),
        (
            _K,
            _S,
            AttrSpec(
                "pad_h", "int2", "-inf padding [top, bottom], each >= 0 and <= kernel_size[0] // 2"
            ),
            AttrSpec(
                "pad_w", "int2", "-inf padding [left, right], each >= 0 and <= kernel_size[1] // 2"
            ),
            _D,
            AttrSpec(
                "ceil_mode",
                "bool",
                "false: floor output size; true: ceil, as PyTorch (a last window must start "
                "inside the input or the top/left padding, else it is dropped)",
            ),
        ),
        "Max over windows with per-side padding and PyTorch's ceil_mode; padded cells and cells "
        "beyond the padded input never win. Output extent per axis: floor (or ceil) of "
        "(in + pad_begin + pad_end - dilation * (kernel - 1) - 1) / stride + 1. Writers use "
        "max_pool2d@1 when the pads are symmetric and ceil_mode is false.",
    ),
    OpSpec(
        "avg_pool2d",
        2,
        1,
        (),
        (
            _K,
            _S,
            AttrSpec(
                "pad_h", "int2", "zero padding [top, bottom], each >= 0 and <= kernel_size[0] // 2"
            ),
            AttrSpec(
                "pad_w", "int2", "zero padding [left, right], each >= 0 and <= kernel_size[1] // 2"
            ),
            AttrSpec(
                "ceil_mode",
                "bool",
                "false: floor output size; true: ceil, as PyTorch (a last window must start "
                "inside the input or the top/left padding, else it is dropped)",
            ),
            AttrSpec(
                "count_include_pad",
                "bool",
                "true: divide by the window clipped to the padded input (padding cells count, "
                "cells beyond the bottom/right padding do not); false: by the real cells",
            ),
        ),
        "Mean over windows with per-side padding and PyTorch's ceil_mode; output extent as "
        "max_pool2d@2 (dilation 1). Writers use avg_pool2d@1 when the pads are symmetric and "
        "ceil_mode is false.",
    ),
    OpSpec(
        "concat",
        1,
        2,
        (),
        (
            AttrSpec(
                "dim",
                "int",
                "axis to join along, counted with the batch axis as in PyTorch (1..rank; 1 is C "
                "of a (C, H, W) value)",
            ),
        ),
        "Join two values along dim; every other dim must be equal (torch.cat of two tensors).",
    ),
    OpSpec(
        "squeeze",
        1,
        1,
        (),
        (
            AttrSpec(
                "dim",
                "int",
                "axis to remove, counted with the batch axis (1..rank); its size must be 1",
            ),
        ),
        "Remove one size-1 axis (x.squeeze(dim)); the values are unchanged.",
    ),
    OpSpec(
        "unsqueeze",
        1,
        1,
        (),
        (
            AttrSpec(
                "dim",
                "int",
                "position of the new size-1 axis in the output, counted with the batch axis "
                "(1..rank + 1)",
            ),
        ),
        "Insert one size-1 axis (x.unsqueeze(dim)); the values are unchanged.",
    ),
    OpSpec(
        "flatten",
        2,
        1,
        (),
        (
            AttrSpec(
                "start_dim",
                "int",
                "first axis merged, counted with the batch axis (1..rank); every axis from it to "
                "the last is merged into one",
            ),
        ),
        "Merge the axes start_dim..last into one, row-major (torch.flatten(x, start_dim)).",
    ),
    OpSpec(
        "conv1d",
        1,
        1,
        (
            ParamSpec(
                "weight",
                False,
                "float (out_channels, in_channels/groups, k)",
                dtypes=COMPRESSIBLE,
            ),
            ParamSpec("bias", True, "float (out_channels)"),
        ),
        (
            AttrSpec("in_channels", "int", "input channels"),
            AttrSpec("out_channels", "int", "output channels"),
            _K1,
            _S1,
            AttrSpec("padding", "int", "implicit zeros added at each end, >= 0"),
            AttrSpec("dilation", "int", "spacing between kernel taps, >= 1"),
            AttrSpec("groups", "int", "channel groups; groups == in_channels is depthwise"),
        ),
        "1-D cross-correlation of a (C, L) value with zero padding, as "
        "torch.nn.Conv1d(padding_mode='zeros'): output (out_channels, L_out), L_out = "
        "floor((L + 2 * padding - dilation * (k - 1) - 1) / stride) + 1.",
    ),
    OpSpec(
        "max_pool1d",
        1,
        1,
        (),
        (
            _K1,
            _S1,
            AttrSpec(
                "padding", "int2", "-inf padding [left, right], each >= 0 and <= kernel_size // 2"
            ),
            AttrSpec("dilation", "int", "spacing between window taps, >= 1"),
            _CEIL1,
        ),
        "Max over windows along L of a (C, L) value, as torch.nn.MaxPool1d, with per-side "
        "padding; padded cells and cells beyond the padded input never win. Output length: "
        "floor (or ceil) of (L + left + right - dilation * (k - 1) - 1) / stride + 1.",
    ),
    OpSpec(
        "avg_pool1d",
        1,
        1,
        (),
        (
            _K1,
            _S1,
            AttrSpec(
                "padding", "int2", "zero padding [left, right], each >= 0 and <= kernel_size // 2"
            ),
            _CEIL1,
            AttrSpec(
                "count_include_pad",
                "bool",
                "true: divide by the window clipped to the padded input (padding cells count, "
                "cells beyond the right padding do not); false: by the real cells",
            ),
        ),
        "Mean over windows along L of a (C, L) value, as torch.nn.AvgPool1d, with per-side "
        "padding; output length as max_pool1d (dilation 1).",
    ),
    OpSpec(
        "reshape",
        1,
        1,
        (),
        (
            AttrSpec(
                "shape",
                "ints",
                "the per-sample output shape (no batch entry, no -1): every entry >= 1 (else "
                "INVALID_ATTRIBUTE), their product the input's element count per sample (else "
                "SHAPE_MISMATCH)",
            ),
        ),
        "View each sample's values, unchanged in row-major order, with another shape "
        "(x.view(N, *shape), torch.reshape); the batch axis is never touched. Writers use "
        "flatten@1 for a 1-D shape and flatten@2 when the shape keeps the input's leading dims "
        "and merges the rest.",
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
