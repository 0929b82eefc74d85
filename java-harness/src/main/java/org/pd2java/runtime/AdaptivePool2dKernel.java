package org.pd2java.runtime;

/**
 * adaptive_avg_pool2d@1 and adaptive_max_pool2d@1: mean or maximum over PyTorch's adaptive bins.
 * Along an axis of input extent {@code n} and output extent {@code m}, output {@code i} covers
 * input {@code [floor(i * n / m), ceil((i + 1) * n / m))}: never empty, overlapping when {@code m}
 * does not divide {@code n}, repeating cells when {@code m > n}. {@code output_size} entries must
 * be >= 1 (INVALID_ATTRIBUTE); the loader then compares the output shape with the declared one
 * and limits its size, as for every op. Bin bounds are computed in {@code run} (integer
 * arithmetic, no tables), sums accumulated in double.
 */
final class AdaptivePool2dKernel implements Kernel {
  private final int c, h, w, oh, ow;
  private final boolean max;

  static Kernel avg(NodeDef n, int[][] in) {
    return compile(n, in, false);
  }

  static Kernel max(NodeDef n, int[][] in) {
    return compile(n, in, true);
  }

  private static Kernel compile(NodeDef n, int[][] in, boolean max) {
    int[] size = n.int2Attr("output_size", 1);
    int[] x = n.input(in, 0, 3);
    return new AdaptivePool2dKernel(x, size[0], size[1], max);
  }

  private AdaptivePool2dKernel(int[] x, int oh, int ow, boolean max) {
    this.c = x[0];
    this.h = x[1];
    this.w = x[2];
    this.oh = oh;
    this.ow = ow;
    this.max = max;
  }

  /** First input index of bin {@code i}: {@code floor(i * n / m)}. */
  static int binStart(int i, int n, int m) {
    return (int) ((long) i * n / m);
  }

  /** One past the last input index of bin {@code i}: {@code ceil((i + 1) * n / m)}. */
  static int binEnd(int i, int n, int m) {
    return (int) (((long) (i + 1) * n + m - 1) / m);
  }

  @Override
  public int[] outputShape() {
    return new int[] {c, oh, ow};
  }

  @Override
  public void run(float[][] inputs, float[] out) {
    final int c = this.c, h = this.h, w = this.w, oh = this.oh, ow = this.ow;
    final boolean max = this.max;
    float[] x = inputs[0];
    int o = 0;
    for (int ch = 0; ch < c; ch++) {
      int base = ch * h * w;
      for (int i = 0; i < oh; i++) {
        int ya = binStart(i, h, oh), yb = binEnd(i, h, oh);
        for (int j = 0; j < ow; j++) {
          int xa = binStart(j, w, ow), xb = binEnd(j, w, ow);
          if (max) {
            float m = Float.NEGATIVE_INFINITY;
            for (int iy = ya; iy < yb; iy++) {
              for (int ix = xa; ix < xb; ix++) {
                float v = x[base + iy * w + ix];
                if (v > m) {
                  m = v;
                }
              }
            }
            out[o++] = m;
          } else {
            double sum = 0;
            for (int iy = ya; iy < yb; iy++) {
              for (int ix = xa; ix < xb; ix++) {
                sum += x[base + iy * w + ix];
              }
            }
            out[o++] = (float) (sum / ((yb - ya) * (xb - xa)));
          }
        }
      }
    }
  }
}
