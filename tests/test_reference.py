"""The NumPy reference reads strictly: every FORMAT.md rule broken in a manifest or weights file
is refused with an error naming the file and the rule; golden vectors are self-tested."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pd2java.backends import reference
from pd2java.backends.safetensors_io import SafetensorsError, encode_safetensors, read_safetensors
from pd2java.errors import ErrorCode, FormatError, ParityError, UserError

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    for name in ("tiny.manifest.json", "tiny.safetensors"):
        shutil.copy(GOLDEN / name, tmp_path / name)
    return tmp_path / "tiny.manifest.json"


def _edit(manifest: Path, change: Callable[[dict[str, Any]], None]) -> None:
    obj = json.loads(manifest.read_text())
    change(obj)
    manifest.write_text(json.dumps(obj))


def _set_weights(manifest: Path, data: bytes) -> None:
    """Replace the weights file and update bytes/sha256, so only the layout rule is at fault."""
    (manifest.parent / "tiny.safetensors").write_bytes(data)

    def change(obj: dict[str, Any]) -> None:
        obj["weights"]["bytes"] = len(data)
        obj["weights"]["sha256"] = hashlib.sha256(data).hexdigest()

    _edit(manifest, change)


def _raw(header: dict[str, Any], buffer: bytes, pad: bytes = b"") -> bytes:
    h = json.dumps(header).encode() + pad
    return struct.pack("<Q", len(h)) + h + buffer


def _refused(manifest: Path, code: ErrorCode, *fragments: str) -> str:
    with pytest.raises(FormatError) as info:
        reference.run(manifest, np.zeros((1, 1, 4, 4), np.float32))
    assert info.value.code == code, str(info.value)
    msg = str(info.value)
    for fragment in fragments:
        assert fragment in msg, msg
    return msg


def test_runs_and_self_tests(tiny: Path) -> None:
    x = np.random.default_rng(0).random((5, 1, 4, 4), dtype=np.float32)
    y = reference.run(tiny, x)
    assert y.shape == (5, 3) and y.dtype == np.float32
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)
    assert reference.self_test(tiny) <= 1e-5
    layers = reference.run_layers(tiny, x)
    assert list(layers) == ["conv", "bn", "act", "pool", "flat", "fc", "prob"]
    np.testing.assert_array_equal(layers["prob"], y)


def test_bad_input_arrays(tiny: Path) -> None:
    with pytest.raises(UserError, match=r"shape \(N, 1, 4, 4\)"):
        reference.run(tiny, np.zeros((1, 4, 4), np.float32))
    with pytest.raises(UserError, match="shape"):
        reference.run(tiny, np.zeros((2, 1, 4, 5), np.float32))
    with pytest.raises(UserError, match="dtype"):
        reference.run(tiny, np.array([["a"]]))


@pytest.mark.parametrize(
    ("x", "fragment"),
    [
        (np.zeros((0, 1, 4, 4), np.float32), "empty"),
        (np.full((2, 1, 4, 4), np.nan, np.float32), "NaN/Inf"),
        (np.full((1, 1, 4, 4), np.inf, np.float32), "NaN/Inf"),
        (np.full((1, 1, 4, 4), 1e300), "NaN/Inf"),  # finite float64, infinite as float32
        (np.zeros((2, 1, 4, 5), np.float32), "shape"),
    ],
)
def test_invalid_inputs_have_a_code(tiny: Path, x: np.ndarray, fragment: str) -> None:
    with pytest.raises(FormatError, match=fragment) as info:
        reference.run(tiny, x)
    assert info.value.code == ErrorCode.INVALID_INPUT


def test_non_finite_output_is_refused(tiny: Path) -> None:
    tensors, _ = read_safetensors(tiny.parent / "tiny.safetensors")
    tensors["fc.weight"] = np.full_like(tensors["fc.weight"], 3e38)
    tensors.pop("golden.input")
    tensors.pop("golden.output")
    _set_weights(tiny, encode_safetensors(tensors))
    _edit(tiny, lambda o: o.update(golden=None))
    with pytest.raises(FormatError, match="NaN/Inf") as info:
        reference.run(tiny, np.full((1, 1, 4, 4), 1e30, np.float32))
    assert info.value.code == ErrorCode.NON_FINITE_OUTPUT


def test_golden_mismatch_is_a_parity_error(tiny: Path) -> None:
    tensors, _ = read_safetensors(tiny.parent / "tiny.safetensors")
    tensors["golden.output"] = tensors["golden.output"] + np.float32(0.01)
    _set_weights(tiny, encode_safetensors(tensors))
    with pytest.raises(ParityError, match="golden self-test failed") as info:
        reference.self_test(tiny)
    assert isinstance(info.value, FormatError)
    assert info.value.code == ErrorCode.SELF_TEST_FAILED


def test_nan_golden_output_never_passes_the_self_test(tiny: Path) -> None:
    # Loaded from disk, a NaN golden vector is refused outright; built in memory it must still
    # fail the comparison (NaN <= tolerance is false), never pass it.
    model = reference.load(tiny)
    out = model.golden.output.copy()
    out[0, 0] = np.nan
    golden = dataclasses.replace(model.golden, outputs=(out,))
    nan_model = dataclasses.replace(model, golden=golden)
    with pytest.raises(FormatError) as info:
        reference.self_test(nan_model)
    assert info.value.code == ErrorCode.SELF_TEST_FAILED


@pytest.mark.parametrize(
    ("change", "code", "fragments"),
    [
        (lambda o: o.update(format_version=4), "UNSUPPORTED_FORMAT_VERSION", ("newer pd2java",)),
        (lambda o: o.update(format="onnx"), "UNSUPPORTED_FORMAT", ("not a pd2java manifest",)),
        (lambda o: o.pop("golden"), "INVALID_MANIFEST", ("missing key golden",)),
        (lambda o: o["nodes"][0].update(op="fake"), "UNKNOWN_OP", ("'conv'", "fake@1", "conv2d@1")),
        (lambda o: o["nodes"][0].update(version=2), "UNKNOWN_OP", ("unknown op conv2d@2",)),
        (lambda o: o["nodes"][0].update(version=1.0), "INVALID_MANIFEST", ("version",)),
        (lambda o: o["nodes"][0]["attrs"].pop("groups"), "INVALID_ATTRIBUTE", ("'conv'", "groups")),
        (
            lambda o: o["nodes"][2]["attrs"].update(alpha=1.0),
            "INVALID_ATTRIBUTE",
            ("'act'", "alpha"),
        ),
        (lambda o: o["nodes"][0]["attrs"].update(stride=[1]), "INVALID_ATTRIBUTE", ("'stride'",)),
        (lambda o: o["nodes"][1]["attrs"].update(eps=0), "INVALID_ATTRIBUTE", ("'bn'", "eps")),
        (lambda o: o["nodes"][6]["attrs"].update(dim=-1), "INVALID_ATTRIBUTE", ("'prob'", "dim")),
        (lambda o: o["nodes"][3].update(output_shape=[2, 3, 3]), "SHAPE_MISMATCH", ("'pool'",)),
        (lambda o: o["nodes"][0]["attrs"].update(out_channels=3), "INVALID_PARAMETER", ("'conv'",)),
        (lambda o: o["nodes"][0]["params"].update(weight="nope"), "MISSING_TENSOR", ("'nope'",)),
        (
            lambda o: o["nodes"][0]["params"].update(weight="fc.weight"),
            "INVALID_PARAMETER",
            ("shape",),
        ),
        (
            lambda o: o["nodes"][1]["params"].update(running_mean=None),
            "INVALID_PARAMETER",
            ("running_mean",),
        ),
        (lambda o: o["nodes"][4].update(inputs=["later"]), "INVALID_GRAPH", ("'flat'", "'later'")),
        (lambda o: o["outputs"][0].update(shape=[4]), "SHAPE_MISMATCH", ("output 0",)),
        (
            lambda o: o["weights"].update(file="../tiny.safetensors"),
            "UNSAFE_PATH",
            ("bare file name",),
        ),
        (lambda o: o["weights"].update(file="/etc/passwd"), "UNSAFE_PATH", ("bare file name",)),
        (
            lambda o: o["weights"].update(file="sub\\tiny.safetensors"),
            "UNSAFE_PATH",
            ("bare file",),
        ),
        (
            lambda o: o["weights"].update(file="C:tiny.safetensors"),
            "UNSAFE_PATH",
            ("bare file name",),
        ),
        (lambda o: o["weights"].update(sha256="0" * 64), "WEIGHTS_CHECKSUM_MISMATCH", ("sha256",)),
        (
            lambda o: o["weights"].update(bytes=o["weights"]["bytes"] + 1),
            "WEIGHTS_SIZE_MISMATCH",
            ("bytes",),
        ),
        (lambda o: o["golden"].update(count=2), "SHAPE_MISMATCH", ("golden input",)),
        (lambda o: o["golden"].update(count=2.0), "INVALID_MANIFEST", ("golden/count",)),
        (
            lambda o: o["golden"].update(outputs=["fc.weight"]),
            "SHAPE_MISMATCH",
            ("golden output",),
        ),
    ],
)
def test_manifest_rules(
    tiny: Path, change: Callable[[dict], None], code: str, fragments: tuple
) -> None:
    _edit(tiny, change)
    _refused(tiny, ErrorCode(code), str(tiny.name), *fragments)


@pytest.mark.parametrize(
    ("text", "code", "fragment"),
    [
        ('{"format": "pd2java.manifest", "format": "x"}', "INVALID_JSON", "duplicate key"),
        ('{"format": "pd2java.manifest", "format_version": NaN}', "INVALID_JSON", "NaN"),
        ('{"format": "pd2java.manifest", "format_version": 1e400}', "INVALID_JSON", "overflows"),
        ("[" * 10_000 + "]" * 10_000, "LIMIT_EXCEEDED", "nested 10000 deep"),
        ("[" * 10_000_000, "LIMIT_EXCEEDED", "nested"),
        (
            '{"format": "pd2java.manifest", "format_version": ' + "9" * 1_000_000 + "}",
            "LIMIT_EXCEEDED",
            "JSON number",
        ),
        ("\xff\xfe", "INVALID_JSON", "UTF-8"),
        ("[1, 2]", "UNSUPPORTED_FORMAT", "not a pd2java manifest"),
    ],
)
def test_hostile_json(tiny: Path, text: str, code: str, fragment: str) -> None:
    tiny.write_bytes(
        text.encode("utf-8", errors="surrogateescape") if text != "\xff\xfe" else b"\xff\xfe"
    )
    _refused(tiny, ErrorCode(code), fragment)


def test_weights_truncated_or_missing(tiny: Path) -> None:
    w = tiny.parent / "tiny.safetensors"
    data = w.read_bytes()
    w.write_bytes(data[:-1])  # one byte short, manifest unchanged
    _refused(tiny, ErrorCode.WEIGHTS_SIZE_MISMATCH, "tiny.safetensors", "bytes")
    _set_weights(tiny, data[:-1])  # one byte short, manifest updated: the layout rule catches it
    _refused(tiny, ErrorCode.INVALID_SAFETENSORS, "truncated")
    w.unlink()
    _refused(tiny, ErrorCode.IO_ERROR, "cannot read")


def _weights_case(name: str) -> bytes:
    f32 = np.arange(4, dtype="<f4").tobytes()
    good = {"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}
    if name == "trailing":
        return _raw(good, f32 + b"\0")
    if name == "gap":
        return _raw({"a": {"dtype": "F32", "shape": [4], "data_offsets": [4, 20]}}, b"\0" * 20)
    if name == "overlap":
        return _raw({**good, "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}, f32)
    if name == "overflow":
        return _raw(
            {"a": {"dtype": "F32", "shape": [2**32, 2**32, 2**8], "data_offsets": [0, 16]}}, f32
        )
    if name == "size_mismatch":
        return _raw({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 16]}}, f32)
    if name == "header_past_end":
        return struct.pack("<Q", 1_000) + b"{}"
    if name == "header_cap":
        return struct.pack("<Q", 100_000_001) + b"{}"
    if name == "bad_padding":
        return _raw(good, f32, pad=b"\n\n")
    if name == "unknown_dtype":
        return _raw({"a": {"dtype": "F12", "shape": [4], "data_offsets": [0, 16]}}, f32)
    if name == "negative_dim":
        return _raw({"a": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}}, f32)
    if name == "bf16":
        return _raw({"a": {"dtype": "BF16", "shape": [8], "data_offsets": [0, 16]}}, f32)
    raise AssertionError(name)


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ("trailing", "trailing bytes"),
        ("gap", "gap"),
        ("overlap", "overlap"),
        ("overflow", "overflows 64 bits"),
        ("size_mismatch", "data_offsets span"),
        ("header_past_end", "runs past the end"),
        ("header_cap", "limit"),
        ("bad_padding", "spaces"),
        ("unknown_dtype", "not a safetensors dtype"),
        ("negative_dim", "non-negative"),
        ("bf16", "'a' has dtype BF16"),
    ],
)
def test_safetensors_rules(tmp_path: Path, case: str, fragment: str) -> None:
    path = tmp_path / "w.safetensors"
    path.write_bytes(_weights_case(case))
    with pytest.raises(SafetensorsError) as info:
        read_safetensors(path)
    assert fragment in str(info.value) and "w.safetensors" in str(info.value)


def test_safetensors_rule_through_manifest(tiny: Path) -> None:
    data = (tiny.parent / "tiny.safetensors").read_bytes()
    _set_weights(tiny, data + b"\0\0\0\0")
    _refused(tiny, ErrorCode.INVALID_SAFETENSORS, "trailing bytes")


def test_nan_weight_in_file_refused(tiny: Path) -> None:
    tensors, _ = read_safetensors(tiny.parent / "tiny.safetensors")
    tensors["fc.weight"][1, 2] = np.nan
    _set_weights(tiny, encode_safetensors(tensors))
    _refused(tiny, ErrorCode.NON_FINITE_WEIGHT, "'fc.weight'", "NaN/Inf")


def test_writer_is_deterministic_and_padded() -> None:
    tensors = {"b": np.ones((2, 3), np.float32), "a": np.zeros(5, np.float32)}
    one = encode_safetensors(tensors)
    two = encode_safetensors(dict(reversed(list(tensors.items()))))
    assert one == two
    (n,) = struct.unpack("<Q", one[:8])
    assert n % 8 == 0
    back, _ = read_safetensors("mem", data=one)
    assert sorted(back) == ["a", "b"]
    np.testing.assert_array_equal(back["b"], tensors["b"])
