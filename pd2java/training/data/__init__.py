"""PRPD data: the image convention, synthetic datasets from PD physics, and datasets on disk.

Public API::

    PRODUCTS, Dataset, synthesize, load_dataset, save_dataset, prps_to_prpd, normalize_counts

An image is a (60, 120) float32 array in [0, 1]: axis 0 amplitude bin (0 = lowest), axis 1 phase
bin of 3 degrees (0 = positive-going zero crossing), value log1p(count) / max (docs/PRPD.md section 1).
"""

from __future__ import annotations

from pd2java.training.data.convention import (
    IMAGE_CONVENTION,
    IMAGE_SHAPE,
    PRODUCTS,
    Dataset,
    normalize_counts,
)
from pd2java.training.data.io import load_dataset, load_image, save_dataset
from pd2java.training.data.prps import prps_to_prpd
from pd2java.training.data.synth import DEFAULT_DIFFICULTY, synthesize

__all__ = [
    "DEFAULT_DIFFICULTY",
    "IMAGE_CONVENTION",
    "IMAGE_SHAPE",
    "PRODUCTS",
    "Dataset",
    "load_dataset",
    "load_image",
    "normalize_counts",
    "prps_to_prpd",
    "save_dataset",
    "synthesize",
]
