"""``pd2java demo`` end to end on a tiny schedule: data, training of both models, export, Java
codegen, runtime build, parity verification, JVM latency and the summary table."""

from __future__ import annotations

import json

from pd2java.cli import main
from pd2java.training.checkpoint import load_checkpoint


def test_demo_runs_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    code = main(
        [
            "demo",
            "-o",
            str(out),
            "--per-class",
            "3",
            "--test-per-class",
            "1",
            "--epochs",
            "1",
            "--samples",
            "2",
            "--latency-warmup",
            "2",
            "--latency-iters",
            "5",
            "--latency-loads",
            "1",
        ]
    )
    text = capsys.readouterr().out
    assert code == 0, text
    lines = text.splitlines()
    assert lines[0].split()[:4] == ["model", "params", "test", "acc"]
    lenet = next(line for line in lines if line.startswith("lenet "))
    light = next(line for line in lines if line.startswith("light "))
    assert "734,279" in lenet  # 7 GIS classes: docs/PRPD.md's 734,246 is for 6
    assert lenet.rstrip().endswith("ok") and light.rstrip().endswith("ok")

    summary = json.loads((out / "summary.json").read_text())
    assert summary["passed"] is True
    rows = {r["model"]: r for r in summary["rows"]}
    assert rows["light"]["fold_bn"] is True and rows["lenet"]["fold_bn"] is False
    for name, row in rows.items():
        assert row["max_abs_java_vs_torch"] <= 1e-4, name
        assert row["java_median_ms"] > 0 and row["java_p99_ms"] >= row["java_median_ms"]
        assert 0.0 <= row["test_accuracy_java"] <= 1.0
        export_dir = out / f"gis_{name}"
        assert (export_dir / f"gis_{name}.manifest.json").is_file()
        assert (export_dir / f"gis_{name}.safetensors").stat().st_size == row["weights_bytes"]
        assert "PASS" in (export_dir / "verify.txt").read_text()
        java = list((export_dir / "java").rglob("*.java"))
        assert len(java) == 2
    assert (out / "gis_lenet.pt").is_file() and (out / "summary.txt").is_file()
    assert summary["runtime_jar_bytes"] > 0

    # Step 7: the shipped GIS pretrained model fine-tuned on the few-shot slice vs from scratch.
    fewshot = summary["fewshot"]
    assert fewshot["per_class"] == 3 and fewshot["epochs"] == 1
    for key in ("scratch_test_accuracy", "finetuned_test_accuracy"):
        assert 0.0 <= fewshot[key] <= 1.0
    assert "few-shot, 3 images per class" in text
    finetuned = load_checkpoint(out / "fewshot_finetuned.pt")
    assert finetuned.recipe["init"]["shipped"] == "gis"
    assert finetuned.recipe["init"]["sha256"] == fewshot["pretrained_sha256"]
    assert load_checkpoint(out / "fewshot_scratch.pt").recipe["init"] is None
