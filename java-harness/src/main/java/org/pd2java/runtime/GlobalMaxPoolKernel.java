package org.pd2java.runtime;

/** global_max_pool@1: maximum over H and W of a (C, H, W) value; (C, 1, 1) or (C) output. */
final class GlobalMaxPoolKernel implements Kernel {
  private final int c, plane;
  private final boolean keepdims;

  static Kernel compile(NodeDef n, int[][] in) {
    int[] x = n.input(in, 0, 3);
    return new GlobalMaxPoolKernel(x[0], x[1] * x[2], n.boolAttr("keepdims"));
  }

  private GlobalMaxPoolKernel(int c, int plane, boolean keepdims) {
    this.c = c;
    this.plane = plane;
    this.keepdims = keepdims;
  }

  @Override
  public int[] outputShape() {
    return keepdims ? new int[] {c, 1, 1} : new int[] {c};
  }

  @Override
  public void run(float[][] inputs, float[] out) {
    float[] x = inputs[0];
    for (int ch = 0; ch < c; ch++) {
      float m = Float.NEGATIVE_INFINITY;
      for (int i = ch * plane; i < (ch + 1) * plane; i++) {
        if (x[i] > m) {
          m = x[i];
        }
      }
      out[ch] = m;
    }
  }
}
