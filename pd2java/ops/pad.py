"""Explicit padding ops (constant, reflection, replication, circular): torch lowerings, shape
rules, NumPy kernels and ONNX mappings. Circular padding is the natural padding of the PRPD
phase axis, which wraps at 360 degrees."""

from __future__ import annotations
