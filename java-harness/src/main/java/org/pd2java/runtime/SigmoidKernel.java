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
  public void run(float[][] inputs, float[] out) {
    float[] in = inputs[0];
    for (int i = 0; i < out.length; i++) {
      float x = in[i];
      out[i] = (float) (1.0 / (1.0 + Math.exp(-(double) x)));
    }
  }
}
