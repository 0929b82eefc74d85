"""``pd2java export --bundle``: make an export folder a self-contained Java deliverable.

Beside the model files and the generated sources it writes ``lib/`` (the runtime jar named by
version, its sources jar and its ``pom.xml``, exactly as ``pd2java java build -o``) and
``README-java.md``: this model's classes, input and output, and the commands that check it,
compile the wrapper and call it with plain ``javac`` and ``java``, or install the runtime into a
local Maven repository. Every file is written under a temporary name and renamed into place.
"""

from __future__ import annotations

import json
from pathlib import Path

from pd2java import __version__
from pd2java.backends.java.build import ARTIFACT_ID, GROUP_ID, write_artifacts
from pd2java.fsutil import write_text_atomic

README = "README-java.md"
EXAMPLE_CLASS = "Diagnose"


def _example(manifest: dict, name: str) -> str:
    """A complete Java program that loads the export and classifies one sample given as a file
    of whitespace-separated floats (or all zeros), using the runtime API only."""
    classify = bool(manifest["classes"]) or len(manifest["outputs"][0]["shape"]) == 1
    if classify:
        call = """    Prediction p = model.classify(x);
    if (!p.hasActivity()) {
      System.out.println("no PD activity");
    } else {
      for (int k : p.topK(3)) {
        System.out.printf("%-24s %.4f%n", model.classes().isEmpty() ? k : model.classes().get(k),
            p.scores()[k]);
      }
    }"""
    else:
        call = """    float[] y = model.predict(x);
    System.out.println(model.outputName(0) + ": " + y.length + " values, first " + y[0]);"""
    return f"""import java.nio.file.Files;
import java.nio.file.Path;
import org.pd2java.runtime.Model;
import org.pd2java.runtime.Prediction;

/** Classifies one sample of {name}: java {EXAMPLE_CLASS} [SAMPLE.txt]. */
public final class {EXAMPLE_CLASS} {{
  public static void main(String[] args) throws Exception {{
    Model model = Model.load(Path.of("{name}.manifest.json")); // validates + self-tests
    float[] x = new float[size(model.inputShape())];
    if (args.length > 0) {{
      String[] values = Files.readString(Path.of(args[0])).trim().split("\\\\s+");
      for (int i = 0; i < x.length; i++) {{
        x[i] = Float.parseFloat(values[i]);
      }}
    }}
    System.out.println(model.metadata().name() + " (runtime " + Model.runtimeVersion() + ")");
{call}
  }}

  private static int size(int[] shape) {{
    int n = 1;
    for (int d : shape) {{
      n *= d;
    }}
    return n;
  }}
}}
"""


def readme_text(manifest_path: Path, sources: list[Path]) -> str:
    """The bundle's README for the export at ``manifest_path``; ``sources`` are the generated
    wrapper and test (absent for a model that is not a classifier, or with ``--no-java``)."""
    m = json.loads(manifest_path.read_text("utf-8"))
    out = manifest_path.parent
    name = m["name"]
    jar = f"lib/{ARTIFACT_ID}-{__version__}.jar"
    classes = m["classes"]
    primary = m["outputs"][0]
    convention = m["input"]["image_convention"]
    lines = [
        f"# {name}: running this model from Java",
        "",
        f"Exported by pd2java {__version__}. Everything a Java developer needs is in this folder;",
        "nothing here needs Python.",
        "",
        "| file | what |",
        "|---|---|",
        (
            f"| `{manifest_path.name}` | the model: layers, shapes, classes (pd2java format "
            f"version {m['format_version']}) |"
        ),
        (
            f"| `{m['weights']['file']}` | the weights, {m['weights']['bytes']:,} bytes, SHA-256 "
            f"`{m['weights']['sha256']}` (checked at load) |"
        ),
        f"| `{jar}` | the pd2java runtime: zero dependencies, Java 17 or later |",
        (
            f"| `lib/{ARTIFACT_ID}-{__version__}-sources.jar`, `lib/pom.xml` | its sources and "
            f"Maven coordinates `{GROUP_ID}:{ARTIFACT_ID}:{__version__}` |"
        ),
    ]
    for src in sources:
        rel = src.relative_to(out).as_posix()
        what = "JUnit 5 test of the wrapper" if "/test/" in rel else "typed wrapper"
        lines.append(f"| `{rel}` | {what} (generated: regenerate it with the model) |")
    lines += [
        "",
        "## The model",
        "",
        (
            f"- Input `{m['input']['name']}`: one sample of shape {m['input']['shape']}, float32, "
            "flat row-major."
        ),
    ]
    if convention is not None:
        lines.append(
            f"- It is a PRPD image ({convention['shape'][0]} amplitude bins x "
            f"{convention['shape'][1]} phase bins): {convention['axis0']}; {convention['axis1']}; "
            f"value {convention['value']}. Build it from counts, pulses or PRPS with "
            "`org.pd2java.runtime.Prpd`. `classify` refuses values outside [0, 1] and answers "
            "an all-zero image as no PD activity."
        )
    lines.append(
        f"- Primary output `{primary['name']}`: shape {primary['shape']}, {primary['kind']}"
        + (
            "."
            if primary["kind"] == "probabilities"
            else " (raw scores: `Prediction.probabilities()` refuses them, use `scores()`)."
        )
    )
    if classes:
        lines.append("- Classes, in output order: " + ", ".join(f"`{c}`" for c in classes) + ".")
    lines += [
        "",
        "## Check it",
        "",
        "Load, validate and self-test the model on its golden vectors, and print a summary:",
        "",
        "```sh",
        f"java -jar {jar} check {manifest_path.name}",
        "```",
        "",
        "## Call it with plain javac",
        "",
        (
            f"`{EXAMPLE_CLASS}.java` (copy it from here) loads the model and classifies one sample, "
            "read from a file of whitespace-separated floats, or all zeros without one:"
        ),
        "",
        "```java",
        _example(m, name).rstrip(),
        "```",
        "",
        "```sh",
        "mkdir -p classes",
        f"javac --release 17 -cp {jar} -d classes {EXAMPLE_CLASS}.java",
        f"java --add-modules=jdk.incubator.vector -cp {jar}:classes {EXAMPLE_CLASS}",
        "```",
        "",
        (
            "`--add-modules=jdk.incubator.vector` turns on the Vector API kernels (2 to 3 times "
            "faster); without it the same jar runs plain Java kernels. On Windows, separate the "
            "class path with `;`."
        ),
    ]
    if sources:
        main = sources[0].relative_to(out).as_posix()
        lines += [
            "",
            (
                f"The typed wrapper `{main}` adds an enum of the classes and `diagnose(...)`; compile "
                f"it the same way (`javac --release 17 -cp {jar} -d classes {main}`)."
            ),
        ]
    lines += [
        "",
        "## With Maven or Gradle",
        "",
        "Install the runtime into your local repository once:",
        "",
        "```sh",
        f"mvn install:install-file -Dfile={jar} -DpomFile=lib/pom.xml",
        "```",
        "",
        (
            f"then depend on `{GROUP_ID}:{ARTIFACT_ID}:{__version__}`. The folder is laid out as a "
            "Maven project root (`src/main/java`, `src/test/java`); the generated test finds "
            f"`{manifest_path.name}` in the working directory."
        ),
        "",
    ]
    return "\n".join(lines)


def write_bundle(manifest_path: Path, sources: list[Path]) -> list[Path]:
    """Write ``lib/`` and the README into the export folder of ``manifest_path``; returns the
    files written."""
    out = manifest_path.parent
    written = write_artifacts(out / "lib")
    readme = write_text_atomic(out / README, readme_text(manifest_path, sources))
    return [*written, readme]
