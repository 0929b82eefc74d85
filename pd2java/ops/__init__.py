"""The op set. ``pd2java.ops.table`` is the single source of truth for names, versions, inputs,
parameter slots and attributes; the fx lowering and NumPy kernel of each op family live in the
family's module beside it."""
