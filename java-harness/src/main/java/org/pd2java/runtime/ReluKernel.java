package org.pd2java.runtime;

/** relu@1: {@code max(x, 0)}. */
final class ReluKernel extends ElementwiseKernel {
  static Kernel compile(NodeDef n, int[][] in) {
    return new ReluKernel(in[0]);
  }

  private ReluKernel(int[] shape) {
    super(shape);
  }

  @Override
  float apply(float x) {
    return x > 0f ? x : 0f;
  }
}
