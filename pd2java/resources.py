"""Locate the files that ship beside the Python code: ``templates/`` and ``java-harness/``.

In the repository (and in an editable install) they sit at the top level next to ``pd2java/``;
in a wheel they are bundled as ``pd2java/_bundled/<name>`` (see pyproject.toml). Both are found
through importlib.resources first so a zipped or relocated install still works.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path


def _find(name: str) -> Path:
    bundled = resources.files("pd2java") / "_bundled" / name
    if bundled.is_dir():
        return Path(os.fspath(bundled))
    source_tree = Path(__file__).resolve().parent.parent / name
    if source_tree.is_dir():
        return source_tree
    raise FileNotFoundError(
        f"pd2java data folder {name!r} is missing: looked in {bundled} and {source_tree}; "
        "reinstall pd2java"
    )


def templates_dir() -> Path:
    """The jinja2 templates for generated Java."""
    return _find("templates")


def java_harness_dir() -> Path:
    """The Java runtime and parity gateway sources."""
    return _find("java-harness")


def cache_dir() -> Path:
    """Where built artefacts (the runtime jar) are cached; ``PD2JAVA_CACHE`` overrides."""
    root = os.environ.get("PD2JAVA_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "pd2java"
    )
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path
