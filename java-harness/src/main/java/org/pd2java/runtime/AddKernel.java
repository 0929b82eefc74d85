package org.pd2java.runtime;

import java.util.Arrays;

/** add@1: elementwise sum of two values of the same shape (no broadcasting). */
final class AddKernel implements Kernel {
  private final int[] shape;

  static Kernel compile(NodeDef n, int[][] in) {
    if (!Arrays.equals(in[0], in[1])) {
      throw n.error(
          ErrorCode.SHAPE_MISMATCH,
          "inputs have shapes " + Arrays.toString(in[0]) + " and " + Arrays.toString(in[1])
              + "; add needs equal shapes (no broadcasting)");
    }
    return new AddKernel(in[0]);
  }

  private AddKernel(int[] shape) {
    this.shape = shape.clone();
  }

  @Override
  public int[] outputShape() {
    return shape.clone();
  }

  @Override
  public void run(float[][] inputs, float[] out) {
    float[] a = inputs[0];
    float[] b = inputs[1];
    for (int i = 0; i < out.length; i++) {
      out[i] = a[i] + b[i];
    }
  }
}
