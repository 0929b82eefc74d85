package org.pd2java.runtime;

import java.util.Arrays;

/**
 * log_softmax@1: {@code x - max - log(sum(exp(x - max)))} along {@code dim}, which counts the
 * batch axis as PyTorch does and must name a per-sample axis, 1..rank (the batch axis 0 and
 * negative dims are refused, as for softmax). Computed in double, rounded to float.
 */
final class LogSoftmaxKernel implements Kernel {
  private final int[] shape;
  private final int outer, axis, inner;

  static Kernel compile(NodeDef n, int[][] in) {
    int[] x = in[0];
    int dim = (Integer) n.attrs.get("dim");
    if (dim < 1 || dim > x.length) {
      throw n.error(
          ErrorCode.INVALID_ATTRIBUTE,
          "dim " + dim + " is not a per-sample axis of the batched shape [N, "
              + Arrays.toString(x).substring(1) + " (allowed: 1.." + x.length
              + "; the batch axis 0 and negative dims are refused)");
    }
    int a = dim - 1;
    int outer = 1;
    int inner = 1;
    for (int i = 0; i < a; i++) {
      outer *= x[i];
    }
    for (int i = a + 1; i < x.length; i++) {
      inner *= x[i];
    }
    return new LogSoftmaxKernel(x.clone(), outer, x[a], inner);
  }

  private LogSoftmaxKernel(int[] shape, int outer, int axis, int inner) {
    this.shape = shape;
    this.outer = outer;
    this.axis = axis;
    this.inner = inner;
  }

  @Override
  public int[] outputShape() {
    return shape.clone();
  }

  @Override
  public void run(float[][] inputs, float[] out) {
    float[] x = inputs[0];
    for (int o = 0; o < outer; o++) {
      for (int i = 0; i < inner; i++) {
        int base = o * axis * inner + i;
        double max = Double.NEGATIVE_INFINITY;
        for (int k = 0; k < axis; k++) {
          max = Math.max(max, x[base + k * inner]);
        }
        double sum = 0;
        for (int k = 0; k < axis; k++) {
          sum += Math.exp(x[base + k * inner] - max);
        }
        double logSum = Math.log(sum);
        for (int k = 0; k < axis; k++) {
          out[base + k * inner] = (float) (x[base + k * inner] - max - logSum);
        }
      }
    }
  }
}
