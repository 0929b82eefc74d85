"""PNG preview grid of a dataset: one row per class, a few examples each.

Drawn the way PD engineers read PRPD: phase 0..360 deg left to right, amplitude 0..1 with the
highest amplitude at the top (``origin="lower"``), and a faint sine of the applied voltage. Uses
matplotlib's Agg canvas directly (no pyplot, no global backend switch), so it is safe to call from
library code and from threads.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from pd2java.training.data.convention import Dataset


def render_preview(
    ds: Dataset, path: str | os.PathLike, *, per_class: int = 6, title: str | None = None
) -> Path:
    """Write a grid of up to ``per_class`` examples per class to ``path`` (PNG); return it.

    Examples are the first images of each class, so the preview of a dataset is reproducible.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    rows = len(ds.classes)
    picks = [np.nonzero(ds.labels == c)[0][:per_class] for c in range(rows)]
    cols = max(1, max((len(p) for p in picks), default=1))
    fig = Figure(figsize=(1.9 * cols + 1.6, 1.15 * rows + 0.6), dpi=90)
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False)
    phase = np.linspace(0.0, 360.0, 361)
    sine = 0.5 + 0.45 * np.sin(np.radians(phase))
    for r, idx in enumerate(picks):
        for col in range(cols):
            ax = axes[r][col]
            ax.set_xticks([])
            ax.set_yticks([])
            if col >= len(idx):
                ax.axis("off")
                continue
            ax.imshow(
                ds.images[idx[col]],
                origin="lower",
                aspect="auto",
                extent=(0.0, 360.0, 0.0, 1.0),
                cmap="inferno",
                vmin=0.0,
                vmax=1.0,
                interpolation="nearest",
            )
            ax.plot(phase, sine, color="white", alpha=0.25, linewidth=0.8)
            if col == 0:
                ax.set_ylabel(ds.classes[r], fontsize=7, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.text(
        0.5, 0.005, "phase 0..360 deg (x), amplitude 0..1 (y, high at top)", ha="center", fontsize=7
    )
    fig.subplots_adjust(
        left=0.16, right=0.99, top=0.95 if title else 0.99, bottom=0.04, wspace=0.05, hspace=0.08
    )
    fig.savefig(path, format="png")
    return path
