package org.pd2java.runtime;

/** silu@1: {@code x * sigmoid(x)}, evaluated in double and rounded to float. */
final class SiluKernel extends ElementwiseKernel {
  static Kernel compile(NodeDef n, int[][] in) {
    return new SiluKernel(in[0]);
  }

  private SiluKernel(int[] shape) {
    super(shape);
  }

  @Override
  public void run(float[][] inputs, float[] out) {
    float[] in = inputs[0];
    for (int i = 0; i < out.length; i++) {
      double x = in[i];
      out[i] = (float) (x / (1.0 + Math.exp(-x)));
    }
  }
}
