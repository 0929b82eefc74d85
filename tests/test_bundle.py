"""``pd2java export --bundle``: the export folder becomes a Java deliverable, and the commands
and the Java program its README gives work as written, with a real JDK and nothing else."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from pd2java import __version__
from pd2java.backends.java.build import _tool
from pd2java.cli import main
from pd2java.training.checkpoint import Checkpoint, save_checkpoint
from pd2java.training.data.convention import normalize_counts
from pd2java.training.data.synth import synthesize_counts
from pd2java.training.models import PDLightModel


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("bundle")
    torch.manual_seed(0)
    classes = ["void", "surface", "noise"]
    ckpt = save_checkpoint(Checkpoint.from_model(PDLightModel(classes)), tmp / "m.pt")
    out = tmp / "export"
    assert main(["export", str(ckpt), "-o", str(out), "--no-onnx", "--name", "m", "--bundle"]) == 0
    return out


def _sh(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, re.DOTALL)


def test_bundle_holds_the_runtime_the_sources_and_a_readme(bundle: Path) -> None:
    lib = sorted(p.name for p in (bundle / "lib").iterdir())
    assert lib == [
        f"pd2java-runtime-{__version__}-sources.jar",
        f"pd2java-runtime-{__version__}.jar",
        "pom.xml",
    ]
    assert (bundle / "src/main/java/org/pd2java/generated/M.java").is_file()
    assert (bundle / "src/test/java/org/pd2java/generated/MTest.java").is_file()
    readme = (bundle / "README-java.md").read_text("utf-8")
    for fact in ("`void`, `surface`, `noise`", "[1, 60, 120]", "probabilities", "SHA-256"):
        assert fact in readme
    # Nothing half-written is left behind.
    assert not [p for p in bundle.rglob(".*") if p.name != ".gitignore"]


def test_readme_commands_run_as_written(bundle: Path, tmp_path: Path) -> None:
    readme = (bundle / "README-java.md").read_text("utf-8")
    (java_src,) = _blocks(readme, "java")
    (bundle / "Diagnose.java").write_text(java_src, encoding="utf-8")
    shell = [b for b in _blocks(readme, "sh") if "mvn " not in b]
    assert len(shell) == 2
    java_bin = str(Path(_tool("java")).parent)
    env = {"PATH": f"{java_bin}:/usr/bin:/bin"}
    check = _sh(shell[0], bundle, env)
    assert check.returncode == 0, check.stderr
    assert "self-test: passed" in check.stdout
    run = _sh(shell[1], bundle, env)
    assert run.returncode == 0, run.stderr
    # Without a sample file the input is all zero: a PRPD model answers "no PD activity".
    assert run.stdout.splitlines()[-1] == "no PD activity"
    # With a real PRPD image it prints the top three classes and their probabilities.
    image = normalize_counts(synthesize_counts("gis", "void", 0, seed=3))
    sample = tmp_path / "sample.txt"
    np.savetxt(sample, image.reshape(1, -1), fmt="%.9g")
    java_cmd = shell[1].strip().splitlines()[-1] + f" {sample}"
    run = _sh(java_cmd, bundle, env)
    assert run.returncode == 0, run.stderr
    top = [line.split() for line in run.stdout.splitlines()[1:]]
    assert len(top) == 3 and {row[0] for row in top} <= {"void", "surface", "noise"}
    scores = [float(row[1]) for row in top]
    assert scores == sorted(scores, reverse=True) and 0.0 < sum(scores) <= 1.0001
