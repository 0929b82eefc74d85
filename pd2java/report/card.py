"""The model card: ``index.html``, one self-contained page (every picture a base64 PNG made
with matplotlib or Pillow, the CSS inline, no script, no external resource), so it can be mailed,
archived or opened from a file share as it is.

What it shows, each section only when its inputs exist (otherwise a line saying what is missing):

- a header with the headline figures (accuracy, classes, model, calibration, weights, parity);
- the evaluated data per class (count, share, pulse-pattern statistics) with a few PRPD
  thumbnails per class;
- the confusion matrix and per-class precision, recall and F1;
- calibration: the reliability diagram of the model's probabilities and, when the checkpoint
  carries ``calibration`` (temperature scaling, its ``1/T`` folded into the last layer), of the
  probabilities before it, ``softmax(T * log p)`` (= the softmax of the unscaled logits, since a
  softmax ignores the constant ``log p`` differs from ``logits / T`` by); both recomputed here from
  the evaluated predictions, next to the figures the checkpoint recorded; "not calibrated"
  otherwise;
- the worst misclassified images (most confident wrong answers) with their top-2 scores;
- the training curves (the checkpoint's ``history``);
- the export: file sizes, format, ops, golden vectors, the NumPy reference against PyTorch on the
  evaluated images, and ``verify.txt`` when a verify run left one;
- the recipe and the versions (trained with, exported with, card written with).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import platform
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pd2java import __version__
from pd2java.errors import UserError
from pd2java.fsutil import write_text_atomic
from pd2java.training import calibrate

CARD_FILE = "index.html"
THUMBS_PER_CLASS = 4
WORST_SHOWN = 8
DEFAULT_BINS = calibrate.ECE_BINS
PARITY_SAMPLES = 512  # images run through PyTorch for the reference-vs-PyTorch figure

# ---------------------------------------------------------------------------------------------
# Figures computed from predictions


@dataclass(frozen=True)
class Reliability:
    """A reliability diagram: per equal-width confidence bin, the mean confidence (top-1
    probability), the accuracy and the count (None for an empty bin), and the expected
    calibration error (count-weighted mean |accuracy - confidence|)."""

    confidence: tuple[float | None, ...]
    accuracy: tuple[float | None, ...]
    count: tuple[int, ...]
    ece: float


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = DEFAULT_BINS) -> Reliability:
    """The reliability diagram of probabilities (N, K) against true labels (N,), binned as
    training's calibration bins them (``pd2java.training.calibrate.reliability``)."""
    diagram = calibrate.reliability(probs, labels, bins)
    ece = calibrate.ece_from_reliability(diagram)
    return Reliability(
        tuple(diagram["confidence"]),
        tuple(diagram["accuracy"]),
        tuple(diagram["count"]),
        0.0 if math.isnan(ece) else ece,
    )


def unscaled_probabilities(probs: np.ndarray, temperature: float) -> np.ndarray:
    """The probabilities before temperature scaling: ``softmax(T * log p)``.

    A calibrated model outputs ``p = softmax(z / T)``; ``log p = z / T - c`` for a constant
    ``c`` per row, and a softmax ignores per-row constants, so this is ``softmax(z)``."""
    z = float(temperature) * np.log(np.clip(probs.astype(np.float64), 1e-38, None))
    return calibrate.softmax(z)


# ---------------------------------------------------------------------------------------------
# What is known about the model


@dataclass
class ModelInfo:
    """The model behind a card: its checkpoint and/or export, whichever are at hand."""

    name: str
    path: str
    classes: tuple[str, ...]
    checkpoint: Any = None  # pd2java.training.checkpoint.Checkpoint
    checkpoint_path: Path | None = None
    export_dir: Path | None = None
    manifest_path: Path | None = None
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def calibration(self) -> dict[str, Any] | None:
        """The checkpoint's ``calibration`` record (pd2java.training.calibrate), if any."""
        return None if self.checkpoint is None else self.checkpoint.calibration


def describe_model(model: Any) -> ModelInfo:
    """A ModelInfo for a Checkpoint, a checkpoint file, an export folder or a manifest."""
    from pd2java.training.checkpoint import Checkpoint, load_checkpoint
    from pd2java.training.evaluate import is_export

    if isinstance(model, Checkpoint):
        return ModelInfo(
            name=f"{model.arch} model",
            path="in-memory checkpoint",
            classes=tuple(model.classes),
            checkpoint=model,
        )
    if is_export(model):
        from pd2java.backends.java.verify import find_manifest

        manifest_path = find_manifest(model)
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot read manifest {manifest_path}: {exc}") from None
        export_dir = manifest_path.parent
        info = ModelInfo(
            name=str(manifest.get("name") or manifest_path.stem),
            path=str(export_dir),
            classes=tuple(manifest.get("classes") or ()),
            export_dir=export_dir,
            manifest_path=manifest_path,
            manifest=manifest,
        )
        rel = (manifest.get("producer") or {}).get("checkpoint")
        if isinstance(rel, str) and (export_dir / rel).is_file():
            try:
                info.checkpoint = load_checkpoint(export_dir / rel)
                info.checkpoint_path = (export_dir / rel).resolve()
            except UserError:
                pass  # a card without the training side, rather than no card
        return info
    path = Path(model)
    ckpt = load_checkpoint(path)
    return ModelInfo(
        name=path.stem,
        path=str(path),
        classes=tuple(ckpt.classes),
        checkpoint=ckpt,
        checkpoint_path=path.resolve(),
    )


# ---------------------------------------------------------------------------------------------
# Pictures


def _png_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _figure() -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(dpi=110)
    FigureCanvasAgg(fig)
    return fig


def _fig_uri(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return _png_uri(buf.getvalue())


def thumbnail(image: np.ndarray, scale: int = 2) -> str:
    """A PRPD image as a PNG data URI: amplitude upwards (row 0 = lowest at the bottom), phase
    left to right, inferno colours, each bin ``scale`` pixels."""
    from matplotlib import colormaps
    from PIL import Image

    rgba = colormaps["inferno"](np.clip(image[::-1], 0.0, 1.0), bytes=True)
    pic = Image.fromarray(rgba[:, :, :3], mode="RGB")
    pic = pic.resize((pic.width * scale, pic.height * scale), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    pic.save(buf, format="PNG", optimize=True)
    return _png_uri(buf.getvalue())


def reliability_figure(panels: Sequence[tuple[str, Reliability]]) -> str:
    """Reliability diagrams side by side, as a PNG data URI."""
    fig = _figure()
    fig.set_size_inches(4.3 * len(panels), 4.0)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, rel) in zip(axes, panels, strict=True):
        bins = len(rel.count)
        width = 1.0 / bins
        centres = (np.arange(bins) + 0.5) * width
        acc = np.array([np.nan if a is None else a for a in rel.accuracy])
        conf = np.array([np.nan if c is None else c for c in rel.confidence])
        ok = ~np.isnan(acc)
        ax.plot([0, 1], [0, 1], color="#9ca3af", linestyle="--", linewidth=1, label="perfect")
        ax.bar(centres[ok], acc[ok], width=width * 0.92, color="#2563eb", label="accuracy")
        gap_lo = np.minimum(acc[ok], conf[ok])
        gap_hi = np.maximum(acc[ok], conf[ok])
        ax.bar(
            centres[ok],
            gap_hi - gap_lo,
            bottom=gap_lo,
            width=width * 0.92,
            color="#dc2626",
            alpha=0.25,
            hatch="//",
            edgecolor="#dc2626",
            linewidth=0,
            label="gap to confidence",
        )
        for x, n in zip(centres, rel.count, strict=True):
            if n:
                ax.text(x, 0.015, str(n), ha="center", va="bottom", fontsize=7, color="white")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence (top-1 probability)")
        ax.set_ylabel("accuracy")
        ax.set_title(f"{title}\nECE {100 * rel.ece:.2f}%", fontsize=10)
        ax.grid(alpha=0.25)
        ax.legend(
            loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3, fontsize=7, frameon=False
        )
    fig.tight_layout()
    return _fig_uri(fig)


def curves_figure(history: Sequence[Mapping[str, Any]], best_epoch: int | None) -> str:
    """Training curves (loss, accuracy, learning rate per epoch) as a PNG data URI."""
    from matplotlib.ticker import MaxNLocator

    fig = _figure()
    fig.set_size_inches(11.5, 3.3)
    axes = fig.subplots(1, 3)
    epochs = [int(r.get("epoch", i + 1)) for i, r in enumerate(history)]

    def series(key: str) -> list[float]:
        return [float(r[key]) if r.get(key) is not None else np.nan for r in history]

    panels = (
        ("loss (cross-entropy)", ("train_loss", "val_loss")),
        ("accuracy", ("train_accuracy", "val_accuracy")),
        ("learning rate", ("lr",)),
    )
    colours = {"train": "#2563eb", "val": "#f59e0b", "lr": "#059669"}
    for ax, (title, keys) in zip(axes, panels, strict=True):
        for key in keys:
            values = series(key)
            if all(math.isnan(v) for v in values):
                continue
            tag = key.split("_")[0]
            label = {"train": "training", "val": "validation"}.get(tag, key)
            ax.plot(epochs, values, marker="o", markersize=3, color=colours[tag], label=label)
        if best_epoch:
            ax.axvline(best_epoch, color="#6b7280", linestyle=":", linewidth=1, label="best epoch")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.25)
        if len(keys) > 1 or best_epoch:
            ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return _fig_uri(fig)


# ---------------------------------------------------------------------------------------------
# HTML pieces

_CSS = """
:root { --ink:#1f2937; --muted:#6b7280; --line:#e5e7eb; --accent:#2563eb; --bg:#f4f6fb;
  --good:#047857; --bad:#b91c1c; --warn:#b45309; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
  font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif; }
header { background:linear-gradient(135deg,#172554 0%,#1d4ed8 60%,#2563eb 100%); color:#fff;
  padding:28px 40px 26px; }
header .kicker { text-transform:uppercase; letter-spacing:.08em; font-size:12px; opacity:.8; }
header h1 { margin:4px 0 2px; font-size:28px; font-weight:650; }
header .sub { opacity:.85; font-size:13px; word-break:break-all; }
.tiles { display:grid; grid-template-columns:repeat(auto-fit,minmax(165px,1fr)); gap:12px;
  margin-top:20px; }
.tile { background:rgba(255,255,255,.12); border:1px solid rgba(255,255,255,.18);
  border-radius:10px; padding:10px 14px; }
.tile .k { font-size:12px; opacity:.8; text-transform:uppercase; letter-spacing:.05em; }
.tile .v { font-size:23px; font-weight:650; line-height:1.25; }
.tile .d { font-size:12px; opacity:.8; }
nav { position:sticky; top:0; z-index:2; background:#fff; border-bottom:1px solid var(--line);
  padding:8px 40px; font-size:13px; }
nav a { color:var(--accent); text-decoration:none; margin-right:16px; }
main { max-width:1200px; margin:0 auto; padding:24px 32px 40px; }
section { background:#fff; border:1px solid var(--line); border-radius:12px;
  padding:18px 24px 20px; margin:0 0 20px; box-shadow:0 1px 2px rgba(15,23,42,.05); }
h2 { font-size:19px; margin:0 0 4px; }
h3 { font-size:15px; margin:16px 0 6px; }
p.note { color:var(--muted); margin:2px 0 12px; font-size:13px; }
table { border-collapse:collapse; font-variant-numeric:tabular-nums; font-size:14px; }
th, td { padding:6px 10px; border-bottom:1px solid var(--line); text-align:left;
  vertical-align:middle; }
th { font-weight:600; color:#374151; background:#f9fafb; }
tbody tr:nth-child(even) td { background:#fcfcfd; }
td.n, th.n { text-align:right; }
td.b { white-space:nowrap; }
.bar { display:inline-block; height:9px; border-radius:5px; background:var(--accent);
  vertical-align:middle; margin-right:6px; }
.bar.r { background:#0ea5e9; } .bar.f { background:#8b5cf6; }
.thumbs img, .worst img { image-rendering:pixelated; border-radius:4px; display:block; }
.thumbs { display:flex; gap:5px; }
.scroll { overflow-x:auto; }
.cm td.c { text-align:center; min-width:44px; font-weight:600; }
.cm td.diag { outline:2px solid #1e3a8a; outline-offset:-2px; }
.cm th.rot { writing-mode:vertical-rl; transform:rotate(180deg); font-weight:500;
  font-size:12px; padding:8px 4px; }
.grid2 { display:flex; flex-wrap:wrap; gap:28px; align-items:flex-start; }
.worst { display:grid; grid-template-columns:repeat(auto-fill,minmax(260px,1fr)); gap:14px; }
.card { border:1px solid var(--line); border-radius:10px; padding:10px; background:#fcfcfd; }
.card .src { font-size:12px; color:var(--muted); word-break:break-all; margin-top:6px; }
.card .lab { font-size:13px; margin-top:4px; }
.pill { display:inline-block; border-radius:999px; padding:1px 9px; font-size:12px;
  font-weight:600; }
.pill.ok { background:#d1fae5; color:var(--good); } .pill.bad { background:#fee2e2;
  color:var(--bad); } .pill.na { background:#f3f4f6; color:var(--muted); }
.figure img { max-width:100%; height:auto; }
pre { background:#0f172a; color:#e2e8f0; padding:12px 14px; border-radius:8px; overflow:auto;
  font-size:12px; line-height:1.45; }
.kv td:first-child { color:var(--muted); white-space:nowrap; }
.kv code { font-size:12.5px; }
footer { color:var(--muted); font-size:12px; text-align:center; padding:0 0 30px; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _pct(v: float | None, digits: int = 1) -> str:
    return (
        "&ndash;"
        if v is None or (isinstance(v, float) and math.isnan(v))
        else (f"{100 * v:.{digits}f}%")
    )


def _size(n: int | None) -> str:
    if n is None:
        return "&ndash;"
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.2f} MB"
    if n >= 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n} B"


def _bar(share: float | None, cls: str = "", width: int = 90) -> str:
    if share is None or math.isnan(share):
        return ""
    px = max(1, round(width * max(0.0, min(1.0, share))))
    return f'<span class="bar {cls}" style="width:{px}px"></span>'


def _section(anchor: str, title: str, body: str, note: str = "") -> str:
    note_html = f'<p class="note">{note}</p>' if note else ""
    return f'<section id="{anchor}"><h2>{_e(title)}</h2>{note_html}{body}</section>'


def _kv_table(rows: Iterable[tuple[str, Any]]) -> str:
    cells = []
    for key, value in rows:
        if isinstance(value, (dict, list, tuple)):
            text = f"<code>{_e(json.dumps(value, default=str))}</code>"
        elif isinstance(value, float):
            text = _e(f"{value:.6g}")
        else:
            text = _e(value)
        cells.append(f"<tr><td>{_e(key)}</td><td>{text}</td></tr>")
    return f'<table class="kv"><tbody>{"".join(cells)}</tbody></table>'


def _tile(key: str, value: str, detail: str = "") -> str:
    return (
        f'<div class="tile"><div class="k">{_e(key)}</div><div class="v">{value}</div>'
        f'<div class="d">{detail}</div></div>'
    )


# ---------------------------------------------------------------------------------------------
# The card


@dataclass
class Evaluation:
    """Predictions of the model on a labelled set, in the model's class order."""

    images: np.ndarray
    labels: np.ndarray
    probs: np.ndarray
    sources: tuple[str, ...]
    source: str
    report: Any  # pd2java.training.evaluate.Report


def _data_section(info: ModelInfo, ev: Evaluation | None) -> str:
    if ev is None:
        return _section("data", "Data", "<p>No evaluation data: give <code>--data</code>.</p>")
    classes = info.classes
    counts = np.bincount(ev.labels, minlength=len(classes))
    total = max(1, int(counts.sum()))
    train_counts = (info.checkpoint.metrics.get("class_counts") if info.checkpoint else None) or {}
    rows = []
    for k, name in enumerate(classes):
        members = np.flatnonzero(ev.labels == k)
        imgs = ev.images[members]
        if len(imgs):
            occupancy = float((imgs > 0).mean())
            mass = imgs.sum(axis=(1, 2))
            positive = float(
                np.mean(imgs[:, :, : imgs.shape[2] // 2].sum(axis=(1, 2)) / np.maximum(mass, 1e-12))
            )
            thumbs = "".join(
                f'<img src="{thumbnail(ev.images[i])}" width="100" height="50" '
                f'alt="{_e(name)} example" title="{_e(_short(ev, i))}">'
                for i in members[:THUMBS_PER_CLASS]
            )
        else:
            occupancy = positive = float("nan")
            thumbs = '<span class="pill na">no images</span>'
        share = counts[k] / total
        trained = train_counts.get(name)
        rows.append(
            f"<tr><td>{_e(name)}</td><td class=n>{'&ndash;' if trained is None else trained}</td>"
            f"<td class=n>{counts[k]}</td><td class=b>{_bar(share, width=60)}{_pct(share)}</td>"
            f"<td class=n>{_pct(occupancy)}</td><td class=n>{_pct(positive)}</td>"
            f'<td><div class="thumbs">{thumbs}</div></td></tr>'
        )
    table = (
        '<div class="scroll"><table><thead><tr><th>class</th><th class=n>training images</th>'
        "<th class=n>evaluated</th><th>share</th><th class=n>occupied bins</th>"
        "<th class=n>positive half-cycle</th><th>examples (phase 0&ndash;360&deg; &rarr;, "
        "amplitude &uarr;)</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>"
    )
    note = (
        f"Evaluated on {_e(ev.source)}: {len(ev.labels)} images. <i>training images</i> counts "
        "the images training saw (training + validation split); <i>occupied bins</i> is the "
        "share of the 60 &times; 120 bins with any pulse; <i>positive half-cycle</i> the share "
        "of intensity in phase 0&ndash;180&deg;."
    )
    return _section("data", "Data", table, note)


def _short(ev: Evaluation, i: int) -> str:
    if not ev.sources:
        return f"image {i}"
    parts = Path(ev.sources[i]).parts
    return "/".join(parts[-2:])


def _scores_section(info: ModelInfo, ev: Evaluation | None) -> str:
    if ev is None:
        return ""
    rep = ev.report
    k = len(rep.classes)
    matrix = np.array(rep.confusion, dtype=np.int64)
    sums = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, np.maximum(sums, 1))
    head = "".join(f'<th class="rot">{_e(c)}</th>' for c in rep.classes)
    body = []
    for i in range(k):
        cells = []
        for j in range(k):
            s = float(shares[i, j])
            colour = "#fff" if s > 0.55 else "#111827"
            diag = " diag" if i == j else ""
            bg = f"rgba(37,99,235,{0.08 + 0.92 * s:.3f})" if matrix[i, j] else "transparent"
            cells.append(
                f'<td class="c{diag}" style="background:{bg};color:{colour}" '
                f'title="{_e(rep.classes[i])} &rarr; {_e(rep.classes[j])}: {matrix[i, j]}">'
                f"{matrix[i, j] or ''}</td>"
            )
        body.append(
            f"<tr><th>{_e(rep.classes[i])}</th>{''.join(cells)}"
            f"<td class=n>{int(sums[i, 0])}</td></tr>"
        )
    cm = (
        '<table class="cm"><thead><tr><th>true &darr; / predicted &rarr;</th>'
        f"{head}<th class=n>n</th></tr></thead><tbody>{''.join(body)}</tbody></table>"
    )
    prf = []
    for i, name in enumerate(rep.classes):
        p, r = rep.precision[i], rep.recall[i]
        f1 = float("nan") if math.isnan(p) or math.isnan(r) or p + r == 0 else 2 * p * r / (p + r)
        prf.append(
            f"<tr><td>{_e(name)}</td><td class=b>{_bar(p, width=56)}{_pct(p)}</td>"
            f"<td class=b>{_bar(r, 'r', 56)}{_pct(r)}</td>"
            f"<td class=b>{_bar(f1, 'f', 56)}{_pct(f1)}</td>"
            f"<td class=n>{int(sums[i, 0])}</td></tr>"
        )
    per_class = (
        "<table><thead><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th>"
        f"<th class=n>support</th></tr></thead><tbody>{''.join(prf)}</tbody></table>"
    )
    body_html = (
        f'<div class="grid2"><div><h3>Confusion matrix</h3>{cm}</div>'
        f"<div><h3>Per class</h3>{per_class}</div></div>"
    )
    note = (
        f"Accuracy {_pct(rep.accuracy, 2)} on {rep.n} images. Rows are the true class, columns "
        "the predicted one; the colour is the share of the row. Precision is &ndash; for a class "
        "never predicted, recall for a class absent from the data."
    )
    return _section("scores", "Scores", body_html, note)


def _calibration_section(info: ModelInfo, ev: Evaluation | None) -> str:
    cal = info.calibration
    parts = []
    if ev is None:
        return _section(
            "calibration",
            "Calibration",
            "<p>"
            + ("calibrated" if cal else '<span class="pill na">not calibrated</span>')
            + " &mdash; no evaluation data to draw the reliability diagram.</p>",
        )
    bins = DEFAULT_BINS
    if cal and isinstance(cal.get("bins"), int) and 2 <= cal["bins"] <= 100:
        bins = int(cal["bins"])
    after = reliability(ev.probs, ev.labels, bins)
    temperature = cal.get("temperature") if cal else None
    if isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0:
        before = reliability(unscaled_probabilities(ev.probs, float(temperature)), ev.labels, bins)
        figure = reliability_figure(
            [("before calibration (T = 1)", before), (f"after (T = {temperature:.3g})", after)]
        )
        rows = [
            ("temperature T", f"{temperature:.4g}"),
            ("ECE before, this data", _pct(before.ece, 2)),
            ("ECE after, this data", _pct(after.ece, 2)),
        ]
        for key, label in (("ece_before", "ECE before, "), ("ece_after", "ECE after, ")):
            if isinstance(cal.get(key), (int, float)):
                rows.append((label + "recorded at calibration", _pct(float(cal[key]), 2)))
        table = "".join(f"<tr><td>{_e(k)}</td><td class=n>{v}</td></tr>" for k, v in rows)
        parts.append(
            '<p><span class="pill ok">calibrated</span> temperature scaling; the exported model '
            "outputs the calibrated probabilities.</p>"
        )
        parts.append(
            f'<div class="figure"><img src="{figure}" alt="reliability diagrams" '
            f'width="860"></div><table class="kv"><tbody>{table}</tbody></table>'
        )
        rejection = cal.get("rejection")
        if isinstance(rejection, dict) and rejection:
            parts.append("<h3>Rejection</h3>" + _kv_table(sorted(rejection.items())))
    else:
        figure = reliability_figure([("model probabilities", after)])
        parts.append(
            '<p><span class="pill na">not calibrated</span> the checkpoint carries no '
            "temperature; this is the reliability of the probabilities as trained (ECE "
            f"{_pct(after.ece, 2)}).</p>"
        )
        parts.append(
            f'<div class="figure"><img src="{figure}" alt="reliability diagram" width="430"></div>'
        )
    note = (
        f"Reliability on the evaluated images, {bins} equal-width bins of the top-1 probability "
        "(numbers in the bars: images per bin). A calibrated model's bars follow the diagonal; "
        "ECE is the image-weighted mean gap."
    )
    return _section("calibration", "Calibration", "".join(parts), note)


def _worst_section(info: ModelInfo, ev: Evaluation | None) -> str:
    if ev is None:
        return ""
    pred = ev.probs.argmax(axis=1)
    wrong = np.flatnonzero(pred != ev.labels)
    if not len(wrong):
        return _section("errors", "Worst misclassified", "<p>No image is misclassified.</p>")
    order = wrong[np.argsort(-ev.probs[wrong, pred[wrong]], kind="stable")][:WORST_SHOWN]
    cards = []
    for i in order:
        top = np.argsort(-ev.probs[i], kind="stable")[:2]
        scores = " &middot; ".join(
            f"{_e(info.classes[t])} <b>{100 * ev.probs[i, t]:.1f}%</b>" for t in top
        )
        truth = info.classes[ev.labels[i]]
        cards.append(
            f'<div class="card"><img src="{thumbnail(ev.images[i])}" width="240" height="120" '
            f'alt="misclassified {_e(truth)}"><div class="lab">true <b>{_e(truth)}</b> '
            f'({100 * ev.probs[i, ev.labels[i]]:.1f}%)</div><div class="lab">top-2: {scores}'
            f'</div><div class="src">{_e(_short(ev, int(i)))}</div></div>'
        )
    note = (
        f"{len(wrong)} of {len(ev.labels)} images are misclassified; the "
        f"{len(order)} most confident mistakes first."
    )
    return _section(
        "errors", "Worst misclassified", f'<div class="worst">{"".join(cards)}</div>', note
    )


def _curves_section(info: ModelInfo) -> str:
    ckpt = info.checkpoint
    if ckpt is None or not ckpt.history:
        why = "no checkpoint found" if ckpt is None else "the checkpoint has no history"
        return _section("training", "Training", f"<p>No training curves: {why}.</p>")
    best = ckpt.metrics.get("best_epoch")
    figure = curves_figure(ckpt.history, int(best) if isinstance(best, int) else None)
    m = ckpt.metrics
    rows = [
        ("best epoch", f"{best} of {len(ckpt.history)}"),
        ("validation accuracy (best epoch)", _pct(m.get("val_accuracy"), 2)),
        ("training images / validation images", f"{m.get('n_train')} / {m.get('n_val')}"),
        (
            "training time",
            (
                f"{float(m.get('train_seconds') or 0):.1f} s on "
                f"{m.get('torch_threads', '?')} torch thread(s)"
            ),
        ),
    ]
    table = "".join(f"<tr><td>{_e(k)}</td><td>{v}</td></tr>" for k, v in rows)
    body = (
        f'<div class="figure"><img src="{figure}" alt="training curves" width="1100"></div>'
        f'<table class="kv"><tbody>{table}</tbody></table>'
    )
    return _section(
        "training",
        "Training",
        body,
        "Per epoch, from the checkpoint's history; "
        "the weights of the best validation epoch are the ones kept.",
    )


def _export_section(info: ModelInfo, parity: dict[str, Any] | None) -> str:
    if info.export_dir is None:
        return _section(
            "export",
            "Export",
            "<p>Not an export: run <code>pd2java export</code> "
            "and <code>pd2java report EXPORT_DIR</code> for the export's figures.</p>",
        )
    m = info.manifest
    files = []
    weights = m.get("weights") or {}
    candidates = [info.manifest_path, info.export_dir / str(weights.get("file", ""))]
    stem = info.manifest_path.name[: -len(".manifest.json")] if info.manifest_path else ""
    candidates.append(info.export_dir / f"{stem}.onnx")
    if info.checkpoint_path is not None:
        candidates.append(info.checkpoint_path)
    candidates.append(info.export_dir / "verify.txt")
    for p in candidates:
        if p is not None and p.is_file():
            files.append(
                f"<tr><td>{_e(p.name)}</td><td class=n>{_size(p.stat().st_size)}</td></tr>"
            )
    nodes = m.get("nodes") or []
    ops = Counter(str(n.get("op")) for n in nodes if isinstance(n, dict))
    golden = m.get("golden") or {}
    rows: list[tuple[str, Any]] = [
        ("format", f"{m.get('format')} version {m.get('format_version')}"),
        ("name", m.get("name")),
        ("input", (m.get("input") or {}).get("shape")),
        ("nodes", f"{len(nodes)}: " + ", ".join(f"{op} {n}" for op, n in ops.most_common())),
        (
            "weights",
            (
                f"{weights.get('file')}, {_size(weights.get('bytes'))}, "
                f"sha256 {str(weights.get('sha256', ''))[:16]}..."
            ),
        ),
        (
            "golden vectors",
            f"{golden.get('count')} (atol {golden.get('atol')}, rtol {golden.get('rtol')})",
        ),
        ("weights source", (m.get("producer") or {}).get("weights_source")),
    ]
    if (m.get("producer") or {}).get("compression"):
        rows.append(("compression", m["producer"]["compression"]))
    parts = [
        '<div class="grid2"><div><h3>Files</h3><table><tbody>'
        + "".join(files)
        + "</tbody></table></div><div><h3>Manifest</h3>"
        + _kv_table(rows)
        + "</div></div>"
    ]
    if parity:
        ok = parity["argmax_agreement"] == 1.0 and parity["within_tolerance"]
        pill = (
            '<span class="pill ok">agree</span>' if ok else '<span class="pill bad">differ</span>'
        )
        parts.append(
            f"<h3>NumPy reference vs PyTorch</h3><p>{pill} on {parity['n']} evaluated images: "
            f"max |difference| {parity['max_abs']:.2e}, top-1 agreement "
            f"{_pct(parity['argmax_agreement'], 2)} (the reference runs the manifest exactly as "
            "the Java runtime does; <code>pd2java verify</code> holds Java to it).</p>"
        )
    verify = info.export_dir / "verify.txt"
    if verify.is_file():
        text = verify.read_text(encoding="utf-8", errors="replace")
        parts.append(f"<h3>Java parity (verify.txt)</h3><pre>{_e(text)}</pre>")
    else:
        parts.append(
            '<p class="note">No verify.txt: run <code>pd2java verify EXPORT_DIR</code> '
            "for Java against PyTorch and the reference.</p>"
        )
    return _section("export", "Export", "".join(parts), _e(info.path))


def _recipe_section(info: ModelInfo) -> str:
    ckpt = info.checkpoint
    parts = []
    if ckpt is not None:
        parts.append(
            "<h3>Recipe</h3>"
            + _kv_table(
                [("architecture", ckpt.arch), ("config", ckpt.config)] + sorted(ckpt.recipe.items())
            )
        )
    else:
        parts.append("<p>No checkpoint found, so no recipe.</p>")
    versions: list[tuple[str, Any]] = []
    if ckpt is not None:
        versions += [(f"trained with {k}", v) for k, v in sorted(ckpt.versions.items())]
    producer = info.manifest.get("producer") or {}
    versions += [
        (f"exported with {k}", producer[k])
        for k in ("name", "version", "torch", "numpy")
        if k in producer
    ]
    import matplotlib

    versions += [
        ("card written with pd2java", __version__),
        ("card numpy / matplotlib", f"{np.__version__} / {matplotlib.__version__}"),
        ("card python", platform.python_version()),
    ]
    parts.append("<h3>Versions</h3>" + _kv_table(versions))
    return _section("recipe", "Recipe and versions", "".join(parts))


def _parity(info: ModelInfo, ev: Evaluation | None, from_export: bool) -> dict[str, Any] | None:
    """The NumPy reference's probabilities (``ev.probs``, when the evaluated model was the
    export) against PyTorch's on the same images, when the checkpoint is at hand."""
    if ev is None or not from_export or info.checkpoint is None or not len(ev.labels):
        return None
    from pd2java.format_rules import ATOL, RTOL
    from pd2java.training.evaluate import predict

    n = min(len(ev.labels), PARITY_SAMPLES)
    torch_probs = predict(info.checkpoint.build_model(), ev.images[:n])
    ref = ev.probs[:n].astype(np.float64)
    diff = np.abs(torch_probs.astype(np.float64) - ref)
    return {
        "n": n,
        "max_abs": float(diff.max()) if diff.size else 0.0,
        "within_tolerance": bool(np.all(diff <= ATOL + RTOL * np.abs(ref))),
        "argmax_agreement": float(np.mean(torch_probs.argmax(1) == ref.argmax(1))),
    }


def render_card(
    info: ModelInfo, ev: Evaluation | None, *, from_export: bool, title: str | None = None
) -> str:
    """The whole page as a string."""
    parity = _parity(info, ev, from_export)
    ckpt = info.checkpoint
    tiles = []
    if ev is not None:
        tiles.append(_tile("accuracy", _pct(ev.report.accuracy, 2), f"{ev.report.n} images"))
    else:
        tiles.append(_tile("accuracy", "&ndash;", "no evaluation data"))
    names = ", ".join(info.classes[:3]) + (", ..." if len(info.classes) > 3 else "")
    tiles.append(_tile("classes", str(len(info.classes)), _e(names)))
    if ckpt is not None:
        params = ckpt.metrics.get("parameters")
        tiles.append(_tile("model", _e(ckpt.arch), f"{params:,} parameters" if params else ""))
    cal = info.calibration
    if cal and isinstance(cal.get("temperature"), (int, float)):
        ece = reliability(ev.probs, ev.labels).ece if ev is not None else cal.get("ece_after")
        tiles.append(
            _tile(
                "calibration",
                f"T = {cal['temperature']:.3g}",
                f"ECE {_pct(ece, 2)}" if ece is not None else "",
            )
        )
    else:
        detail = f"ECE {_pct(reliability(ev.probs, ev.labels).ece, 2)}" if ev is not None else ""
        tiles.append(_tile("calibration", "not calibrated", detail))
    weights = (info.manifest.get("weights") or {}).get("bytes")
    if weights is not None:
        tiles.append(_tile("weights", _size(int(weights)), "safetensors"))
    if parity is not None:
        ok = parity["argmax_agreement"] == 1.0 and parity["within_tolerance"]
        tiles.append(
            _tile(
                "reference vs torch",
                "agree" if ok else "DIFFER",
                f"max |&Delta;| {parity['max_abs']:.1e}",
            )
        )
    heading = title or info.name
    subtitle = _e(info.path) + (f" &middot; data: {_e(ev.source)}" if ev is not None else "")
    sections = [
        _data_section(info, ev),
        _scores_section(info, ev),
        _calibration_section(info, ev),
        _worst_section(info, ev),
        _curves_section(info),
        _export_section(info, parity),
        _recipe_section(info),
    ]
    nav = "".join(
        f'<a href="#{a}">{t}</a>'
        for a, t in (
            ("data", "Data"),
            ("scores", "Scores"),
            ("calibration", "Calibration"),
            ("errors", "Misclassified"),
            ("training", "Training"),
            ("export", "Export"),
            ("recipe", "Recipe"),
        )
        if f'id="{a}"' in "".join(sections)
    )
    stamp = time.strftime("%Y-%m-%d %H:%M %Z")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(heading)} &middot; pd2java model card</title>"
        f"<style>{_CSS}</style></head><body>"
        f'<header><div class="kicker">pd2java model card</div><h1>{_e(heading)}</h1>'
        f'<div class="sub">{subtitle}</div>'
        f'<div class="tiles">{"".join(tiles)}</div></header>'
        f"<nav>{nav}</nav><main>{''.join(sections)}</main>"
        f"<footer>written {_e(stamp)} by pd2java {_e(__version__)}</footer></body></html>\n"
    )


def _write(out_dir: str | os.PathLike[str], page: str) -> Path:
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"report folder {out} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        return write_text_atomic(out / CARD_FILE, page)
    except OSError as exc:
        raise UserError(f"cannot write the model card to {out}: {exc.strerror or exc}") from None


def write_model_card(
    out_dir: str | os.PathLike[str],
    model: Any,
    *,
    dataset: Any = None,
    labels: np.ndarray | None = None,
    probs: np.ndarray | None = None,
    report: Any = None,
    title: str | None = None,
    location: str | None = None,
) -> Path:
    """Write ``out_dir/index.html`` for ``model`` (a Checkpoint, checkpoint file, export folder
    or manifest) evaluated on ``dataset``: ``labels`` in the model's class order, ``probs`` the
    model's outputs (N, K), ``report`` the :class:`~pd2java.training.evaluate.Report`. Without a
    dataset the card shows what the model files alone tell. ``title`` replaces the model's name
    in the header, ``location`` the path shown (for a card written before its folder is moved
    into place)."""
    from pd2java.training.evaluate import is_export

    info = describe_model(model)
    if location is not None:
        info.path = location
    ev = None
    if dataset is not None and probs is not None and labels is not None and report is not None:
        ev = Evaluation(
            images=dataset.images,
            labels=np.asarray(labels),
            probs=np.asarray(probs, dtype=np.float32),
            sources=tuple(dataset.sources),
            source=str(report.data or "dataset"),
            report=report,
        )
    from_export = not _is_checkpoint_object(model) and is_export(model)
    return _write(out_dir, render_card(info, ev, from_export=from_export, title=title))


def _is_checkpoint_object(model: Any) -> bool:
    from pd2java.training.checkpoint import Checkpoint

    return isinstance(model, Checkpoint)


def _train_many_split(export_dir: Path, classes: Sequence[str]) -> tuple[Any, str] | None:
    """The held-out images train-many recorded for this export, if they are still on disk."""
    from pd2java.training.data import Dataset, load_image
    from pd2java.training.train_many import MARKER

    marker_path = export_dir / MARKER
    try:
        marker = json.loads(marker_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    base = Path(str(marker.get("data", "")))
    sources = marker.get("test_sources") or []
    if not sources or not base.is_dir():
        return None
    images, labels, paths = [], [], []
    for rel in sources:
        path = base / rel
        name = Path(rel).parts[0]
        if not path.is_file() or name not in classes:
            return None
        images.append(load_image(path))
        labels.append(list(classes).index(name))
        paths.append(str(path))
    ds = Dataset(
        np.stack(images).astype(np.float32),
        np.asarray(labels, np.int64),
        tuple(classes),
        tuple(paths),
    )
    return ds, f"train-many held-out split of {base} ({len(ds)} images)"


def report_export(
    export: str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None = None,
    *,
    data: Any = None,
) -> Path:
    """Write the model card of an export folder (or manifest) into ``out_dir`` (default: the
    export folder). The model runs in the NumPy reference on ``data`` (a dataset folder,
    ``synth:...`` or a Dataset), or, without it, on the held-out split train-many recorded, if
    any; with neither, the card shows the files' figures only. Returns the page's path."""
    from pd2java.training.evaluate import (
        _export_model,
        _labels_in_model_order,
        is_export,
        predict_export,
        scores,
    )
    from pd2java.training.train import resolve_data

    if not is_export(export):
        raise UserError(
            f"{export}: not an export folder or manifest (for a checkpoint use "
            "pd2java evaluate MODEL.pt DATA -o DIR)"
        )
    loaded = _export_model(export)
    classes = tuple(loaded.graph.classes)
    export_dir = Path(loaded.path).parent
    target = Path(out_dir) if out_dir is not None else export_dir
    if data is not None:
        dataset, source = resolve_data(data)
    else:
        found = _train_many_split(export_dir, classes)
        dataset, source = found if found else (None, "")
    if dataset is None or len(dataset) == 0:
        return write_model_card(target, export)
    labels = _labels_in_model_order(dataset, classes, source)
    probs = predict_export(loaded, dataset.images)
    report = scores(labels, probs.argmax(axis=1), classes, checkpoint=str(loaded.path), data=source)
    return write_model_card(
        target, export, dataset=dataset, labels=labels, probs=probs, report=report
    )
