package org.pd2java.runtime;

/**
 * layer_norm@1: each sample's last {@code normalized_dims} dims ({@code normalized_size} values,
 * a "row") are normalised with the row's mean and biased variance (double precision, two
 * passes), then {@code y * weight[j] + bias[j]} elementwise over the row, with weight 1 and bias
 * 0 when the optional slots are absent. Weight and bias are stored flattened (normalized_size).
 * {@code eps} must be finite and > 0, both ints >= 1 (INVALID_ATTRIBUTE, as the Python rule);
 * the input's trailing dims must hold normalized_size values (SHAPE_MISMATCH).
 */
final class LayerNormKernel implements Kernel {
  private final int[] shape;
  private final int rows;
  private final int size;
  private final double eps;
  private final float[] weight;
  private final float[] bias;

  static Kernel compile(NodeDef n, int[][] in) {
    int dims = n.intAttr("normalized_dims", 1);
    int size = n.intAttr("normalized_size", 1);
    double eps = n.positiveFloatAttr("eps");
    int[] x = in[0];
    if (dims > x.length) {
      throw n.error(
          ErrorCode.SHAPE_MISMATCH,
          "normalized_dims " + dims + " exceeds the input rank " + x.length);
    }
    long trailing = 1;
    for (int i = x.length - dims; i < x.length; i++) {
      trailing *= x[i];
    }
    if (trailing != size) {
      throw n.error(
          ErrorCode.SHAPE_MISMATCH,
          "the last " + dims + " input dim(s) hold " + trailing + " values but normalized_size is "
              + size);
    }
    float[] weight = n.param("weight", size);
    float[] bias = n.param("bias", size);
    return new LayerNormKernel(x.clone(), size, eps, weight, bias);
  }

  private LayerNormKernel(int[] shape, int size, double eps, float[] weight, float[] bias) {
    int total = 1;
    for (int d : shape) {
      total *= d;
    }
    this.shape = shape;
    this.rows = total / size;
    this.size = size;
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
    for (int r = 0; r < rows; r++) {
      int base = r * size;
      double sum = 0;
      for (int j = 0; j < size; j++) {
        sum += x[base + j];
      }
      double mean = sum / size;
      double squares = 0;
      for (int j = 0; j < size; j++) {
        double d = x[base + j] - mean;
        squares += d * d;
      }
      double inv = 1.0 / Math.sqrt(squares / size + eps);
      for (int j = 0; j < size; j++) {
        double y = (x[base + j] - mean) * inv;
        if (weight != null) {
          y *= weight[j];
        }
        if (bias != null) {
          y += bias[j];
        }
        out[base + j] = (float) y;
      }
    }
  }
}
