package org.pd2java.runtime;

/**
 * max_pool2d@1: maximum over each window; padded cells never win (they count as -infinity);
 * floor output size. Padding may be at most half the undilated kernel ({@code p <= k / 2}, see
 * {@link Window2d#pool}), as PyTorch requires whatever the dilation; so every window holds at
 * least one real cell. max_pool2d@2 ({@link #compile2}): the same with per-side padding and
 * ceil_mode; cells beyond the padded input count as -infinity too. max_pool1d@1 ({@link
 * #compile1d}): @2's window on the {@code (c, 1, l)} view of a {@code (c, l)} input.
 */
final class MaxPool2dKernel implements Kernel {
  private final Window2d g;

  static Kernel compile(NodeDef n, int[][] in) {
    return choose(n, Window2d.pool(n, in, true));
  }

  /**
   * max_pool2d@2: the fast path too where every window lies inside the input (no padding, and
   * ceil_mode giving no extra window); else this bounds-checked kernel (padding, or a ceil_mode
   * window overhanging the input).
   */
  static Kernel compile2(NodeDef n, int[][] in) {
    return choose(n, Window2d.pool2(n, in, true));
  }

  /** max_pool1d@1: this kernel on the {@code (c, 1, l)} view ({@link Window2d#pool1d}). */
  static Kernel compile1d(NodeDef n, int[][] in) {
    return choose(n, Window2d.pool1d(n, in, true));
  }

  private static Kernel choose(NodeDef n, Window2d g) {
    if (g.windowsInside() && !n.referenceKernels) {
      return new FastMaxPool2dKernel(g); // every window inside: no bounds checks
    }
    return new MaxPool2dKernel(g);
  }

  private MaxPool2dKernel(Window2d g) {
    this.g = g;
  }

  @Override
  public int[] outputShape() {
    return g.outputShape();
  }

  @Override
  public void run(float[][] inputs, float[] out) {
    final int c = g.c, h = g.h, w = g.w, kh = g.kh, kw = g.kw, sh = g.sh, sw = g.sw;
    final int ph = g.ph, pw = g.pw, dh = g.dh, dw = g.dw, ho = g.ho, wo = g.wo;
    float[] x = inputs[0];
    int o = 0;
    for (int ch = 0; ch < c; ch++) {
      int base = ch * h * w;
      for (int oy = 0; oy < ho; oy++) {
        for (int ox = 0; ox < wo; ox++) {
          float m = Float.NEGATIVE_INFINITY;
          for (int ky = 0; ky < kh; ky++) {
            int iy = oy * sh - ph + ky * dh;
            if (iy < 0 || iy >= h) {
              continue;
            }
            for (int kx = 0; kx < kw; kx++) {
              int ix = ox * sw - pw + kx * dw;
              if (ix < 0 || ix >= w) {
                continue;
              }
              float v = x[base + iy * w + ix];
              if (v > m) {
                m = v;
              }
            }
          }
          out[o++] = m;
        }
      }
    }
  }
}
