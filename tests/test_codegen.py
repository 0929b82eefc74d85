"""Generated Java: the typed wrapper and JUnit test compile with javac against the runtime jar,
and the generated JUnit test passes through the console launcher: in the export folder, after the
folder is moved elsewhere, and beside another model's test in one JVM; it fails with a clear
message when pointed at another model, and the wrapper refuses wrongly shaped inputs.
"""

from __future__ import annotations

import shutil
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


def _compile(sources: list[Path], classes: Path) -> None:
    """javac the sources against the runtime jar + JUnit with every lint warning an error."""
    cp = f"{build.build_runtime()}:{build.junit_launcher()}"
    classes.mkdir(parents=True, exist_ok=True)
    javac = subprocess.run(
        ["javac", "--release", "17", "-Xlint:all", "-Werror", "-cp", cp, "-d", str(classes)]
        + [str(p) for p in sources],
        capture_output=True,
        text=True,
        check=False,
    )
    assert javac.returncode == 0, javac.stdout + javac.stderr


def _junit(
    classes: Path,
    package: str,
    *,
    cwd: Path | None = None,
    classpath: tuple[Path, ...] = (),
    props: dict[str, str] | None = None,
) -> tuple[int, str]:
    """Run every test of ``package`` through the JUnit console launcher in one JVM."""
    runtime = build.build_runtime()
    cp = ":".join(str(p) for p in (classes, runtime, *classpath))
    jvm = [f"-D{k}={v}" for k, v in (props or {}).items()]
    run = subprocess.run(
        ["java", *jvm, "-jar", str(build.junit_launcher()), "--disable-banner", "--details=tree"]
        + ["-cp", cp, "--select-package", package],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        cwd=cwd,
    )
    return run.returncode, run.stdout + run.stderr


def _compile_and_test(sources: list[Path], work: Path, package: str, **kw) -> tuple[int, str]:
    classes = work / "classes"
    _compile(sources, classes)
    return _junit(classes, package, **kw)


def _java_sources(root: Path) -> list[Path]:
    return sorted(root.rglob("*.java"))


TEST_NAMES = (
    "loadsTheModelItWasGeneratedForWithTheRuntimeSelfTest",
    "enumOrderIsTheManifestsClassOrder",
    "goldenVectorsMatchElementByElement",
    "diagnoseIsTheRuntimesClassification",
    "wronglyShapedInputIsRefused",
)


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
    test_text = test_src.read_text()
    # No weights in generated code: small files, no numeric array literals.
    assert main_src.stat().st_size < 16_000 and test_src.stat().st_size < 16_000
    assert "new float[] {" not in text and "{0." not in test_text
    # Nothing from the exporting machine: the manifest is found relative to the project root.
    assert str(tmp_path) not in text + test_text
    assert '"../export/gis_tiny.manifest.json"' in test_text
    assert "model.classify(" in text and "IllegalArgumentException" not in text

    # The working directory is the project root (as under Maven), here tmp_path/java.
    code, output = _compile_and_test(paths, tmp_path, "com.example.pd", cwd=tmp_path / "java")
    assert code == 0, output
    assert "5 tests successful" in output
    for name in TEST_NAMES:
        assert name in output


def test_generated_test_passes_after_the_export_folder_is_moved(tmp_path):
    # As pd2java export does: the sources go into the export folder, the Maven project root.
    export_dir = tmp_path / "here" / "gis"
    manifest = export(
        _model(0), export_dir, input_shape=(1, 6, 8), classes=CLASSES, name="gis", onnx=False
    )
    generate_java(manifest, export_dir, package="org.acme")
    moved = tmp_path / "elsewhere" / "checkout"
    shutil.copytree(export_dir, moved)
    shutil.rmtree(tmp_path / "here")  # nothing may point back at the original place
    code, output = _compile_and_test(
        _java_sources(moved / "src"), tmp_path / "build", "org.acme", cwd=moved
    )
    assert code == 0, output
    assert "5 tests successful" in output

    # From another working directory it is found on the test classpath instead (the manifest as
    # a resource, as Maven copies src/test/resources to target/test-classes).
    resources = tmp_path / "test-classes"
    resources.mkdir()
    for name in ("gis.manifest.json", "gis.safetensors"):
        shutil.copy(moved / name, resources / name)
    code, output = _junit(
        tmp_path / "build" / "classes", "org.acme", cwd=tmp_path, classpath=(resources,)
    )
    assert code == 0, output

    # Found nowhere: every test fails saying where it looked and how to point it at the export.
    code, output = _junit(tmp_path / "build" / "classes", "org.acme", cwd=tmp_path)
    assert code != 0
    assert "cannot find the export of model 'gis'" in output
    assert "-Dpd2java.manifest.org.acme.Gis=" in output


def test_generated_test_fails_for_a_different_model(tmp_path):
    out = tmp_path / "export"
    manifest = export(_model(0), out, input_shape=(1, 6, 8), classes=CLASSES, name="m", onnx=False)
    paths = generate_java(manifest, out, package="p", class_name="Wrapped")
    # Re-export another model with other class names at the same path, without regenerating.
    other = ["a", "b", "c", "d", "e"]
    export(_model(1), out, input_shape=(1, 6, 8), classes=other, name="m", onnx=False)
    code, output = _compile_and_test(paths, tmp_path, "p", cwd=out)
    assert code != 0
    assert "is not the model this test was generated for" in output
    assert "regenerate Wrapped" in output
    assert "5 tests failed" in output


def test_two_models_tests_in_one_jvm_do_not_interfere(tmp_path):
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    a = export(_model(0), a_dir, input_shape=(1, 6, 8), classes=CLASSES, name="a", onnx=False)
    b = export(
        _model(1, 3), b_dir, input_shape=(1, 8, 6), classes=["x", "y", "z"], name="b", onnx=False
    )
    sources = generate_java(a, a_dir, package="two") + generate_java(b, b_dir, package="two")
    # A hand-written check of the wrapper itself: it refuses a model of another input shape
    # (b's 1x8x6 has as many values as a's 1x6x8) with the runtime's exception.
    check = tmp_path / "extra" / "two" / "WrapCheckTest.java"
    check.parent.mkdir(parents=True)
    text = WRAP_CHECK.replace("A_MANIFEST", java_string(str(a)))
    check.write_text(text.replace("B_MANIFEST", java_string(str(b))))
    classes = tmp_path / "classes"
    _compile([*sources, check], classes)

    # Both exports on the classpath: each test finds its own model.
    code, output = _junit(classes, "two", cwd=tmp_path, classpath=(a_dir, b_dir))
    assert code == 0, output
    assert "12 tests successful" in output

    # A's property set (to A's export): B is unaffected.
    props = {"pd2java.manifest.two.A": str(a_dir)}
    code, output = _junit(classes, "two", cwd=tmp_path, classpath=(b_dir,), props=props)
    assert code == 0, output
    assert "12 tests successful" in output

    # A's property pointing at B's export: A's tests fail with a clear message, B's still pass.
    props = {"pd2java.manifest.two.A": str(b)}
    code, output = _junit(classes, "two", cwd=tmp_path, classpath=(a_dir, b_dir), props=props)
    assert code != 0
    assert f"{b} is not the model this test was generated for" in output
    assert "model 'a'" in output
    assert "5 tests failed" in output and "7 tests successful" in output


WRAP_CHECK = """
package two;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.pd2java.runtime.ErrorCode;
import org.pd2java.runtime.Model;
import org.pd2java.runtime.Pd2JavaException;

class WrapCheckTest {
  @Test
  void wrapRefusesAModelOfAnotherInputShape() {
    Path b = Path.of(B_MANIFEST);
    Pd2JavaException e = assertThrows(Pd2JavaException.class, () -> A.wrap(Model.load(b), b));
    assertEquals(ErrorCode.SHAPE_MISMATCH, e.code(), e.getMessage());
  }

  @Test
  void diagnoseRefusesTheSameValuesInAnotherShape() {
    A a = A.load(Path.of(A_MANIFEST));
    Pd2JavaException e =
        assertThrows(Pd2JavaException.class, () -> a.diagnose(new float[1][8][6]));
    assertEquals(ErrorCode.INVALID_INPUT, e.code(), e.getMessage());
  }
}
"""


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
    # The strict reader refuses a missing or newer manifest (its error, nothing written).
    with pytest.raises(UserError, match="nope.manifest.json"):
        generate_java(tmp_path / "nope.manifest.json", out)
    newer = tmp_path / "e" / "newer.manifest.json"
    newer.write_text(manifest.read_text().replace('"format_version": 2', '"format_version": 4'))
    with pytest.raises(UserError, match="format_version"):
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
