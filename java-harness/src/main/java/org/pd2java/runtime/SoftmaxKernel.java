package org.pd2java.runtime;

import java.util.Arrays;

/**
 * softmax@1: {@code exp(x - max) / sum(exp(x - max))} along {@code dim}, and log_softmax@1:
 * {@code x - max - log(sum(exp(x - max)))} along {@code dim}. {@code dim} counts the batch axis
 * as PyTorch does (dim 1 of an (N, K) batch is the K axis) and must name a per-sample axis,
 * 1..rank with rank the per-sample rank: the batch axis (0) and negative dims are refused, so
 * every writer spells an axis one way. Computed in double, rounded to float.
 */
final class SoftmaxKernel implements Kernel {
  private final int[] shape;
  private final int outer, axis, inner;
  private final boolean log;

  /** softmax@1. */
  static Kernel compile(NodeDef n, int[][] in) {
    return compile(n, in, false);
  }

  /** log_softmax@1. */
  static Kernel compileLog(NodeDef n, int[][] in) {
    return compile(n, in, true);
  }

  private static Kernel compile(NodeDef n, int[][] in, boolean log) {
    int[] x = in[0];
    int dim = (Integer) n.attrs.get("dim");
    int d = dim;
    if (d < 1 || d > x.length) {
      throw n.error(
          ErrorCode.INVALID_ATTRIBUTE,
          "dim " + dim + " is not a per-sample axis of the batched shape [N, "
              + Arrays.toString(x).substring(1) + " (allowed: 1.." + x.length
              + "; the batch axis 0 and negative dims are refused)");
    }
    int a = d - 1;
    int outer = 1;
    int inner = 1;
    for (int i = 0; i < a; i++) {
      outer *= x[i];
    }
    for (int i = a + 1; i < x.length; i++) {
      inner *= x[i];
    }
    return new SoftmaxKernel(x.clone(), outer, x[a], inner, log);
  }

  private SoftmaxKernel(int[] shape, int outer, int axis, int inner, boolean log) {
    this.shape = shape;
    this.outer = outer;
    this.axis = axis;
    this.inner = inner;
    this.log = log;
  }

  @Override
  public int[] outputShape() {
    return shape.clone();
  }

  @Override
  public void run(float[][] inputs, float[] out) {
    if (log) {
      runLog(inputs[0], out);
    } else {
      runSoftmax(inputs[0], out);
    }
  }

  /** Each exponential is computed twice (for the sum, then the quotient): no per-call array. */
  private void runSoftmax(float[] x, float[] out) {
    for (int o = 0; o < outer; o++) {
      for (int i = 0; i < inner; i++) {
        int base = o * axis * inner + i;
        float max = Float.NEGATIVE_INFINITY;
        for (int k = 0; k < axis; k++) {
          max = Math.max(max, x[base + k * inner]);
        }
        double sum = 0;
        for (int k = 0; k < axis; k++) {
          sum += Math.exp((double) x[base + k * inner] - max);
        }
        for (int k = 0; k < axis; k++) {
          out[base + k * inner] = (float) (Math.exp((double) x[base + k * inner] - max) / sum);
        }
      }
    }
  }

  private void runLog(float[] x, float[] out) {
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
