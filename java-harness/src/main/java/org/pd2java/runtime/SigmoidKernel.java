package org.pd2java.runtime;

/** sigmoid@1: {@code 1 / (1 + exp(-x))}, evaluated in double and rounded to float. */
final class SigmoidKernel extends ElementwiseKernel {
  static Kernel compile(NodeDef n, int[][] in) {
    return new SigmoidKernel(in[0]);
  }

  private SigmoidKernel(int[] shape) {
    super(shape);
  }

  @Override
  float apply(float x) {
    return (float) (1.0 / (1.0 + Math.exp(-(double) x)));
  }
}
