"""The README's set-up commands are the ones CI runs, and the CLI verbs it lists exist."""

from __future__ import annotations

import re
from pathlib import Path

from pd2java.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```bash\n(.*?)\n```", text, flags=re.DOTALL)


def test_readme_has_two_setup_commands_and_ci_runs_the_test_one() -> None:
    blocks = _readme_commands()
    demo = [b for b in blocks if "pd2java demo" in b]
    tests = [b for b in blocks if b.rstrip().endswith("pytest")]
    assert len(demo) == 1 and len(tests) == 1, blocks
    for command in (demo[0], tests[0]):
        assert "-c constraints.txt" in command, "installs must pin torch to the local CPU build"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    # CI runs the README's test command itself, verbatim: the text between the heredoc markers.
    embedded = re.findall(r"<<'README'\n(.*?)\nREADME\n", ci, flags=re.DOTALL)
    assert embedded == [tests[0]], f".ci/run must run the README test command verbatim: {embedded}"
    assert 'eval "$readme_test_command"' in ci
    # A fresh machine has no JUnit launcher nor a browser for the model-card test: the documented
    # command installs them itself.
    assert tests[0].startswith("apt-get update && apt-get install -y junit5 chromium && ")


def test_every_readme_verb_is_a_real_command() -> None:
    parser = build_parser()
    verbs = set(parser._subparsers._group_actions[0].choices)
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `pd2java (\w[\w-]*)", text, flags=re.MULTILINE))
    assert listed, "README lists no commands"
    assert listed <= verbs, f"README lists verbs the CLI lacks: {sorted(listed - verbs)}"
