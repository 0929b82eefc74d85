"""The Java side of pd2java: building the runtime jar (``build``), its CLI verbs (``commands``),
the py4j bridge and parity checks (``bridge``, ``verify``) and generated Java (``codegen``)."""
