"""examples/java-monitor: the Python maker writes models and device files, and the plain-javac
Java program builds and diagnoses every device through a ModelRegistry and Prpd."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

from pd2java.backends.java import build
from pd2java.training.data.convention import PRODUCTS

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "java-monitor"


def test_monitor_diagnoses_every_device(tmp_path: Path) -> None:
    out = tmp_path / "monitor"
    subprocess.run(
        [sys.executable, str(EXAMPLE / "make_example.py"), str(out), "--untrained"],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    with (out / "devices.csv").open(encoding="utf-8") as f:
        devices = list(csv.DictReader(f))
    assert {d["format"] for d in devices} == {"prpd", "prps", "pulses"}
    jar = build.write_artifacts(tmp_path / "dist")[0]
    java_bin = str(Path(build._tool("java")).parent)
    proc = subprocess.run(
        ["bash", str(EXAMPLE / "run.sh"), str(jar), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": f"{java_bin}:/usr/bin:/bin"},
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("2 models resident (gis, transformer)")
    rows = {line.split()[0]: line for line in lines[2:] if line.split()[0] in
            {d["device"] for d in devices}}  # fmt: skip
    assert len(rows) == len(devices)
    for d in devices:
        row = rows[d["device"]]
        cells = row.split()
        assert cells[1:3] == [d["product"], d["format"]], row
        if d["device"] == "GIS-BAY-04":  # three stray pulses: below the activity floor
            assert "(no PD activity)" in row and cells[3] == "3", row
        else:
            assert cells[4] in PRODUCTS[d["product"]], row
            assert 0.0 < float(cells[5]) <= 1.0, row
    assert any(line.startswith("model gis") and " 4 calls" in line for line in lines)
    assert any(line.startswith("model transformer") and " 2 calls" in line for line in lines)
    assert "Using incubator modules" not in proc.stderr
