package org.pd2java.runtime;

/** Builds a {@link Kernel} for one node, validating its semantics (values, shapes). */
@FunctionalInterface
interface KernelFactory {
  Kernel compile(NodeDef node, int[][] inputShapes);
}
