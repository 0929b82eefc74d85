package org.pd2java.runtime;

/** hardsigmoid@1: {@code min(max(x + 3, 0), 6) / 6}, as PyTorch, evaluated in double and rounded to float. */
final class HardsigmoidKernel extends ElementwiseKernel {
  static Kernel compile(NodeDef n, int[][] in) {
    return new HardsigmoidKernel(in[0]);
  }

  private HardsigmoidKernel(int[] shape) {
    super(shape);
  }

  @Override
  public void run(float[][] inputs, float[] out) {
    float[] in = inputs[0];
    for (int i = 0; i < out.length; i++) {
      double x = in[i];
      out[i] = (float) (Math.min(Math.max(x + 3.0, 0.0), 6.0) / 6.0);
    }
  }
}
