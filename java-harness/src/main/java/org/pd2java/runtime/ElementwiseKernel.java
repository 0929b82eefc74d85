package org.pd2java.runtime;

/**
 * Base of the one-input elementwise ops: output shape = input shape. Each subclass writes its own
 * loop in {@code run} (a per-element virtual call shared by several subclasses would be
 * megamorphic: not inlined, not vectorised).
 */
abstract class ElementwiseKernel implements Kernel {
  private final int[] shape;

  ElementwiseKernel(int[] shape) {
    this.shape = shape.clone();
  }

  @Override
  public final int[] outputShape() {
    return shape.clone();
  }
}
