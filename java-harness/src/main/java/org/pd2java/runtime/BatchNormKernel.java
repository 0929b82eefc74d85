package org.pd2java.runtime;

/**
 * batch_norm2d@1 on a (C, H, W) value and batch_norm1d@1 on a (C) or (C, L) value, inference
 * form: {@code (x - mean) * (weight / sqrt(var + eps)) + bias} per channel, with weight 1 and bias
 * 0 when the optional slots are absent. The per-channel scale is computed once at load in double
 * precision; subtracting the mean first (as PyTorch does) keeps precision when the mean is large.
 * {@code eps} must be finite and > 0.
 */
final class BatchNormKernel implements Kernel {
  private final int[] shape;
  /** Values per channel: H * W, L, or 1. */
  private final int plane;
  private final float[] mean;
  private final float[] scale;
  private final float[] shift;

  /** batch_norm2d@1: a (C, H, W) input. */
  static Kernel compile2d(NodeDef n, int[][] in) {
    int c = n.intAttr("num_features", 1);
    double eps = n.positiveFloatAttr("eps");
    int[] x = n.input(in, 0, 3);
    return compile(n, x, c, eps);
  }

  /** batch_norm1d@1: a (C) or (C, L) input. */
  static Kernel compile1d(NodeDef n, int[][] in) {
    int c = n.intAttr("num_features", 1);
    double eps = n.positiveFloatAttr("eps");
    int[] x = in[0];
    if (x.length != 1 && x.length != 2) {
      throw n.error(
          ErrorCode.SHAPE_MISMATCH,
          "input has " + x.length + " dims per sample, expected (C) or (C, L)");
    }
    return compile(n, x, c, eps);
  }

  private static Kernel compile(NodeDef n, int[] x, int c, double eps) {
    if (x[0] != c) {
      throw n.error(
          ErrorCode.SHAPE_MISMATCH, "input has " + x[0] + " channels but num_features is " + c);
    }
    float[] mean = n.param("running_mean", c);
    float[] var = n.param("running_var", c);
    float[] weight = n.param("weight", c);
    float[] bias = n.param("bias", c);
    float[] scale = new float[c];
    float[] shift = new float[c];
    // running_var >= 0 is checked by the loader (its slot is non-negative), eps > 0 here: the
    // denominator is positive.
    for (int i = 0; i < c; i++) {
      double denom = (double) var[i] + eps;
      scale[i] = (float) ((weight == null ? 1.0 : weight[i]) / Math.sqrt(denom));
      shift[i] = bias == null ? 0f : bias[i];
    }
    return new BatchNormKernel(x.clone(), mean, scale, shift);
  }

  private BatchNormKernel(int[] shape, float[] mean, float[] scale, float[] shift) {
    int plane = 1;
    for (int i = 1; i < shape.length; i++) {
      plane *= shape[i];
    }
    this.shape = shape;
    this.plane = plane;
    this.mean = mean;
    this.scale = scale;
    this.shift = shift;
  }

  @Override
  public int[] outputShape() {
    return shape.clone();
  }

  @Override
  public void run(float[][] inputs, float[] out) {
    float[] x = inputs[0];
    int plane = this.plane;
    for (int c = 0; c < shape[0]; c++) {
      float m = mean[c];
      float s = scale[c];
      float b = shift[c];
      int base = c * plane;
      for (int i = base; i < base + plane; i++) {
        out[i] = (x[i] - m) * s + b;
      }
    }
  }
}
