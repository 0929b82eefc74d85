"""The PRPD image convention (docs/PRPD.md section 1), the class sets, and the ``Dataset`` container.

Every image in pd2java is a (60, 120) float32 array: axis 0 is the amplitude bin (0 = lowest,
59 = full scale), axis 1 the phase bin of 3 degrees (0 = 0..3 deg after the positive-going zero
crossing), and the value is ``log1p(count) / max(log1p(count))`` so it lies in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pd2java.errors import UserError

AMPLITUDE_BINS = 60
PHASE_BINS = 120
IMAGE_SHAPE = (AMPLITUDE_BINS, PHASE_BINS)
DEGREES_PER_PHASE_BIN = 360.0 / PHASE_BINS

# Class order matters: it is the output order of every model trained on these classes.
PRODUCTS: dict[str, tuple[str, ...]] = {
    "gis": (
        "protrusion_conductor",
        "protrusion_enclosure",
        "free_particle",
        "floating_electrode",
        "void",
        "surface",
        "noise",
    ),
    "transformer": ("corona", "surface", "void", "floating", "particle", "noise"),
}

# Machine-readable form of the convention, for checkpoints and manifests (input.image_convention).
IMAGE_CONVENTION: dict[str, object] = {
    "shape": list(IMAGE_SHAPE),
    "axis0": "amplitude bin, 0 = lowest, 59 = full scale",
    "axis1": "phase bin of 3 degrees, 0 = positive-going zero crossing",
    "value": "log1p(count) / max(log1p(count)) over the image; empty image stays zero",
    "png_rows": "row 0 of a PNG file is the top = highest amplitude",
}


def normalize_counts(counts: np.ndarray) -> np.ndarray:
    """Log-normalise a pulse-count histogram: ``log1p(c) / max(log1p(c))``, as float32.

    Pulse counts span four or more orders of magnitude, hence the log. An all-zero histogram
    stays all zero (no division by zero). Negative or non-finite counts are refused.
    """
    c = np.asarray(counts, dtype=np.float64)
    if not np.all(np.isfinite(c)):
        raise UserError("normalize_counts: counts contain NaN or infinity")
    if c.size and c.min() < 0:
        raise UserError(f"normalize_counts: counts must be >= 0, found {c.min():g}")
    logc = np.log1p(c)
    peak = logc.max() if logc.size else 0.0
    if peak <= 0:
        return np.zeros(c.shape, dtype=np.float32)
    return (logc / peak).astype(np.float32)


@dataclass(frozen=True, eq=False)
class Dataset:
    """A set of PRPD images with integer labels.

    ``images`` is (N, 60, 120) float32 in [0, 1]; ``labels`` is (N,) int64 indices into
    ``classes``; ``sources`` names the file of each image when it was loaded from disk (so error
    and evaluation messages can point at it), otherwise it is empty.
    """

    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    sources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        images, labels = self.images, self.labels
        if (
            not isinstance(images, np.ndarray)
            or images.ndim != 3
            or images.shape[1:] != IMAGE_SHAPE
        ):
            shape = getattr(images, "shape", type(images).__name__)
            raise UserError(f"Dataset.images must have shape (N, 60, 120), got {shape}")
        if images.dtype != np.float32:
            raise UserError(f"Dataset.images must be float32, got {images.dtype}")
        if not isinstance(labels, np.ndarray) or labels.shape != (images.shape[0],):
            shape = getattr(labels, "shape", type(labels).__name__)
            raise UserError(f"Dataset.labels must have shape ({images.shape[0]},), got {shape}")
        if labels.dtype != np.int64:
            raise UserError(f"Dataset.labels must be int64, got {labels.dtype}")
        if len(self.classes) == 0 or len(set(self.classes)) != len(self.classes):
            raise UserError(f"Dataset.classes must be non-empty and unique, got {self.classes}")
        if labels.size and (labels.min() < 0 or labels.max() >= len(self.classes)):
            raise UserError(
                f"Dataset.labels must lie in 0..{len(self.classes) - 1}, "
                f"found {labels.min()}..{labels.max()}"
            )
        if self.sources and len(self.sources) != images.shape[0]:
            raise UserError(
                f"Dataset.sources has {len(self.sources)} entries for {images.shape[0]} images"
            )
        # Frozen dataclass: coerce containers to tuples through object.__setattr__.
        object.__setattr__(self, "classes", tuple(self.classes))
        object.__setattr__(self, "sources", tuple(self.sources))

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def counts(self) -> dict[str, int]:
        """Number of images per class, in class order."""
        per = np.bincount(self.labels, minlength=len(self.classes))
        return {name: int(n) for name, n in zip(self.classes, per)}

    def subset(self, indices: np.ndarray | list[int]) -> Dataset:
        """The images at ``indices`` (same classes), e.g. for a train/validation split."""
        idx = np.asarray(indices, dtype=np.int64)
        sources = tuple(self.sources[i] for i in idx) if self.sources else ()
        return Dataset(self.images[idx], self.labels[idx], self.classes, sources)
