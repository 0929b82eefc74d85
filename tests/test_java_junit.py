"""Run the Java runtime's JUnit 5 tests (java-harness/src/test/java) from pytest."""

from __future__ import annotations

import re

from pd2java.backends.java.build import run_junit


def test_junit_suite_passes() -> None:
    ok, output = run_junit()
    assert ok, f"JUnit tests failed:\n{output}"
    found = re.search(r"\[\s*(\d+) tests successful", output)
    assert found and int(found.group(1)) >= 50, output
