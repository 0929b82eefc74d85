"""Regenerate every derived file from its one Python source, or check that none is stale.

    python -m pd2java.generate          # rewrite the derived files
    python -m pd2java.generate --check  # exit 1 naming each stale file (the tests run this)

Derived files: pd2java/schema/manifest.schema.json and docs/OPS.md (from the op table), the
generated tables of docs/FORMAT.md (limits and error codes), of docs/EXPORT.md (supported torch
forms) and of docs/ONNX.md (ONNX import and export mappings), both from the op families'
registrations (pd2java.ops.frontend_registry), and the Java runtime's generated sources
(``pd2java.backends.java.generate``). Only a source checkout has docs/ and java-harness/; an
installed wheel checks what it carries.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from pd2java import format_rules
from pd2java.backends.java import generate as java_generate
from pd2java.errors import ERROR_CODE_DOCS, ErrorCode
from pd2java.fsutil import write_text_atomic
from pd2java.ops import docs as ops_docs

ROOT = Path(__file__).resolve().parent.parent
FORMAT_MD = ROOT / "docs" / "FORMAT.md"
EXPORT_MD = ROOT / "docs" / "EXPORT.md"
ONNX_MD = ROOT / "docs" / "ONNX.md"
_BLOCK = re.compile(
    r"(<!-- generated: (?P<name>[a-z-]+) -->\n).*?(<!-- end generated -->)", re.DOTALL
)


def limits_table() -> str:
    rows = ["| limit | value | what |", "|---|---|---|"]
    rows += [f"| `{lim.name}` | {lim.value:,} | {lim.doc} |" for lim in format_rules.LIMITS]
    return "\n".join(rows) + "\n"


def error_code_table() -> str:
    rows = ["| code | meaning |", "|---|---|"]
    rows += [f"| `{c.value}` | {ERROR_CODE_DOCS[c]} |" for c in ErrorCode]
    return "\n".join(rows) + "\n"


MD_BLOCKS = {
    "limits": limits_table,
    "error-codes": error_code_table,
    "torch-forms": ops_docs.torch_forms_table,
    "onnx-export": ops_docs.onnx_export_table,
    "onnx-import": ops_docs.onnx_import_table,
}


def fill_blocks(text: str, where: Path) -> str:
    """``text`` with each ``<!-- generated: NAME -->`` block replaced by MD_BLOCKS[NAME]()."""

    def sub(m: re.Match[str]) -> str:
        name = m.group("name")
        if name not in MD_BLOCKS:
            raise KeyError(f"{where}: unknown generated block {name!r}")
        return m.group(1) + MD_BLOCKS[name]() + m.group(3)

    return _BLOCK.sub(sub, text)


def outputs() -> dict[Path, str]:
    """Every derived file, path -> the text it must have."""
    out = {
        ops_docs.SCHEMA_PATH: ops_docs.schema_text(),
        ops_docs.OPS_MD_PATH: ops_docs.generate_ops_md(),
    }
    for md in (FORMAT_MD, EXPORT_MD, ONNX_MD):
        if md.exists():
            out[md] = fill_blocks(md.read_text(encoding="utf-8"), md)
    harness = ROOT / "java-harness"
    if harness.is_dir():
        out.update(java_generate.render(harness))
    return out


def stale() -> list[Path]:
    return [p for p, text in outputs().items() if not p.exists() or p.read_text("utf-8") != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a derived file is stale")
    args = parser.parse_args(argv)
    if args.check:
        bad = stale()
        for p in bad:
            print(f"stale: {p} (run python -m pd2java.generate)", file=sys.stderr)
        return 1 if bad else 0
    for p, text in outputs().items():
        if not p.exists() or p.read_text("utf-8") != text:
            p.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(p, text)
            print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
