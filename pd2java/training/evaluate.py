"""Evaluating a model on labelled PRPD images: ``evaluate(model, data) -> Report``.

The model is a pd2java checkpoint (run by PyTorch) or an export (its folder or its
``NAME.manifest.json``, run by the NumPy reference, ``pd2java.backends.reference``, so what is
scored is exactly what the Java runtime loads). An export must carry class names.

The report holds the accuracy, per-class precision and recall, and the confusion matrix (rows =
true class, columns = predicted class). ``Report.table()`` renders it as text; with ``out_dir``,
``evaluate`` also writes ``report.txt``, ``report.json``, ``confusion.png`` and the model card
``index.html`` (``pd2java.report``) there (each to a temporary name first, then renamed). The
dataset's classes are matched to the model's by name, so a dataset folder with its classes in
another order is still scored correctly.

Calibration (docs/TRAINING.md, "Calibration and rejection"): the report also gives the expected
calibration error of the model's top probability on the data (``ECE_BINS`` bins); for a
calibrated checkpoint, the ECE before temperature scaling too (its logits times T). When the
checkpoint (``calibration.rejection``) or the export (the manifest's ``confidence``) has a
rejection threshold, the report gives the share of images rejected as unsure (score below the
threshold, as the Java runtime's ``Prediction.confident()``) and the accuracy on the rest.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pd2java.errors import UserError
from pd2java.format_rules import CONFIDENCE_KEY
from pd2java.fsutil import atomic_path, write_text_atomic
from pd2java.training.calibrate import (
    ECE_BINS,
    expected_calibration_error,
    max_probability,
    rejection_stats,
    softmax,
)
from pd2java.training.checkpoint import Checkpoint, load_checkpoint
from pd2java.training.train import resolve_data


@dataclass(frozen=True)
class Report:
    """Scores of one model on one dataset. ``precision`` is NaN for a class never predicted,
    ``recall`` NaN for a class absent from the data."""

    classes: tuple[str, ...]
    confusion: tuple[tuple[int, ...], ...]  # confusion[true][predicted]
    accuracy: float
    precision: tuple[float, ...]
    recall: tuple[float, ...]
    n: int
    checkpoint: str = ""
    data: str = ""
    # Calibration: ECE of the top probability (None for a model whose output is not
    # probabilities), the ECE before temperature scaling and T (a calibrated checkpoint only).
    ece: float | None = None
    ece_before: float | None = None
    temperature: float | None = None
    # Rejection, when the model has a threshold: {"score", "threshold", "target_false_reject"},
    # how many images scored below it, and the accuracy on the others (NaN if none is left).
    confidence: dict[str, Any] | None = None
    rejected: int | None = None
    accepted_accuracy: float | None = None

    def table(self) -> str:
        """The confusion matrix and per-class precision/recall as a fixed-width text table."""
        width = max(9, *(len(c) for c in self.classes))
        short = [f"p{i}" for i in range(len(self.classes))]
        corner = "true \\ predicted"
        head = f"{corner:<{width + 4}}" + "".join(f"{s:>6}" for s in short)
        lines = [
            f"accuracy {100 * self.accuracy:.2f}% on {self.n} images"
            + (f" ({self.data})" if self.data else ""),
            "",
            head + f"{'recall':>9}{'precision':>11}",
        ]

        def pct(v: float) -> str:
            return "-" if math.isnan(v) else f"{100 * v:.1f}%"

        for i, name in enumerate(self.classes):
            cells = "".join(f"{v:>6}" for v in self.confusion[i])
            lines.append(
                f"p{i:<2} {name:<{width}}"
                + cells
                + f"{pct(self.recall[i]):>9}{pct(self.precision[i]):>11}"
            )
        lines += self._calibration_lines()
        return "\n".join(lines)

    def _calibration_lines(self) -> list[str]:
        lines = []
        if self.ece is not None:
            text = f"expected calibration error {100 * self.ece:.2f}% ({ECE_BINS} bins)"
            if self.ece_before is not None and self.temperature is not None:
                text += (
                    f"; {100 * self.ece_before:.2f}% before temperature scaling "
                    f"(T = {self.temperature:.3f})"
                )
            lines += ["", text]
        if self.confidence is not None and self.rejected is not None:
            acc = self.accepted_accuracy
            acc_text = "n/a" if acc is None or math.isnan(acc) else f"{100 * acc:.2f}%"
            rate = self.rejected / self.n if self.n else float("nan")
            lines.append(
                f"unsure (rejected): {100 * rate:.2f}% ({self.rejected} of {self.n} images with "
                f"{self.confidence['score']} below {self.confidence['threshold']:.4f}, chosen "
                f"for {100 * self.confidence['target_false_reject']:g}% on validation); accuracy "
                f"on the accepted: {acc_text}"
            )
        return lines

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (NaN becomes null)."""

        def clean(v: float) -> float | None:
            return None if math.isnan(v) else v

        return {
            "checkpoint": self.checkpoint,
            "data": self.data,
            "n": self.n,
            "accuracy": self.accuracy,
            "classes": list(self.classes),
            "precision": {c: clean(p) for c, p in zip(self.classes, self.precision)},
            "recall": {c: clean(r) for c, r in zip(self.classes, self.recall)},
            "confusion": [list(row) for row in self.confusion],
            "calibration": {
                "ece": self.ece,
                "ece_before": self.ece_before,
                "temperature": self.temperature,
                "bins": ECE_BINS,
            },
            "rejection": None
            if self.confidence is None
            else {
                **self.confidence,
                "rejected": self.rejected,
                "rejection_rate": self.rejected / self.n
                if self.n and self.rejected is not None
                else None,
                "accepted_accuracy": None
                if self.accepted_accuracy is None or math.isnan(self.accepted_accuracy)
                else self.accepted_accuracy,
            },
        }


def scores(true: np.ndarray, pred: np.ndarray, classes: Sequence[str], **where: Any) -> Report:
    """A Report from true and predicted class indices (``where``: the other Report fields, such
    as checkpoint, data and the calibration figures)."""
    k = len(classes)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (true, pred), 1)
    diag = np.diag(confusion).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = diag / confusion.sum(axis=0)
        recall = diag / confusion.sum(axis=1)
    n = int(confusion.sum())
    return Report(
        classes=tuple(classes),
        confusion=tuple(tuple(int(v) for v in row) for row in confusion),
        accuracy=float(diag.sum() / n) if n else float("nan"),
        precision=tuple(float(v) for v in precision),
        recall=tuple(float(v) for v in recall),
        n=n,
        **where,
    )


def _labels_in_model_order(dataset: Any, classes: tuple[str, ...], source: str) -> np.ndarray:
    """Map the dataset's labels onto the model's class indices, by class name."""
    if tuple(dataset.classes) == classes:
        return dataset.labels
    unknown = [c for c in dataset.classes if c not in classes]
    present = set(np.unique(dataset.labels).tolist())
    unknown = [c for i, c in enumerate(dataset.classes) if c in unknown and i in present]
    if unknown:
        raise UserError(
            f"dataset {source} has images of class(es) the model does not know: "
            f"{', '.join(unknown)}; the model's classes are {', '.join(classes)}"
        )
    lookup = np.array([classes.index(c) if c in classes else -1 for c in dataset.classes])
    return lookup[dataset.labels]


def plot_confusion(report: Report, path: str | os.PathLike[str]) -> Path:
    """Save the confusion matrix as a PNG (row-normalised colours, counts written in cells)."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers
    import matplotlib.pyplot as plt

    path = Path(path)
    matrix = np.array(report.confusion, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.nan_to_num(matrix / matrix.sum(axis=1, keepdims=True))
    k = len(report.classes)
    fig, ax = plt.subplots(figsize=(1.0 + 0.9 * k, 1.0 + 0.8 * k), dpi=100)
    ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(k), report.classes, rotation=45, ha="right")
    ax.set_yticks(range(k), report.classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"accuracy {100 * report.accuracy:.2f}% (n={report.n})")
    for i in range(k):
        for j in range(k):
            color = "white" if shares[i, j] > 0.5 else "black"
            ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", color=color)
    fig.tight_layout()
    try:
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return path


def predict(model: torch.nn.Module, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Class probabilities of ``model`` for (N, 60, 120) images, in batches."""
    return predict_with_logits(model, images, batch_size)[0]


def predict_with_logits(
    model: torch.nn.Module, images: np.ndarray, batch_size: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities and logits of a zoo model (``head(forward_logits(x))``), in batches."""
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).unsqueeze(1)
    model.eval()
    probs, logits = [], []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            z = model.forward_logits(x[i : i + batch_size])
            logits.append(z)
            probs.append(model.head(z))
    if not probs:
        return np.zeros((0, 0), dtype=np.float32), np.zeros((0, 0), dtype=np.float32)
    return torch.cat(probs).numpy(), torch.cat(logits).numpy()


def is_export(path: str | os.PathLike[str] | Checkpoint) -> bool:
    """True for an export folder or a ``*.manifest.json`` (rather than a checkpoint file)."""
    if isinstance(path, Checkpoint):
        return False
    p = Path(path)
    return p.is_dir() or p.name.endswith(".manifest.json")


def _export_model(path: str | os.PathLike[str]) -> Any:
    """The loaded export (strict reader), which must name its classes."""
    from pd2java.backends.java.verify import find_manifest
    from pd2java.backends.manifest import load

    manifest = find_manifest(path)
    loaded = load(manifest)
    if loaded.graph.classes is None:
        raise UserError(
            f"export {manifest} has no class names, so its outputs cannot be matched to the "
            "dataset's classes; export it again with --classes a,b,c (or --classes-file)"
        )
    return loaded


def predict_export(loaded: Any, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Outputs of a loaded export, run by the NumPy reference, for (N, H, W) images."""
    from pd2java.backends.reference import run_graph

    graph = loaded.graph
    x = np.ascontiguousarray(images, dtype=np.float32)[:, None, :, :]
    if tuple(graph.input.shape) != x.shape[1:]:
        raise UserError(
            f"export {loaded.path} takes inputs of shape {list(graph.input.shape)}, the dataset's "
            f"images are {list(x.shape[1:])}"
        )
    out = [run_graph(graph, x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    k = int(np.prod(graph.output_shape))
    return np.concatenate(out).reshape(len(x), k) if out else np.zeros((0, k), np.float32)


def evaluate(
    checkpoint: str | os.PathLike[str] | Checkpoint,
    data: Any,
    *,
    out_dir: str | os.PathLike[str] | None = None,
    batch_size: int = 256,
) -> Report:
    """Score a checkpoint (PyTorch) or an export folder / manifest (the NumPy reference) on
    ``data`` (a Dataset, a dataset folder or ``synth:...``).

    With ``out_dir``, also writes ``report.txt``, ``report.json``, ``confusion.png`` and the model
    card ``index.html`` there.
    """
    loaded = None
    if isinstance(checkpoint, Checkpoint):
        ckpt, ckpt_name = checkpoint, "in-memory checkpoint"
        classes = ckpt.classes
    elif is_export(checkpoint):
        loaded = _export_model(checkpoint)
        ckpt_name = os.fspath(loaded.path)
        classes = tuple(loaded.graph.classes)
    else:
        ckpt, ckpt_name = load_checkpoint(checkpoint), os.fspath(checkpoint)
        classes = ckpt.classes
    dataset, source = resolve_data(data)
    if len(dataset) == 0:
        raise UserError(f"dataset {source} has no images to evaluate on")
    labels = _labels_in_model_order(dataset, classes, source)
    if out_dir is not None:
        out = Path(out_dir)
        if out.exists() and not out.is_dir():
            raise UserError(f"report folder {out} exists and is not a folder")
    calibration: dict[str, Any] = {}
    if loaded is not None:
        probs = predict_export(loaded, dataset.images)
        kind = loaded.graph.output_kinds[0]
        if kind == "probabilities":
            calibration["ece"] = expected_calibration_error(probs, labels)
        confidence = loaded.graph.meta.get(CONFIDENCE_KEY)
    else:
        probs, logits = predict_with_logits(ckpt.build_model(), dataset.images, batch_size)
        calibration["ece"] = expected_calibration_error(probs, labels)
        record = ckpt.calibration
        confidence = None
        if record is not None:
            t = float(record["temperature"])
            calibration["temperature"] = t
            calibration["ece_before"] = expected_calibration_error(
                softmax(logits.astype(np.float64) * t), labels
            )
            rejection = record.get("rejection")
            if rejection is not None:
                confidence = {
                    k: rejection[k] for k in ("score", "threshold", "target_false_reject")
                }
    if confidence is not None:
        confidence = dict(confidence)
        predicted = probs.argmax(axis=1)
        stats = rejection_stats(max_probability(probs), confidence["threshold"], predicted, labels)
        calibration.update(rejected=stats.rejected, accepted_accuracy=stats.accepted_accuracy)
    report = scores(
        labels,
        probs.argmax(axis=1),
        classes,
        checkpoint=ckpt_name,
        data=source,
        confidence=confidence,
        **calibration,
    )
    if out_dir is not None:
        text = report.table() + "\n"
        blob = json.dumps(report.to_dict(), indent=2) + "\n"
        try:
            out.mkdir(parents=True, exist_ok=True)
            write_text_atomic(out / "report.txt", text)
            write_text_atomic(out / "report.json", blob)
            plot_confusion(report, out / "confusion.png")
        except OSError as exc:
            raise UserError(f"cannot write the report to {out}: {exc.strerror or exc}") from None
        # The model card, index.html (pd2java.report): the same predictions, made readable.
        from pd2java.report import write_model_card

        write_model_card(
            out, checkpoint, dataset=dataset, labels=labels, probs=probs, report=report
        )
    return report
