package org.pd2java.runtime;

/** relu6@1: {@code min(max(x, 0), 6)}. */
final class Relu6Kernel extends ElementwiseKernel {
  static Kernel compile(NodeDef n, int[][] in) {
    return new Relu6Kernel(in[0]);
  }

  private Relu6Kernel(int[] shape) {
    super(shape);
  }

  @Override
  float apply(float x) {
    return x > 0f ? (x < 6f ? x : 6f) : 0f;
  }
}
