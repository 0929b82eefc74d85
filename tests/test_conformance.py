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

import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conformance.cases import CASES, INFERENCE_CASES, generate, generate_models

from pd2java.backends import reference
from pd2java.backends.java import bridge
from pd2java.errors import FormatError

ACCEPT = "ACCEPT"
TIMEOUT_S = 60.0
JAVA_EXCEPTION = "org.pd2java.runtime.Pd2JavaException"


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str | None]]:
    return generate(tmp_path_factory.mktemp("conformance"))


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return generate_models(tmp_path_factory.mktemp("conformance-models"))


def _unblock_fifos(folder: Path) -> None:
    """Give EOF to a reader stuck opening or reading a FIFO of the case (a reader that does not
    stat before opening), so a hang is reported instead of blocking the suite."""
    for p in folder.iterdir():
        try:
            if stat.S_ISFIFO(os.stat(p).st_mode):
                fd = os.open(p, os.O_WRONLY | os.O_NONBLOCK)
                os.close(fd)
        except OSError:
            pass


def _guarded(fn: Callable[[], str], folder: Path) -> str:
    """Run ``fn`` in a thread; a reader that has not answered after TIMEOUT_S is a failure."""
    box: list[str] = []
    worker = threading.Thread(target=lambda: box.append(fn()), daemon=True)
    worker.start()
    worker.join(TIMEOUT_S)
    if worker.is_alive():
        _unblock_fifos(folder)
        worker.join(10)
        return f"TIMEOUT after {TIMEOUT_S:.0f} s"
    return box[0] if box else "CRASHED"


def python_verdict(path: Path) -> str:
    def run() -> str:
        try:
            model = reference.load(path)
            if model.golden is not None:
                reference.self_test(model)
        except FormatError as exc:
            return exc.code.value
        except Exception as exc:  # noqa: BLE001 - any other exception is the finding
            return f"untyped {type(exc).__name__}: {str(exc)[:200]}"
        return ACCEPT

    return _guarded(run, path.parent)


def _java_call(method: str, *args: object) -> object:
    # The gateway directly, not bridge.java_predict, which checks the input's shape in Python
    # first and would hide the runtime's own INVALID_INPUT.
    return bridge._call(bridge._get_jvm(), method, *args)


def java_verdict(path: Path) -> str:
    def run() -> str:
        try:
            bridge.model_info(path, self_test=True)
        except bridge.JavaError as exc:
            if exc.java_class != JAVA_EXCEPTION or exc.code is None:
                return f"untyped {exc.java_class}: {exc.java_message[:200]}"
            return exc.code
        return ACCEPT

    return _guarded(run, path.parent)


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
    except FormatError as exc:
        return exc.code.value
    except Exception as exc:  # noqa: BLE001
        return f"untyped {type(exc).__name__}: {exc}"
    assert np.all(np.isfinite(out))
    return ACCEPT


def _java_predict(path: Path, x: np.ndarray) -> str:
    # Raw bytes and the sample count as Java receives them (bridge.java_predict checks the shape
    # in Python first, which would hide the runtime's own input check).
    n = int(x.shape[0]) if x.ndim == 4 else 1
    try:
        raw = _java_call(
            "predict", str(path.absolute()), np.ascontiguousarray(x, "<f4").tobytes(), n, True
        )
    except bridge.JavaError as exc:
        if exc.java_class != JAVA_EXCEPTION or exc.code is None:
            return f"untyped {exc.java_class}: {exc.java_message[:200]}"
        return exc.code
    out = np.frombuffer(bytes(raw), dtype="<f4")
    assert np.all(np.isfinite(out))
    return ACCEPT


@pytest.mark.parametrize("case", INFERENCE_CASES, ids=lambda c: c.name)
def test_inference_python(models: dict[str, Path], case) -> None:
    assert _python_predict(models[case.model], case.x()) == _expected(case.expected)


@pytest.mark.parametrize("case", INFERENCE_CASES, ids=lambda c: c.name)
def test_inference_java(models: dict[str, Path], case) -> None:
    assert _java_predict(models[case.model], case.x()) == _expected(case.expected)
