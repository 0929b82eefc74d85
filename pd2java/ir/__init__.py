"""The intermediate representation and the passes over it (no torch import).

``pd2java.ir.graph`` holds the frozen dataclasses (``Graph``, ``Node``, ``ValueSpec``);
``pd2java.ir.passes`` the ``Graph -> Graph`` functions (validation, BN folding, pruning).
Front ends (``pd2java.frontends``) produce a ``Graph``; back ends (``pd2java.backends``) consume it.
"""

from __future__ import annotations

from pd2java.ir.graph import AttrValue, Graph, Node, ValueSpec

__all__ = ["AttrValue", "Graph", "Node", "ValueSpec"]
