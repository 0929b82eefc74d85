package org.pd2java.runtime;

/** Base of the one-input elementwise ops: output shape = input shape. */
abstract class ElementwiseKernel implements Kernel {
  private final int[] shape;

  ElementwiseKernel(int[] shape) {
    this.shape = shape.clone();
  }

  @Override
  public final int[] outputShape() {
    return shape.clone();
  }

  @Override
  public final void run(float[][] inputs, float[] out) {
    float[] x = inputs[0];
    for (int i = 0; i < out.length; i++) {
      out[i] = apply(x[i]);
    }
  }

  abstract float apply(float x);
}
