"""Exceptions shared by the whole package.

``UserError`` is anything the user can fix (bad file, bad option); the CLI prints its message and
exits 1. ``ParityError`` means Java and the oracles disagree; the CLI exits 2.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input. The message says what was wrong and where."""


class ParityError(Exception):
    """Outputs of two back ends disagree beyond the tolerance."""
