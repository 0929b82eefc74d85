"""Calibrated probabilities and an "unsure" answer: temperature scaling and a rejection threshold.

A classifier trained with cross-entropy is usually over-confident: its top probability says 0.99
where it is right 90% of the time. A monitoring system must not raise a confident alarm on an
image unlike anything the model was trained on, so ``train()`` ends with two fits on the
validation split (docs/TRAINING.md, "Calibration and rejection"):

1. **Temperature scaling.** One number T > 0 divides the logits: ``softmax(logits / T)``. T is
   the minimiser of the validation negative log-likelihood (NLL), found by golden-section search
   on beta = 1 / T in ``[1 / T_MAX, 1 / T_MIN]`` (the NLL is convex in beta, so the search finds
   the global minimum). It changes no argmax, only how sure the model says it is. T is folded
   into the final linear layer (its weight and bias divided by T), so the exported probabilities
   are the calibrated ones and nothing changes in the export path or the Java runtime.
2. **Rejection threshold.** On the calibrated probabilities, the threshold on the max softmax
   probability (``SCORE``) that rejects at most ``target_false_reject`` (default 2%) of the
   in-distribution validation images: the (k + 1)-th lowest validation score, k =
   floor(target * n). A prediction whose score is below it is "unsure". The threshold is
   written to the manifest (``confidence``, docs/FORMAT.md) and the Java runtime answers
   ``Prediction.confident()`` with it.

The stored score is the max softmax probability rather than the energy score
(-logsumexp(logits)): the exported model outputs probabilities, and the energy needs the logits,
which cannot be recovered from the probabilities (softmax forgets a shift of the logits), so a
runtime could not compute it without a second, logits output. ``energy`` is here for the
benchmark's comparison (benchmarks/bench_rejection.py).

Expected calibration error (ECE): ``ECE_BINS`` (15) equal-width bins of the top probability over
[0, 1]; ECE = sum over bins of (bin count / n) * |bin accuracy - bin mean confidence|. The figures
``train`` records are on the validation split T was fitted on (optimistic for ``ece_after``);
``pd2java evaluate`` measures it on held-out data.

Fewer than ``MIN_CALIBRATION_IMAGES`` (30) validation images, no validation split, or a sigmoid
head: nothing is fitted (T = 1, no ``calibration`` record, no threshold) and the reason is given.
Thirty images fit one parameter without fitting noise; the threshold at 2% then rejects none of
them (k = 0: the lowest validation score), which is the most it can honestly say.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from pd2java.errors import UserError

#: Fewest validation images temperature scaling and the threshold are fitted on.
MIN_CALIBRATION_IMAGES = 30
#: Equal-width confidence bins of the ECE and the reliability diagram.
ECE_BINS = 15
#: Share of in-distribution images the threshold may reject (the target false-reject rate).
DEFAULT_TARGET_FALSE_REJECT = 0.02
#: The stored confidence score (format_rules.CONFIDENCE_SCORES).
SCORE = "max_probability"
#: Search interval of the temperature; an optimum at either end is reported in the note.
T_MIN = 0.05
T_MAX = 20.0


# --- scores and calibration error ---------------------------------------------------------------


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def max_probability(probs: np.ndarray) -> np.ndarray:
    """The confidence score stored as the default: each row's highest probability."""
    return np.asarray(probs).max(axis=1)


def energy(logits: np.ndarray) -> np.ndarray:
    """The negative energy score, logsumexp(logits): higher means more in-distribution (so it
    thresholds the same way as the max probability). Needs logits."""
    z = np.asarray(logits, dtype=np.float64)
    top = z.max(axis=1)
    return top + np.log(np.exp(z - top[:, None]).sum(axis=1))


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> dict[str, list]:
    """The reliability diagram: per equal-width bin of the top probability (bin i holds
    confidences in (i / bins, (i + 1) / bins], bin 0 also 0), the mean confidence, the accuracy
    and the count. Confidence and accuracy are None for an empty bin."""
    probs = np.asarray(probs, dtype=np.float64)
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == np.asarray(labels)
    index = np.clip(np.ceil(conf * bins).astype(np.int64) - 1, 0, bins - 1)
    confidence: list[float | None] = []
    accuracy: list[float | None] = []
    count: list[int] = []
    for b in range(bins):
        members = index == b
        n = int(members.sum())
        count.append(n)
        confidence.append(float(conf[members].mean()) if n else None)
        accuracy.append(float(correct[members].mean()) if n else None)
    return {"confidence": confidence, "accuracy": accuracy, "count": count}


def ece_from_reliability(diagram: Mapping[str, list]) -> float:
    """Expected calibration error from a reliability diagram (NaN when it holds no image)."""
    total = sum(diagram["count"])
    if total == 0:
        return float("nan")
    return float(
        sum(
            n / total * abs(acc - conf)
            for n, acc, conf in zip(diagram["count"], diagram["accuracy"], diagram["confidence"])
            if n
        )
    )


def expected_calibration_error(
    probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS
) -> float:
    """ECE of ``probs`` (N, K) against integer ``labels`` (N,), ``bins`` equal-width bins."""
    return ece_from_reliability(reliability(probs, labels, bins))


# --- temperature -----------------------------------------------------------------------------


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of ``softmax(logits / temperature)``, in float64."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    return float(np.mean(energy(z) - z[np.arange(len(z)), np.asarray(labels)]))


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature in [T_MIN, T_MAX] that minimises the NLL of ``softmax(logits / T)``.

    Golden-section search on beta = 1 / T: the NLL, mean(logsumexp(beta z) - beta z_y), is
    convex in beta, so the search converges to its global minimum on the interval.
    """
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels)
    if z.ndim != 2 or len(z) != len(y) or len(z) == 0:
        raise UserError(f"fit_temperature needs (N, K) logits and N labels, got {z.shape}")

    def f(beta: float) -> float:
        return nll(z, y, 1.0 / beta)

    lo, hi = 1.0 / T_MAX, 1.0 / T_MIN
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = lo + (1 - ratio) * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = f(a), f(b)
    for _ in range(200):
        if hi - lo < 1e-9 * max(1.0, lo):
            break
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = lo + (1 - ratio) * (hi - lo)
            fa = f(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = f(b)
    beta = (lo + hi) / 2.0
    # The interval's ends are candidates too (the optimum may lie on a bound).
    candidates = [(f(beta), beta), (f(1.0 / T_MAX), 1.0 / T_MAX), (f(1.0 / T_MIN), 1.0 / T_MIN)]
    return 1.0 / min(candidates)[1]


def final_linear(model: nn.Module) -> nn.Linear:
    """The model's last ``nn.Linear`` (definition order): the layer that produces the logits of
    a zoo model (lenet's ``classifier[5]``, light's ``classifier``, or the second factor of a
    low-rank one). ``fold_temperature`` checks it really does."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise UserError(f"{type(model).__name__} has no linear layer to fold a temperature into")
    return linears[-1]


def fold_temperature(model: nn.Module, temperature: float, probe: torch.Tensor) -> None:
    """Divide the final linear layer's weight and bias by ``temperature`` (in place), so that
    ``model.forward_logits`` gives the old logits / T. Checked on ``probe`` (a few inputs): if
    the logits did not become logits / T (the last linear layer is not the last step before the
    head), the weights are put back and the fold is refused."""
    if not (math.isfinite(temperature) and temperature > 0):
        raise UserError(f"temperature must be a positive number, got {temperature}")
    layer = final_linear(model)
    model.eval()
    with torch.no_grad():
        before = model.forward_logits(probe)
        saved = (layer.weight.detach().clone(), None if layer.bias is None else layer.bias.clone())
        layer.weight.div_(temperature)
        if layer.bias is not None:
            layer.bias.div_(temperature)
        after = model.forward_logits(probe)
        if not torch.allclose(after, before / temperature, rtol=1e-4, atol=1e-5):
            layer.weight.copy_(saved[0])
            if saved[1] is not None:
                layer.bias.copy_(saved[1])
            raise UserError(
                f"cannot fold a temperature into {type(model).__name__}: its last linear layer "
                "does not produce its logits"
            )


# --- rejection ---------------------------------------------------------------------------------


def rejection_threshold(scores: np.ndarray, target_false_reject: float) -> float:
    """The threshold that rejects (score < threshold) at most ``target_false_reject`` of
    ``scores``: the (k + 1)-th lowest score, k = floor(target * n). Ties at the threshold are
    accepted, so the share rejected may be lower than the target, never higher."""
    if not (0.0 <= target_false_reject < 1.0):
        raise UserError(
            f"the target false-reject rate must be in [0, 1), got {target_false_reject}"
        )
    s = np.sort(np.asarray(scores, dtype=np.float64))
    if len(s) == 0:
        raise UserError("no scores to choose a rejection threshold from")
    k = math.floor(target_false_reject * len(s) + 1e-9)
    return float(s[min(k, len(s) - 1)])


@dataclass(frozen=True)
class RejectionStats:
    """How a threshold acts on a set of images: the share rejected and the accuracy on the rest
    (NaN when labels are not given or every image was rejected)."""

    n: int
    rejected: int
    accepted_accuracy: float

    @property
    def rejection_rate(self) -> float:
        return self.rejected / self.n if self.n else float("nan")


def rejection_stats(
    scores: np.ndarray,
    threshold: float,
    predicted: np.ndarray | None = None,
    labels: np.ndarray | None = None,
) -> RejectionStats:
    """Apply ``threshold`` (reject score < threshold, as the Java runtime does)."""
    scores = np.asarray(scores, dtype=np.float64)
    accept = scores >= threshold
    acc = float("nan")
    if predicted is not None and labels is not None and accept.any():
        acc = float((np.asarray(predicted)[accept] == np.asarray(labels)[accept]).mean())
    return RejectionStats(n=len(scores), rejected=int((~accept).sum()), accepted_accuracy=acc)


# --- the whole step, as train() calls it ---------------------------------------------------------


@dataclass(frozen=True)
class CalibrationResult:
    """What ``calibrate_model`` did: ``record`` is the checkpoint's ``calibration`` entry (None
    when skipped), ``note`` says why it was skipped or where T landed, ``metrics`` holds the
    figures merged into the checkpoint's metrics."""

    record: dict[str, Any] | None
    note: str | None
    metrics: dict[str, Any]


def _logits(model: nn.Module, x: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        parts = [model.forward_logits(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    return torch.cat(parts).double().numpy()


def _probabilities(model: nn.Module, x: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    """The model's own (float32) probabilities, as the export computes them."""
    model.eval()
    with torch.no_grad():
        parts = [model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    return torch.cat(parts).numpy()


def skipped(note: str) -> CalibrationResult:
    return CalibrationResult(
        record=None,
        note=note,
        metrics={"temperature": 1.0, "ece_before": None, "ece_after": None},
    )


def calibrate_model(
    model: nn.Module,
    x_val: torch.Tensor,
    y_val: torch.Tensor,
    *,
    target_false_reject: float = DEFAULT_TARGET_FALSE_REJECT,
) -> CalibrationResult:
    """Fit the temperature on the validation split, fold it into ``model`` (in place) and choose
    the rejection threshold on the calibrated probabilities; or skip, saying why (see the module
    docstring). ``model`` must be a zoo model in eval mode (``forward_logits`` and a head)."""
    n = len(x_val)
    head = getattr(model, "head_name", "softmax")
    if n == 0:
        return skipped(
            "calibration skipped: no validation split (val_fraction=0); temperature 1, no "
            "rejection threshold"
        )
    if n < MIN_CALIBRATION_IMAGES:
        return skipped(
            f"calibration skipped: {n} validation images, fewer than {MIN_CALIBRATION_IMAGES} "
            "(too few to fit without fitting noise); temperature 1, no rejection threshold"
        )
    if head != "softmax":
        return skipped(
            f"calibration skipped: the {head} head's outputs are not one softmax, which "
            "temperature scaling and the max-probability threshold assume; temperature 1, no "
            "rejection threshold"
        )
    labels = y_val.numpy()
    logits = _logits(model, x_val)
    temperature = fit_temperature(logits, labels)
    before = reliability(softmax(logits), labels)
    fold_temperature(model, temperature, x_val[: min(n, 16)])
    probs = _probabilities(model, x_val)
    after = reliability(probs, labels)
    scores = max_probability(probs)
    threshold = rejection_threshold(scores, target_false_reject)
    stats = rejection_stats(scores, threshold, probs.argmax(axis=1), labels)
    note = None
    if math.isclose(temperature, T_MIN) or math.isclose(temperature, T_MAX):
        note = (
            f"temperature {temperature:g} is at the end of the search interval "
            f"[{T_MIN:g}, {T_MAX:g}]: the validation split may be too easy or too small to "
            "calibrate on"
        )
    record = {
        "temperature": float(temperature),
        "ece_before": ece_from_reliability(before),
        "ece_after": ece_from_reliability(after),
        "bins": ECE_BINS,
        "reliability_before": before,
        "reliability_after": after,
        "rejection": {
            "score": SCORE,
            "threshold": threshold,
            "target_false_reject": float(target_false_reject),
            "val_false_reject": stats.rejection_rate,
            "val_accepted_accuracy": stats.accepted_accuracy,
            "n_val": n,
        },
        "nll_before": nll(logits, labels),
        "nll_after": nll(logits, labels, temperature),
        "n_val": n,
    }
    metrics = {
        "temperature": record["temperature"],
        "ece_before": record["ece_before"],
        "ece_after": record["ece_after"],
        "confidence_threshold": threshold,
    }
    return CalibrationResult(record=record, note=note, metrics=metrics)


def check_record(value: Any, where: str) -> dict[str, Any]:
    """Validate a checkpoint's ``calibration`` entry: a dict with a positive finite
    ``temperature`` and, when it has ``rejection``, a ``score`` this package knows and a
    ``threshold`` in [0, 1]. Returns it; UserError naming ``where`` otherwise."""
    if not isinstance(value, dict):
        raise UserError(f"{where}: 'calibration' must be a dict, got {type(value).__name__}")
    t = value.get("temperature")
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not (math.isfinite(t) and t > 0):
        raise UserError(f"{where}: calibration temperature must be a positive number, got {t!r}")
    rejection = value.get("rejection")
    if rejection is not None:
        confidence_entry(rejection, where)
    return value


def confidence_entry(rejection: Any, where: str) -> dict[str, Any]:
    """The manifest's ``confidence`` object (format_rules.CONFIDENCE_KEYS) from a calibration
    record's ``rejection``, checked by the format's rules."""
    from pd2java.format_rules import CONFIDENCE_KEYS, check_confidence

    if not isinstance(rejection, dict):
        raise UserError(f"{where}: calibration rejection must be a dict")
    missing = [k for k in CONFIDENCE_KEYS if k not in rejection]
    if missing:
        raise UserError(f"{where}: calibration rejection lacks {', '.join(missing)}")
    entry = {k: rejection[k] for k in CONFIDENCE_KEYS}
    problem = check_confidence(entry)
    if problem is not None:
        raise UserError(f"{where}: calibration rejection: {problem}")
    return entry


# --- images a monitor must not be confident about -------------------------------------------------

#: The outlier sets ``outlier_sets`` makes, in order.
OUTLIER_SETS = ("all_zero", "uniform_noise", "other_product", "clipped")
#: Amplitude gain of the "clipped" set: a pulse above 1 / CLIP_GAIN of full scale saturates.
CLIP_GAIN = 5.0


def outlier_sets(product: str, n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Images unlike a ``product`` model's training data, ``n`` (about, for the synthetic sets: a
    whole number per class) of each, float32 (N, 60, 120) in the image convention:

    - ``all_zero``: empty images (the Java runtime answers these as no activity before the model
      runs; the model's own answer is measured here);
    - ``uniform_noise``: every value uniform in [0, 1];
    - ``other_product``: synthetic images of the other product's class set (gis <-> transformer);
    - ``clipped``: this product's own defects recorded with a gain of ``CLIP_GAIN``, so every
      pulse above a fifth of full scale piles into the top amplitude bin.

    Deterministic for (product, n, seed); the synthetic sets use seed ``10_000 + seed``, never a
    training or benchmark test seed.
    """
    from pd2java.training.data import PRODUCTS, synthesize
    from pd2java.training.data.convention import AMPLITUDE_BINS, PHASE_BINS, normalize_counts
    from pd2java.training.data.synth import (
        DEFAULT_DIFFICULTY,
        histogram,
        image_rng,
        record_pulses,
    )

    if product not in PRODUCTS:
        raise UserError(f"unknown product {product!r}; known: {', '.join(PRODUCTS)}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise UserError(f"outlier_sets: n must be a positive integer, got {n!r}")
    synth_seed = 10_000 + seed
    rng = np.random.default_rng(synth_seed)
    others = [p for p in PRODUCTS if p != product]
    other = others[0]
    per_other = max(1, -(-n // len(PRODUCTS[other])))
    classes = PRODUCTS[product]
    per_own = max(1, -(-n // len(classes)))
    clipped = []
    for c, name in enumerate(classes):
        for i in range(per_own):
            phase, amp = record_pulses(
                product, name, image_rng(synth_seed, product, c, i), DEFAULT_DIFFICULTY
            )
            clipped.append(normalize_counts(histogram(phase, amp * CLIP_GAIN)))
    shape = (n, AMPLITUDE_BINS, PHASE_BINS)
    return {
        "all_zero": np.zeros(shape, dtype=np.float32),
        "uniform_noise": rng.uniform(0.0, 1.0, shape).astype(np.float32),
        "other_product": synthesize(other, per_class=per_other, seed=synth_seed).images,
        "clipped": np.stack(clipped).astype(np.float32),
    }
