"""benchmarks/bench_registry.py: one quick run of the registry load test (real exports, a real
JVM, real reloads racing real calls), checking the structure of its results, its invariants (no
failed call, every corrupt export rejected with the old version kept, every replaced version
collected) and the markdown block it writes, never the speed."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import load_benchmark

from pd2java.errors import UserError

bench = load_benchmark("bench_registry")


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict:
    # 7 models: five light and two lenet; a reload every 50 ms, one in three corrupt
    tree = tmp_path_factory.mktemp("tree")
    args = bench.parse_args(
        [
            "--quick",
            "--models",
            "7",
            "--seconds",
            "2",
            "--reload-every",
            "0.05",
            "--tree",
            str(tree),
        ]
    )
    return bench.run(args)


def test_quick_run_structure_and_invariants(results: dict) -> None:
    assert results["quick"] is True
    assert results["checks"] and all(results["checks"].values()), results["checks"]
    assert results["ok"] is True
    j = results["java"]
    assert j["models"] == 7 and j["open_failures"] == []
    assert j["models_by_arch"] == {"lenet": 2, "light": 5}
    assert (
        j["resident_bytes"]
        == 5 * j["weight_bytes_by_arch"]["light"] + 2 * (j["weight_bytes_by_arch"]["lenet"])
    )
    assert j["failed_calls"] == 0 and j["failed_call_examples"] == []
    assert j["calls"] > 0 and j["calls_per_second"] > 0
    assert 0 < j["latency_p50_ms"] <= j["latency_p99_ms"] <= j["latency_max_ms"]
    # a reload every 50 ms for 2 s, one in three corrupt, each kind in turn
    assert j["reloads"] >= 10
    assert j["corrupt_reloads"] == j["reloads"] // 3 >= 3
    assert j["corrupt_rejected"] == j["corrupt_kept_old_version"] == j["corrupt_reloads"]
    assert j["corrupt_accepted"] == 0 and j["good_reloads_refused"] == 0
    assert set(j["corrupt_kinds"]) == {
        "flip_weights_byte",
        "truncate_weights",
        "manifest_cut_in_half",
    }
    assert set(j["rejected_codes"]) == {
        "WEIGHTS_CHECKSUM_MISMATCH",
        "WEIGHTS_SIZE_MISMATCH",
        "INVALID_JSON",
    }
    assert j["good_reloads"] + j["corrupt_reloads"] == j["reloads"]
    assert j["replaced_versions"] == j["good_reloads"] == j["stats_reloads"]
    assert j["replaced_versions_collected"] == j["replaced_versions"]
    assert j["listener_failures"] == j["corrupt_reloads"] == j["stats_failures"]
    assert j["stats_calls"] == j["stats_expected_calls"]
    assert j["heap_empty_bytes"] < j["heap_after_open_bytes"]
    assert j["startup_seconds"] > 0 and j["mean_load_ms"] > 0
    assert j["kernel_info"].startswith("vector")
    assert results["export"]["exported"] == 7  # a fresh tree: everything exported


def test_the_tree_is_reused(results: dict) -> None:
    tree = Path(results["export"]["tree"])
    assert sorted(p.name for p in tree.iterdir()) == sorted(bench.model_ids(7))
    again = bench.build_tree(tree, 7)
    assert again["exported"] == 0
    # every export is a manifest and its weights, nothing half-written left behind
    for folder in tree.iterdir():
        names = sorted(p.name for p in folder.iterdir())
        assert len(names) == 2 and names[0].endswith(".manifest.json"), names


def test_markdown_and_docs_block(results: dict, tmp_path: Path) -> None:
    block = bench.markdown(results)
    assert block.startswith(bench.BEGIN) and block.endswith(bench.END)
    for text in (
        "QUICK SMOKE RUN",
        "| Models resident | 7: 2 lenet",
        "Start-up: `ModelRegistry.open`",
        "Failed calls (every model stays healthy) | 0 |",
        "Corrupt exports rejected, old version kept serving",
        "Replaced versions garbage collected",
        "no failed call: yes",
    ):
        assert text in block, text
    assert "**NO**" not in block
    doc = tmp_path / "doc.md"
    doc.write_text(f"intro\n{bench.BEGIN}\nold\n{bench.END}\noutro\n", encoding="utf-8")
    bench.write_block(doc, block)
    assert doc.read_text(encoding="utf-8") == f"intro\n{block}\noutro\n"
    assert [p.name for p in tmp_path.iterdir()] == ["doc.md"]
    doc.write_text("no markers\n", encoding="utf-8")
    with pytest.raises(UserError, match="markers"):
        bench.write_block(doc, block)


def test_a_broken_invariant_is_reported(results: dict) -> None:
    broken = {**results, "java": {**results["java"], "failed_calls": 1, "corrupt_accepted": 1}}
    checks = bench.checks(broken, 7)
    assert not checks["no failed call"] and not checks["no corrupt export accepted"]
    assert "no failed call: **NO**" in bench.markdown({**broken, "checks": checks})


def test_arguments() -> None:
    with pytest.raises(SystemExit):
        bench.parse_args(["--quick", "--write-docs"])
    with pytest.raises(SystemExit):
        bench.parse_args(["--models", "0"])
    quick = bench.parse_args(["--quick", "--seconds", "1"])
    assert (quick.models, quick.seconds, quick.corrupt_every) == (20, 1.0, 3)
    full = bench.parse_args([])
    assert (full.models, full.seconds, full.threads, full.reload_every, full.corrupt_every) == (
        300,
        60.0,
        2,
        1.0,
        10,
    )
    assert bench.parse_args(["--jvm-arg=-XX:+UseParallelGC", "--jvm-arg=-Xss1m"]).jvm_arg == [
        "-XX:+UseParallelGC",
        "-Xss1m",
    ]
    assert bench.model_ids(4) == ["light-000", "light-001", "lenet-002", "light-003"]
