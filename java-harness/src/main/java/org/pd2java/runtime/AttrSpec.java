package org.pd2java.runtime;

/**
 * One attribute of an op, as listed by the generated {@link OpTable}.
 *
 * @param name attribute name (PyTorch's)
 * @param kind its kind
 */
record AttrSpec(String name, AttrKind kind) {}
