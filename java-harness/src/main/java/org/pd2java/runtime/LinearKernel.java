package org.pd2java.runtime;

import java.util.Arrays;

/**
 * linear@1: {@code y = W x + b} on a 1-D value; dot products accumulated in double.
 *
 * <p>A compressed weight (F16, or I8 with per-row scales) stays compressed: each call dequantises
 * one row at a time into a scratch row of {@code in_features} floats and takes the same dot
 * product as with float32 weights, so the result is bit-identical to this kernel on the
 * dequantised weights.
 */
final class LinearKernel implements Kernel {
  private final int in, out;
  /** The float32 weight, or null when it is compressed ({@link #packed}). */
  private final float[] weight;
  /** The compressed weight, or null when it is float32. */
  private final WeightTensor packed;
  private final float[] bias;

  static Kernel compile(NodeDef n, int[][] shapes) {
    int in = n.intAttr("in_features", 1);
    int out = n.intAttr("out_features", 1);
    int[] x = shapes[0];
    if (x.length != 1 || x[0] != in) {
      throw n.error(
          ErrorCode.SHAPE_MISMATCH,
          "input has shape " + Arrays.toString(x) + ", expected [" + in + "] (in_features)");
    }
    return new LinearKernel(in, out, n.weights("weight", out, in), n.param("bias", out));
  }

  private LinearKernel(int in, int out, WeightTensor weight, float[] bias) {
    this.in = in;
    this.out = out;
    this.weight = weight.floats();
    this.packed = this.weight == null ? weight : null;
    this.bias = bias;
  }

  @Override
  public int[] outputShape() {
    return new int[] {out};
  }

  @Override
  public void run(float[][] inputs, float[] y) {
    if (weight == null) {
      runPacked(inputs[0], y);
      return;
    }
    float[] x = inputs[0];
    for (int o = 0; o < out; o++) {
      double sum = bias == null ? 0.0 : bias[o];
      int row = o * in;
      for (int i = 0; i < in; i++) {
        sum += (double) weight[row + i] * x[i];
      }
      y[o] = (float) sum;
    }
  }

  /** Compressed weights: row {@code o} dequantised into a scratch row, then the same sum. */
  private void runPacked(float[] x, float[] y) {
    float[] w = new float[in];
    for (int o = 0; o < out; o++) {
      packed.row(o, w, 0);
      double sum = bias == null ? 0.0 : bias[o];
      for (int i = 0; i < in; i++) {
        sum += (double) w[i] * x[i];
      }
      y[o] = (float) sum;
    }
  }
}
