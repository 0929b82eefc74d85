"""Generated Java: the typed wrapper and JUnit test compile with javac against the runtime jar,
and the generated JUnit test passes through the console launcher (and fails for the wrong model).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch

from pd2java.backends.java import build
from pd2java.backends.java.codegen import (
    build_view,
    camel_class_name,
    enum_constant,
    generate_java,
    java_string,
    javadoc_text,
)
from pd2java.errors import UserError
from pd2java.exporter import export

CLASSES = ["protrusion_conductor", "free particle", "Void-Cavity", "class", "3rd kind"]


def _model(seed: int, k: int = len(CLASSES)) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 3, 3, stride=2, padding=1),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(3 * 3 * 4, k),
        torch.nn.Softmax(dim=1),
    ).eval()


def _compile_and_test(sources: list[Path], work: Path, package: str) -> tuple[int, str]:
    """javac the generated sources against the runtime jar + JUnit, then run the launcher."""
    runtime = build.build_runtime()
    launcher = build.junit_launcher()
    classes = work / "classes"
    classes.mkdir()
    cp = f"{runtime}:{launcher}"
    javac = subprocess.run(
        [
            "javac",
            "--release",
            "17",
            "-Xlint:all",
            "-Werror",
            "-cp",
            cp,
            "-d",
            str(classes),
            *map(str, sources),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert javac.returncode == 0, javac.stdout + javac.stderr
    run = subprocess.run(
        [
            "java",
            "-jar",
            str(launcher),
            "--disable-banner",
            "--details=tree",
            "-cp",
            f"{classes}:{runtime}",
            "--select-package",
            package,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    return run.returncode, run.stdout + run.stderr


def test_generated_sources_compile_and_their_junit_test_passes(tmp_path):
    manifest = export(
        _model(0),
        tmp_path / "export",
        input_shape=(1, 6, 8),
        classes=CLASSES,
        name="gis_tiny",
        onnx=False,
    )
    paths = generate_java(manifest, tmp_path / "java", package="com.example.pd")
    main_src, test_src = paths
    assert main_src == tmp_path / "java/src/main/java/com/example/pd/GisTiny.java"
    assert test_src == tmp_path / "java/src/test/java/com/example/pd/GisTinyTest.java"
    text = main_src.read_text()
    for const in (
        "PROTRUSION_CONDUCTOR(",
        "FREE_PARTICLE(",
        "VOID_CAVITY(",
        "CLASS(",
        "C_3RD_KIND(",
    ):
        assert const in text
    # No weights in generated code: small files, no numeric array literals.
    assert main_src.stat().st_size < 12_000 and test_src.stat().st_size < 12_000
    assert "new float[] {" not in text and "{0." not in test_src.read_text()

    code, output = _compile_and_test(paths, tmp_path, "com.example.pd")
    assert code == 0, output
    assert "5 tests successful" in output
    assert "goldenVectorsMatchElementByElement" in output


def test_generated_test_fails_for_a_different_model(tmp_path):
    out = tmp_path / "export"
    manifest = export(_model(0), out, input_shape=(1, 6, 8), classes=CLASSES, name="m", onnx=False)
    paths = generate_java(manifest, tmp_path / "java", package="p", class_name="Wrapped")
    # Re-export another model with other class names at the same path, without regenerating.
    other = ["a", "b", "c", "d", "e"]
    export(_model(1), out, input_shape=(1, 6, 8), classes=other, name="m", onnx=False)
    code, output = _compile_and_test(paths, tmp_path, "p")
    assert code != 0
    assert "regenerate" in output
    assert "tests failed" in output


def test_generation_is_deterministic_and_atomic(tmp_path):
    manifest = export(
        _model(0), tmp_path / "e", input_shape=(1, 6, 8), classes=CLASSES, name="m", onnx=False
    )
    first = [p.read_bytes() for p in generate_java(manifest, tmp_path / "j")]
    second = [p.read_bytes() for p in generate_java(manifest, tmp_path / "j")]
    assert first == second
    leftovers = [p for p in (tmp_path / "j").rglob("*") if p.name.startswith(".")]
    assert leftovers == []


def test_bad_names_and_manifests_are_refused_without_writing(tmp_path):
    manifest = export(
        _model(0), tmp_path / "e", input_shape=(1, 6, 8), classes=CLASSES, name="m", onnx=False
    )
    out = tmp_path / "j"
    with pytest.raises(UserError, match="package 'com.class.x'"):
        generate_java(manifest, out, package="com.class.x")
    with pytest.raises(UserError, match="class name '9Lives'"):
        generate_java(manifest, out, class_name="9Lives")
    with pytest.raises(UserError, match="no such manifest"):
        generate_java(tmp_path / "nope.manifest.json", out)
    newer = tmp_path / "newer.manifest.json"
    newer.write_text(manifest.read_text().replace('"format_version": 1', '"format_version": 2'))
    with pytest.raises(UserError, match="format_version 2"):
        generate_java(newer, out)
    assert not out.exists()


def test_identifier_and_literal_helpers():
    assert enum_constant("floating_electrode") == "FLOATING_ELECTRODE"
    assert enum_constant("protrusionConductor") == "PROTRUSION_CONDUCTOR"
    assert enum_constant("Ünï") == "UNI"
    assert enum_constant("1st") == "C_1ST"
    assert enum_constant("***") == "CLASS"
    assert camel_class_name("gis_light") == "GisLight"
    assert camel_class_name("3d") == "M3d"
    assert java_string('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'
    assert java_string("é\x01") == '"\\u00e9\\001"'
    assert "*/" not in javadoc_text("x */ y {@code z}")


def test_duplicate_constants_are_numbered(tmp_path):
    manifest = export(
        _model(0, 3),
        tmp_path / "e",
        input_shape=(1, 6, 8),
        classes=["a-b", "a_b", "A B"],
        name="m",
        onnx=False,
    )
    view = build_view(manifest)
    assert [c.constant for c in view.classes] == ["A_B", "A_B_2", "A_B_3"]
