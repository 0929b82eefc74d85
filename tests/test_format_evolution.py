"""FORMAT.md section 6: an additive change (a new optional key) keeps format_version 1, so both
readers must ignore keys they do not know, except inside ``attrs`` and ``params``, which must
match the op table exactly. Checked on the NumPy reference and the Java runtime (real JVM)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pd2java.backends import reference
from pd2java.backends.java.bridge import JavaError, java_predict
from pd2java.errors import ErrorCode, FormatError

GOLDEN = Path(__file__).parent / "golden"


def _tiny_with(folder: Path, change) -> Path:
    folder.mkdir(exist_ok=True)
    for name in ("tiny.manifest.json", "tiny.safetensors"):
        shutil.copy(GOLDEN / name, folder / name)
    manifest = folder / "tiny.manifest.json"
    obj = json.loads(manifest.read_text())
    change(obj)
    manifest.write_text(json.dumps(obj))
    return manifest


def _future_keys(obj: dict) -> None:
    obj["quantization_notes"] = {"added_by": "a later writer"}
    obj["input"]["range"] = [0.0, 1.0]
    obj["weights"]["compression"] = None
    obj["nodes"][0]["comment"] = "from a newer pd2java"


def test_unknown_optional_keys_are_ignored_by_both_readers(tmp_path: Path) -> None:
    plain = _tiny_with(tmp_path / "plain", lambda o: None)
    future = _tiny_with(tmp_path / "future", _future_keys)
    x = np.random.default_rng(0).random((2, 1, 4, 4), dtype=np.float32)
    expected = reference.run(plain, x)
    np.testing.assert_array_equal(reference.run(future, x), expected)
    np.testing.assert_allclose(java_predict(future, x), expected, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize(
    ("where", "code"), [("attrs", "INVALID_ATTRIBUTE"), ("params", "INVALID_PARAMETER")]
)
def test_unknown_attribute_or_param_is_still_refused(tmp_path: Path, where: str, code: str) -> None:
    manifest = _tiny_with(tmp_path, lambda o: o["nodes"][0][where].update(extra=1))
    x = np.zeros((1, 1, 4, 4), np.float32)
    with pytest.raises(FormatError, match="extra") as py:
        reference.run(manifest, x)
    assert py.value.code == ErrorCode(code)
    with pytest.raises(JavaError, match="extra") as java:
        java_predict(manifest, x)
    assert java.value.code == code


def test_newer_format_version_is_refused_with_its_code(tmp_path: Path) -> None:
    manifest = _tiny_with(tmp_path, lambda o: o.update(format_version=4))
    with pytest.raises(FormatError, match="upgrade") as py:
        reference.load(manifest)
    assert py.value.code == ErrorCode.UNSUPPORTED_FORMAT_VERSION
    with pytest.raises(JavaError) as java:
        java_predict(manifest, np.zeros((1, 1, 4, 4), np.float32))
    assert java.value.code == "UNSUPPORTED_FORMAT_VERSION"
