package org.pd2java.runtime;

/** leaky_relu@1: {@code x if x >= 0 else negative_slope * x}; the slope is never defaulted. */
final class LeakyReluKernel extends ElementwiseKernel {
  private final float slope;

  static Kernel compile(NodeDef n, int[][] in) {
    return new LeakyReluKernel(in[0], (float) n.floatAttr("negative_slope"));
  }

  private LeakyReluKernel(int[] shape, float slope) {
    super(shape);
    this.slope = slope;
  }

  @Override
  float apply(float x) {
    return x >= 0f ? x : slope * x;
  }
}
