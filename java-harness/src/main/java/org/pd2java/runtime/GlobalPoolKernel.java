package org.pd2java.runtime;

/**
 * global_avg_pool@1 and global_max_pool@1: mean (accumulated in double) or maximum over H and W of
 * a (C, H, W) value; (C, 1, 1) or (C) output.
 */
final class GlobalPoolKernel implements Kernel {
  private final int c, plane;
  private final boolean keepdims;
  private final boolean max;

  static Kernel avg(NodeDef n, int[][] in) {
    return compile(n, in, false);
  }

  static Kernel max(NodeDef n, int[][] in) {
    return compile(n, in, true);
  }

  private static Kernel compile(NodeDef n, int[][] in, boolean max) {
    int[] x = n.input(in, 0, 3);
    return new GlobalPoolKernel(x[0], x[1] * x[2], n.boolAttr("keepdims"), max);
  }

  private GlobalPoolKernel(int c, int plane, boolean keepdims, boolean max) {
    this.c = c;
    this.plane = plane;
    this.keepdims = keepdims;
    this.max = max;
  }

  @Override
  public int[] outputShape() {
    return keepdims ? new int[] {c, 1, 1} : new int[] {c};
  }

  @Override
  public void run(float[][] inputs, float[] out) {
    float[] x = inputs[0];
    if (max) {
      for (int ch = 0; ch < c; ch++) {
        float m = Float.NEGATIVE_INFINITY;
        for (int i = ch * plane; i < (ch + 1) * plane; i++) {
          if (x[i] > m) {
            m = x[i];
          }
        }
        out[ch] = m;
      }
    } else {
      for (int ch = 0; ch < c; ch++) {
        double sum = 0;
        for (int i = ch * plane; i < (ch + 1) * plane; i++) {
          sum += x[i];
        }
        out[ch] = (float) (sum / plane);
      }
    }
  }
}
