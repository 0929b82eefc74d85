"""Both readers against the conformance corpus (tests/conformance/cases.py, docs/FORMAT.md).

Every case is loaded the way users load a model: in Python with ``reference.load`` followed by
the golden self-test, in Java with ``Model.load`` (self-test on) through the py4j gateway. Each
side's verdict (ACCEPT, or the ``ErrorCode`` name of the refusal) must equal the case's expected
verdict; a refusal that is not a typed format error (a Python exception other than FormatError, a
Java exception other than Pd2JavaException) or a reader that hangs is a failure too.
``test_no_drift`` lists every disagreement in one message so that drift between the readers is
visible at a glance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conformance.cases import CASES, INFERENCE_CASES, generate, generate_models
from conformance.verdicts import (
    ACCEPT,
    java_call,
    java_error,
    java_verdict,
    python_error,
    python_verdict,
)

from pd2java.backends import reference
from pd2java.backends.java import bridge


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str | None]]:
    return generate(tmp_path_factory.mktemp("conformance"))


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return generate_models(tmp_path_factory.mktemp("conformance-models"))


def _expected(code: str | None) -> str:
    return ACCEPT if code is None else code


NAMES = [c.name for c in CASES]


@pytest.mark.parametrize("name", NAMES)
def test_python_reader(corpus: dict[str, tuple[Path, str | None]], name: str) -> None:
    path, expected = corpus[name]
    assert python_verdict(path) == _expected(expected)


@pytest.mark.parametrize("name", NAMES)
def test_java_reader(corpus: dict[str, tuple[Path, str | None]], name: str) -> None:
    path, expected = corpus[name]
    assert java_verdict(path) == _expected(expected)


def test_no_drift(corpus: dict[str, tuple[Path, str | None]]) -> None:
    """One table of every case where a reader's verdict differs from the expected one."""
    rows = []
    for name, (path, expected) in corpus.items():
        want = _expected(expected)
        py, java = python_verdict(path), java_verdict(path)
        if py != want or java != want:
            rows.append(f"{name}: expected {want}; python {py}; java {java}")
    assert not rows, f"{len(rows)} of {len(corpus)} cases disagree:\n" + "\n".join(rows)


def test_corpus_is_large_and_covers_both_verdicts() -> None:
    assert len(CASES) >= 80
    assert any(c.expected is None for c in CASES)
    assert len({c.expected for c in CASES}) >= 18


# --- inference -------------------------------------------------------------------------------------


def _python_predict(path: Path, x: np.ndarray) -> str:
    try:
        out = reference.run(path, x)
    except Exception as exc:  # noqa: BLE001 - an untyped exception is the finding
        return python_error(exc)
    assert np.all(np.isfinite(out))
    return ACCEPT


def _java_predict(path: Path, x: np.ndarray) -> str:
    # Raw bytes and the sample count as Java receives them.
    n = int(x.shape[0]) if x.ndim == 4 else 1
    try:
        raw = java_call(
            "predict", str(path.absolute()), np.ascontiguousarray(x, "<f4").tobytes(), n, True
        )
    except bridge.JavaError as exc:
        return java_error(exc)
    out = np.frombuffer(bytes(raw), dtype="<f4")
    assert np.all(np.isfinite(out))
    return ACCEPT


@pytest.mark.parametrize("case", INFERENCE_CASES, ids=lambda c: c.name)
def test_inference_python(models: dict[str, Path], case) -> None:
    assert _python_predict(models[case.model], case.x()) == _expected(case.expected)


@pytest.mark.parametrize("case", INFERENCE_CASES, ids=lambda c: c.name)
def test_inference_java(models: dict[str, Path], case) -> None:
    assert _java_predict(models[case.model], case.x()) == _expected(case.expected)
