"""Each op is declared once per side: the families' torch and ONNX registrations cover the op table,
and every list of supported forms (error messages, docs) is derived from those registrations."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pd2java.ops import docs as ops_docs
from pd2java.ops.frontend_registry import (
    NO_ONNX_EXPORT,
    NO_ONNX_IMPORT,
    NO_TORCH_LOWERING,
    coverage_gaps,
    onnx_exports,
    onnx_imports,
    output_kind,
    supported_torch,
    torch_forms,
)
from pd2java.ops.table import OP_LIST

ROOT = Path(__file__).resolve().parent.parent


def test_every_op_has_a_torch_lowering_an_onnx_import_and_an_onnx_export() -> None:
    assert coverage_gaps() == []
    for exempt in (NO_TORCH_LOWERING, NO_ONNX_IMPORT, NO_ONNX_EXPORT):
        for op, reason in exempt.items():
            assert op in {s.name for s in OP_LIST} and reason.strip(), (op, reason)


def test_every_registered_torch_form_is_in_the_supported_list_and_the_docs() -> None:
    from pd2java.frontends.fx import SUPPORTED_TORCH

    export_md = (ROOT / "docs" / "EXPORT.md").read_text(encoding="utf-8")
    listed = [f for f in torch_forms() if f.listed]
    assert SUPPORTED_TORCH == supported_torch()
    for form in listed:
        assert form.shown in SUPPORTED_TORCH, form
        assert f"`{form.shown}`" in export_md, form
    shown = {f.shown for f in listed}
    for name in ("Dropout2d", "Hardtanh(a, b)", "x.contiguous()", "a + b", "F.max_pool2d"):
        assert name in shown


def test_every_registered_torch_target_resolves() -> None:
    from pd2java.frontends import fx

    modules = [f for f in torch_forms() if f.kind == "module"]
    assert len(fx._MODULES) == len(modules)
    assert {f.target for f in fx._METHODS.values()} == {
        f.target for f in torch_forms() if f.kind == "method"
    }
    listed_functions = {f.target for f in torch_forms() if f.kind == "function" and f.listed}
    assert listed_functions <= {f.target for f in fx._FUNCTIONS.values()}


def test_every_onnx_mapping_is_in_the_supported_lists_and_the_docs() -> None:
    from pd2java.frontends.onnx import FOLDED_CONSTANT_OPS, SUPPORTED_ONNX_OPS

    onnx_md = (ROOT / "docs" / "ONNX.md").read_text(encoding="utf-8")
    for mapping in onnx_imports():
        for op_type in mapping.op_types:
            assert op_type in (
                FOLDED_CONSTANT_OPS if mapping.role == "folded" else SUPPORTED_ONNX_OPS
            )
            assert f"`{op_type}`" in onnx_md
    assert not set(SUPPORTED_ONNX_OPS) & set(FOLDED_CONSTANT_OPS)
    for key, mapping in onnx_exports().items():
        assert f"| `{key.split('@')[0]}` | {mapping.doc} |" in onnx_md


def test_generated_tables_match_the_docs() -> None:
    for text, name in (
        (ops_docs.torch_forms_table(), "EXPORT.md"),
        (ops_docs.onnx_export_table(), "ONNX.md"),
        (ops_docs.onnx_import_table(), "ONNX.md"),
    ):
        assert text in (ROOT / "docs" / name).read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("last", "kind"),
    [("softmax", "probabilities"), ("sigmoid", "probabilities"), ("linear", "logits")],
)
def test_output_kind_rule(last: str, kind: str) -> None:
    assert output_kind(last) == kind


def test_registrations_import_neither_torch_nor_onnx() -> None:
    code = (
        "import sys\n"
        "import pd2java.backends.reference\n"
        "from pd2java.ops import frontend_registry\n"
        "frontend_registry.torch_forms(); frontend_registry.onnx_exports()\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "assert 'onnx' not in sys.modules, 'onnx imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
