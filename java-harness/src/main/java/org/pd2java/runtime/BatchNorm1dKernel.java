package org.pd2java.runtime;

/**
 * batch_norm1d@1, inference form on a (C) or (C, L) value: {@code (x - mean) * (weight /
 * sqrt(var + eps)) + bias} per channel, with weight 1 and bias 0 when the optional slots are
 * absent. As in {@link BatchNorm2dKernel}, the per-channel scale is computed once at load in
 * double precision and the mean is subtracted first. {@code eps} must be finite and > 0.
 */
final class BatchNorm1dKernel implements Kernel {
  private final int[] shape;
  private final int length;
  private final float[] mean;
  private final float[] scale;
  private final float[] shift;

  static Kernel compile(NodeDef n, int[][] in) {
    int c = n.intAttr("num_features", 1);
    double eps = n.floatAttr("eps");
    if (!(eps > 0) || Double.isInfinite(eps)) {
      throw n.error(
          ErrorCode.INVALID_ATTRIBUTE, "attribute 'eps' is " + eps + ", must be finite and > 0");
    }
    int[] x = in[0];
    if (x.length != 1 && x.length != 2) {
      throw n.error(
          ErrorCode.SHAPE_MISMATCH,
          "input has " + x.length + " dims per sample, expected (C) or (C, L)");
    }
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
    // running_var >= 0 is checked by the loader (its slot is non-negative), eps > 0 here.
    for (int i = 0; i < c; i++) {
      scale[i] = (float) ((weight == null ? 1.0 : weight[i]) / Math.sqrt((double) var[i] + eps));
      shift[i] = bias == null ? 0f : bias[i];
    }
    return new BatchNorm1dKernel(x.clone(), mean, scale, shift);
  }

  private BatchNorm1dKernel(int[] shape, float[] mean, float[] scale, float[] shift) {
    this.shape = shape;
    this.length = shape.length == 2 ? shape[1] : 1;
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
    for (int c = 0; c < shape[0]; c++) {
      float m = mean[c];
      float s = scale[c];
      float b = shift[c];
      int base = c * length;
      for (int i = base; i < base + length; i++) {
        out[i] = (x[i] - m) * s + b;
      }
    }
  }
}
