"""The model card: one self-contained HTML page (``index.html``) about a trained model.

Public API::

    write_model_card(out_dir, model, *, dataset=None, labels=None, probs=None, report=None)
    report_export(export, out_dir=None, *, data=None)

``pd2java evaluate MODEL DATA -o DIR`` writes ``DIR/index.html`` with :func:`write_model_card`;
``pd2java report EXPORT_DIR`` (:func:`report_export`) writes one for an export folder. Details
in :mod:`pd2java.report.card`.
"""

from __future__ import annotations

from pd2java.report.card import CARD_FILE, report_export, write_model_card

__all__ = ["CARD_FILE", "report_export", "write_model_card"]
