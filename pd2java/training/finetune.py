"""Fine-tuning from a pretrained checkpoint, freezing, and the synthetic pretraining recipe.

``train(DATA, init=PARENT)`` starts from a parent checkpoint instead of random weights:

- **Classes are matched by name.** The new model has DATA's classes in DATA's order. For a class
  the parent knows, its row of the final linear layer (weight row and bias) is copied from the
  parent; a class the parent does not know gets a freshly initialised row (seeded, as a model
  built from scratch would have it); parent classes absent from DATA are dropped. Every other
  weight and BN statistic is copied unchanged. The final linear layer is the model's last
  ``nn.Linear`` (``classifier.5`` for lenet, ``classifier`` for light; its second half when
  compressed with ``low_rank``).
- **Refusals**: a file that is not a pd2java checkpoint, a parent of another architecture than an
  explicitly requested ``arch``, a parent whose input shape or image convention differs from the
  data's.
- ``init`` may name a checkpoint shipped inside the package (``PRETRAINED``: ``"gis"``,
  ``"transformer"``), made by ``pd2java pretrain`` (``PRETRAIN_RECIPES``).

``freeze`` keeps part of the network fixed (``FREEZE``): its parameters get no gradient and are
left out of the optimiser, and its BatchNorm layers stay in eval mode (their running statistics
are neither used from the batch nor updated).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from pd2java.errors import UserError
from pd2java.fsutil import file_sha256
from pd2java.training.checkpoint import Checkpoint, load_checkpoint
from pd2java.training.models import build_model, canonical_arch, linear_layer_names

#: Pretrained checkpoints shipped in ``pd2java/pretrained/`` (``--init NAME``).
PRETRAINED: dict[str, str] = {"gis": "gis.pt", "transformer": "transformer.pt"}

#: What ``freeze`` keeps fixed, per architecture: module paths of the model.
#: lenet: "stem" = the first conv block (conv 1->32 3x3; its ReLU and pool have no weights),
#: "features" = all four conv blocks (only the 5376->64->32->K classifier trains).
#: light: "stem" = the stem (conv 3x3 stride 2 1->32, BN, LeakyReLU), "features" = everything
#: before the global pool (stem, nine inverted residual blocks, 1x1 conv 64->256 + BN), so only the
#: final linear layer trains.
FREEZE: dict[str, dict[str, tuple[str, ...]]] = {
    "lenet": {"stem": ("features.0",), "features": ("features",)},
    "light": {"stem": ("stem",), "features": ("stem", "blocks", "last")},
}


def pretrained_path(name: str) -> Path:
    """The shipped pretrained checkpoint called ``name`` (a key of ``PRETRAINED``)."""
    if name not in PRETRAINED:
        raise UserError(f"no shipped pretrained model {name!r}; shipped: {', '.join(PRETRAINED)}")
    path = Path(__file__).resolve().parent.parent / "pretrained" / PRETRAINED[name]
    if not path.is_file():
        raise UserError(
            f"the shipped pretrained model {name!r} is missing from this installation ({path}); "
            f"reinstall pd2java or make it with: pd2java pretrain --product {name} -o {name}.pt"
        )
    return path


@dataclass(frozen=True)
class Parent:
    """A loaded ``--init`` checkpoint and where it came from."""

    checkpoint: Checkpoint
    path: Path
    sha256: str
    name: str | None  # the PRETRAINED name, when a shipped model was asked for


def load_parent(init: str | os.PathLike[str] | Checkpoint) -> Parent:
    """Resolve ``init`` (a shipped name, a checkpoint path) and load it, refusing non-checkpoints
    with the ``--init`` option named."""
    if isinstance(init, Checkpoint):
        raise UserError("init must be a checkpoint file or a shipped name, not a Checkpoint object")
    text = os.fspath(init)
    name = text if text in PRETRAINED and not Path(text).exists() else None
    if name is None and not Path(text).exists():
        raise UserError(
            f"--init {text}: no such checkpoint file, and not a shipped pretrained model "
            f"({', '.join(PRETRAINED)})"
        )
    path = pretrained_path(text) if name else Path(text)
    try:
        checkpoint = load_checkpoint(path)
    except UserError as exc:
        raise UserError(f"--init {text}: {exc}") from None
    return Parent(checkpoint, path.resolve(), file_sha256(path), name)


def check_parent(parent: Parent, arch: str | None, input_shape: Sequence[int]) -> str:
    """The architecture to fine-tune (the parent's); refuse a mismatch with what was asked."""
    ckpt = parent.checkpoint
    where = f"--init {parent.name or parent.path}"
    if arch is not None and canonical_arch(arch) != ckpt.arch:
        raise UserError(
            f"{where} is a {ckpt.arch!r} checkpoint but --arch {canonical_arch(arch)!r} was asked "
            f"for; drop --arch (the parent's architecture is used) or give a {arch} checkpoint"
        )
    shape = ckpt.input_spec.get("shape")
    if list(shape or []) != list(input_shape):
        raise UserError(
            f"{where} takes inputs of shape {shape}, but the data's images are "
            f"{list(input_shape)}; a model cannot be fine-tuned on another input shape"
        )
    from pd2java.training.checkpoint import default_input_spec

    convention = ckpt.input_spec.get("image_convention")
    expected = default_input_spec()["image_convention"]
    if convention is not None and convention != expected:
        differ = sorted(
            k
            for k in set(convention) | set(expected)
            if convention.get(k) != expected.get(k)  # type: ignore[union-attr]
        )
        raise UserError(
            f"{where} was trained on images made with another image convention (differing in "
            f"{', '.join(differ)}); its inputs would not mean the same"
        )
    return ckpt.arch


def final_layer(model: nn.Module) -> str:
    """Path of the linear layer whose output rows are the classes (the model's last linear)."""
    return linear_layer_names(model)[-1]


def init_from_parent(
    parent: Parent, classes: Sequence[str], head: str | None
) -> tuple[nn.Module, dict[str, Any]]:
    """A model for ``classes`` carrying the parent's weights, class rows matched by name.

    Call it under the run's seed: the fresh rows of new classes come from torch's generator.
    Returns the model (train mode) and the record of what was kept, added and dropped.
    """
    ckpt = parent.checkpoint
    config = dict(ckpt.config)
    if head is not None:
        config["head"] = head
    model = build_model(ckpt.arch, classes, **config)
    fresh = model.state_dict()
    layer = final_layer(model)
    state = {}
    for key, value in ckpt.state_dict.items():
        if key.startswith(layer + "."):
            continue
        state[key] = value.to(fresh[key].dtype)
    parent_rows = {c: i for i, c in enumerate(ckpt.classes)}
    kept = [c for c in classes if c in parent_rows]
    for suffix in ("weight", "bias"):
        key = f"{layer}.{suffix}"
        if key not in fresh:
            continue
        rows = fresh[key].clone()
        for i, c in enumerate(classes):
            if c in parent_rows:
                rows[i] = ckpt.state_dict[key][parent_rows[c]].to(rows.dtype)
        state[key] = rows
    model.load_state_dict(state, strict=True)
    record = {
        "path": str(parent.path),
        "sha256": parent.sha256,
        "shipped": parent.name,
        "arch": ckpt.arch,
        "classes": list(ckpt.classes),
        "kept_classes": kept,
        "new_classes": [c for c in classes if c not in parent_rows],
        "dropped_classes": [c for c in ckpt.classes if c not in set(classes)],
        "final_layer": layer,
        "parent_data": ckpt.recipe.get("data"),
    }
    return model.train(), record


def freeze(model: nn.Module, part: str | None) -> tuple[str, ...]:
    """Freeze ``part`` (``"stem"`` or ``"features"``, see ``FREEZE``) of ``model``: no gradients
    for its parameters. Returns the frozen module paths (empty for ``None``)."""
    if part is None:
        return ()
    arch = canonical_arch(getattr(model, "arch", ""))
    choices = FREEZE[arch]
    if part not in choices:
        raise UserError(f"--freeze must be one of {', '.join(choices)}, got {part!r}")
    paths = choices[part]
    for path in paths:
        for p in model.get_submodule(path).parameters():
            p.requires_grad_(False)
    return paths


def train_mode(model: nn.Module, frozen: Sequence[str]) -> None:
    """``model.train()``, except the frozen modules (and so their BatchNorm layers) stay in eval
    mode: their running statistics are used, not updated."""
    model.train()
    for path in frozen:
        model.get_submodule(path).eval()


def unfreeze(model: nn.Module) -> None:
    for p in model.parameters():
        p.requires_grad_(True)


# ---------------------------------------------------------------------------------------------
# Synthetic pretraining


@dataclass(frozen=True)
class PretrainRecipe:
    """The recommended synthetic pretraining: ``per_class`` images per class of ``product`` at
    ``difficulty`` from ``seed`` (never used by the demo or benchmarks), the light model trained
    ``epochs`` epochs with the default-light preset, ``val_fraction`` held out."""

    product: str
    per_class: int = 120
    seed: int = 100
    difficulty: float = 0.6
    epochs: int = 15
    arch: str = "light"
    preset: str = "default"
    val_fraction: float = 0.1
    train_seed: int = 0


PRETRAIN_RECIPES: dict[str, PretrainRecipe] = {
    "gis": PretrainRecipe("gis"),
    "transformer": PretrainRecipe("transformer"),
}


def synth_spec(randomization: str | None = None) -> dict[str, Any]:
    """What identifies the synthesizer: the sha256 of its source, its version-like module
    constants (names containing VERSION or RANDOMIZATION) and the randomization mode used
    (``None`` when this synthesizer has no such switch)."""
    from pd2java.training.data import synth

    params = inspect.signature(synth.synthesize).parameters
    record: dict[str, Any] = {
        "module": synth.__name__,
        "source_sha256": file_sha256(synth.__file__),
    }
    for key, value in sorted(vars(synth).items()):
        if (
            key.isupper()
            and ("VERSION" in key or "RANDOMIZATION" in key)
            and isinstance(value, (str, int, float, tuple, list))
        ):
            record[key.lower()] = list(value) if isinstance(value, tuple) else value
    if "randomization" in params:
        default = params["randomization"].default
        record["randomization"] = randomization if randomization is not None else default
    else:
        if randomization is not None:
            raise UserError(
                f"--randomization {randomization}: this pd2java's synthesizer has no "
                "randomization switch"
            )
        record["randomization"] = None
    record["has_randomization_switch"] = "randomization" in params
    return record


def synthesize_spec(
    product: str,
    per_class: int,
    seed: int,
    difficulty: float,
    randomization: str | None = None,
    progress: bool = False,
) -> Any:
    """``synthesize`` with the randomization mode passed only when given (and supported)."""
    from pd2java.training.data import synthesize

    kwargs: dict[str, Any] = {"seed": seed, "difficulty": difficulty, "progress": progress}
    if randomization is not None:
        synth_spec(randomization)  # refuses a switch this synthesizer lacks
        kwargs["randomization"] = randomization
    return synthesize(product, per_class=per_class, **kwargs)


def pretrain(
    product: str,
    out: str | os.PathLike[str] | None = None,
    *,
    per_class: int | None = None,
    epochs: int | None = None,
    seed: int | None = None,
    difficulty: float | None = None,
    randomization: str | None = None,
    progress: bool = True,
    threads: int | None = 1,
) -> Checkpoint:
    """Run the recommended synthetic pretraining for ``product`` (``PRETRAIN_RECIPES``), options
    overriding it; the checkpoint's recipe gains ``pretrain`` with the data and synthesizer spec
    and the command that regenerates it."""
    from dataclasses import replace

    from pd2java.training.checkpoint import check_writable, save_checkpoint
    from pd2java.training.train import train

    if product not in PRETRAIN_RECIPES:
        raise UserError(f"unknown product {product!r}; known: {', '.join(PRETRAIN_RECIPES)}")
    base = PRETRAIN_RECIPES[product]
    changes = {
        k: v
        for k, v in {
            "per_class": per_class,
            "epochs": epochs,
            "seed": seed,
            "difficulty": difficulty,
        }.items()
        if v is not None
    }
    recipe = replace(base, **changes)
    if out is not None:
        check_writable(out)
    spec = synth_spec(randomization)
    data = synthesize_spec(
        product,
        recipe.per_class,
        recipe.seed,
        recipe.difficulty,
        randomization,
        progress=progress,
    )
    checkpoint = train(
        data,
        arch=recipe.arch,
        preset=recipe.preset,
        epochs=recipe.epochs,
        val_fraction=recipe.val_fraction,
        seed=recipe.train_seed,
        progress=progress,
        threads=threads,
    )
    command = [f"pd2java pretrain --product {product}"]
    for key, value in changes.items():
        command.append(f"--{key.replace('_', '-')} {value}")
    if randomization is not None:
        command.append(f"--randomization {randomization}")
    if threads is not None:
        command.append(f"--threads {threads}")
    command.append("-o OUT.pt")
    source = (
        f"synth:{product}?per_class={recipe.per_class}&seed={recipe.seed}"
        f"&difficulty={recipe.difficulty}"
    )
    record = dict(checkpoint.recipe)
    record["data"] = source
    record["pretrain"] = {
        **{k: v for k, v in vars(recipe).items()},
        "synth": spec,
        "command": " ".join(command),
    }
    checkpoint = replace(checkpoint, recipe=record)
    if out is not None:
        save_checkpoint(checkpoint, out)
    return checkpoint


def few_shot(dataset: Any, k: int, seed: int) -> Any:
    """``k`` images per class drawn at random (seeded) from ``dataset``, in class order."""
    from pd2java.training.data import Dataset

    rng = np.random.default_rng(seed)
    picks = []
    for c in range(len(dataset.classes)):
        members = np.flatnonzero(dataset.labels == c)
        if len(members) < k:
            raise UserError(
                f"class {dataset.classes[c]!r} has {len(members)} images, fewer than {k}"
            )
        picks.append(np.sort(rng.choice(members, size=k, replace=False)))
    idx = np.concatenate(picks)
    return Dataset(
        images=np.ascontiguousarray(dataset.images[idx]),
        labels=np.ascontiguousarray(dataset.labels[idx]),
        classes=dataset.classes,
    )


def describe_init(record: Mapping[str, Any]) -> str:
    """One line on where a fine-tuned model came from, for the CLI."""
    what = record.get("shipped") or record.get("path")
    parts = [f"from {what} (sha256 {str(record.get('sha256'))[:12]}...)"]
    for key, word in (
        ("kept_classes", "kept"),
        ("new_classes", "new"),
        ("dropped_classes", "dropped"),
    ):
        if record.get(key):
            parts.append(f"{word}: {', '.join(record[key])}")
    return "; ".join(parts)
