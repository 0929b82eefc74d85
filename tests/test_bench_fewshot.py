"""benchmarks/bench_fewshot.py in --quick mode: one tiny run of each method on the stand-in
monitor, checking the structure of what it records (never the accuracy)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from helpers import load_benchmark

from pd2java.training.data import synthesize

bench = load_benchmark("bench_fewshot")


def test_stand_in_is_another_monitor() -> None:
    spec = bench.STAND_IN
    shifted = bench.stand_in(2, 3)
    plain = synthesize("gis", per_class=2, seed=3, difficulty=spec["difficulty"])
    assert shifted.classes == plain.classes and shifted.images.shape == plain.images.shape
    assert not np.array_equal(shifted.images, plain.images)
    assert float(shifted.images.max()) == 1.0 and float(shifted.images.min()) >= 0.0
    assert np.array_equal(shifted.images, bench.stand_in(2, 3).images)  # deterministic


def test_quick_run_records_both_methods(tmp_path: Path, capsys) -> None:
    assert bench.main(["--quick", "-o", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "| 3 |" in text and "fine-tuned" in text and "pretrained model as is" in text
    rows = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert sorted(r["method"] for r in rows) == ["finetuned", "pretrained as is", "scratch"]
    rows = [r for r in rows if r["k"] == 3]
    for row in rows:
        assert row["k"] == 3 and 0.0 <= row["test_accuracy"] <= 1.0
        assert row["n_train"] + row["n_val"] == 21 and row["epochs_run"] == 1
    assert (tmp_path / "table.md").read_text().startswith("| k per class")
