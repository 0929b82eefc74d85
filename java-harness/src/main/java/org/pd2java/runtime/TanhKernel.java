package org.pd2java.runtime;

/** tanh@1: {@code tanh(x)}, evaluated in double and rounded to float. */
final class TanhKernel extends ElementwiseKernel {
  static Kernel compile(NodeDef n, int[][] in) {
    return new TanhKernel(in[0]);
  }

  private TanhKernel(int[] shape) {
    super(shape);
  }

  @Override
  public void run(float[][] inputs, float[] out) {
    float[] in = inputs[0];
    for (int i = 0; i < out.length; i++) {
      double x = in[i];
      out[i] = (float) (Math.tanh(x));
    }
  }
}
