package org.pd2java.runtime;

/**
 * batch_norm2d@1, inference form: {@code (x - mean) * (weight / sqrt(var + eps)) + bias} per
 * channel, with weight 1 and bias 0 when the optional slots are absent. The per-channel scale is
 * computed once at load in double precision; subtracting the mean first (as PyTorch does) keeps
 * precision when the mean is large. {@code eps} must be finite and > 0.
 */
final class BatchNorm2dKernel implements Kernel {
  private final int[] shape;
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
    int[] x = n.input(in, 0, 3);
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
    return new BatchNorm2dKernel(x.clone(), mean, scale, shift);
  }

  private BatchNorm2dKernel(int[] shape, float[] mean, float[] scale, float[] shift) {
    this.shape = shape;
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
    int plane = shape[1] * shape[2];
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
