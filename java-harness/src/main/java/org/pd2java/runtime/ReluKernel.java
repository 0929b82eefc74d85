package org.pd2java.runtime;

/** relu@1: {@code max(x, 0)}. */
final class ReluKernel extends ElementwiseKernel {
  static Kernel compile(NodeDef n, int[][] in) {
    return n.referenceKernels ? new ReluKernel(in[0]) : new FastReluKernel(in[0]);
  }

  private ReluKernel(int[] shape) {
    super(shape);
  }

  @Override
  public void run(float[][] inputs, float[] out) {
    float[] in = inputs[0];
    for (int i = 0; i < out.length; i++) {
      float x = in[i];
      out[i] = x > 0f ? x : 0f;
    }
  }
}
