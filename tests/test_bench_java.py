"""benchmarks/bench_java.py: the FLOP counter against hand-computed values and torch's own counter,
and one end-to-end run of its measuring code on a tiny model with a handful of iterations (real
export, real JVMs), checking the structure of its results and of the markdown it writes, never
the speed."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import load_benchmark
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from pd2java.errors import UserError

bench = load_benchmark("bench_java")


def _node(op, attrs, output_shape):
    return {"name": op, "op": op, "attrs": attrs, "output_shape": output_shape}


def test_flops_hand_computed() -> None:
    conv = {"kernel_size": [3, 3], "in_channels": 4, "out_channels": 8, "groups": 1}
    depthwise = {"kernel_size": [5, 5], "in_channels": 8, "out_channels": 8, "groups": 8}
    conv1d = {"kernel_size": 3, "in_channels": 2, "out_channels": 6, "groups": 1}
    manifest = {
        "nodes": [
            _node("conv2d", conv, [8, 10, 12]),
            _node("relu", {}, [8, 10, 12]),
            _node("conv2d", depthwise, [8, 5, 6]),
            _node("conv1d", conv1d, [6, 7]),
            _node("linear", {"in_features": 20, "out_features": 3}, [3]),
            _node("linear", {"in_features": 20, "out_features": 3}, [4, 3]),  # 4 rows
            _node("max_pool2d", {}, [8, 5, 6]),
        ]
    }
    got = bench.manifest_flops(manifest)
    conv_flops = 2 * 8 * 120 * 4 * 9 + 2 * 8 * 30 * 1 * 25
    assert got["by_op"] == {
        "conv2d": conv_flops,
        "conv1d": 2 * 6 * 7 * 2 * 3,
        "linear": 2 * 20 * 3 + 4 * 2 * 20 * 3,
    }
    assert got["total"] == conv_flops + 504 + 600
    assert got["ignored"] == ["max_pool2d", "relu"]


class _Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.dw = nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=4)
        self.fc = nn.Linear(4 * 4 * 6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.dw(torch.relu(self.conv(x))))
        return self.fc(torch.flatten(x, 1))


TINY_SHAPE = (1, 8, 12)


@pytest.fixture(scope="module")
def results() -> dict:
    model = _Tiny().eval()
    args = bench.parse_args(
        [
            "--quick",
            "--configs",
            "java17-scalar,java17-vector,java25-vector",
            "--java25",
            "/nonexistent/jdk/bin/java",
            "--images",
            "8",
            "--iters",
            "20",
            "--warmup",
            "5",
            "--loads",
            "1",
            "--ref-iters",
            "10",
            "--batch",
            "4",
            "--node-iters",
            "3",
            "--heap",
            "tiny=5",
            "--mm-size",
            "64",
            "--mm-reps",
            "1",
        ]
    )
    return bench.run(args, models=[bench.Bench("tiny", model, False, "test model", TINY_SHAPE)])


def test_run_results_structure(results: dict) -> None:
    # The absent Java 25 is reported and skipped, not fatal.
    assert [c["key"] for c in results["configs"]] == ["java17-scalar", "java17-vector"]
    assert len(results["skipped"]) == 1 and "/nonexistent/jdk/bin/java" in results["skipped"][0]
    assert results["quick"] is True
    (m,) = results["models"]
    assert set(m["java"]) == {"java17-scalar", "java17-vector"}
    for key, j in m["java"].items():
        assert j["gc_calls"] == 20
        assert j["into_median_ms"] > 0 and j["into_p99_ms"] >= j["into_median_ms"]
        assert j["ratio_to_onnxruntime"] == pytest.approx(
            j["into_median_ms"] / m["onnxruntime"]["median_ms"]
        )
        assert j["ratio_to_torch"] == pytest.approx(j["into_median_ms"] / m["torch"]["median_ms"])
        assert j["bytes_per_call_predict"] >= 0 and j["bytes_per_call_predict_into"] >= 0
        assert j["images_per_s_1_thread"] > 0 and j["images_per_s_2_threads"] > 0
        # the vector family's plan fuses each convolution with the relu after it
        plan = (
            ["conv+relu", "dw+relu_1", "flatten", "fc"]
            if key.endswith("vector")
            else ["conv", "relu", "dw", "relu_1", "flatten", "fc"]
        )
        assert [n["node"] for n in j["nodes"]] == plan
        assert all(n["kernel"].endswith("Kernel") for n in j["nodes"])
        assert j["kernel_info"].startswith("vector" if key.endswith("vector") else "scalar")
        heap = m["heap"][key]
        assert heap["copies"] == 5 and heap["weight_bytes"] == j["weight_bytes"] > 0
        assert heap["ratio_to_weight_bytes"] == pytest.approx(
            heap["bytes_per_model"] / heap["weight_bytes"]
        )
    # A vector configuration whose nodes all ran scalar kernel classes is flagged.
    vector = m["java"]["java17-vector"]
    ran_scalar = vector["vector_nodes"] == 0 or not vector["kernel_info"].startswith("vector")
    assert ran_scalar == any("Java 17 vector" in w for w in results["warnings"])
    assert set(m["parity"]) == {"scalar", "vector"}
    for p in m["parity"].values():
        assert p["max_abs_java_vs_torch"] < 1e-4 and p["argmax_agreement"] == 1.0
    assert results["peak"]["practical"]["gflops"] > 0


def test_flops_agree_with_torch(results: dict) -> None:
    with FlopCounterMode(display=False) as counter:
        _Tiny().eval()(torch.zeros(1, *TINY_SHAPE))
    (m,) = results["models"]
    assert m["flops"]["total"] == counter.get_total_flops()
    assert m["flops"]["ignored"] == ["flatten", "relu"]


def test_markdown_and_docs_blocks(results: dict, tmp_path: Path) -> None:
    full = bench.markdown(results)
    assert full.startswith(bench.BEGIN) and full.endswith(bench.END)
    for heading in (
        "QUICK SMOKE RUN",
        "Skipped: java25",
        "kernelInfo()",
        "Parity on 8 inputs",
        "Single-thread latency per image",
        "Load, allocation and GC",
        "Heap per resident model",
        "Slowest 5 nodes, Java 17 vector",
        "Roofline:",
        "Throughput, images/s",
        "Runtime jar:",
    ):
        assert heading in full, heading
    assert "| tiny | Java 17 vector |" in full and "| tiny | onnxruntime |" in full
    compact = bench.readme_markdown(results)
    rows = [line for line in compact.splitlines() if line.startswith("| tiny |")]
    # model, onnxruntime, one per configuration, heap, bytes/call, load: 7 cells
    assert len(rows) == 1 and rows[0].count("|") == 8

    doc = tmp_path / "doc.md"
    doc.write_text(f"intro\n{bench.BEGIN}\nold\n{bench.END}\noutro\n", encoding="utf-8")
    bench.write_block(doc, compact)
    assert doc.read_text(encoding="utf-8") == f"intro\n{compact}\noutro\n"
    assert [p.name for p in tmp_path.iterdir()] == ["doc.md"]  # the temporary file is gone
    doc.write_text("no markers\n", encoding="utf-8")
    with pytest.raises(UserError, match="markers"):
        bench.write_block(doc, compact)


def test_quick_refuses_write_docs_and_checks_names() -> None:
    with pytest.raises(SystemExit):
        bench.parse_args(["--quick", "--write-docs"])
    with pytest.raises(SystemExit):
        bench.parse_args(["--configs", "java17-turbo"])
    with pytest.raises(SystemExit):
        bench.parse_args(["--models", "nosuchnet"])
