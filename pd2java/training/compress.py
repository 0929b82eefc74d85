"""Model compression: ``compress(model, data, out=...) -> Compressed`` (docs/COMPRESSION.md).

Three steps, in any combination, always applied in this order:

1. **low-rank** (``low_rank``): each large linear layer ``W`` (out x in) is replaced by its best
   rank-``r`` approximation from the SVD ``W = U S V^T``, stored as two linear layers
   ``in -> r`` (weight ``sqrt(S_r) V_r^T``, no bias) and ``r -> out`` (weight ``U_r sqrt(S_r)``,
   the original bias). ``r`` is given, or chosen as the smallest rank keeping a fraction of the
   squared singular-value energy. The model's config records ``low_rank: {path: r}``.
2. **prune** (``prune``): structured channel pruning. PDLightModel loses that fraction of each
   inverted-residual block's expansion channels, ranked by the magnitude of the expansion
   BatchNorm's gamma; PDModel (no BatchNorm) loses that fraction of each conv's output channels,
   ranked by the L1 norm of their filters. Channels are physically removed (the conv, BN and
   consumer weights are sliced) and the new widths are recorded in the config
   (``hidden_widths`` / ``conv_widths``).
3. **fine-tune** on ``data``'s training split, by knowledge distillation from a teacher when
   ``distill_from`` is given (Hinton et al.: ``alpha * T^2 * KL(softmax(t/T) || softmax(s/T)) +
   (1 - alpha) * CE(s, y)``, on logits: ``forward_logits``, never the probability head), else by
   cross-entropy. Each batch is its images plus an augmented copy (the training augmentation of
   ``pd2java.training.train``). The weights of the best validation epoch are kept.

Everything a step needs is checked before any data is read or any weight is changed; the result
is an ordinary checkpoint (``build_model(arch, classes, **config)`` rebuilds the smaller net),
written atomically, whose ``recipe`` lists every step with its parameters and the validation
accuracy before and after it.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from pd2java.errors import UserError
from pd2java.training.checkpoint import (
    Checkpoint,
    check_writable,
    load_checkpoint,
    save_checkpoint,
)
from pd2java.training.models import (
    LENET_POSITIONS,
    LIGHT_BLOCKS,
    build_model,
    count_parameters,
)

#: Fine-tuning defaults: a few epochs at a learning rate below training's.
DEFAULT_EPOCHS = 3
DEFAULT_LR = 1e-3
DEFAULT_BATCH_SIZE = 32
DEFAULT_TEMPERATURE = 4.0
DEFAULT_ALPHA = 0.7
#: Without an explicit layer list, low-rank factorises every linear layer with more weights
#: (in x out) than this: PDModel's 5376 -> 64 layer (344,064), not its small ones.
LOW_RANK_MIN_WEIGHTS = 32_768


@dataclass(frozen=True)
class Compressed:
    """The result of ``compress``: the checkpoint (also written to ``out`` if given) and the
    compressed model itself, in eval mode."""

    checkpoint: Checkpoint
    model: nn.Module


# ---------------------------------------------------------------------------------------------
# Argument checks


def parse_low_rank(value: Any) -> int | float:
    """A rank (an int >= 1; text without a decimal point) or an energy fraction (a float in
    (0, 1]; text with a decimal point or exponent, e.g. ``0.9`` or ``1.0``)."""
    if isinstance(value, bool):
        raise UserError(f"--low-rank must be a rank or an energy fraction, got {value!r}")
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"[+-]?\d+", text):
            value = int(text)
        else:
            try:
                value = float(text)
            except ValueError:
                raise UserError(
                    f"--low-rank {value!r} is neither a rank (an integer such as 8) nor an "
                    "energy fraction (a number in (0, 1] such as 0.9)"
                ) from None
    if isinstance(value, (int, np.integer)):
        if value < 1:
            raise UserError(f"--low-rank rank must be at least 1, got {value}")
        return int(value)
    if isinstance(value, (float, np.floating)):
        if not (math.isfinite(value) and 0.0 < value <= 1.0):
            raise UserError(
                f"--low-rank energy fraction must be in (0, 1], got {value} (a rank is an "
                "integer such as 8)"
            )
        return float(value)
    raise UserError(f"--low-rank must be a rank or an energy fraction, got {value!r}")


def _check_fraction(prune: Any) -> float:
    if isinstance(prune, bool) or not isinstance(prune, (int, float, np.floating)):
        raise UserError(f"--prune must be a fraction in (0, 1), got {prune!r}")
    if not (math.isfinite(prune) and 0.0 < prune < 1.0):
        raise UserError(
            f"--prune must be a fraction in (0, 1) of the channels to remove, got {prune}"
        )
    return float(prune)


def _load(source: str | os.PathLike[str] | Checkpoint, what: str) -> tuple[Checkpoint, str]:
    if isinstance(source, Checkpoint):
        return source, f"in-memory {what}"
    return load_checkpoint(source), os.fspath(source)


# ---------------------------------------------------------------------------------------------
# Low-rank factorisation


@dataclass(frozen=True)
class LinearLayer:
    """A linear layer as low-rank sees it: a plain ``nn.Linear`` or an already factorised pair
    (``rank`` set), with its effective weight (out x in) and bias."""

    name: str
    in_features: int
    out_features: int
    weight: torch.Tensor
    bias: torch.Tensor | None
    rank: int | None = None

    def describe(self) -> str:
        rank = f", rank {self.rank}" if self.rank is not None else ""
        return f"{self.name} ({self.in_features} -> {self.out_features}{rank})"


def linear_layers(model: nn.Module) -> dict[str, LinearLayer]:
    """The linear layers of a zoo model by path, in definition order; a factorised pair counts as
    one layer under the path it replaced."""
    factorised = dict(getattr(model, "low_rank", {}) or {})
    modules = dict(model.named_modules())
    layers: dict[str, LinearLayer] = {}
    for name, module in model.named_modules():
        if name in factorised:
            first, second = modules[name][0], modules[name][1]
            with torch.no_grad():
                weight = second.weight.double() @ first.weight.double()
            layers[name] = LinearLayer(
                name,
                first.in_features,
                second.out_features,
                weight,
                None if second.bias is None else second.bias.detach().clone(),
                rank=factorised[name],
            )
        elif isinstance(module, nn.Linear) and not any(
            name.startswith(f"{f}.") for f in factorised
        ):
            layers[name] = LinearLayer(
                name,
                module.in_features,
                module.out_features,
                module.weight.detach().double(),
                None if module.bias is None else module.bias.detach().clone(),
            )
    return layers


def _select_layers(model: nn.Module, names: Sequence[str] | None) -> list[LinearLayer]:
    layers = linear_layers(model)
    listing = ", ".join(layer.describe() for layer in layers.values())
    if names is None:
        chosen = [
            layer
            for layer in layers.values()
            if layer.in_features * layer.out_features > LOW_RANK_MIN_WEIGHTS
        ]
        if not chosen:
            raise UserError(
                f"low-rank: no linear layer of this {model.arch} model has more than "
                f"{LOW_RANK_MIN_WEIGHTS:,} weights; name the layers to factorise with "
                f"--low-rank-layers (its linear layers: {listing})"
            )
        return chosen
    names = [n.strip() for n in names]
    if not names or any(not n for n in names):
        raise UserError(f"--low-rank-layers needs layer names; the linear layers: {listing}")
    unknown = [n for n in names if n not in layers]
    if unknown:
        raise UserError(
            f"--low-rank-layers: no linear layer {', '.join(unknown)} in this {model.arch} "
            f"model; its linear layers: {listing}"
        )
    return [layers[n] for n in dict.fromkeys(names)]


def _rank_for(layer: LinearLayer, spec: float, singular: torch.Tensor) -> int:
    limit = min(layer.in_features, layer.out_features)
    energy = singular.square()
    total = float(energy.sum())
    if isinstance(spec, int):
        if spec > limit:
            raise UserError(
                f"low-rank: rank {spec} is above the largest possible rank of "
                f"{layer.describe()}, {limit}"
            )
        return spec
    if total == 0.0:
        return 1
    kept = torch.cumsum(energy, 0) / total
    return min(
        int(torch.searchsorted(kept, torch.tensor(spec - 1e-12, dtype=kept.dtype))) + 1, limit
    )


def factorize(
    model: nn.Module,
    spec: float,
    layers: Sequence[str] | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """Low-rank factorise ``model``'s large linear layers (``layers``: these paths instead).

    ``spec`` is a rank (int) or the fraction of squared singular-value energy to keep (float in
    (0, 1]). Returns the new model (rebuilt by ``build_model`` from the new config, eval mode) and
    the step's record. A layer the rank would not make smaller is refused, before anything is
    changed.
    """
    spec = parse_low_rank(spec)
    chosen = _select_layers(model, layers)
    plans: list[tuple[LinearLayer, int, torch.Tensor, torch.Tensor, float]] = []
    for layer in chosen:
        u, s, vh = torch.linalg.svd(layer.weight, full_matrices=False)
        rank = _rank_for(layer, spec, s)
        dense = layer.in_features * layer.out_features
        factored = rank * (layer.in_features + layer.out_features)
        if factored >= dense:
            most = math.ceil(dense / (layer.in_features + layer.out_features)) - 1
            asked = f"rank {spec}" if isinstance(spec, int) else f"energy {spec} needs rank {rank}"
            raise UserError(
                f"low-rank: {asked} for {layer.describe()}, which does not make it smaller "
                f"({dense:,} weights dense, {factored:,} factorised); use a rank of at most "
                f"{most} or less energy"
            )
        root = s[:rank].sqrt()
        first = root[:, None] * vh[:rank]  # (rank, in)
        second = u[:, :rank] * root[None, :]  # (out, rank)
        total = float(s.square().sum())
        kept = float(s[:rank].square().sum()) / total if total > 0 else 1.0
        plans.append((layer, rank, first, second, kept))

    config = dict(model.config())
    low_rank = dict(config.get("low_rank", {}))
    state = dict(model.state_dict())
    record_layers: dict[str, Any] = {}
    for layer, rank, first, second, kept in plans:
        low_rank[layer.name] = rank
        prefix = f"{layer.name}."
        for key in [k for k in state if k.startswith(prefix)]:
            del state[key]
        state[f"{layer.name}.0.weight"] = first.float().contiguous()
        state[f"{layer.name}.1.weight"] = second.float().contiguous()
        bias = 0 if layer.bias is None else layer.out_features
        if layer.bias is not None:
            state[f"{layer.name}.1.bias"] = layer.bias
        before = (
            layer.in_features * layer.out_features
            if layer.rank is None
            else layer.rank * (layer.in_features + layer.out_features)
        )
        record_layers[layer.name] = {
            "in_features": layer.in_features,
            "out_features": layer.out_features,
            "rank_before": layer.rank,
            "rank": rank,
            "energy_kept": kept,
            "parameters_before": before + bias,
            "parameters_after": rank * (layer.in_features + layer.out_features) + bias,
        }
    config["low_rank"] = low_rank
    new = _rebuild(model, config, state)
    record = {
        "step": "low_rank",
        "spec": spec,
        "mode": "rank" if isinstance(spec, int) else "energy",
        "layers": record_layers,
        "parameters_before": count_parameters(model),
        "parameters_after": count_parameters(new),
    }
    return new, record


def _rebuild(model: nn.Module, config: dict[str, Any], state: dict[str, torch.Tensor]) -> nn.Module:
    """A fresh zoo model from ``config`` with ``state`` loaded strictly, in eval mode."""
    new = build_model(model.arch, model.classes, **config)
    new.load_state_dict(state, strict=True)
    return new.eval()


# ---------------------------------------------------------------------------------------------
# Structured channel pruning


@dataclass(frozen=True)
class _Group:
    """Channels pruned together: one layer's output channels and every tensor indexed by them.

    ``slices`` are (state key, dim, positions per channel): a channel ``c`` owns indices
    ``c * positions ... c * positions + positions - 1`` of that dim (1 for convs and BN, 21 for
    the flattened features PDModel's first linear layer reads)."""

    name: str
    scores: torch.Tensor
    slices: tuple[tuple[str, int, int], ...]


def _lenet_groups(model: nn.Module) -> list[_Group]:
    state = model.state_dict()
    low_rank = getattr(model, "low_rank", {}) or {}
    first_linear = "classifier.0.0.weight" if "classifier.0" in low_rank else "classifier.0.weight"
    convs = [f"features.{3 * i}" for i in range(len(model.conv_widths))]
    groups = []
    for i, conv in enumerate(convs):
        weight = state[f"{conv}.weight"]
        slices = [(f"{conv}.weight", 0, 1), (f"{conv}.bias", 0, 1)]
        if i + 1 < len(convs):
            slices.append((f"{convs[i + 1]}.weight", 1, 1))
        else:
            slices.append((first_linear, 1, LENET_POSITIONS))
        groups.append(_Group(conv, weight.abs().sum(dim=(1, 2, 3)), tuple(slices)))
    return groups


def _light_groups(model: nn.Module) -> list[_Group]:
    state = model.state_dict()
    groups = []
    for i, (_cin, _cout, _stride, expansion) in enumerate(LIGHT_BLOCKS):
        if expansion == 1:
            continue  # no expand conv: its width is the stem's output
        p = f"blocks.{i}.conv."
        bn = ("weight", "bias", "running_mean", "running_var")
        slices = [(f"{p}0.0.weight", 0, 1)]
        slices += [(f"{p}0.1.{k}", 0, 1) for k in bn]
        slices += [(f"{p}1.0.weight", 0, 1)]
        slices += [(f"{p}1.1.{k}", 0, 1) for k in bn]
        slices += [(f"{p}2.weight", 1, 1)]
        groups.append(_Group(f"blocks.{i}", state[f"{p}0.1.weight"].abs(), tuple(slices)))
    return groups


def prune_channels(model: nn.Module, fraction: float) -> tuple[nn.Module, dict[str, Any]]:
    """Remove ``fraction`` of the prunable channels of every prunable layer of ``model`` (the
    lowest-ranked ``floor(fraction * width)``, at least one channel always kept).

    Returns the new, physically smaller model (rebuilt by ``build_model``, eval mode) and the
    step's record. Refused when the fraction removes no channel anywhere.
    """
    fraction = _check_fraction(fraction)
    if model.arch == "light":
        groups, criterion, key = _light_groups(model), "bn_gamma", "hidden_widths"
        widths = list(model.hidden_widths)
        index = {f"blocks.{i}": i for i in range(len(widths))}
    elif model.arch == "lenet":
        groups, criterion, key = _lenet_groups(model), "l1", "conv_widths"
        widths = list(model.conv_widths)
        index = {f"features.{3 * i}": i for i in range(len(widths))}
    else:  # pragma: no cover - the zoo has two architectures
        raise UserError(f"prune: nothing prunable in a {model.arch} model")
    before = list(widths)
    state = dict(model.state_dict())
    removed = 0
    kept_by_layer: dict[str, Any] = {}
    for group in groups:
        width = len(group.scores)
        drop = min(math.floor(fraction * width + 1e-9), width - 1)
        order = torch.argsort(group.scores, descending=True, stable=True)
        keep = torch.sort(order[: width - drop]).values
        kept_by_layer[group.name] = {"before": width, "after": width - drop}
        removed += drop
        widths[index[group.name]] = width - drop
        for name, dim, positions in group.slices:
            rows = (keep[:, None] * positions + torch.arange(positions)[None, :]).reshape(-1)
            state[name] = state[name].index_select(dim, rows).contiguous()
    if removed == 0:
        what = "expansion channels" if model.arch == "light" else "conv channels"
        raise UserError(
            f"prune: nothing to prune in this {model.arch} model: a fraction of {fraction} "
            f"removes no {what} from any layer (widths {before}, each keeps at least one); "
            "give a larger --prune"
        )
    config = dict(model.config())
    config[key] = widths
    new = _rebuild(model, config, state)
    record = {
        "step": "prune",
        "fraction": fraction,
        "criterion": criterion,
        "config_key": key,
        "widths_before": before,
        "widths_after": widths,
        "layers": kept_by_layer,
        "parameters_before": count_parameters(model),
        "parameters_after": count_parameters(new),
    }
    return new, record


# ---------------------------------------------------------------------------------------------
# Fine-tuning and distillation


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    target: torch.Tensor,
    temperature: float,
    alpha: float,
) -> torch.Tensor:
    """``alpha * T^2 * KL(softmax(t/T) || softmax(s/T)) + (1 - alpha) * CE(s, y)`` (batch mean).

    The ``T^2`` keeps the soft term's gradients on the scale of the hard term's as ``T`` grows.
    """
    t = temperature
    soft = F.kl_div(
        F.log_softmax(student_logits / t, dim=1),
        F.log_softmax(teacher_logits / t, dim=1),
        reduction="batchmean",
        log_target=True,
    )
    hard = F.cross_entropy(student_logits, target)
    return alpha * t * t * soft + (1.0 - alpha) * hard


def _fine_tune(
    model: nn.Module,
    splits: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    *,
    teacher: nn.Module | None,
    temperature: float,
    alpha: float,
    epochs: int,
    lr: float,
    batch_size: int,
    augment: bool,
    seed: int,
    progress: bool,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Train ``model`` in place; load its best validation epoch. Returns (history, best row)."""
    from pd2java.training.train import EpochLog, augment_batch, resolve_recipe

    x_train, y_train, x_val, y_val = splits
    augmentation = resolve_recipe(model.arch)  # the training augmentation's settings
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * math.ceil(len(x_train) / batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(steps, 1))
    order_gen = torch.Generator().manual_seed(seed + 1)
    augment_gen = torch.Generator().manual_seed(seed + 2)
    if teacher is not None:
        teacher.eval()
    what = "distill" if teacher is not None else "fine-tune"
    bar = tqdm(
        range(epochs),
        desc=f"{what} {model.arch}",
        unit="epoch",
        disable=not progress,
        dynamic_ncols=True,
    )
    log = EpochLog(bar)
    for epoch in bar:
        epoch_start = time.perf_counter()
        lr_now = optimizer.param_groups[0]["lr"]
        model.train()
        loss_sum, correct, seen = 0.0, 0, 0
        order = torch.randperm(len(x_train), generator=order_gen)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            xb, yb = x_train[idx], y_train[idx]
            if augment:  # the images plus an augmented copy of them
                xb = torch.cat([xb, augment_batch(xb, augment_gen, augmentation)])
                yb = torch.cat([yb, yb])
            logits = model.forward_logits(xb)
            if teacher is not None:
                with torch.no_grad():
                    teacher_logits = teacher.forward_logits(xb)
                loss = distillation_loss(logits, teacher_logits, yb, temperature, alpha)
            else:
                loss = F.cross_entropy(logits, yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            loss_sum += float(loss.detach()) * len(xb)
            correct += int((logits.argmax(1) == yb).sum())
            seen += len(xb)
        row: dict[str, Any] = {
            "epoch": epoch + 1,
            "lr": float(lr_now),
            "train_loss": loss_sum / seen,
            "train_accuracy": correct / seen,
        }
        log.end_epoch(model, row, x_val, y_val, epoch_start)
    log.restore_best(model)
    return log.history, log.best_row


# ---------------------------------------------------------------------------------------------
# The whole run


def compress(
    model: str | os.PathLike[str] | Checkpoint,
    data: Any,
    *,
    out: str | os.PathLike[str] | None = None,
    low_rank: float | str | None = None,
    low_rank_layers: Sequence[str] | None = None,
    prune: float | None = None,
    distill_from: str | os.PathLike[str] | Checkpoint | None = None,
    temperature: float | None = None,
    alpha: float | None = None,
    epochs: int | None = None,
    lr: float | None = None,
    batch_size: int | None = None,
    val_fraction: float = 0.2,
    seed: int = 0,
    augment: bool = True,
    progress: bool = True,
    threads: int | None = None,
) -> Compressed:
    """Compress a checkpoint: low-rank, then prune, then fine-tune or distil (see the module
    docstring); return it and, with ``out``, save it atomically.

    ``data`` (a Dataset, a dataset folder or ``synth:...``) is split as ``train`` splits it
    (``val_fraction`` of each class held out, ``seed``): use the training run's seed and fraction
    to keep its validation images out of fine-tuning. ``epochs`` (default ``DEFAULT_EPOCHS``) of
    fine-tuning follow the structural steps; 0 skips it (not with ``distill_from``).
    Every argument, the output path, the teacher's classes, the layers and the prunable channels
    are checked before the data is read; nothing is written on any error.
    """
    from pd2java.training.evaluate import _labels_in_model_order
    from pd2java.training.train import (
        _evaluate_split,
        deterministic,
        resolve_data,
        stratified_split,
    )

    # 1. Arguments.
    spec = None if low_rank is None else parse_low_rank(low_rank)
    fraction = None if prune is None else _check_fraction(prune)
    if low_rank_layers is not None and spec is None:
        raise UserError("--low-rank-layers chooses the layers of --low-rank; give --low-rank too")
    if distill_from is None and (temperature is not None or alpha is not None):
        raise UserError("--temperature and --alpha set up distillation; give --distill-from too")
    if spec is None and fraction is None and distill_from is None:
        raise UserError("nothing to do: give --low-rank, --prune and/or --distill-from")
    temperature = DEFAULT_TEMPERATURE if temperature is None else float(temperature)
    alpha = DEFAULT_ALPHA if alpha is None else float(alpha)
    if not (math.isfinite(temperature) and temperature > 0):
        raise UserError(f"--temperature must be a positive number, got {temperature}")
    if not (math.isfinite(alpha) and 0.0 <= alpha <= 1.0):
        raise UserError(f"--alpha must be in [0, 1], got {alpha}")
    epochs = DEFAULT_EPOCHS if epochs is None else epochs
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise UserError(f"--epochs must be a whole number >= 0, got {epochs!r}")
    if distill_from is not None and epochs == 0:
        raise UserError("--distill-from needs at least one epoch of training (--epochs >= 1)")
    lr = DEFAULT_LR if lr is None else float(lr)
    if not (math.isfinite(lr) and lr > 0):
        raise UserError(f"--lr must be a positive number, got {lr}")
    batch_size = DEFAULT_BATCH_SIZE if batch_size is None else batch_size
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, got {batch_size!r}")
    if not 0.0 <= val_fraction < 1.0:
        raise UserError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    if out is not None:
        check_writable(out)  # fail now, not after the fine-tuning

    # 2. The student and the teacher: same classes, same order.
    source, source_name = _load(model, "checkpoint")
    teacher_ckpt, teacher_name = None, None
    if distill_from is not None:
        teacher_ckpt, teacher_name = _load(distill_from, "teacher")
        if tuple(teacher_ckpt.classes) != tuple(source.classes):
            raise UserError(
                f"teacher {teacher_name} and student {source_name} must have the same classes "
                f"in the same order: the teacher's are {', '.join(teacher_ckpt.classes)}, the "
                f"student's {', '.join(source.classes)}"
            )

    started = time.perf_counter()
    with deterministic(seed, threads):
        student = source.build_model()
        teacher = teacher_ckpt.build_model() if teacher_ckpt is not None else None
        parameters_before = count_parameters(student)

        # 3. The structural steps (all their refusals come before the data is read).
        stages: list[tuple[dict[str, Any], nn.Module]] = []  # (record, model after the step)
        current = student
        if spec is not None:
            current, record = factorize(current, spec, low_rank_layers)
            stages.append((record, current))
        if fraction is not None:
            current, record = prune_channels(current, fraction)
            stages.append((record, current))

        # 4. The data, split as train splits it, labels in the model's class order.
        dataset, data_name = resolve_data(data)
        if len(dataset) == 0:
            raise UserError(f"dataset {data_name} has no images")
        labels = _labels_in_model_order(dataset, tuple(source.classes), data_name)
        train_idx, val_idx = stratified_split(labels, val_fraction, seed)
        if len(train_idx) == 0 and epochs > 0:
            raise UserError(f"dataset {data_name} leaves no images to train on")
        x_all = torch.from_numpy(np.ascontiguousarray(dataset.images, dtype=np.float32))
        x_all = x_all.unsqueeze(1)
        y_all = torch.from_numpy(np.asarray(labels, dtype=np.int64))
        splits = (x_all[train_idx], y_all[train_idx], x_all[val_idx], y_all[val_idx])

        def val_accuracy(m: nn.Module) -> float | None:
            return _evaluate_split(m, splits[2], splits[3])[1] if len(val_idx) else None

        accuracy_before = val_accuracy(student)
        steps: list[dict[str, Any]] = []
        for record, after in stages:
            record["val_accuracy_before"] = (
                steps[-1]["val_accuracy_after"] if steps else accuracy_before
            )
            record["val_accuracy_after"] = val_accuracy(after)
            steps.append(record)

        # 5. Fine-tune or distil.
        history: list[dict[str, Any]] = []
        best_row: dict[str, Any] = {}
        if epochs > 0:
            step: dict[str, Any] = {
                "step": "distill" if teacher is not None else "fine_tune",
                "epochs": epochs,
                "lr": lr,
                "batch_size": batch_size,
                "optimizer": "adamw",
                "weight_decay": 1e-4,
                "schedule": "cosine",
                "augment": bool(augment),
                "val_accuracy_before": steps[-1]["val_accuracy_after"]
                if steps
                else accuracy_before,
            }
            if teacher is not None:
                step.update(
                    teacher=teacher_name,
                    teacher_arch=teacher_ckpt.arch,
                    teacher_config=teacher_ckpt.config,
                    teacher_parameters=count_parameters(teacher),
                    teacher_val_accuracy=val_accuracy(teacher),
                    temperature=temperature,
                    alpha=alpha,
                )
            history, best_row = _fine_tune(
                current,
                splits,
                teacher=teacher,
                temperature=temperature,
                alpha=alpha,
                epochs=epochs,
                lr=lr,
                batch_size=batch_size,
                augment=augment,
                seed=seed,
                progress=progress,
            )
            step["best_epoch"] = best_row["epoch"]
            step["val_accuracy_after"] = val_accuracy(current)
            steps.append(step)
        current.eval()
        seconds = time.perf_counter() - started
        used_threads = torch.get_num_threads()

    final_accuracy = steps[-1]["val_accuracy_after"]
    metrics: dict[str, Any] = {
        "val_accuracy": final_accuracy,
        "val_loss": _evaluate_split(current, splits[2], splits[3])[0] if len(val_idx) else None,
        "val_accuracy_before": accuracy_before,
        "best_epoch": best_row.get("epoch"),
        "parameters": count_parameters(current),
        "parameters_before": parameters_before,
        "n_train": len(train_idx),
        "n_val": len(val_idx),
        "compress_seconds": seconds,
        "torch_threads": used_threads,
    }
    recipe = {
        "name": "compress",
        "source": {
            "checkpoint": source_name,
            "arch": source.arch,
            "config": source.config,
            "parameters": parameters_before,
            "recipe": source.recipe,
        },
        "data": data_name,
        "seed": seed,
        "val_fraction": val_fraction,
        "steps": steps,
    }
    checkpoint = Checkpoint.from_model(current, metrics=metrics, history=history, recipe=recipe)
    if out is not None:
        save_checkpoint(checkpoint, out)
    return Compressed(checkpoint, current)


def describe_step(step: dict[str, Any]) -> str:
    """One line per recipe step, for the CLI."""

    def pct(v: float | None) -> str:
        return "n/a" if v is None else f"{100 * v:.2f}%"

    acc = f"validation accuracy {pct(step['val_accuracy_before'])} -> {pct(step['val_accuracy_after'])}"
    kind = step["step"]
    if kind == "low_rank":
        layers = ", ".join(
            f"{name} rank {info['rank']} ({100 * info['energy_kept']:.1f}% energy)"
            for name, info in step["layers"].items()
        )
        size = f"{step['parameters_before']:,} -> {step['parameters_after']:,} parameters"
        return f"low-rank: {layers}; {size}; {acc}"
    if kind == "prune":
        size = f"{step['parameters_before']:,} -> {step['parameters_after']:,} parameters"
        return (
            f"prune {step['fraction']:g} ({step['criterion']}): {step['config_key']} "
            f"{step['widths_before']} -> {step['widths_after']}; {size}; {acc}"
        )
    if kind == "distill":
        return (
            f"distill from {step['teacher']} (T={step['temperature']:g}, "
            f"alpha={step['alpha']:g}), {step['epochs']} epoch(s), best {step['best_epoch']}; {acc}"
        )
    return f"fine-tune, {step['epochs']} epoch(s), best {step['best_epoch']}; {acc}"
