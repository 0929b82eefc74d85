package org.pd2java.runtime;

import java.util.Arrays;

/**
 * linear@1: {@code y = W x + b} on a 1-D value; dot products accumulated in double. A compressed
 * weight runs on {@link PackedLinearKernel}.
 */
final class LinearKernel implements Kernel {
  private final int in, out;
  private final float[] weight;
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
    WeightTensor w = n.weights("weight", out, in);
    float[] bias = n.param("bias", out);
    if (n.vector != null) {
      Kernel k = n.vector.linear(in, out, w, bias);
      if (k != null) {
        return k;
      }
    }
    float[] weight = w.floats();
    // chosen here, once: the float32 kernel carries no dtype test
    return weight != null ? new LinearKernel(in, out, weight, bias)
        : new PackedLinearKernel(in, out, w, bias);
  }

  private LinearKernel(int in, int out, float[] weight, float[] bias) {
    this.in = in;
    this.out = out;
    this.weight = weight;
    this.bias = bias;
  }

  @Override
  public int[] outputShape() {
    return new int[] {out};
  }

  @Override
  public void run(float[][] inputs, float[] y) {
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
}
