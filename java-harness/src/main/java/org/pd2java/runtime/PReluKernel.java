package org.pd2java.runtime;

import java.util.Arrays;

/**
 * prelu@1: {@code x if x >= 0 else weight[c] * x}, c the channel (the first per-sample axis);
 * {@code num_parameters} is 1 (one slope for every channel) or the channel count, and the
 * {@code weight} slot holds that many slopes.
 */
final class PReluKernel extends ElementwiseKernel {
  private final float[] weight;
  private final int plane;

  static Kernel compile(NodeDef n, int[][] in) {
    int count = n.intAttr("num_parameters", 1);
    int[] x = in[0];
    if (x.length < 1) {
      throw n.error(ErrorCode.SHAPE_MISMATCH, "input has no channel axis");
    }
    if (count != 1 && count != x[0]) {
      throw n.error(
          ErrorCode.SHAPE_MISMATCH,
          "num_parameters " + count + " is neither 1 nor the channel count of the input "
              + Arrays.toString(x));
    }
    float[] weight = n.param("weight", count);
    int plane = 1;
    for (int i = 1; i < x.length; i++) {
      plane *= x[i];
    }
    return new PReluKernel(x, weight, plane);
  }

  private PReluKernel(int[] shape, float[] weight, int plane) {
    super(shape);
    this.weight = weight;
    this.plane = plane;
  }

  @Override
  public void run(float[][] inputs, float[] out) {
    float[] in = inputs[0];
    int channels = out.length / plane;
    for (int c = 0; c < channels; c++) {
      float slope = weight[weight.length == 1 ? 0 : c];
      int base = c * plane;
      for (int i = base; i < base + plane; i++) {
        float v = in[i];
        out[i] = v >= 0f ? v : slope * v;
      }
    }
  }
}
