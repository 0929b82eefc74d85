"""The javac/jar build of the Java runtime: contents, caching, rebuilds, errors (real JDK)."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import zipfile
from pathlib import Path

import pytest

from pd2java import cli
from pd2java.backends.java import build
from pd2java.resources import java_harness_dir


def _copy_main_sources(dst: Path) -> Path:
    """A private copy of java-harness/src/main (enough for build_runtime)."""
    src = java_harness_dir() / "src" / "main"
    shutil.copytree(src, dst / "src" / "main")
    return dst


def test_runtime_jar_holds_only_the_runtime() -> None:
    jar = build.build_runtime()
    with zipfile.ZipFile(jar) as z:
        names = z.namelist()
        manifest = z.read("META-INF/MANIFEST.MF").decode()
    classes = [n for n in names if n.endswith(".class")]
    assert "org/pd2java/runtime/Model.class" in classes
    assert "org/pd2java/runtime/OpRegistry.class" in classes
    # Zero dependencies: no py4j, and nothing outside the runtime package.
    assert not [n for n in names if "py4j" in n.lower()]
    assert all(n.startswith("org/pd2java/runtime/") for n in classes), classes
    assert "Main-Class: org.pd2java.runtime.Cli" in manifest


# The runtime's public API: every other type is package-private (docs/JAVA.md, "API").
PUBLIC_API = {
    "Cli",
    "ErrorCode",
    "ImageConvention",
    "LoadOptions",
    "Model",
    "ModelMetadata",
    "ModelRegistry",
    "Pd2JavaException",
    "Prediction",
    "Prpd",
    "RegistryListener",
    "RegistryOptions",
    "Workspace",
}


def test_only_the_api_is_public() -> None:
    """Kernels, the op registry, the loader and the format rules are internals: a server that
    compiles against the jar sees the API types only (nested public records included)."""
    jar = build.build_runtime()
    with zipfile.ZipFile(jar) as z:
        names = sorted(
            n[: -len(".class")].replace("/", ".")
            for n in z.namelist()
            if n.endswith(".class") and "$" not in n
        )
    proc = subprocess.run(
        [build._tool("javap"), "-cp", str(jar), *names],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    public = {
        m.group(1)
        for m in re.finditer(
            r"^public .*?(?:class|interface|enum|record) org\.pd2java\.runtime\.(\w+)",
            proc.stdout,
            re.MULTILINE,
        )
    }
    assert public == PUBLIC_API


def test_build_is_cached() -> None:
    first = build.build_runtime()
    mtime = first.stat().st_mtime_ns
    second = build.build_runtime()
    assert second == first
    assert second.stat().st_mtime_ns == mtime  # reused, not rebuilt


def test_changed_source_rebuilds_and_concurrent_builds_agree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = _copy_main_sources(tmp_path / "harness")
    model = harness / "src/main/java/org/pd2java/runtime/Model.java"
    model.write_text(model.read_text() + "\n// a change that must give a new cache key\n")
    original = build.build_runtime()
    monkeypatch.setenv("PD2JAVA_CACHE", str(tmp_path / "cache"))
    results: list[Path] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(build.build_runtime(harness))
        except BaseException as exc:  # noqa: BLE001 - reported by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert results[0] == results[1]
    assert results[0].name != original.name
    assert results[0].parent == tmp_path / "cache"
    # No temporary build folder is left behind, and the jar works.
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.startswith(".build")]
    out = subprocess.run(
        ["java", "-cp", str(results[0]), "org.pd2java.runtime.Cli", "ops"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "conv2d@1" in out.split()


def test_javac_errors_are_shown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    harness = _copy_main_sources(tmp_path / "harness")
    broken = harness / "src/main/java/org/pd2java/runtime/Broken.java"
    broken.write_text("package org.pd2java.runtime;\nclass Broken { int x = ; }\n")
    monkeypatch.setenv("PD2JAVA_CACHE", str(tmp_path / "cache"))
    with pytest.raises(build.JavaBuildError) as info:
        build.build_runtime(harness)
    message = str(info.value)
    assert "Broken.java" in message and "error" in message
    assert not list((tmp_path / "cache").glob("*.jar"))  # nothing half-built left in the cache


def test_missing_sources_and_launcher_are_clear_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "empty" / "src" / "main" / "java").mkdir(parents=True)
    with pytest.raises(build.JavaBuildError, match="no .java sources"):
        build.build_runtime(tmp_path / "empty")
    monkeypatch.setenv("PD2JAVA_JUNIT_LAUNCHER", str(tmp_path / "absent.jar"))
    with pytest.raises(build.JavaBuildError, match="apt-get install junit5"):
        build.junit_launcher()


def test_gateway_is_built_beside_the_runtime() -> None:
    if not list((java_harness_dir() / "src" / "gateway" / "java").rglob("*.java")):
        pytest.skip("no gateway sources yet")
    jar = build.build_gateway()
    with zipfile.ZipFile(jar) as z:
        classes = [n for n in z.namelist() if n.endswith(".class")]
    assert classes
    assert not [n for n in classes if n.startswith("org/pd2java/runtime/")]
    assert build.py4j_jar().name.startswith("py4j")


def test_cli_java_build(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["java", "build", "--runtime-only"]) == 0
    out = capsys.readouterr().out
    assert str(build.build_runtime()) in out


def test_build_output_writes_the_versioned_deliverable(tmp_path: Path, capsys) -> None:
    from pd2java import __version__

    out = tmp_path / "dist"
    assert cli.main(["java", "build", "-o", str(out)]) == 0
    stem = f"pd2java-runtime-{__version__}"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{stem}.jar", f"{stem}-sources.jar", "pom.xml"]
    )  # and no temporary folder left behind
    assert f"wrote {out / (stem + '.jar')}" in capsys.readouterr().out
    with zipfile.ZipFile(out / f"{stem}.jar") as z:
        manifest = z.read("META-INF/MANIFEST.MF").decode()
        classes = [n for n in z.namelist() if n.endswith(".class")]
    assert f"Implementation-Version: {__version__}" in manifest
    assert "Automatic-Module-Name: org.pd2java.runtime" in manifest
    assert all(n.startswith("org/pd2java/runtime/") for n in classes)
    with zipfile.ZipFile(out / f"{stem}-sources.jar") as z:
        sources = z.namelist()
    assert "org/pd2java/runtime/Model.java" in sources
    assert not [n for n in sources if n.endswith(".class")]
    pom = (out / "pom.xml").read_text(encoding="utf-8")
    assert "<groupId>org.pd2java</groupId>" in pom
    assert "<artifactId>pd2java-runtime</artifactId>" in pom
    assert f"<version>{__version__}</version>" in pom
    assert "<dependencies/>" in pom  # zero dependencies
    # The jar reports the same version as the Python package.
    java = build._tool("java")
    proc = subprocess.run(
        [java, "-jar", str(out / f"{stem}.jar"), "version"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0 and proc.stdout.strip() == f"pd2java-runtime {__version__}"


def test_build_output_refuses_a_file_in_the_way(tmp_path: Path) -> None:
    blocker = tmp_path / "dist"
    blocker.write_text("not a folder")
    with pytest.raises(build.JavaBuildError, match="not a folder"):
        build.write_artifacts(blocker)
    assert blocker.read_text() == "not a folder"
