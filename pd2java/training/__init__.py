"""The training product: PRPD data (``data``), the two PD models (``models``), training
(``train``), evaluation (``evaluate``) and checkpoints (``checkpoint``). Uses torch; the export
pipeline (``pd2java.frontends``, ``pd2java.ir``, ``pd2java.backends``) does not depend on it."""
