"""Run the Java runtime's JUnit 5 tests (java-harness/src/test/java) from pytest, twice: in a JVM
started with ``--add-modules=jdk.incubator.vector`` (the Vector API kernels) and in one without
(the scalar kernels). Each run tells the JVM which family to expect; KernelPathTest fails when
another one is active, so a run that silently fell back does not pass."""

from __future__ import annotations

import re

import pytest

from pd2java.backends.java.build import run_junit

# The JUnit classes that must have run in each JVM: the kernel family check, the fast path
# against the reference kernels, thread determinism and the NaN policy.
REQUIRED = ("KernelPathTest", "FastPathTest", "ThreadDeterminismTest", "NanPolicyTest")


@pytest.mark.parametrize("vector", [True, False], ids=["vector", "scalar"])
def test_junit_suite_passes(vector: bool) -> None:
    ok, output = run_junit(vector)
    assert ok, f"JUnit tests failed ({'vector' if vector else 'scalar'} JVM):\n{output}"
    found = re.search(r"\[\s*(\d+) tests successful", output)
    assert found and int(found.group(1)) >= 50, output
    assert re.search(r"\[\s*0 tests failed", output), output
    for name in REQUIRED:
        assert f"{name} ✔" in output, f"{name} did not run:\n{output}"
