package org.pd2java.runtime;

/** leaky_relu@1: {@code x if x >= 0 else negative_slope * x}; the slope is never defaulted. */
final class LeakyReluKernel extends ElementwiseKernel {
  private final float slope;

  static Kernel compile(NodeDef n, int[][] in) {
    float slope = (float) n.floatAttr("negative_slope");
    return n.referenceKernels
        ? new LeakyReluKernel(in[0], slope)
        : new FastLeakyReluKernel(in[0], slope);
  }

  private LeakyReluKernel(int[] shape, float slope) {
    super(shape);
    this.slope = slope;
  }

  @Override
  public void run(float[][] inputs, float[] out) {
    float[] in = inputs[0];
    for (int i = 0; i < out.length; i++) {
      float x = in[i];
      out[i] = x >= 0f ? x : slope * x;
    }
  }
}
