"""Upsampling ops (nearest and bilinear resize, transposed convolution): torch lowerings, shape
rules, NumPy kernels and ONNX mappings."""

from __future__ import annotations
