"""The NumPy reference reads strictly: every FORMAT.md rule broken in a manifest or weights file
is refused with an error naming the file and the rule; golden vectors are self-tested."""

from __future__ import annotations

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
from pd2java.errors import ParityError, UserError

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


def _refused(manifest: Path, *fragments: str) -> str:
    with pytest.raises(UserError) as info:
        reference.run(manifest, np.zeros((1, 1, 4, 4), np.float32))
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


def test_golden_mismatch_is_a_parity_error(tiny: Path) -> None:
    tensors, _ = read_safetensors(tiny.parent / "tiny.safetensors")
    tensors["golden.output"] = tensors["golden.output"] + np.float32(0.01)
    _set_weights(tiny, encode_safetensors(tensors))
    with pytest.raises(ParityError, match="golden self-test failed"):
        reference.self_test(tiny)


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        (lambda o: o.update(format_version=2), ("newer pd2java", "upgrade")),
        (lambda o: o.update(format="onnx"), ("not a pd2java manifest",)),
        (lambda o: o.pop("golden"), ("schema violation", "golden")),
        (lambda o: o["nodes"][0].update(op="gelu"), ("nodes/0", "unknown op/version", "conv2d@1")),
        (lambda o: o["nodes"][0].update(version=2), ("unknown op/version",)),
        (lambda o: o["nodes"][0]["attrs"].pop("groups"), ("nodes/0", "groups")),
        (lambda o: o["nodes"][2]["attrs"].update(alpha=1.0), ("nodes/2", "alpha")),
        (lambda o: o["nodes"][0]["attrs"].update(stride=[1]), ("nodes/0/attrs/stride",)),
        (lambda o: o["nodes"][3].update(output_shape=[2, 3, 3]), ("'pool'", "output_shape")),
        (lambda o: o["nodes"][0]["attrs"].update(out_channels=3), ("'conv'",)),
        (lambda o: o["nodes"][0]["params"].update(weight="nope"), ("'nope'",)),
        (lambda o: o["nodes"][0]["params"].update(weight="fc.weight"), ("'conv'", "shape")),
        (lambda o: o["nodes"][1]["params"].update(running_mean=None), ("running_mean",)),
        (lambda o: o["nodes"][4].update(inputs=["later"]), ("'flat'", "'later'")),
        (lambda o: o["output"].update(shape=[4]), ("output",)),
        (lambda o: o["weights"].update(file="../tiny.safetensors"), ("bare file name",)),
        (lambda o: o["weights"].update(file="/etc/passwd"), ("bare file name",)),
        (lambda o: o["weights"].update(file="sub\\tiny.safetensors"), ("bare file name",)),
        (lambda o: o["weights"].update(file="C:tiny.safetensors"), ("bare file name",)),
        (lambda o: o["weights"].update(sha256="0" * 64), ("sha256",)),
        (lambda o: o["weights"].update(bytes=o["weights"]["bytes"] + 1), ("bytes",)),
        (lambda o: o["golden"].update(count=2), ("golden input shape",)),
        (lambda o: o["golden"].update(output="fc.weight"), ("golden output shape",)),
    ],
)
def test_manifest_rules(tiny: Path, change: Callable[[dict], None], fragments: tuple) -> None:
    _edit(tiny, change)
    _refused(tiny, str(tiny.name), *fragments)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"format": "pd2java.manifest", "format": "x"}', "duplicate key"),
        ('{"format": "pd2java.manifest", "format_version": NaN}', "NaN"),
        ("[" * 10_000 + "]" * 10_000, "nested too deeply"),
        ('{"format": "pd2java.manifest", "format_version": ' + "9" * 1_000_000 + "}", "JSON"),
        ("\xff\xfe", "UTF-8"),
        ("[1, 2]", "JSON object"),
    ],
)
def test_hostile_json(tiny: Path, text: str, fragment: str) -> None:
    tiny.write_bytes(
        text.encode("utf-8", errors="surrogateescape") if text != "\xff\xfe" else b"\xff\xfe"
    )
    _refused(tiny, fragment)


def test_weights_truncated_or_missing(tiny: Path) -> None:
    w = tiny.parent / "tiny.safetensors"
    data = w.read_bytes()
    w.write_bytes(data[:-1])  # one byte short, manifest unchanged
    _refused(tiny, "tiny.safetensors", "bytes")
    _set_weights(tiny, data[:-1])  # one byte short, manifest updated: the layout rule catches it
    _refused(tiny, "truncated")
    w.unlink()
    _refused(tiny, "cannot read weights file")


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
    if name == "f16":
        return _raw({"a": {"dtype": "F16", "shape": [8], "data_offsets": [0, 16]}}, f32)
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
        ("header_cap", "cap"),
        ("bad_padding", "spaces"),
        ("unknown_dtype", "unknown dtype"),
        ("negative_dim", "non-negative"),
        ("f16", "'a' has dtype F16"),
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
    _refused(tiny, "trailing bytes")


def test_nan_weight_in_file_refused(tiny: Path) -> None:
    tensors, _ = read_safetensors(tiny.parent / "tiny.safetensors")
    tensors["fc.weight"][1, 2] = np.nan
    _set_weights(tiny, encode_safetensors(tensors))
    _refused(tiny, "'fc.weight'", "NaN/Inf")


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
