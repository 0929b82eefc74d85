"""A plain (non-editable) install carries templates/ and java-harness/ and finds them.

Both folders live at the top level but must ship inside the wheel, found through
importlib.resources. This builds the real wheel, installs it into a scratch folder and looks.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_bundles_templates_and_java_sources(tmp_path: Path) -> None:
    wheel_dir = tmp_path / "wheel"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheel_dir), str(ROOT)],
        check=True,
    )
    (wheel,) = wheel_dir.glob("pd2java-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for expected in (
        "pd2java/_bundled/templates/java/Wrapper.java.j2",
        "pd2java/_bundled/java-harness/src/main/java/org/pd2java/runtime/Model.java",
        "pd2java/_bundled/java-harness/src/gateway/java/org/pd2java/gateway/Gateway.java",
        "pd2java/schema/manifest.schema.json",
        "pd2java/pretrained/gis.pt",
        "pd2java/pretrained/transformer.pt",
    ):
        assert expected in names, f"{expected} missing from {wheel.name}"
    assert not [n for n in names if n.endswith(".class")], "compiled classes leaked into the wheel"

    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)
    code = "import pd2java.resources as r; print(r.templates_dir()); print(r.java_harness_dir())"
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,  # not the checkout, whose pd2java/ would shadow the installed one
    ).stdout.split()
    assert out == [
        str(target / "pd2java" / "_bundled" / "templates"),
        str(target / "pd2java" / "_bundled" / "java-harness"),
    ]
