"""Build the Java runtime, the py4j gateway and the JUnit tests with the JDK's ``javac``/``jar``.

No Maven or Gradle: the sources under ``java-harness/`` are compiled with
``javac --release 17 -Xlint`` and packed with ``jar``. Every artefact is cached under
``pd2java.resources.cache_dir()`` in a name keyed by a hash of its sources, the compiler version
and its dependencies, so a rebuild happens only when something changed. Builds happen in a
private temporary folder inside the cache and the result is renamed into place atomically, so two
processes building at once both end up with a complete artefact and never see a half-written one.

Layout of ``java-harness/``:
- ``src/main/java``: the runtime (package ``org.pd2java.runtime``), zero dependencies;
- ``src/gateway/java``: the py4j parity gateway, compiled against the runtime jar and py4j's jar;
- ``src/test/java``: JUnit 5 tests, run with the console launcher from Debian's ``junit5``.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from pd2java.errors import UserError
from pd2java.resources import cache_dir, java_harness_dir

JUNIT_LAUNCHER = Path("/usr/share/java/junit-platform-console-standalone.jar")
RUNTIME_MAIN = "org.pd2java.runtime.Cli"
# Maven coordinates and module name of the runtime jar (the version is the package's).
GROUP_ID = "org.pd2java"
ARTIFACT_ID = "pd2java-runtime"
MODULE_NAME = "org.pd2java.runtime"
# Bump when the build recipe itself changes, so old cached artefacts are not reused.
_RECIPE = "1"


class JavaBuildError(UserError):
    """javac, jar or the JDK failed; the message carries the tool's output."""


def _tool(name: str) -> str:
    """Path of a JDK tool: $JAVA_HOME/bin first, then PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / name
        if candidate.is_file():
            return str(candidate)
    found = shutil.which(name)
    if not found:
        raise JavaBuildError(
            f"the JDK tool {name!r} was not found on PATH (or in $JAVA_HOME/bin); install a "
            "Java 17+ JDK, e.g. `apt-get install openjdk-17-jdk-headless`"
        )
    return found


def _run(cmd: list[str], what: str, timeout: float = 600) -> str:
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout)
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        raise JavaBuildError(f"{what} failed (exit {proc.returncode}):\n{output}")
    return output


_JAVAC_VERSION: str | None = None


def javac_version() -> str:
    """``javac -version`` output (part of every cache key)."""
    global _JAVAC_VERSION
    if _JAVAC_VERSION is None:
        _JAVAC_VERSION = _run([_tool("javac"), "-version"], "javac -version")
    return _JAVAC_VERSION


def _sources(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.java") if p.is_file())


def _hash(root: Path, sources: list[Path], extra: list[str]) -> str:
    h = hashlib.sha256()
    for part in [_RECIPE, javac_version(), *extra]:
        h.update(part.encode() + b"\0")
    for src in sources:
        h.update(src.relative_to(root).as_posix().encode() + b"\0")
        h.update(src.read_bytes() + b"\0")
    return h.hexdigest()[:20]


def _javac(sources: list[Path], out_dir: Path, classpath: list[Path], what: str) -> None:
    # An @argfile keeps long source lists off the command line.
    argfile = out_dir.parent / "sources.txt"
    argfile.write_text("\n".join(f'"{s.as_posix()}"' for s in sources) + "\n", encoding="utf-8")
    cmd = [_tool("javac"), "--release", "17", "-Xlint:all", "-encoding", "UTF-8"]
    # The Vector API kernels compile against the incubator module; only they refer to it, and
    # the jar loads them by name only when the JVM has the module (see Kernels.java).
    cmd += ["--add-modules", "jdk.incubator.vector"]
    cmd += ["-d", str(out_dir)]
    if classpath:
        cmd += ["-cp", os.pathsep.join(str(p) for p in classpath)]
    cmd.append(f"@{argfile}")
    _run(cmd, f"javac ({what})")


def _build_jar(
    kind: str, src_root: Path, classpath: list[Path], extra_key: list[str], main: str | None
) -> Path:
    sources = _sources(src_root)
    if not sources:
        raise JavaBuildError(f"no .java sources under {src_root} for the {kind}")
    key = _hash(src_root, sources, [kind, *extra_key, *(p.name for p in classpath)])
    target = cache_dir() / f"pd2java-{kind}-{key}.jar"
    if target.is_file():
        return target
    work = Path(tempfile.mkdtemp(prefix=f".build-{kind}-", dir=cache_dir()))
    try:
        classes = work / "classes"
        classes.mkdir()
        _javac(sources, classes, classpath, kind)
        tmp_jar = work / "out.jar"
        manifest = work / "MANIFEST.MF"
        manifest.write_text(_jar_manifest(kind), encoding="utf-8")
        cmd = [_tool("jar"), "--create", "--file", str(tmp_jar), "--manifest", str(manifest)]
        if main:
            cmd += ["--main-class", main]
        cmd += ["-C", str(classes), "."]
        _run(cmd, f"jar ({kind})")
        os.replace(tmp_jar, target)  # atomic: readers see the old name absent or the full jar
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _jar_manifest(kind: str) -> str:
    """MANIFEST.MF entries beside the ones ``jar`` writes: title and version, and for the runtime
    its ``Automatic-Module-Name`` (a stable module name on the module path)."""
    from pd2java import __version__

    lines = [f"Implementation-Title: pd2java-{kind}", f"Implementation-Version: {__version__}"]
    if kind == "runtime":
        lines.append(f"Automatic-Module-Name: {MODULE_NAME}")
    return "\n".join(lines) + "\n"


def pom_xml(version: str) -> str:
    """The runtime's ``pom.xml``: its coordinates, no dependencies, Java 17, and the compiler flag
    the Vector API kernels need (for teams that build the sources with Maven)."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0"
         xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 https://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>{GROUP_ID}</groupId>
  <artifactId>{ARTIFACT_ID}</artifactId>
  <version>{version}</version>
  <packaging>jar</packaging>
  <name>pd2java runtime</name>
  <description>Loads pd2java model manifests and runs them in pure Java (no dependencies).</description>
  <properties>
    <maven.compiler.release>17</maven.compiler.release>
    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
  </properties>
  <dependencies/>
  <build>
    <plugins>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-compiler-plugin</artifactId>
        <version>3.13.0</version>
        <configuration>
          <compilerArgs>
            <arg>--add-modules=jdk.incubator.vector</arg>
          </compilerArgs>
        </configuration>
      </plugin>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-jar-plugin</artifactId>
        <version>3.4.2</version>
        <configuration>
          <archive>
            <manifest>
              <mainClass>{RUNTIME_MAIN}</mainClass>
            </manifest>
            <manifestEntries>
              <Implementation-Version>{version}</Implementation-Version>
              <Automatic-Module-Name>{MODULE_NAME}</Automatic-Module-Name>
            </manifestEntries>
          </archive>
        </configuration>
      </plugin>
    </plugins>
  </build>
</project>
"""


def write_artifacts(out_dir: str | os.PathLike[str], harness: Path | None = None) -> list[Path]:
    """Write the runtime as a deliverable into ``out_dir``: ``pd2java-runtime-<version>.jar``,
    ``pd2java-runtime-<version>-sources.jar`` and ``pom.xml``. Each file is written under a
    temporary name and renamed into place, so ``out_dir`` never holds a half-written one.
    Returns their paths."""
    from pd2java import __version__

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise JavaBuildError(f"{out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    runtime = build_runtime(harness)
    src_root = (harness or java_harness_dir()) / "src" / "main" / "java"
    stem = f"{ARTIFACT_ID}-{__version__}"
    work = Path(tempfile.mkdtemp(prefix=".pd2java-artifacts-", dir=out))
    try:
        shutil.copyfile(runtime, work / f"{stem}.jar")
        _run(
            [
                _tool("jar"),
                "--create",
                "--file",
                str(work / f"{stem}-sources.jar"),
                "-C",
                str(src_root),
                ".",
            ],
            "jar (sources)",
        )
        (work / "pom.xml").write_text(pom_xml(__version__), encoding="utf-8")
        written = []
        for name in (f"{stem}.jar", f"{stem}-sources.jar", "pom.xml"):
            os.replace(work / name, out / name)
            written.append(out / name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return written


def build_runtime(harness: Path | None = None) -> Path:
    """The runtime jar (no third-party class inside), built if its sources changed.

    ``harness`` overrides the ``java-harness`` folder (tests use a modified copy).
    """
    root = (harness or java_harness_dir()) / "src" / "main" / "java"
    return _build_jar("runtime", root, [], [], RUNTIME_MAIN)


def py4j_jar() -> Path:
    """py4j's own jar, shipped by the py4j Python package."""
    candidates: list[str] = []
    try:
        from py4j.java_gateway import find_jar_path

        found = find_jar_path()
        if found:
            candidates.append(found)
    except ImportError:  # pragma: no cover - py4j is a dependency
        pass
    for prefix in {sys.prefix, sys.base_prefix, "/usr/local", "/usr"}:
        candidates += sorted(glob.glob(os.path.join(prefix, "share", "py4j", "py4j*.jar")))
    for c in candidates:
        if os.path.isfile(c):
            return Path(c)
    raise JavaBuildError(
        "py4j's jar was not found (looked via py4j.java_gateway.find_jar_path and "
        f"{sys.prefix}/share/py4j/py4j*.jar); reinstall py4j: pip install --force-reinstall py4j"
    )


def build_gateway(harness: Path | None = None) -> Path:
    """The py4j gateway jar (``src/gateway/java``), compiled against the runtime and py4j jars.

    Run it with ``runtime jar : gateway jar : py4j jar`` on the class path.
    """
    harness = harness or java_harness_dir()
    runtime = build_runtime(harness)
    root = harness / "src" / "gateway" / "java"
    return _build_jar("gateway", root, [runtime, py4j_jar()], [], None)


def build_program(kind: str, src_root: Path, classpath: list[Path]) -> Path:
    """A jar of the Java sources under ``src_root`` (e.g. a benchmark's main class), compiled
    against ``classpath`` with the runtime's javac flags and cached like the runtime jar."""
    return _build_jar(kind, src_root, classpath, [], None)


def junit_launcher() -> Path:
    """The JUnit 5 console launcher from Debian's ``junit5`` package."""
    override = os.environ.get("PD2JAVA_JUNIT_LAUNCHER")
    path = Path(override) if override else JUNIT_LAUNCHER
    if not path.is_file():
        raise JavaBuildError(
            f"the JUnit 5 console launcher {path} is missing; install it with "
            "`apt-get install junit5` (or set PD2JAVA_JUNIT_LAUNCHER to the standalone jar)"
        )
    return path


def build_tests(harness: Path | None = None) -> Path:
    """Compile ``src/test/java`` against the runtime jar and JUnit; returns the classes folder."""
    harness = harness or java_harness_dir()
    runtime = build_runtime(harness)
    launcher = junit_launcher()
    root = harness / "src" / "test" / "java"
    sources = _sources(root)
    if not sources:
        raise JavaBuildError(f"no JUnit test sources under {root}")
    key = _hash(root, sources, ["tests", runtime.name, launcher.name])
    target = cache_dir() / f"pd2java-junit-{key}"
    if target.is_dir():
        return target
    work = Path(tempfile.mkdtemp(prefix=".build-junit-", dir=cache_dir()))
    try:
        classes = work / "classes"
        classes.mkdir()
        _javac(sources, classes, [runtime, launcher], "JUnit tests")
        try:
            os.rename(classes, target)  # atomic; fails if another process won the race
        except OSError:
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _test_resources(harness: Path | None) -> Path:
    return (harness or java_harness_dir()) / "src" / "test" / "resources"


def junit_command(vector: bool, harness: Path | None = None) -> list[str]:
    """The command that runs the JUnit suite in a JVM with (``vector``) or without the Vector API
    module, building everything first. The JVM is told which kernel family to expect (system
    property ``pd2java.test.expectVector``), and KernelPathTest fails when another one is active:
    a run that silently fell back to the scalar kernels does not pass."""
    from pd2java.backends.java.bridge import VECTOR_OPTION

    runtime = build_runtime(harness)
    tests = build_tests(harness)
    return [
        _tool("java"),
        *([VECTOR_OPTION] if vector else []),
        f"-Dpd2java.test.expectVector={'true' if vector else 'false'}",
        "-jar",
        str(junit_launcher()),
        "--disable-banner",
        "--disable-ansi-colors",
        "--details=tree",
        "--fail-if-no-tests",
        "--class-path",
        # src/test/resources is read in place (test vectors such as prpd_vectors.json).
        os.pathsep.join([str(runtime), str(tests), str(_test_resources(harness))]),
        "--scan-class-path",
        str(tests),
    ]


def run_junit(vector: bool, harness: Path | None = None, timeout: float = 900) -> tuple[bool, str]:
    """Build everything and run the JUnit tests in a JVM started with (``vector=True``) or
    without ``--add-modules=jdk.incubator.vector``, i.e. on the Vector API kernels or on the
    scalar ones; returns (all passed, launcher output). CI runs both."""
    cmd = junit_command(vector, harness)
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout)
    return proc.returncode == 0, (proc.stdout + proc.stderr)
