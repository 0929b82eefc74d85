package org.pd2java.runtime;

/**
 * group_norm@1 and instance_norm2d@1: each group of {@code C / groups} consecutive channels is
 * normalised over its channels and all positions with its own mean and biased variance (computed
 * per sample in double precision, two passes), then {@code y * weight[c] + bias[c]} per channel,
 * with weight 1 and bias 0 when the optional slots are absent. An instance norm is a group norm
 * with one channel per group on a (C, H, W) input. {@code eps} must be finite and > 0; the
 * channel count must be a multiple of the group count (INVALID_ATTRIBUTE, as the Python rule).
 */
final class GroupNormKernel implements Kernel {
  private final int[] shape;
  private final int groups;
  private final int groupSize;
  private final int plane;
  private final double eps;
  private final float[] weight;
  private final float[] bias;

  /** group_norm@1: any per-sample rank >= 1, channels first. */
  static Kernel compileGroup(NodeDef n, int[][] in) {
    int groups = n.intAttr("num_groups", 1);
    int c = n.intAttr("num_channels", 1);
    if (c % groups != 0) {
      throw n.error(
          ErrorCode.INVALID_ATTRIBUTE,
          "num_channels " + c + " must be a multiple of num_groups " + groups);
    }
    double eps = n.positiveFloatAttr("eps");
    int[] x = in[0];
    if (x.length < 1) {
      throw n.error(ErrorCode.SHAPE_MISMATCH, "needs a per-sample input of rank >= 1");
    }
    if (x[0] != c) {
      throw n.error(
          ErrorCode.SHAPE_MISMATCH, "input has " + x[0] + " channels but num_channels is " + c);
    }
    return new GroupNormKernel(x.clone(), groups, eps, n.param("weight", c), n.param("bias", c));
  }

  /** instance_norm2d@1: a (C, H, W) input, one channel per group. */
  static Kernel compileInstance(NodeDef n, int[][] in) {
    int c = n.intAttr("num_features", 1);
    double eps = n.positiveFloatAttr("eps");
    int[] x = n.input(in, 0, 3);
    if (x[0] != c) {
      throw n.error(
          ErrorCode.SHAPE_MISMATCH, "input has " + x[0] + " channels but num_features is " + c);
    }
    return new GroupNormKernel(x.clone(), c, eps, n.param("weight", c), n.param("bias", c));
  }

  private GroupNormKernel(int[] shape, int groups, double eps, float[] weight, float[] bias) {
    int plane = 1;
    for (int i = 1; i < shape.length; i++) {
      plane *= shape[i];
    }
    this.shape = shape;
    this.groups = groups;
    this.groupSize = shape[0] / groups;
    this.plane = plane;
    this.eps = eps;
    this.weight = weight;
    this.bias = bias;
  }

  @Override
  public int[] outputShape() {
    return shape.clone();
  }

  @Override
  public void run(float[][] inputs, float[] out) {
    float[] x = inputs[0];
    int span = groupSize * plane;
    for (int g = 0; g < groups; g++) {
      int start = g * span;
      int end = start + span;
      double sum = 0;
      for (int i = start; i < end; i++) {
        sum += x[i];
      }
      double mean = sum / span;
      double squares = 0;
      for (int i = start; i < end; i++) {
        double d = x[i] - mean;
        squares += d * d;
      }
      double inv = 1.0 / Math.sqrt(squares / span + eps);
      for (int c = g * groupSize; c < (g + 1) * groupSize; c++) {
        double w = weight == null ? inv : weight[c] * inv;
        double b = bias == null ? 0.0 : bias[c];
        int base = c * plane;
        for (int i = base; i < base + plane; i++) {
          out[i] = (float) ((x[i] - mean) * w + b);
        }
      }
    }
  }
}
