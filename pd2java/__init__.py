"""pd2java: train partial-discharge (PRPD) classifiers in PyTorch and run them, verified, in Java.

The top-level names are imported lazily so that ``import pd2java`` stays cheap and the NumPy-only
parts (IR, reference interpreter) never import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.2.0"

# public name -> "module:attribute"
_LAZY = {
    "export": "pd2java.exporter:export",
    "java_predict": "pd2java.backends.java.bridge:java_predict",
}

__all__ = ["__version__", "export", "java_predict"]


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'pd2java' has no attribute {name!r}")
    module_name, attr = target.split(":")
    return getattr(importlib.import_module(module_name), attr)
