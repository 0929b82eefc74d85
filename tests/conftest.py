"""Suite-wide settings.

One torch thread per test process: on a shared 2-core machine two OpenMP threads per process were
measured about 10x slower than one (the cores are oversubscribed by the JVM and other jobs), and a
fixed thread count also keeps training bit-for-bit reproducible across runs.
"""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# ---- the Java runtime's two kernel families -------------------------------------------------

KERNEL_FAMILIES = ("vector", "scalar")


class JavaKernels:
    """The kernel family the parity JVM runs for a test: ``vector`` (started with
    ``--add-modules=jdk.incubator.vector``, the Vector API kernels) or ``scalar``."""

    def __init__(self, family: str) -> None:
        self.family = family

    def check(self, manifest) -> None:
        """The model loaded in the parity JVM runs this family: a JVM that silently fell back to
        the scalar kernels fails here."""
        from pd2java.backends.java import bridge

        kernels = bridge.model_info(manifest).kernels
        assert kernels.startswith(f"{self.family}:"), (
            f"{manifest}: expected the {self.family} kernels, the Java runtime says {kernels!r}"
        )

    def __repr__(self) -> str:
        return self.family


@pytest.fixture(scope="module")
def java_kernels(request: pytest.FixtureRequest):
    """Parametrise a parity test with ``@pytest.mark.parametrize("java_kernels",
    KERNEL_FAMILIES, indirect=True, scope="module")``: the parity JVM runs the requested family
    (``bridge.use_vector``). Module scope lets pytest run all of a module's cases of one family
    together, so the JVM is restarted once per family and module, not per test."""
    from pd2java.backends.java import bridge

    family = request.param
    assert family in KERNEL_FAMILIES, family
    bridge.use_vector(family == "vector")
    yield JavaKernels(family)
    bridge.use_vector(None)


@pytest.fixture(scope="session")
def parity_cache(tmp_path_factory: pytest.TempPathFactory):
    """One export per parity case, shared by its runs on both kernel families:
    ``parity_cache(key, make)`` returns ``make(folder)`` (the export and whatever the test
    computes from it that does not depend on Java: torch's outputs, the reference's), computed
    the first time in a fresh folder, then reused, so the second family costs a Java run only."""
    store: dict[str, object] = {}

    def get(key: str, make):
        if key not in store:
            folder = tmp_path_factory.mktemp("".join(c if c.isalnum() else "_" for c in key))
            store[key] = make(folder)
        return store[key]

    return get
