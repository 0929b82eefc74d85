"""The model format's rules that both readers share, defined once (docs/FORMAT.md).

The Python reader (``pd2java.backends.manifest``) imports these; the Java runtime's
``FormatRules.java`` and ``ErrorCode.java`` are generated from this module and
``pd2java.errors.ErrorCode`` (``python -m pd2java.backends.java.generate``; a test fails when the
generated files are stale), and the limits table of docs/FORMAT.md is generated from ``LIMITS``.
No torch, no NumPy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

FORMAT = "pd2java.manifest"
# The version writers emit. Version 2 lifted version 1's shape rules: the input may have any rank
# (v1: exactly [C, H, W]) and a model has one or more outputs of any rank (v1: one [K] vector).
FORMAT_VERSION = 3
# Version 3 added compressed weights (F16, and I8 with per-output-channel scales listed under
# "quantization"). Writers emit the lowest version that holds the file: 2 when every weight is
# F32 (so runtimes of version 2 keep reading fp32 exports), 3 otherwise.
FP32_FORMAT_VERSION = 2
# Every version a reader reads (docs/FORMAT.md, "Version 1 files", "Versions 2 and 3").
READ_VERSIONS = (1, 2, 3)

# Every top-level manifest key, in the order writers emit them (readers require all of them).
TOP_KEYS = (
    "format",
    "format_version",
    "producer",
    "name",
    "classes",
    "input",
    "outputs",
    "transforms",
    "weights",
    "quantization",
    "nodes",
    "golden",
)
INPUT_KEYS = ("name", "shape", "dtype", "image_convention")
OUTPUT_KEYS = ("name", "shape", "dtype", "kind")
# What an output's values are: "probabilities" (the model applied softmax or sigmoid) or "logits"
# (raw values: scores, a feature map, an embedding).
OUTPUT_KINDS = ("probabilities", "logits")
# Every key of a node.
NODE_KEYS = ("name", "op", "version", "inputs", "outputs", "attrs", "params", "output_shape")
GOLDEN_KEYS = ("input", "outputs", "count", "atol", "rtol")

# Optional top-level key, any version (an additive change): the lowest pd2java runtime version
# that may run the file, "MAJOR.MINOR.PATCH". A reader whose own version is lower refuses the
# file (UNSUPPORTED_FORMAT_VERSION, "upgrade the runtime"); readers that predate the key ignore
# it, and they are older than every version it can name. Writers emit at least the release that
# introduced the format version they write (FORMAT_SINCE).
MIN_RUNTIME_KEY = "min_runtime_version"
VERSION_PATTERN = r"(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})"
FORMAT_SINCE = {1: "0.1.0", 2: "0.2.0", 3: "0.2.0"}

# ``input.image_convention``, when not null: the PRPD image convention record (docs/PRPD.md
# section 1). Every key is required: "shape" two sizes >= 1 (amplitude bins, phase bins), the
# others one-line strings. Readers ignore extra keys, as everywhere outside attrs and params.
IMAGE_CONVENTION_KEYS = ("shape", "axis0", "axis1", "value", "png_rows")

# Optional top-level key, any version (an additive change): a classifier's confidence threshold,
# {"score": "max_probability", "threshold": 0.71, "target_false_reject": 0.02}. A prediction
# whose score is below the threshold is "unsure" (Java: Prediction.confident() false). Every key
# is required: "score" one of CONFIDENCE_SCORES ("max_probability": the primary output's highest
# value), "threshold" a number in [0, 1], "target_false_reject" a number in [0, 1) (the share of
# in-distribution images the threshold was chosen to reject; informational). The primary output
# must be a 1-D vector of kind "probabilities": a threshold on logits would mean nothing fixed.
# Anything else is INVALID_MANIFEST; extra keys are ignored, as everywhere outside attrs and params.
CONFIDENCE_KEY = "confidence"
CONFIDENCE_KEYS = ("score", "threshold", "target_false_reject")
CONFIDENCE_SCORES = ("max_probability",)
CONFIDENCE_OUTPUT_KIND = "probabilities"


def check_confidence(value: object, primary_output: object = None) -> str | None:
    """What is wrong with a ``confidence`` value (None when nothing is), by the rules above.
    ``primary_output`` is the manifest's primary output object (``outputs[0]``, or version 1's
    ``output``), already checked for its own keys; None skips the output rule."""

    def number(v: object) -> bool:
        return (type(v) is int or type(v) is float) and math.isfinite(v)

    if not isinstance(value, dict):
        return "must be an object"
    for key in CONFIDENCE_KEYS:
        if key not in value:
            return f"lacks the key {key!r}"
    if not isinstance(value["score"], str) or value["score"] not in CONFIDENCE_SCORES:
        return f"score must be one of {', '.join(CONFIDENCE_SCORES)}, got {value['score']!r}"
    t = value["threshold"]
    if not (number(t) and 0 <= t <= 1):
        return f"threshold must be a number in [0, 1], got {t!r}"
    r = value["target_false_reject"]
    if not (number(r) and 0 <= r < 1):
        return f"target_false_reject must be a number in [0, 1), got {r!r}"
    if isinstance(primary_output, dict):
        kind, shape = primary_output.get("kind"), primary_output.get("shape")
        if kind != CONFIDENCE_OUTPUT_KIND or not isinstance(shape, list) or len(shape) != 1:
            return (
                f"needs a 1-D primary output of kind {CONFIDENCE_OUTPUT_KIND!r}; this one is "
                f"{kind!r} of shape {shape!r}"
            )
    return None


# Version 1: "output" (one object, shape [K]) instead of "outputs", the input shape exactly
# [C, H, W] with "layout": "CHW", and golden "output" (one tensor name) instead of "outputs".
TOP_KEYS_V2 = tuple(k for k in TOP_KEYS if k != "quantization")
TOP_KEYS_V1 = tuple("output" if k == "outputs" else k for k in TOP_KEYS_V2)
INPUT_KEYS_V1 = ("name", "shape", "dtype", "layout", "image_convention")
GOLDEN_KEYS_V1 = tuple("output" if k == "outputs" else k for k in GOLDEN_KEYS)

# An ``ints`` attribute (pd2java/ops/table.py) is a JSON array of 1..MAX_INTS_LENGTH integers,
# each in the 32-bit signed range. A longer array is a wrong kind (INVALID_ATTRIBUTE), not a
# reader limit: no op of the table needs more (reshape's per-sample shape has rank <= 8).
MAX_INTS_LENGTH = 8
INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1

# The model name; node, value and tensor names need only be non-empty strings.
NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_]*"

# Dtypes a referenced tensor may have: a param slot's (which of them, per slot, is in the op
# table: ParamSpec.dtypes), a scale's and a golden vector's (F32 only). Version 1 and 2 files: F32
# only. Other safetensors dtypes are allowed in unreferenced tensors only.
WEIGHT_DTYPES = ("F32", "F16", "I8")
FP32_WEIGHT_DTYPES = ("F32",)
# Keys of one "quantization" entry (version 3): the F32 scale tensor of an I8 weight, one value
# per output channel (axis 0). Dequantised value: float32(q) * scale[o], one float32 multiply.
QUANT_KEYS = ("scale",)

# The one tolerance: golden vectors written by the exporter, and Java vs reference parity.
# |got - expected| <= ATOL + RTOL * |expected|, element by element.
ATOL = 1e-5
RTOL = 1e-4


@dataclass(frozen=True)
class Limit:
    """One reader limit: checked before anything of that size is allocated."""

    name: str
    value: int
    doc: str


LIMITS: tuple[Limit, ...] = (
    Limit("MAX_MANIFEST_BYTES", 16 * 1024 * 1024, "manifest file size, bytes"),
    Limit(
        "MAX_HEADER_BYTES",
        16 * 1024 * 1024,
        "safetensors header length n, bytes (safetensors itself allows 100,000,000)",
    ),
    Limit("MAX_WEIGHTS_BYTES", 1024 * 1024 * 1024, "weights file size, bytes"),
    Limit("MAX_JSON_DEPTH", 64, "nesting depth of arrays and objects in any JSON document"),
    Limit("MAX_JSON_NUMBER_CHARS", 100, "characters of one JSON number"),
    Limit("MAX_JSON_STRING_CHARS", 1024 * 1024, "characters of one JSON string"),
    Limit(
        "MAX_JSON_VALUES",
        1 << 22,
        "values in one JSON document: the root, every array element and every object member "
        "(bounds the memory a reader builds from a document within the size limits)",
    ),
    Limit("MAX_TENSORS", 100_000, "tensors in a safetensors header"),
    Limit("MAX_NODES", 100_000, "nodes in a manifest"),
    Limit(
        "MAX_VALUE_ELEMENTS", 1 << 24, "elements of one value (input or node output), per sample"
    ),
    Limit(
        "MAX_PLAN_ELEMENTS",
        1 << 26,
        "elements of all values of the plan together (activation scratch), per sample",
    ),
    Limit("MAX_GOLDEN_COUNT", 4096, "golden samples (golden.count)"),
)
LIMIT = {lim.name: lim.value for lim in LIMITS}

MAX_MANIFEST_BYTES = LIMIT["MAX_MANIFEST_BYTES"]
MAX_HEADER_BYTES = LIMIT["MAX_HEADER_BYTES"]
MAX_WEIGHTS_BYTES = LIMIT["MAX_WEIGHTS_BYTES"]
MAX_JSON_DEPTH = LIMIT["MAX_JSON_DEPTH"]
MAX_JSON_NUMBER_CHARS = LIMIT["MAX_JSON_NUMBER_CHARS"]
MAX_JSON_STRING_CHARS = LIMIT["MAX_JSON_STRING_CHARS"]
MAX_JSON_VALUES = LIMIT["MAX_JSON_VALUES"]
MAX_TENSORS = LIMIT["MAX_TENSORS"]
MAX_NODES = LIMIT["MAX_NODES"]
MAX_VALUE_ELEMENTS = LIMIT["MAX_VALUE_ELEMENTS"]
MAX_PLAN_ELEMENTS = LIMIT["MAX_PLAN_ELEMENTS"]
MAX_GOLDEN_COUNT = LIMIT["MAX_GOLDEN_COUNT"]
