"""Training a zoo model on PRPD images: ``train(data, arch=..., out=...) -> Checkpoint``.

What makes a run trustworthy and repeatable:

- a stratified validation split (every class in the same proportion on both sides);
- fixed seeds and deterministic algorithms: model initialisation and dropout from
  ``torch.manual_seed(seed)``, the batch order and the augmentation from their own seeded
  generators, data handled in the main process; the same seed on the same machine gives the same
  weights;
- cross-entropy on the logits (the probability head is applied only at inference and export);
- the weights of the best validation epoch (accuracy, ties broken by lower loss) are kept.

Recipes (``PRESETS``): the seed team's ``seed-lenet`` (80 epochs, batch 64) and ``seed-light``
(36 epochs at lr 1e-4 then 17 at 1e-5, batch 4), both Adam without augmentation, and ``default``,
tuned to train well in minutes on 2 CPU cores: AdamW with a one-cycle learning-rate schedule and a
light augmentation that respects PD physics (phase jitter of at most 6 bins = 18 degrees, and an
amplitude gain that stretches the amplitude axis; never a large phase roll, since conductor and
enclosure protrusion differ exactly by 180 degrees). ``finetune`` is for small data on top of a
pretrained model (``init=``, ``pd2java.training.finetune``): a low learning rate, stronger
augmentation and early stopping on the validation split.
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from pd2java.errors import UserError
from pd2java.training.checkpoint import Checkpoint, check_writable, save_checkpoint
from pd2java.training.models import INPUT_SHAPE, build_model, canonical_arch, count_parameters

#: Largest phase jitter, in phase bins (3 degrees each): 6 bins = 18 degrees, within docs/PRPD.md's
#: +-20 degrees; more would start to blur conductor vs enclosure protrusion.
MAX_PHASE_SHIFT_BINS = 6

#: With ``init=`` (fine-tuning) and no explicit lr, a preset's lr is multiplied by this (the
#: ``finetune`` preset's own lr is already low: its factor is 1).
INIT_LR_FACTOR = 0.1

#: The finetune preset's epochs (an upper bound: early stopping), patience and lr.
FINETUNE_EPOCHS = 30
FINETUNE_PATIENCE = 6
FINETUNE_LR = 3e-4


@dataclass(frozen=True)
class Recipe:
    """How to train: optimiser, learning-rate schedule, epochs, batch size, augmentation.

    ``schedule`` is ``"constant"``, ``"step"`` (multiply the lr by ``factor`` from each
    ``(epoch, factor)`` of ``lr_steps`` on, epochs counted from 0) or ``"onecycle"`` (warm up then
    anneal, stepped per batch). ``gain_range`` is the amplitude-gain augmentation interval;
    ``gamma_range`` a contrast exponent interval (``(1, 1)``: off). ``patience`` stops training
    after that many epochs without a better validation score (``None``: never; no effect without
    a validation split). ``init_lr_factor`` multiplies ``lr`` when training starts from a
    pretrained checkpoint and no lr is given.
    """

    name: str
    epochs: int
    batch_size: int
    lr: float
    optimizer: str = "adamw"
    weight_decay: float = 0.0
    schedule: str = "constant"
    lr_steps: tuple[tuple[int, float], ...] = ()
    augment: bool = False
    phase_shift_bins: int = MAX_PHASE_SHIFT_BINS
    gain_range: tuple[float, float] = (0.85, 1.15)
    gamma_range: tuple[float, float] = (1.0, 1.0)
    patience: int | None = None
    init_lr_factor: float = INIT_LR_FACTOR


PRESETS: dict[str, Recipe] = {
    # The seed team's recipes, for fidelity (docs/PRPD.md section 4).
    "seed-lenet": Recipe("seed-lenet", epochs=80, batch_size=64, lr=1e-3, optimizer="adam"),
    "seed-light": Recipe(
        "seed-light",
        epochs=53,
        batch_size=4,
        lr=1e-4,
        optimizer="adam",
        schedule="step",
        lr_steps=((36, 0.1),),
    ),
    # pd2java's defaults: a few minutes per model on 2 CPU cores (see docs/TRAINING.md).
    "default-lenet": Recipe(
        "default-lenet",
        epochs=15,
        batch_size=32,
        lr=1e-3,
        weight_decay=1e-4,
        schedule="onecycle",
        augment=True,
    ),
    "default-light": Recipe(
        "default-light",
        epochs=15,
        batch_size=32,
        lr=3e-3,
        weight_decay=1e-4,
        schedule="onecycle",
        augment=True,
    ),
    # Small data, normally with init= (see docs/TRAINING.md, "Fine-tuning"): low constant lr,
    # stronger augmentation, early stopping; works for both architectures.
    "finetune": Recipe(
        "finetune",
        epochs=FINETUNE_EPOCHS,
        batch_size=16,
        lr=FINETUNE_LR,
        weight_decay=1e-4,
        schedule="constant",
        augment=True,
        gain_range=(0.7, 1.4),
        gamma_range=(0.75, 1.33),
        patience=FINETUNE_PATIENCE,
        init_lr_factor=1.0,
    ),
}


def resolve_recipe(
    arch: str,
    preset: str = "default",
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    augment: bool | None = None,
    init: bool = False,
) -> Recipe:
    """The preset (``"default"`` means ``default-<arch>``) with the given overrides applied;
    ``init`` (fine-tuning a pretrained model) scales the preset's lr by its ``init_lr_factor``
    when ``lr`` is not given."""
    key = f"default-{canonical_arch(arch)}" if preset == "default" else preset
    if key not in PRESETS:
        raise UserError(f"unknown preset {preset!r}; known: default, {', '.join(PRESETS)}")
    recipe = PRESETS[key]
    changes: dict[str, Any] = {}
    if epochs is not None:
        if epochs < 1:
            raise UserError(f"--epochs must be at least 1, got {epochs}")
        changes["epochs"] = int(epochs)
    if batch_size is not None:
        if batch_size < 1:
            raise UserError(f"--batch-size must be at least 1, got {batch_size}")
        changes["batch_size"] = int(batch_size)
    if lr is not None:
        if not (math.isfinite(lr) and lr > 0):
            raise UserError(f"--lr must be a positive number, got {lr}")
        changes["lr"] = float(lr)
    elif init and recipe.init_lr_factor != 1.0:
        changes["lr"] = recipe.lr * recipe.init_lr_factor
    if augment is not None:
        changes["augment"] = bool(augment)
    return replace(recipe, **changes)


# ---------------------------------------------------------------------------------------------
# Data


def resolve_data(data: Any) -> tuple[Any, str]:
    """A ``Dataset`` from a Dataset, a dataset folder, or ``synth:PRODUCT?key=value&...``.

    ``synth:`` synthesises on the fly with ``pd2java.training.data.synthesize``; the keys are
    ``per_class``, ``seed`` and ``difficulty``, e.g. ``synth:gis?per_class=80&seed=0``, and
    ``randomization`` (``wide`` or ``classic``), a benchmark switch (docs/PRPD.md).
    Returns the dataset and a short description of where it came from.
    """
    # Imported here: pd2java.training.data is only needed when data is actually read.
    from pd2java.training.data import PRODUCTS, Dataset, synthesize

    if isinstance(data, Dataset):
        return data, "in-memory dataset"
    text = os.fspath(data)
    if text.startswith("synth:"):
        product, _, query = text[len("synth:") :].partition("?")
        if product not in PRODUCTS:
            raise UserError(
                f"unknown product {product!r} in {text!r}; known: {', '.join(PRODUCTS)}"
            )
        kwargs: dict[str, Any] = {}
        converters = {"per_class": int, "seed": int, "difficulty": float, "randomization": str}
        for key, value in parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)):
            if key not in converters:
                raise UserError(
                    f"unknown option {key!r} in {text!r}; known: {', '.join(converters)}"
                )
            try:
                kwargs[key] = converters[key](value)
            except ValueError:
                raise UserError(f"option {key}={value!r} in {text!r} is not a number") from None
        return synthesize(product, **kwargs), text
    path = Path(text)
    if not path.exists():
        raise UserError(
            f"dataset {text!r} not found: give a dataset folder or synth:gis / synth:transformer"
        )
    from pd2java.training.data import load_dataset

    return load_dataset(path), str(path)


def stratified_split(
    labels: np.ndarray, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Train and validation indices with each class split in the same proportion.

    Each class with at least 2 images puts ``round(n * val_fraction)`` of them (at least 1 when
    ``val_fraction > 0``, and never all of them) into validation.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise UserError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    rng = np.random.default_rng(seed)
    train_idx: list[np.ndarray] = []
    val_idx: list[np.ndarray] = []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        rng.shuffle(members)
        n_val = round(len(members) * val_fraction)
        if val_fraction > 0 and len(members) >= 2:
            n_val = min(max(n_val, 1), len(members) - 1)
        else:
            n_val = 0
        val_idx.append(members[:n_val])
        train_idx.append(members[n_val:])
    return np.sort(np.concatenate(train_idx)), np.sort(np.concatenate(val_idx))


def augment_batch(x: torch.Tensor, generator: torch.Generator, recipe: Recipe) -> torch.Tensor:
    """Physically plausible variations of a batch (N, 1, 60, 120) of PRPD images.

    Phase jitter: a circular shift by at most ``recipe.phase_shift_bins`` bins (phase is
    periodic, so wrapping is right). Amplitude gain g: a pulse at amplitude a moves to a * g
    (the amplitude axis is stretched, what falls off the top is clipped), then the image is
    re-normalised so its peak is 1 again, as the image convention requires.
    """
    n, _, height, width = x.shape
    k = recipe.phase_shift_bins
    shifts = torch.randint(-k, k + 1, (n,), generator=generator)
    columns = (torch.arange(width)[None, :] - shifts[:, None]) % width  # out[j] = in[j - s]
    x = torch.gather(x, 3, columns[:, None, None, :].expand(n, 1, height, width))
    lo, hi = recipe.gain_range
    gains = lo + (hi - lo) * torch.rand(n, generator=generator)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = 1.0
    # Normalised row coordinate: output row y samples input row (y + 1) / g - 1.
    theta[:, 1, 1] = 1.0 / gains
    theta[:, 1, 2] = 1.0 / gains - 1.0
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    peak = x.amax(dim=(1, 2, 3), keepdim=True)
    x = torch.where(peak > 0, x / peak.clamp_min(1e-12), x)
    lo, hi = recipe.gamma_range
    if (lo, hi) != (1.0, 1.0):
        # Contrast: x -> x ** gamma, gamma log-uniform in the range, keeps 0 at 0 and the peak at
        # 1; like another record length, it moves rare bins relative to frequent ones.
        u = torch.rand(n, generator=generator)
        gamma = torch.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * u)
        x = x.clamp_min(0.0) ** gamma[:, None, None, None]
    return x


# ---------------------------------------------------------------------------------------------
# Training


@contextmanager
def deterministic(seed: int, threads: int | None = None) -> Iterator[None]:
    """Seed torch, turn on deterministic algorithms and optionally set the number of torch
    threads; the previous mode and thread count are restored after."""
    previous = torch.are_deterministic_algorithms_enabled()
    previous_threads = torch.get_num_threads()
    if threads is not None:
        if threads < 1:
            raise UserError(f"--threads must be at least 1, got {threads}")
        torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)
        torch.set_num_threads(previous_threads)


class EpochLog:
    """The per-epoch bookkeeping of a training loop: each epoch's row (scored on the validation
    split when there is one), the best epoch's weights (highest validation accuracy, then lowest
    loss; the last epoch without validation) and the progress bar's figures."""

    def __init__(self, bar: Any) -> None:
        self.bar = bar
        self.history: list[dict[str, Any]] = []
        self.best_row: dict[str, Any] = {}
        self._best: tuple[float, float] | None = None
        self._state: dict[str, torch.Tensor] = {}
        self.stale = 0  # epochs since the best one (early stopping)

    def end_epoch(
        self,
        model: nn.Module,
        row: dict[str, Any],
        x_val: torch.Tensor,
        y_val: torch.Tensor,
        epoch_start: float,
    ) -> None:
        if len(x_val):
            row["val_loss"], row["val_accuracy"] = _evaluate_split(model, x_val, y_val)
            score = (row["val_accuracy"], -row["val_loss"])
        else:
            score = (float(row["epoch"]), 0.0)  # no validation: the last epoch is kept
        row["seconds"] = time.perf_counter() - epoch_start
        self.history.append(row)
        if self._best is None or score > self._best:
            self._best = score
            self._state = copy.deepcopy(model.state_dict())
            self.best_row = row
            self.stale = 0
        else:
            self.stale += 1
        postfix = {"loss": f"{row['train_loss']:.3f}", "acc": f"{row['train_accuracy']:.3f}"}
        if "val_accuracy" in row:
            postfix["val_acc"] = f"{row['val_accuracy']:.3f}"
        self.bar.set_postfix(postfix)

    def restore_best(self, model: nn.Module) -> None:
        """Close the bar and load the best epoch's weights into ``model`` (eval mode)."""
        self.bar.close()
        model.load_state_dict(self._state)
        model.eval()


def _evaluate_split(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 256
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` (in eval mode) on a whole split."""
    model.eval()
    loss_sum, correct = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            logits = model.forward_logits(x[start : start + batch_size])
            target = y[start : start + batch_size]
            loss_sum += float(F.cross_entropy(logits, target, reduction="sum"))
            correct += int((logits.argmax(1) == target).sum())
    return loss_sum / len(x), correct / len(x)


def _optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]  # frozen ones are left out
    if recipe.optimizer == "adam":
        return torch.optim.Adam(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    raise UserError(f"unknown optimizer {recipe.optimizer!r} in recipe {recipe.name!r}")


def _step_lr(recipe: Recipe, epoch: int) -> float:
    lr = recipe.lr
    for start, factor in recipe.lr_steps:
        if epoch >= start:
            lr = recipe.lr * factor
    return lr


def train(
    data: Any,
    *,
    arch: str | None = None,
    out: str | os.PathLike[str] | None = None,
    preset: str = "default",
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    val_fraction: float = 0.2,
    seed: int = 0,
    head: str | None = None,
    augment: bool | None = None,
    progress: bool = True,
    threads: int | None = None,
    init: str | os.PathLike[str] | None = None,
    freeze: str | None = None,
) -> Checkpoint:
    """Train a zoo model and return (and, with ``out``, save) its checkpoint.

    ``data`` is a ``pd2java.training.data.Dataset``, a dataset folder or ``synth:gis?per_class=80&seed=0``.
    ``preset`` picks a recipe (``default``, ``seed-lenet``, ``seed-light``); ``epochs``,
    ``batch_size``, ``lr`` and ``augment`` override it. ``val_fraction`` of each class is held
    out; the weights of the best validation epoch are kept (with ``val_fraction=0``, the last).
    ``threads`` sets torch's thread count for the run (1 is much faster on a busy shared machine;
    results are reproducible for a given seed and thread count).

    ``arch`` defaults to ``light``, or to the parent's architecture with ``init``. ``head`` is
    ``softmax`` by default (the parent's with ``init``). ``init`` fine-tunes a pretrained
    checkpoint (a path, or ``"gis"`` / ``"transformer"`` for the shipped ones): classes matched
    by name, lr scaled by the recipe's ``init_lr_factor`` unless ``lr`` is given; ``freeze``
    (``"stem"`` or ``"features"``) keeps that part fixed. See ``pd2java.training.finetune``.
    """
    from pd2java.training import finetune as ft

    parent = ft.load_parent(init) if init is not None else None
    if freeze is not None and freeze not in ("stem", "features"):
        raise UserError(f"--freeze must be stem or features, got {freeze!r}")
    if parent is not None:
        arch = ft.check_parent(parent, arch, INPUT_SHAPE)
    arch = canonical_arch(arch or "light")
    recipe = resolve_recipe(
        arch,
        preset,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        augment=augment,
        init=parent is not None,
    )
    if out is not None:
        check_writable(out)  # fail now, not after minutes of training
    dataset, source = resolve_data(data)
    if parent is not None:
        ft.check_parent(parent, arch, (1, *dataset.images.shape[1:]))
    counts = np.bincount(dataset.labels, minlength=len(dataset.classes))
    if (counts == 0).any():
        empty = [c for c, n in zip(dataset.classes, counts) if n == 0]
        raise UserError(f"dataset {source}: no images for class(es) {', '.join(empty)}")
    train_idx, val_idx = stratified_split(dataset.labels, val_fraction, seed)
    x_all = torch.from_numpy(np.ascontiguousarray(dataset.images)).unsqueeze(1)
    y_all = torch.from_numpy(dataset.labels)
    x_train, y_train = x_all[train_idx], y_all[train_idx]
    x_val, y_val = x_all[val_idx], y_all[val_idx]

    with deterministic(seed, threads):
        lineage: dict[str, Any] = {"init": None}
        if parent is not None:
            model, lineage["init"] = ft.init_from_parent(parent, dataset.classes, head)
        else:
            model = build_model(arch, dataset.classes, head=head or "softmax")
        frozen = ft.freeze(model, freeze)
        lineage["freeze"] = {"part": freeze, "modules": list(frozen)} if freeze else None
        trainable = count_parameters(model)
        optimizer = _optimizer(model, recipe)
        steps_per_epoch = math.ceil(len(x_train) / recipe.batch_size)
        scheduler = None
        if recipe.schedule == "onecycle":
            scheduler = torch.optim.lr_scheduler.OneCycleLR(
                optimizer,
                max_lr=recipe.lr,
                epochs=recipe.epochs,
                steps_per_epoch=steps_per_epoch,
            )
        elif recipe.schedule not in ("constant", "step"):
            raise UserError(f"unknown lr schedule {recipe.schedule!r} in recipe {recipe.name!r}")
        order_gen = torch.Generator().manual_seed(seed + 1)
        augment_gen = torch.Generator().manual_seed(seed + 2)

        started = time.perf_counter()
        bar = tqdm(
            range(recipe.epochs),
            desc=f"train {arch}",
            unit="epoch",
            disable=not progress,
            dynamic_ncols=True,
        )
        log = EpochLog(bar)
        for epoch in bar:
            epoch_start = time.perf_counter()
            if recipe.schedule == "step":
                for group in optimizer.param_groups:
                    group["lr"] = _step_lr(recipe, epoch)
            lr_now = optimizer.param_groups[0]["lr"]
            ft.train_mode(model, frozen)  # frozen BN layers stay in eval mode
            loss_sum, correct = 0.0, 0
            order = torch.randperm(len(x_train), generator=order_gen)
            for start in range(0, len(order), recipe.batch_size):
                idx = order[start : start + recipe.batch_size]
                xb, yb = x_train[idx], y_train[idx]
                if recipe.augment:
                    xb = augment_batch(xb, augment_gen, recipe)
                logits = model.forward_logits(xb)
                loss = F.cross_entropy(logits, yb)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                loss_sum += float(loss.detach()) * len(idx)
                correct += int((logits.argmax(1) == yb).sum())
            row: dict[str, Any] = {
                "epoch": epoch + 1,
                "lr": float(lr_now),
                "train_loss": loss_sum / len(x_train),
                "train_accuracy": correct / len(x_train),
            }
            log.end_epoch(model, row, x_val, y_val, epoch_start)
            if recipe.patience and len(x_val) and log.stale >= recipe.patience:
                break  # early stopping: no better validation score for `patience` epochs
        log.restore_best(model)
        ft.unfreeze(model)
        train_seconds = time.perf_counter() - started
        used_threads = torch.get_num_threads()

    history, best_row = log.history, log.best_row
    metrics: dict[str, Any] = {
        "best_epoch": best_row["epoch"],
        "train_loss": best_row["train_loss"],
        "train_accuracy": best_row["train_accuracy"],
        "val_loss": best_row.get("val_loss"),
        "val_accuracy": best_row.get("val_accuracy"),
        "n_train": len(x_train),
        "n_val": len(x_val),
        "class_counts": {c: int(n) for c, n in zip(dataset.classes, counts)},
        "parameters": count_parameters(model),
        "train_seconds": train_seconds,
        "torch_threads": used_threads,
        "trainable_parameters": trainable,
        "epochs_run": len(history),
    }
    recipe_record = asdict(recipe)
    recipe_record.update({"data": source, "seed": seed, "val_fraction": val_fraction, **lineage})

    # --- Calibration (pd2java.training.calibrate): on the best weights, fit the temperature on
    # the validation split and fold it into the final linear layer, then choose the rejection
    # threshold; skipped, with the reason in metrics["calibration_note"], on a tiny split.
    from pd2java.training.calibrate import calibrate_model

    calibration = calibrate_model(model, x_val, y_val)
    metrics.update(calibration.metrics, calibration_note=calibration.note)

    checkpoint = Checkpoint.from_model(
        model,
        metrics=metrics,
        history=history,
        recipe=recipe_record,
        calibration=calibration.record,
    )
    if out is not None:
        save_checkpoint(checkpoint, out)
    return checkpoint


def summarize(checkpoint: Checkpoint) -> Mapping[str, Any]:
    """A few headline figures of a training run, for the CLI and benchmarks."""
    m = checkpoint.metrics
    return {
        "arch": checkpoint.arch,
        "classes": len(checkpoint.classes),
        "best_epoch": m.get("best_epoch"),
        "val_accuracy": m.get("val_accuracy"),
        "train_seconds": m.get("train_seconds"),
        "parameters": m.get("parameters"),
    }
