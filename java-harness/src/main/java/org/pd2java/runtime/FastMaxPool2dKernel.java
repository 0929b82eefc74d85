package org.pd2java.runtime;

/**
 * max_pool2d@1 and @2 and max_pool1d@1, fast path where every window lies inside the input ({@link
 * Window2d#windowsInside}: no padding, any kernel, stride and dilation; for @2 with ceil_mode only
 * where the ceil gives no more windows than the floor), so the reference's per-cell bounds checks
 * go; 2x2 windows (the PRPD CNN's pools) get a straight-line body, and the maximum is the
 * branch-free {@code Math.max} (the reference's {@code v > m} branch is mispredicted about half
 * the time on real feature maps). Same value as {@link MaxPool2dKernel} for NaN-free windows (a
 * tie between -0.0 and +0.0 may give the other zero); a window holding a NaN gives NaN here, as
 * in PyTorch, where the reference skips it. JUnit tests it against the reference.
 */
final class FastMaxPool2dKernel implements Kernel {
  private final Window2d g;

  /** Every window of {@code g} must lie inside the input. */
  FastMaxPool2dKernel(Window2d g) {
    if (!g.windowsInside()) {
      throw new IllegalArgumentException("a window leaves the input on the fast path: " + g);
    }
    this.g = g;
  }

  @Override
  public int[] outputShape() {
    return g.outputShape();
  }

  @Override
  public void run(float[][] inputs, float[] out) {
    final int c = g.c, h = g.h, w = g.w, kh = g.kh, kw = g.kw, sh = g.sh, sw = g.sw;
    final int dh = g.dh, dw = g.dw, ho = g.ho, wo = g.wo;
    float[] x = inputs[0];
    int o = 0;
    boolean two = kh == 2 && kw == 2;
    for (int ch = 0; ch < c; ch++) {
      int base = ch * h * w;
      for (int oy = 0; oy < ho; oy++) {
        int row = base + oy * sh * w;
        if (two) {
          int row2 = row + dh * w;
          for (int ox = 0; ox < wo; ox++) {
            int i = ox * sw;
            out[o++] = Math.max(Math.max(x[row + i], x[row + i + dw]),
                Math.max(x[row2 + i], x[row2 + i + dw]));
          }
        } else {
          for (int ox = 0; ox < wo; ox++) {
            float m = Float.NEGATIVE_INFINITY;
            for (int ky = 0; ky < kh; ky++) {
              int r = row + ky * dh * w + ox * sw;
              for (int kx = 0; kx < kw; kx++) {
                m = Math.max(m, x[r + kx * dw]);
              }
            }
            out[o++] = m;
          }
        }
      }
    }
  }
}
