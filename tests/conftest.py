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
