"""Compressed weights on the Python side (pd2java.quantize, the writer, the NumPy reader).

The int8 round trip is held to its defining property: every dequantised weight lies within half
a step (scale / 2) of the original, for max clipping; MSE clipping never has a larger squared
error than max clipping. The writer stores what the op table allows and keeps the rest in
float32; fp32 exports stay format version 2, byte for byte as before; compressed ones are
version 3, pass the reader's self-test, and record their deviation from the float32 model.
Java parity of compressed exports is tested in tests/test_compressed_weights.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from pd2java.backends import reference
from pd2java.backends.safetensors_io import read_safetensors
from pd2java.errors import UserError
from pd2java.exporter import write_graph
from pd2java.frontends.fx import capture
from pd2java.quantize import dequantize_int8, encode, quantize_int8


@pytest.mark.parametrize("seed", range(20))
def test_int8_round_trip_is_within_half_a_step(seed: int) -> None:
    rng = np.random.default_rng(seed)
    shape = [(8, 3, 3, 3), (5, 7), (4, 1, 5), (3, 2, 1, 1)][seed % 4]
    w = (rng.standard_normal(shape) * rng.uniform(1e-3, 10)).astype(np.float32)
    w[0] = 0.0  # a channel of zeros gets scale 1 and stays exactly zero
    q, scale = quantize_int8(w, "max")
    assert q.dtype == np.int8 and scale.dtype == np.float32 and scale.shape == (shape[0],)
    assert np.all(scale > 0) and np.abs(q).max() <= 127
    back = dequantize_int8(q, scale)
    assert back.dtype == np.float32 and back.shape == w.shape
    step = scale.reshape((-1,) + (1,) * (w.ndim - 1))
    assert np.all(np.abs(back - w) <= step / 2 * (1 + 1e-6))
    assert np.all(back[0] == 0)


def test_mse_clipping_is_never_worse_than_max() -> None:
    rng = np.random.default_rng(7)
    w = rng.laplace(size=(16, 2048)).astype(np.float32)  # heavy tails: clipping them pays off
    errs = {}
    for clip in ("max", "mse"):
        q, scale = quantize_int8(w, clip)
        errs[clip] = float(np.sum((dequantize_int8(q, scale) - w) ** 2))
    assert errs["mse"] < errs["max"]


def test_encode_keeps_float32_where_the_slot_takes_nothing_else() -> None:
    tensors = {"w": np.ones((2, 3), np.float32), "b": np.ones(2, np.float32)}
    allowed = {"w": ("F32", "F16", "I8"), "b": ("F32",)}
    enc = encode(tensors, allowed, "int8")
    assert enc.stored["w"].dtype == np.int8 and enc.scales == {"w": "w.scale"}
    assert enc.stored["b"].dtype == np.float32 and "b" in enc.kept_fp32
    big = {"w": np.full((1, 2), 1e6, np.float32)}  # beyond float16's range
    half = encode(big, {"w": ("F32", "F16")}, "fp16")
    assert half.stored["w"].dtype == np.float32 and "overflows" in half.kept_fp32["w"]
    with pytest.raises(UserError, match="unknown weights mode 'int4'"):
        encode(tensors, allowed, "int4")
    with pytest.raises(UserError, match="unknown int8 clipping"):
        quantize_int8(tensors["w"], "median")


def _graph():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, groups=8),
        nn.Flatten(),
        nn.Linear(8 * 4 * 4, 5),
    ).eval()
    return capture(model, (1, 6, 6), name="m")


def test_fp32_export_is_version_2_and_compressed_ones_version_3(tmp_path: Path) -> None:
    graph = _graph()
    sizes = {}
    for mode in ("fp32", "fp16", "int8"):
        manifest = write_graph(graph, tmp_path / mode, onnx=False, weights=mode)
        obj = json.loads(manifest.read_text())
        stored, _ = read_safetensors(manifest.with_name("m.safetensors"))
        sizes[mode] = manifest.with_name("m.safetensors").stat().st_size
        assert (
            reference.self_test(manifest) <= 1e-5
        )  # the golden vectors are the compressed model's
        loaded = reference.load(manifest)
        weights = {n.params["weight"] for n in graph.nodes if n.op in ("conv2d", "linear")}
        if mode == "fp32":
            assert obj["format_version"] == 2 and "quantization" not in obj
            assert "weights" not in obj["producer"]
            continue
        assert obj["format_version"] == 3
        want = {"fp16": "F16", "int8": "I8"}[mode]
        assert {loaded.weight_dtypes[t] for t in weights} == {want}
        assert all(stored[t].dtype == np.float32 for t in obj["producer"]["weights"]["kept_fp32"])
        if mode == "int8":
            assert obj["quantization"] == {t: {"scale": f"{t}.scale"} for t in sorted(weights)}
        note = obj["producer"]["weights"]
        assert note["mode"] == mode and note["stored_bytes"] < note["fp32_bytes"]
        assert 0 < note["golden_max_abs_deviation"] < 0.1
        # the reader computes with the dequantised values, which differ from the float32 ones
        float_w = graph.tensors["0.weight"]
        assert not np.array_equal(loaded.graph.tensors["0.weight"], float_w)
    assert sizes["int8"] < sizes["fp16"] < sizes["fp32"]


def test_cli_prints_what_was_compressed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pd2java.cli import main

    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
    torch.save(model, tmp_path / "whole.pt")
    argv = ["export", str(tmp_path / "whole.pt"), "--trust-pickle", "--input-shape", "1", "6", "6"]
    out = tmp_path / "out"
    assert (
        main([*argv, "-o", str(out), "--no-java", "--weights", "int8", "--int8-clip", "mse"]) == 0
    )
    printed = capsys.readouterr().out
    assert "int8 weights:" in printed and "kept in float32" in printed
    assert "argmax agreement 3/3" in printed
    with pytest.raises(SystemExit):  # argparse refuses an unknown mode before any work
        main([*argv, "-o", str(out / "x"), "--weights", "int4"])
    assert not (out / "x").exists()
