"""A reader's verdict on an export, for the conformance corpus and the fuzz test.

A verdict is ``ACCEPT``, the ``ErrorCode`` name of a typed refusal (a Python ``FormatError``, a
Java ``Pd2JavaException`` with a code), or a text starting "untyped" / "TIMEOUT" / "CRASHED" for
anything else: an untyped exception, a reader that did not answer in time, a reader thread that
died. Python loads the way users do, ``reference.load`` then the golden self-test; Java through
the py4j gateway's ``Model.load`` with the self-test on.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path

from pd2java.backends import reference
from pd2java.backends.java import bridge
from pd2java.errors import ErrorCode, FormatError

ACCEPT = "ACCEPT"
JAVA_EXCEPTION = "org.pd2java.runtime.Pd2JavaException"
TIMEOUT_S = 60.0


def is_typed(verdict: str) -> bool:
    """Whether ``verdict`` is an acceptance or a typed refusal (not a crash, hang or untyped)."""
    return verdict == ACCEPT or verdict in ErrorCode.__members__


def python_error(exc: BaseException) -> str:
    """The verdict of an exception the Python reader raised."""
    if isinstance(exc, FormatError):
        return exc.code.value
    return f"untyped {type(exc).__name__}: {str(exc)[:200]}"


def java_error(exc: bridge.JavaError) -> str:
    """The verdict of an exception the Java runtime threw."""
    if exc.java_class != JAVA_EXCEPTION or exc.code is None:
        return f"untyped {exc.java_class}: {exc.java_message[:200]}"
    return exc.code


def java_call(method: str, *args: object) -> object:
    """The gateway directly, not ``bridge.java_predict``, which checks the input's shape in
    Python first and would hide the runtime's own INVALID_INPUT."""
    return bridge._call(bridge._get_jvm(), method, *args)


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


def guarded(fn: Callable[[], str], folder: Path, timeout: float = TIMEOUT_S) -> str:
    """Run ``fn`` in a thread; a reader that has not answered after ``timeout`` is a failure."""
    box: list[str] = []
    worker = threading.Thread(target=lambda: box.append(fn()), daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        _unblock_fifos(folder)
        worker.join(10)
        return f"TIMEOUT after {timeout:.0f} s"
    return box[0] if box else "CRASHED"


def python_verdict(path: Path, timeout: float = TIMEOUT_S) -> str:
    def run() -> str:
        try:
            model = reference.load(path)
            if model.golden is not None:
                reference.self_test(model)
        except BaseException as exc:  # noqa: BLE001 - anything untyped is the finding
            return python_error(exc)
        return ACCEPT

    return guarded(run, path.parent, timeout)


def java_verdict(path: Path, timeout: float = TIMEOUT_S) -> str:
    def run() -> str:
        try:
            bridge.model_info(path, self_test=True)
        except bridge.JavaError as exc:
            return java_error(exc)
        except Exception as exc:  # noqa: BLE001 - a bridge or JVM failure is the finding
            return f"untyped {type(exc).__name__}: {str(exc)[:200]}"
        return ACCEPT

    return guarded(run, path.parent, timeout)
