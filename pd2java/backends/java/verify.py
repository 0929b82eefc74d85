"""``pd2java verify``: hold the Java runtime to PyTorch and to the NumPy reference.

For one export it runs three input sets through Java (over py4j, :mod:`pd2java.backends.java.bridge`):

- ``golden``: the golden vectors embedded in the export, compared with their expected outputs
  (what PyTorch produced at export time);
- ``random``: N inputs uniform in [-1, 1] (seeded);
- ``prpd``: N synthetic PRPD images (``pd2java.training.data.synthesize``) when the model takes (1, 60, 120);

and compares each with the NumPy reference interpreter and, when a model is at hand (a checkpoint
recorded by the export or given explicitly, or a ``--module`` factory), with live PyTorch.

Pass rule (the one tolerance, pd2java.format_rules): every output element within
``|java - ref| <= atol + rtol * |ref|`` with atol 1e-5 and rtol 1e-4, and 100% argmax agreement,
where a row whose reference top-two scores are themselves within that tolerance (a tie) counts as
agreeing. The Java runtime's own load-time self-test must also pass.

``max rel`` in the table is ``max |java - ref| / max(|ref|, 1e-6)``: informative only, the pass
rule above is what decides.

The report header names the weights the export holds (the manifest's ``producer.weights_source``,
written by the exporter: a checkpoint or state dict with its sha256, an ONNX file, or the
factory's untrained initialisation). A PyTorch model rebuilt from a factory draws new random
weights, so when the export holds untrained weights, or when Java agrees with the reference and
the golden outputs but not with the PyTorch model given, the report says plainly, next to the
failure, that the PyTorch model is not the exported one rather than a Java fault.

With ``per_layer=True`` it also compares every node's output, Java ``runLayers`` against the
reference's ``run_layers``, on one sample, and names the first node that diverges. Intermediate
values are not probabilities, so there the absolute tolerance is scaled by the layer's largest
reference magnitude: ``atol * max(1, max|ref|) + rtol * |ref|``.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pd2java.errors import ParityError, UserError
from pd2java.format_rules import ATOL, RTOL

UNTRAINED = "factory initialisation"
DEFAULT_ATOL = ATOL
DEFAULT_RTOL = RTOL
PRPD_SHAPE = (1, 60, 120)


@dataclass(frozen=True)
class Comparison:
    """Java against one oracle on one input set."""

    inputs: str  # "golden", "random", "prpd"
    oracle: str  # "pytorch", "numpy", "export" (golden expected outputs)
    n: int
    max_abs: float
    max_rel: float
    argmax_agree: int  # rows whose argmax agrees (ties count as agreeing)
    passed: bool
    worst: str  # where the worst element is, for failure messages
    # A measured deviation, not a parity check: the float32 PyTorch model against an export with
    # compressed weights (int8, fp16), which is meant to differ from it a little.
    deviation_only: bool = False


@dataclass(frozen=True)
class LayerRow:
    """One node of the per-layer comparison."""

    node: str
    op: str
    max_abs: float
    scale: float  # max |reference| of the node's output
    passed: bool


@dataclass(frozen=True)
class VerifyReport:
    """Everything ``verify`` measured; ``passed`` decides the exit code."""

    manifest: Path
    comparisons: tuple[Comparison, ...]
    self_test: str  # "ok" or the Java runtime's error
    torch_source: str | None  # where the PyTorch model came from, or None
    notes: tuple[str, ...]
    atol: float
    rtol: float
    layers: tuple[LayerRow, ...] = ()
    layer_sample: str = ""
    first_divergent: LayerRow | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    weights_source: str | None = None  # the manifest's producer.weights_source
    compressed: str | None = None  # "int8" / "fp16" for compressed weights, else None
    # Accuracy on labelled data (--data): the export (NumPy reference, as Java computes it) and
    # the PyTorch model, each a fraction in [0, 1], or None when not measured.
    accuracy_export: float | None = None
    accuracy_pytorch: float | None = None

    @property
    def untrained(self) -> bool:
        """The export holds a factory's initial weights, not trained ones."""
        return (self.weights_source or "").startswith(UNTRAINED)

    @property
    def hints(self) -> tuple[str, ...]:
        """Plain explanations of failures that are not Java faults (empty when none apply)."""
        failed = [c for c in self.comparisons if not c.passed]
        if not failed:
            return ()
        torch_only = all(c.oracle == "pytorch" for c in failed)
        out = []
        if self.untrained and torch_only:
            out.append(
                "the export holds the factory's initial, untrained weights "
                f"({self.weights_source}); the PyTorch model here was built by calling the "
                "factory again, which draws new random weights, so it is not the exported model "
                "and a PyTorch mismatch is expected: this is not a Java bug. Export trained "
                "weights (a state dict with --module), or verify without --module"
            )
        elif self.untrained:
            out.append(
                "note: the export holds the factory's initial, untrained weights "
                f"({self.weights_source})"
            )
        elif torch_only:
            out.append(
                "Java agrees with the NumPy reference and the export's golden outputs; only the "
                "PyTorch model given differs, so it is not the model that was exported (the "
                f"export's weights: {self.weights_source or 'not recorded'}): not a Java bug"
            )
        return tuple(out)

    @property
    def passed(self) -> bool:
        return self.self_test.startswith("ok") and all(c.passed for c in self.comparisons)

    @property
    def max_abs_vs_pytorch(self) -> float | None:
        vals = [c.max_abs for c in self.comparisons if c.oracle == "pytorch"]
        return max(vals) if vals else None

    def table(self) -> str:
        """The human-readable report printed by the CLI."""
        lines = [
            f"manifest: {self.manifest}",
            f"tolerance: |java - ref| <= {self.atol:g} + {self.rtol:g} * |ref|, 100% argmax "
            + "agreement",
            f"weights: {self.weights_source or 'not recorded by the exporter'}"
            + (f" (stored {self.compressed})" if self.compressed else ""),
            f"Java load-time self-test: {self.self_test}",
            f"PyTorch model: {self.torch_source or 'none (NumPy reference and golden only)'}",
        ]
        lines += [f"note: {n}" for n in self.notes]
        header = (
            f"{'inputs':<8} {'oracle':<8} {'n':>5} {'max abs':>10} {'max rel':>10} "
            f"{'argmax':>9}  result"
        )
        lines += ["", header, "-" * len(header)]
        for c in self.comparisons:
            lines.append(
                f"{c.inputs:<8} {c.oracle:<8} {c.n:>5} {c.max_abs:>10.2e} {c.max_rel:>10.2e} "
                f"{c.argmax_agree:>4}/{c.n:<4}  "
                + (
                    f"deviation of the {self.compressed} export from the float32 model"
                    if c.deviation_only
                    else "ok"
                    if c.passed
                    else "FAIL: " + c.worst
                )
            )
        if self.accuracy_export is not None:
            lines += ["", f"accuracy on the labelled data: export {self.accuracy_export:.2%}"]
            if self.accuracy_pytorch is not None:
                change = (self.accuracy_export - self.accuracy_pytorch) * 100
                lines[-1] += f", PyTorch {self.accuracy_pytorch:.2%} (change {change:+.2f} points)"
        if self.layers:
            lines += ["", f"per-layer, Java runLayers vs NumPy run_layers ({self.layer_sample}):"]
            lh = f"{'node':<32} {'op':<16} {'max abs':>10} {'max |ref|':>10}  result"
            lines += [lh, "-" * len(lh)]
            for row in self.layers:
                lines.append(
                    f"{row.node:<32} {row.op:<16} {row.max_abs:>10.2e} {row.scale:>10.2e}  "
                    f"{'ok' if row.passed else 'DIVERGES'}"
                )
            if self.first_divergent is not None:
                lines.append(
                    f"first diverging node: {self.first_divergent.node} ({self.first_divergent.op})"
                )
            else:
                lines.append("no node diverges")
        hints = self.hints
        if hints:
            lines += [""] + [f"why: {h}" for h in hints]
        lines += ["", "PASS" if self.passed else "FAIL"]
        return "\n".join(lines)


# --- locating things ---------------------------------------------------------------------------


def find_manifest(path: str | os.PathLike[str]) -> Path:
    """A manifest path, or the single ``*.manifest.json`` in a folder."""
    p = Path(path)
    if p.is_file():
        return p
    if p.is_dir():
        found = sorted(p.glob("*.manifest.json"))
        if len(found) == 1:
            return found[0]
        if not found:
            raise UserError(f"{p}: no *.manifest.json in this folder (run pd2java export first)")
        names = ", ".join(f.name for f in found)
        raise UserError(f"{p}: several manifests ({names}); pass the one to verify")
    raise UserError(f"{p}: no such file or folder")


def load_module_factory(spec: str) -> Any:
    """``file.py:name`` or ``package.module:name``; ``name`` is an nn.Module or a callable
    returning one (called with no arguments)."""
    if ":" not in spec:
        raise UserError(f"--module {spec!r}: expected FILE.py:NAME or MODULE:NAME")
    target, attr = spec.rsplit(":", 1)
    try:
        if target.endswith(".py"):
            path = Path(target)
            if not path.is_file():
                raise UserError(f"--module {spec!r}: {path} not found")
            mod_spec = importlib.util.spec_from_file_location(f"_pd2java_user_{path.stem}", path)
            if mod_spec is None or mod_spec.loader is None:
                raise UserError(f"--module {spec!r}: cannot import {path}")
            module = importlib.util.module_from_spec(mod_spec)
            sys.modules[mod_spec.name] = module
            mod_spec.loader.exec_module(module)
        else:
            if os.getcwd() not in sys.path and "" not in sys.path:
                sys.path.append(os.getcwd())  # as `python -m` would: modules of the current folder
            module = importlib.import_module(target)
    except UserError:
        raise
    except Exception as exc:  # user code: report whatever it raised
        raise UserError(f"--module {spec!r}: importing failed: {exc!r}") from exc
    if not hasattr(module, attr):
        raise UserError(f"--module {spec!r}: {target} has no attribute {attr!r}")
    obj = getattr(module, attr)
    import torch

    if not isinstance(obj, torch.nn.Module):
        if not callable(obj):
            raise UserError(f"--module {spec!r}: {attr} is neither an nn.Module nor callable")
        obj = obj()
        if not isinstance(obj, torch.nn.Module):
            raise UserError(f"--module {spec!r}: {attr}() returned {type(obj).__name__}")
    return obj


def recorded_checkpoint(manifest: Path, data: Mapping[str, Any]) -> Path | None:
    """The checkpoint the export was made from, when the manifest records one that still exists.

    The exporter records provenance under ``producer`` (``source``/``checkpoint``); a relative
    path is taken relative to the manifest's folder.
    """
    producer = data.get("producer") or {}
    candidates: list[Any] = []
    if isinstance(producer, dict):
        for key in ("source", "checkpoint", "source_path"):
            value = producer.get(key)
            if isinstance(value, dict):
                candidates += [value.get("path"), value.get("file")]
            else:
                candidates.append(value)
    for value in candidates:
        if isinstance(value, str) and value.endswith(".pt"):
            p = Path(value)
            if not p.is_absolute():
                p = manifest.parent / p
            if p.is_file():
                return p.resolve()
    return None


# --- comparing ---------------------------------------------------------------------------------


def compare(
    got: np.ndarray, ref: np.ndarray, inputs: str, oracle: str, atol: float, rtol: float
) -> Comparison:
    """Java output ``got`` against an oracle's ``ref`` (both (N, K))."""
    if got.shape != ref.shape:
        return Comparison(
            inputs,
            oracle,
            int(ref.shape[0]) if ref.ndim else 0,
            float("inf"),
            float("inf"),
            0,
            False,
            f"shape {got.shape} != {ref.shape}",
        )
    g = got.astype(np.float64).reshape(got.shape[0], -1)
    r = ref.astype(np.float64).reshape(ref.shape[0], -1)
    n = g.shape[0]
    if n == 0:
        return Comparison(inputs, oracle, 0, 0.0, 0.0, 0, True, "")
    if not np.all(np.isfinite(g)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(g))[0])
        return Comparison(
            inputs,
            oracle,
            n,
            float("inf"),
            float("inf"),
            0,
            False,
            f"non-finite Java output at {bad}",
        )
    from pd2java.backends.reference import worst_element

    err = np.abs(g - r)
    rel = err / np.maximum(np.abs(r), 1e-6)
    wi, worst_err, worst_allowed = worst_element(g, r, atol, rtol)
    values_ok = bool(worst_err / worst_allowed <= 1.0)
    gi = np.argmax(g, axis=1)
    ri = np.argmax(r, axis=1)
    agree = 0
    first_flip = ""
    for row in range(n):
        if gi[row] == ri[row]:
            agree += 1
            continue
        top, other = r[row, ri[row]], r[row, gi[row]]
        if top - other <= atol + rtol * abs(top):
            agree += 1  # a tie within tolerance: either answer is right
        elif not first_flip:
            first_flip = f"sample {row}: Java says class {gi[row]}, {oracle} says {ri[row]}"
    worst = ""
    if not values_ok:
        worst = (
            f"sample {wi[0]} output {wi[1]}: java {g[wi]:.8g} vs {oracle} {r[wi]:.8g}, "
            f"error {worst_err:.3e} > allowed {worst_allowed:.3e}"
        )
    if first_flip:
        worst = f"{worst}; {first_flip}" if worst else first_flip
    return Comparison(
        inputs,
        oracle,
        n,
        float(err.max()),
        float(rel.max()),
        agree,
        values_ok and agree == n,
        worst,
    )


def _torch_predict(model: Any, x: np.ndarray) -> list[np.ndarray]:
    """Every output of the PyTorch model, each (N, values per sample)."""
    import torch

    from pd2java.exporter import torch_outputs

    with torch.no_grad():
        outs = torch_outputs(model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))))
    return [o.detach().cpu().numpy().astype(np.float32).reshape(x.shape[0], -1) for o in outs]


def prpd_images(n: int, seed: int, classes: Sequence[str] | None) -> np.ndarray:
    """``n`` synthetic PRPD images (N, 1, 60, 120), the product picked from the class names."""
    from pd2java.training.data import PRODUCTS, synthesize

    product = "gis"
    for name, names in PRODUCTS.items():
        if classes is not None and list(names) == list(classes):
            product = name
    ds = synthesize(product=product, per_class=max(1, -(-n // len(PRODUCTS[product]))), seed=seed)
    images = np.asarray(ds.images, dtype=np.float32)
    rng = np.random.default_rng(seed)
    pick = rng.permutation(images.shape[0])[:n]
    return images[pick][:, None, :, :]


def _reference_run(manifest: Path, x: np.ndarray) -> list[np.ndarray]:
    """Every output of the NumPy reference, each (N, values per sample)."""
    from pd2java.backends import reference

    outs = reference.run_graph_all(reference.load(manifest).graph, x)
    return [np.asarray(o, dtype=np.float32).reshape(x.shape[0], -1) for o in outs]


def layer_rows(
    java: dict[str, np.ndarray],
    ref: dict[str, np.ndarray],
    nodes: list[dict[str, Any]],
    atol: float,
    rtol: float,
) -> tuple[list[LayerRow], LayerRow | None]:
    """Compare per-node outputs (one sample each) in manifest node order.

    Returns every row and the first diverging one (None if none does). A node missing on either
    side, or of a different size, diverges.
    """
    rows: list[LayerRow] = []
    first: LayerRow | None = None
    for node in nodes:
        name, op = str(node.get("name")), str(node.get("op"))
        j, r = java.get(name), ref.get(name)
        if j is None or r is None or np.size(j) != np.size(r):
            row = LayerRow(name, op, float("inf"), 0.0, False)
        else:
            r1 = np.asarray(r, dtype=np.float64).reshape(-1)
            j1 = np.asarray(j, dtype=np.float64).reshape(-1)
            scale = float(np.abs(r1).max()) if r1.size else 0.0
            err = np.abs(j1 - r1)
            ok = bool(np.all(err <= atol * max(1.0, scale) + rtol * np.abs(r1)))
            row = LayerRow(name, op, float(err.max()) if err.size else 0.0, scale, ok)
        rows.append(row)
        if first is None and not row.passed:
            first = row
    return rows, first


def compare_layers(
    manifest: Path, nodes: list[dict[str, Any]], x: np.ndarray, atol: float, rtol: float
) -> tuple[list[LayerRow], LayerRow | None]:
    """Java runLayers vs reference run_layers on one sample; rows in node order."""
    from pd2java.backends import reference
    from pd2java.backends.java.bridge import java_layers

    java = java_layers(manifest, x, self_test=False)
    ref = {k: v[0] for k, v in reference.run_layers(manifest, x).items()}
    return layer_rows(java, ref, nodes, atol, rtol)


def _checkpoint_model(path: Path) -> tuple[Any, str]:
    from pd2java.training.checkpoint import load_checkpoint

    return load_checkpoint(path).build_model(), str(path)


def verify(
    path: str | os.PathLike[str],
    *,
    samples: int = 16,
    per_layer: bool = False,
    checkpoint: str | os.PathLike[str] | None = None,
    module: str | Any | None = None,
    weights: str | os.PathLike[str] | None = None,
    atol: float = DEFAULT_ATOL,
    rtol: float = DEFAULT_RTOL,
    seed: int = 0,
    data: Any = None,
    progress: Callable[[str], None] | None = None,
) -> VerifyReport:
    """Compare the Java runtime with PyTorch and the NumPy reference for one export.

    ``path`` is a manifest or a folder holding exactly one. ``checkpoint`` (a pd2java ``.pt``) or
    ``module`` (an ``nn.Module``, or ``"file.py:name"`` / ``"pkg.mod:name"``) supplies the PyTorch
    side; without either, the checkpoint recorded by the export is used if it still exists.
    ``weights`` is a state dict file loaded (strictly) into the ``module`` model.
    For an export with compressed weights (int8, fp16), Java is still held to the NumPy reference
    and the golden outputs at the tolerance, while the comparison with the float32 PyTorch model
    is reported as a deviation (max abs, argmax agreement), not a pass or fail. ``data`` (a
    labelled dataset, folder or ``synth:...``) adds the accuracy of the export and of the PyTorch
    model (when it came from a checkpoint) on it.
    Never raises for a parity failure: check ``report.passed`` (the CLI turns it into exit 2).
    """
    from pd2java.backends import reference
    from pd2java.backends.java import bridge
    from pd2java.backends.manifest import load
    from pd2java.ops.frontend_registry import PROBABILITY_OPS

    say = progress or (lambda _msg: None)
    manifest = find_manifest(path).resolve()
    if samples < 0:
        raise UserError(f"--samples must be >= 0, got {samples}")
    notes: list[str] = []

    # The PyTorch side given explicitly (checked before anything runs).
    model = None
    torch_source: str | None = None
    if module is not None and checkpoint is not None:
        raise UserError("give --checkpoint or --module, not both")
    if weights is not None and module is None:
        raise UserError("--weights is a state dict for the --module model: give --module too")
    if module is not None:
        model = load_module_factory(module) if isinstance(module, str) else module
        torch_source = module if isinstance(module, str) else type(module).__name__
        if weights is not None:
            _load_weights(model, Path(weights), torch_source)
            torch_source = f"{torch_source} with weights {weights}"
    elif checkpoint is not None:
        model, torch_source = _checkpoint_model(Path(checkpoint))

    # The Java runtime's own load-time self-test. It runs before the Python reader, so a model
    # the runtime refuses is reported with the runtime's error code.
    say("loading the model in Java")
    try:
        bridge.model_info(manifest, self_test=True)
        self_test = "ok"
    except bridge.JavaError as exc:
        if exc.code != "SELF_TEST_FAILED":
            raise  # the runtime refuses the model outright: a user error, not a parity result
        self_test = str(exc)
    info = bridge.model_info(manifest, self_test=False)
    input_shape = tuple(info.input_shape)
    loaded = load(manifest)  # the strict reader: golden vectors, classes, nodes, provenance
    if loaded.golden is None and self_test == "ok":
        self_test = "ok (no golden vectors)"

    # Otherwise the checkpoint the export recorded, if it still exists.
    if model is None and checkpoint is None:
        recorded = recorded_checkpoint(manifest, loaded.manifest)
        if recorded is not None:
            model, torch_source = _checkpoint_model(recorded)
        else:
            note = "no checkpoint recorded in the export or given: PyTorch not compared"
            producer = loaded.manifest.get("producer") or {}
            made_by = str(producer.get("source", ""))
            if made_by.startswith("module:"):
                weights_from = _weights_source(loaded.manifest) or ""
                hint = f"--module {made_by[len('module:') :]}"
                if weights_from.startswith("state dict "):
                    hint += f" --weights {weights_from.split()[2]}"
                note += f" (to compare, pass {hint})"
            notes.append(note)
    if model is not None:
        model = model.eval()
    # A probability head appended by the exporter (--head) is part of the export, not of the
    # PyTorch model: apply it to the PyTorch outputs too.
    appended = str((loaded.manifest.get("producer") or {}).get("head", "")).split(" ")[0]
    if model is not None and appended in PROBABILITY_OPS:
        torch_source = f"{torch_source} + the {appended} head the export appended"

    comparisons: list[Comparison] = []
    sets: list[tuple[str, np.ndarray, tuple[np.ndarray, ...] | None]] = []
    if loaded.golden is not None:
        sets.append(("golden", loaded.golden.input, loaded.golden.outputs))
    rng = np.random.default_rng(seed)
    if samples:
        sets.append(
            ("random", rng.uniform(-1, 1, (samples, *input_shape)).astype(np.float32), None)
        )
        if input_shape == PRPD_SHAPE:
            sets.append(("prpd", prpd_images(samples, seed, loaded.graph.classes), None))
        else:
            notes.append(f"input shape {list(input_shape)} is not a PRPD image: prpd set skipped")

    many = len(loaded.graph.outputs) > 1
    stored = set(loaded.weight_dtypes.values())
    compressed = "int8" if "I8" in stored else "fp16" if "F16" in stored else None
    for name, x, expected in sets:
        say(f"running {name} inputs ({x.shape[0]})")
        got = [
            o.reshape(x.shape[0], -1) for o in bridge.java_predict_all(manifest, x, self_test=False)
        ]
        oracles: list[tuple[str, list[np.ndarray]]] = []
        if expected is not None:
            oracles.append(("export", [e.reshape(x.shape[0], -1) for e in expected]))
        oracles.append(("numpy", _reference_run(manifest, x)))
        if model is not None:
            want = _torch_predict(model, x)
            if appended in PROBABILITY_OPS:  # the export's primary output is the appended head
                want[0] = reference.run_node(loaded.graph.producer_of(loaded.graph.output), want[0])
            oracles.append(("pytorch", want))
        for oracle, refs in oracles:
            if len(refs) != len(got):
                comparisons.append(
                    Comparison(
                        name,
                        oracle,
                        x.shape[0],
                        float("inf"),
                        float("inf"),
                        0,
                        False,
                        f"{len(got)} outputs in Java, {len(refs)} in {oracle}",
                    )
                )
                continue
            for i, (mine, ref) in enumerate(zip(got, refs)):
                label = f"{name} output {i}" if many else name
                row = compare(mine, ref, label, oracle, atol, rtol)
                if compressed is not None and oracle == "pytorch":
                    row = dataclasses.replace(row, passed=True, deviation_only=True)
                comparisons.append(row)

    layers: list[LayerRow] = []
    first: LayerRow | None = None
    layer_sample = ""
    if per_layer:
        name, x, _ = (
            sets[-1]
            if sets
            else ("random", rng.uniform(-1, 1, (1, *input_shape)).astype(np.float32), None)
        )
        say("comparing layer by layer")
        layers, first = compare_layers(manifest, list(loaded.manifest["nodes"]), x[:1], atol, rtol)
        layer_sample = f"first {name} sample"

    return VerifyReport(
        manifest=manifest,
        comparisons=tuple(comparisons),
        self_test=self_test,
        torch_source=torch_source,
        notes=tuple(notes),
        atol=atol,
        rtol=rtol,
        layers=tuple(layers),
        layer_sample=layer_sample,
        first_divergent=first,
        weights_source=_weights_source(loaded.manifest),
        compressed=compressed,
        **_accuracies(manifest, data, checkpoint, loaded, say),
    )


def _accuracies(
    manifest: Path, data: Any, checkpoint: Any, loaded: Any, say: Callable[[str], None]
) -> dict[str, float | None]:
    """Accuracy of the export (NumPy reference) and of the PyTorch checkpoint on ``data``."""
    if data is None:
        return {}
    from pd2java.training.evaluate import evaluate

    say("scoring the export on the labelled data")
    out: dict[str, float | None] = {"accuracy_export": evaluate(manifest, data).accuracy}
    source = checkpoint or recorded_checkpoint(manifest, loaded.manifest)
    if source is not None:
        say("scoring the PyTorch checkpoint on the labelled data")
        out["accuracy_pytorch"] = evaluate(source, data).accuracy
    return out


def _weights_source(manifest: Mapping[str, Any]) -> str | None:
    producer = manifest.get("producer") or {}
    value = producer.get("weights_source") if isinstance(producer, Mapping) else None
    return value if isinstance(value, str) else None


def _load_weights(model: Any, path: Path, where: str) -> None:
    """A plain state dict (weights-only loading) into ``model``, strictly."""
    from pd2java.exporter import _as_state_dict, _read_torch_file, load_state_dict_strict

    if not path.is_file():
        raise UserError(f"--weights {path} does not exist or is not a file")
    state = _as_state_dict(_read_torch_file(path, trust_pickle=False)[0])
    if state is None:
        raise UserError(f"--weights {path} is not a state dict (torch.save(model.state_dict()))")
    load_state_dict_strict(model, state, f"{where}, from {path}")


def check(report: VerifyReport) -> None:
    """Raise ParityError describing the failures of a report that did not pass."""
    if report.passed:
        return
    problems = []
    if not report.self_test.startswith("ok"):
        problems.append(f"Java self-test: {report.self_test}")
    problems += [f"{c.inputs} vs {c.oracle}: {c.worst}" for c in report.comparisons if not c.passed]
    if report.first_divergent is not None:
        problems.append(
            f"first diverging node: {report.first_divergent.node} ({report.first_divergent.op})"
        )
    problems += list(report.hints)
    raise ParityError(f"{report.manifest}: " + "; ".join(problems))
