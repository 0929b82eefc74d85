"""``pd2java verify`` over a real JVM: the pass table, the parity-failure exit code, the per-layer
report, and bad inputs.

The CLI runs in-process (``pd2java.cli.main``) so every test shares the session's one JVM.
"""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
import torch
from corpus import randomize_bn

from pd2java.backends import reference
from pd2java.backends.java.bridge import java_layers
from pd2java.backends.java.verify import LayerRow, compare, layer_rows, verify
from pd2java.cli import main
from pd2java.exporter import export, export_checkpoint
from pd2java.training.checkpoint import Checkpoint, save_checkpoint
from pd2java.training.data import PRODUCTS

MODULE_SRC = textwrap.dedent(
    """
    import torch

    def build(seed=SEED):
        torch.manual_seed(seed)
        return torch.nn.Sequential(
            torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.LeakyReLU(0.2),
            torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(4 * 3 * 4, 3),
            torch.nn.Softmax(dim=1),
        ).eval()

    def other():
        return build(seed=SEED + 1)
    """
)


@pytest.fixture()
def small_export(tmp_path):
    """An export of a small module plus the source file that rebuilds it (seed 7)."""
    src = tmp_path / "mymodel.py"
    src.write_text(MODULE_SRC.replace("SEED", "7"))
    torch.manual_seed(7)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1),
        torch.nn.BatchNorm2d(4),
        torch.nn.LeakyReLU(0.2),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 3 * 4, 3),
        torch.nn.Softmax(dim=1),
    ).eval()
    out = tmp_path / "export"
    manifest = export(model, out, input_shape=(1, 6, 8), name="small", onnx=False)
    return out, manifest, src


def test_verify_passes_and_prints_the_table(small_export, capsys):
    out, _, src = small_export
    code = main(["verify", str(out), "--samples", "5", "--module", f"{src}:build"])
    text = capsys.readouterr().out
    assert code == 0, text
    for inputs, oracle in [
        ("golden", "export"),
        ("golden", "numpy"),
        ("golden", "pytorch"),
        ("random", "numpy"),
        ("random", "pytorch"),
    ]:
        row = next(
            line for line in text.splitlines() if line.startswith(inputs) and f" {oracle} " in line
        )
        assert row.rstrip().endswith("ok"), row
    assert " 5/5 " in text
    assert "not a PRPD image: prpd set skipped" in text
    assert text.rstrip().endswith("PASS")


def test_verify_fails_with_exit_2_when_pytorch_disagrees(small_export, capsys):
    out, _, src = small_export
    # other() has different weights from the exported model: a real Java-vs-PyTorch mismatch.
    code = main(["verify", str(out), "--samples", "3", "--module", f"{src}:other"])
    captured = capsys.readouterr()
    assert code == 2
    assert "parity failure" in captured.err
    assert "vs pytorch" in captured.err
    assert "FAIL" in captured.out
    # The NumPy reference still agrees with Java: only the PyTorch rows fail.
    numpy_rows = [line for line in captured.out.splitlines() if " numpy " in line]
    assert numpy_rows and all(line.rstrip().endswith("ok") for line in numpy_rows)


def test_verify_per_layer_lists_every_node(small_export):
    _, manifest, _ = small_export
    report = verify(manifest, samples=2, per_layer=True)
    assert report.passed
    nodes = [n["name"] for n in json.loads(manifest.read_text())["nodes"]]
    assert [row.node for row in report.layers] == nodes
    assert report.first_divergent is None
    assert "no node diverges" in report.table()


def test_layer_rows_names_the_first_diverging_node(small_export):
    _, manifest, _ = small_export
    nodes = json.loads(manifest.read_text())["nodes"]
    x = np.random.default_rng(0).standard_normal((1, 1, 6, 8)).astype(np.float32)
    java = java_layers(manifest, x)
    ref = {k: v[0] for k, v in reference.run_layers(manifest, x).items()}
    rows, first = layer_rows(java, ref, nodes, 1e-5, 1e-4)
    assert first is None and all(r.passed for r in rows)
    # Inject a fault into the third node's Java output (and, as it would, downstream of it).
    broken = dict(java)
    for node in nodes[2:]:
        broken[node["name"]] = broken[node["name"]] + 1e-2
    rows, first = layer_rows(broken, ref, nodes, 1e-5, 1e-4)
    assert isinstance(first, LayerRow)
    assert first.node == nodes[2]["name"] and first.op == nodes[2]["op"]
    assert [r.passed for r in rows[:2]] == [True, True]


def test_compare_counts_ties_as_agreeing_but_not_clear_flips():
    ref = np.array([[0.5, 0.5 - 1e-7, 0.0], [0.7, 0.2, 0.1]], np.float32)
    tie_flip = np.array([[0.5 - 1e-7, 0.5, 0.0], [0.7, 0.2, 0.1]], np.float32)
    c = compare(tie_flip, ref, "random", "numpy", 1e-5, 1e-4)
    assert c.passed and c.argmax_agree == 2
    clear_flip = np.array([[0.5, 0.5, 0.0], [0.2, 0.7, 0.1]], np.float32)
    c = compare(clear_flip, ref, "random", "numpy", 1e-5, 1e-4)
    assert not c.passed and c.argmax_agree == 1 and "sample 1" in c.worst


def test_verify_uses_the_checkpoint_recorded_by_the_export(tmp_path, capsys):
    from pd2java.training.models import build_model

    torch.manual_seed(0)
    model = randomize_bn(build_model("light", list(PRODUCTS["gis"])), seed=1).eval()
    ckpt = save_checkpoint(Checkpoint.from_model(model), tmp_path / "light.pt")
    out = tmp_path / "export"
    export_checkpoint(ckpt, out, name="light", fold_bn=True, onnx=False)
    code = main(["verify", str(out), "--samples", "3"])
    text = capsys.readouterr().out
    assert code == 0, text
    assert f"PyTorch model: {ckpt.resolve()}" in text or "light.pt" in text
    for inputs in ("golden", "random", "prpd"):
        row = next(
            line for line in text.splitlines() if line.startswith(inputs) and " pytorch " in line
        )
        assert row.rstrip().endswith("ok"), row


def test_verify_bad_inputs_exit_1(tmp_path, small_export, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["verify", str(empty)]) == 1
    assert "no *.manifest.json" in capsys.readouterr().err

    out, _, src = small_export
    weights = out / "small.safetensors"
    weights.write_bytes(weights.read_bytes() + b"\0")  # one trailing byte
    assert main(["verify", str(out), "--samples", "1"]) == 1
    err = capsys.readouterr().err
    assert "WEIGHTS_SIZE_MISMATCH" in err or "INVALID_SAFETENSORS" in err

    assert main(["verify", str(out), "--module", f"{src}:nothing"]) == 1
    assert "has no attribute 'nothing'" in capsys.readouterr().err
