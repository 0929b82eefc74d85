"""pd2java checkpoints: a trained zoo model as a file that loads without running pickled code.

A checkpoint is a ``torch.save``d dict holding only tensors, dicts, lists, str, int, float, bool
and None, so ``torch.load(path, weights_only=True)`` reads it. Keys::

    format          "pd2java.checkpoint"
    format_version  1 (readers refuse newer versions)
    arch            "lenet" | "light"  (pd2java.training.models.ARCHS)
    config          constructor keywords besides classes, e.g. {"head": "softmax"}
    classes         class names in output order
    input_spec      {"shape": [1, 60, 120], "dtype": "float32", "layout": "CHW",
                     "image_convention": {...}}   (docs/PRPD.md section 1)
    state_dict      parameter and buffer tensors, by module path
    metrics         final figures of the training run (validation accuracy, ...)
    history         one dict per epoch (loss, accuracy, learning rate, seconds)
    recipe          the training settings that produced it (preset, epochs, lr, seed, data)
    versions        pd2java, torch, numpy and Python versions that wrote it
    calibration     optional (absent when training skipped calibration, and in checkpoints
                    written before it existed; no format_version bump, since older readers
                    ignore the key and the weights mean the same either way):
                    {"temperature": T,            the temperature already folded into the final
                                                  linear layer (weight and bias divided by T)
                     "ece_before": float,         expected calibration error on the validation
                     "ece_after": float,          split before / after (fractions, not %)
                     "bins": 15,                  equal-width confidence bins of the ECE
                     "reliability_before": {"confidence": [...], "accuracy": [...],
                                            "count": [...]},   one entry per bin; confidence
                     "reliability_after": {...},  and accuracy are None for an empty bin
                     "rejection": {"score": "max_probability", "threshold": t,
                                   "target_false_reject": 0.02, "val_false_reject": f,
                                   "val_accepted_accuracy": a, "n_val": n},
                     "nll_before": float, "nll_after": float, "n_val": n}
                    (pd2java.training.calibrate; docs/TRAINING.md, "Calibration and rejection").
                    The exporter writes rejection's score, threshold and target_false_reject as
                    the manifest's "confidence" (docs/FORMAT.md).

Loading never falls back to ``weights_only=False``: a file that needs unpickling code (for example
a whole module saved with ``torch.save(model)``) is refused with an explanation. Files are written
to a temporary name in the target folder and renamed into place.
"""

from __future__ import annotations

import os
import pickle
import platform
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from pd2java import __version__
from pd2java.errors import UserError
from pd2java.fsutil import atomic_path, check_can_create
from pd2java.training.data.convention import IMAGE_CONVENTION
from pd2java.training.models import INPUT_SHAPE, build_model, canonical_arch

FORMAT = "pd2java.checkpoint"
FORMAT_VERSION = 1


def default_input_spec() -> dict[str, Any]:
    """The input description of every zoo model: one PRPD image, (1, 60, 120) float32 CHW."""
    return {
        "shape": list(INPUT_SHAPE),
        "dtype": "float32",
        "layout": "CHW",
        # pd2java.training.data's machine-readable convention, so checkpoint and manifest agree.
        "image_convention": _plain(IMAGE_CONVENTION, "image_convention"),
    }


def library_versions() -> dict[str, str]:
    """Versions of the libraries writing a checkpoint (provenance only, never used to gate)."""
    return {
        "pd2java": __version__,
        "torch": str(torch.__version__),
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def _plain(value: Any, where: str) -> Any:
    """Convert to the types ``weights_only`` loading accepts; refuse anything else by name."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)  # drops str subclasses such as torch's TorchVersion (a pickled class)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().clone().contiguous()
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise UserError(f"checkpoint field {where}: key {key!r} is not a string")
            out[key] = _plain(item, f"{where}.{key}")
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise UserError(
        f"checkpoint field {where} holds a {type(value).__name__}, which a weights-only "
        "checkpoint cannot store (allowed: tensors, dicts, lists, str, int, float, bool, None)"
    )


@dataclass(frozen=True)
class Checkpoint:
    """A trained zoo model and everything needed to rebuild, evaluate and export it."""

    arch: str
    config: dict[str, Any]
    classes: tuple[str, ...]
    state_dict: dict[str, torch.Tensor]
    input_spec: dict[str, Any] = field(default_factory=default_input_spec)
    metrics: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    recipe: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=library_versions)
    format_version: int = FORMAT_VERSION
    calibration: dict[str, Any] | None = None

    @classmethod
    def from_model(
        cls,
        model: nn.Module,
        *,
        metrics: Mapping[str, Any] | None = None,
        history: list[Mapping[str, Any]] | None = None,
        recipe: Mapping[str, Any] | None = None,
        calibration: Mapping[str, Any] | None = None,
    ) -> Checkpoint:
        """Snapshot a zoo model (anything with ``arch``, ``classes`` and ``config()``);
        ``calibration`` is the record of ``pd2java.training.calibrate`` (module docstring)."""
        arch = getattr(model, "arch", None)
        if not isinstance(arch, str) or not hasattr(model, "config"):
            raise UserError(
                f"{type(model).__name__} is not a pd2java zoo model (it has no arch/config); "
                "checkpoints hold zoo models only, export other modules with pd2java.export"
            )
        return cls(
            arch=canonical_arch(arch),
            config=_plain(model.config(), "config"),
            classes=tuple(model.classes),
            state_dict=_plain(model.state_dict(), "state_dict"),
            metrics=_plain(dict(metrics or {}), "metrics"),
            history=_plain(list(history or []), "history"),
            recipe=_plain(dict(recipe or {}), "recipe"),
            calibration=None if calibration is None else _plain(dict(calibration), "calibration"),
        )

    def build_model(self) -> nn.Module:
        """The model rebuilt from arch + config, its weights loaded strictly, in eval mode."""
        model = build_model(self.arch, self.classes, **self.config)
        _check_state_dict(model, self.state_dict, where=f"architecture {self.arch!r}")
        model.load_state_dict(self.state_dict, strict=True)
        return model.eval()

    def to_dict(self) -> dict[str, Any]:
        """The plain dict written to disk."""
        return {
            "format": FORMAT,
            "format_version": self.format_version,
            "arch": self.arch,
            "config": _plain(self.config, "config"),
            "classes": list(self.classes),
            "input_spec": _plain(self.input_spec, "input_spec"),
            "state_dict": _plain(dict(self.state_dict), "state_dict"),
            "metrics": _plain(self.metrics, "metrics"),
            "history": _plain(self.history, "history"),
            "recipe": _plain(self.recipe, "recipe"),
            "versions": _plain(self.versions, "versions"),
            **(
                {"calibration": _plain(self.calibration, "calibration")}
                if self.calibration is not None
                else {}
            ),
        }


def state_dict_differences(
    model: nn.Module, state: Mapping[str, Any], wrong_phrase: str
) -> tuple[list[str], list[str], list[str], list[str]]:
    """How ``state`` differs from ``model``'s state dict, each list sorted: the keys whose values
    are not tensors, the missing keys, the unexpected keys, and ``"<key> is [shape], <wrong_phrase>
    [model's shape]"`` for each tensor of another shape. Shared by the checkpoint check and the
    exporter's strict load, which word their refusals differently."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    not_tensors = sorted(k for k, v in state.items() if not isinstance(v, torch.Tensor))
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(
        f"{k} is {list(state[k].shape)}, {wrong_phrase} {list(expected[k])}"
        for k in set(expected) & set(state)
        if isinstance(state[k], torch.Tensor) and tuple(state[k].shape) != expected[k]
    )
    return not_tensors, missing, unexpected, wrong


def _check_state_dict(model: nn.Module, state: Mapping[str, Any], *, where: str) -> None:
    """Refuse a state dict that does not fit ``model``, naming the keys that differ."""
    not_tensors, missing, unexpected, wrong = state_dict_differences(model, state, "expected")
    problems = []

    def listed(keys: list[str]) -> str:
        more = f" (+{len(keys) - 6} more)" if len(keys) > 6 else ""
        return ", ".join(keys[:6]) + more

    if not_tensors:
        problems.append(f"not tensors: {listed(not_tensors)}")
    if missing:
        problems.append(f"missing keys: {listed(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {listed(unexpected)}")
    if wrong:
        problems.append(f"wrong shapes: {listed(wrong)}")
    if problems:
        raise UserError(
            f"the state dict does not fit {where} with {len(getattr(model, 'classes', []))} "
            f"classes: {'; '.join(problems)}"
        )


def check_writable(path: str | os.PathLike[str]) -> Path:
    """Refuse, before any work is done, a checkpoint path that cannot be written."""
    target = Path(path)
    if target.is_dir():
        raise UserError(f"cannot write checkpoint {target}: it is a directory")
    check_can_create(target, f"cannot write checkpoint {target}", folder_word="folder ")
    return target


def save_checkpoint(checkpoint: Checkpoint, path: str | os.PathLike[str]) -> Path:
    """Write ``checkpoint`` to ``path`` atomically (temp file in the same folder, then rename)."""
    target = check_writable(path)
    payload = checkpoint.to_dict()  # converts and checks before anything touches the disk
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp, open(tmp, "wb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise UserError(f"cannot write checkpoint {target}: {exc.strerror or exc}") from None
    return target


_GLOBAL_RE = re.compile(r"Unsupported global: GLOBAL ([\w.]+)")


def _looks_like_zip(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(4) == b"PK\x03\x04"


def _read(path: Path) -> Any:
    if not path.exists():
        raise UserError(f"checkpoint {path} does not exist")
    if path.is_dir():
        raise UserError(f"checkpoint {path} is a directory, expected a .pt file")
    try:
        with warnings.catch_warnings():
            # A foreign pickle makes torch warn about its protocol before we refuse the file.
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if "Weights only load failed" in text:
            found = _GLOBAL_RE.search(text)
            needs = f" (it references {found.group(1)})" if found else ""
            raise UserError(
                f"refusing to load {path}: it needs unpickling code to load{needs}. pd2java only "
                "loads checkpoints with torch.load(weights_only=True), which cannot run code from "
                "the file, and never falls back. A whole module saved with torch.save(model) is "
                "such a file: from trusted code, load it yourself and re-save it with "
                "pd2java.training.checkpoint.save_checkpoint(Checkpoint.from_model(model), path)"
            ) from None
        raise UserError(f"{path} is not a PyTorch checkpoint file ({text[:200]})") from None
    except (EOFError, RuntimeError) as exc:
        text = str(exc)
        if isinstance(exc, EOFError) or "zip archive" in text or "central directory" in text:
            raise UserError(
                f"checkpoint {path} is truncated or corrupt ({path.stat().st_size} bytes; "
                "PyTorch could not read its zip archive); write it again"
            ) from None
        raise UserError(f"cannot read checkpoint {path}: {text[:300]}") from None
    except Exception as exc:  # noqa: BLE001 - garbage makes the unpickler fail in many ways
        if _looks_like_zip(path):
            # torch checkpoints are zip archives; a cut-off one fails with assorted OSErrors.
            raise UserError(
                f"checkpoint {path} is truncated or corrupt ({path.stat().st_size} bytes; "
                "it starts like PyTorch's zip format but cannot be read); write it again"
            ) from None
        raise UserError(
            f"{path} is not a PyTorch checkpoint file ({type(exc).__name__}: {exc})"
        ) from None


def _field(raw: Mapping[str, Any], key: str, kind: type | tuple[type, ...], path: Path) -> Any:
    if key not in raw:
        raise UserError(f"checkpoint {path} has no {key!r} entry; it is damaged or hand-made")
    value = raw[key]
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise UserError(f"checkpoint {path}: {key!r} must be a {names}, got {type(value).__name__}")
    return value


def _calibration(raw: Mapping[str, Any], path: Path) -> dict[str, Any] | None:
    """The optional ``calibration`` entry, checked (absent or None: not calibrated)."""
    value = raw.get("calibration")
    if value is None:
        return None
    from pd2java.training.calibrate import check_record

    return check_record(value, f"checkpoint {path}")


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read and validate a pd2java checkpoint (weights-only loading, no code from the file).

    Raises UserError, naming the file and the rule broken, for: a missing file; a file that needs
    unpickling code; a truncated or non-checkpoint file; a newer format version; an unknown
    architecture; a state dict whose keys or shapes do not fit the named architecture.
    """
    path = Path(path)
    raw = _read(path)
    if not isinstance(raw, dict):
        raise UserError(
            f"{path} is not a pd2java checkpoint: it holds a {type(raw).__name__}, not a dict"
        )
    if raw.get("format") != FORMAT:
        if raw and all(isinstance(v, torch.Tensor) for v in raw.values()):
            raise UserError(
                f"{path} is a bare state dict, not a pd2java checkpoint: it names no architecture "
                "or classes. Load it into PDModel/PDLightModel and save it with "
                "save_checkpoint(Checkpoint.from_model(model), path)"
            )
        raise UserError(
            f"{path} is not a pd2java checkpoint (its 'format' is {raw.get('format')!r}, "
            f"expected {FORMAT!r})"
        )
    version = raw.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise UserError(f"checkpoint {path}: bad format_version {version!r}")
    if version > FORMAT_VERSION:
        raise UserError(
            f"checkpoint {path} has format_version {version}, newer than this pd2java reads "
            f"({FORMAT_VERSION}); upgrade pd2java"
        )
    arch = _field(raw, "arch", str, path)
    try:
        arch = canonical_arch(arch)
    except UserError as exc:
        raise UserError(f"checkpoint {path}: {exc}") from None
    classes = _field(raw, "classes", list, path)
    if not all(isinstance(c, str) for c in classes):
        raise UserError(f"checkpoint {path}: 'classes' must be a list of strings")
    config = _field(raw, "config", dict, path)
    state = _field(raw, "state_dict", dict, path)
    ckpt = Checkpoint(
        arch=arch,
        config=config,
        classes=tuple(classes),
        state_dict=state,
        input_spec=_field(raw, "input_spec", dict, path),
        metrics=raw.get("metrics") or {},
        history=raw.get("history") or [],
        recipe=raw.get("recipe") or {},
        versions=raw.get("versions") or {},
        format_version=version,
        calibration=_calibration(raw, path),
    )
    # Validate the weights now, against a model built on the meta device (shapes only, no memory),
    # so a checkpoint for another architecture fails at load, naming the keys.
    try:
        with torch.device("meta"):
            skeleton = build_model(arch, ckpt.classes, **config)
    except UserError as exc:
        raise UserError(f"checkpoint {path}: {exc}") from None
    try:
        _check_state_dict(skeleton, state, where=f"architecture {arch!r}")
    except UserError as exc:
        raise UserError(f"checkpoint {path}: {exc}") from None
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise UserError(f"checkpoint {path}: NaN or Inf in weights {', '.join(sorted(bad)[:6])}")
    return ckpt


def file_size_mb(path: str | os.PathLike[str]) -> float:
    """Size of a file in MB (10^6 bytes), as the seed's figures use."""
    return round(os.path.getsize(path) / 1e6, 2)
