package org.pd2java.runtime;

/**
 * avg_pool2d@1: mean over each window, zero padding, floor output size. With {@code
 * count_include_pad} the divisor is the whole window (kh * kw); without it, only the real cells.
 * As in PyTorch, padding may be at most half the kernel size ({@link Window2d#pool}). Sums are
 * accumulated in double.
 *
 * <p>avg_pool2d@2 ({@link #compile2}): per-side padding and ceil_mode; as PyTorch divides, with
 * {@code count_include_pad} the divisor is the window clipped to the padded input (padding cells
 * count, cells beyond the bottom/right padding do not), which for @1 is always kh * kw.
 * avg_pool1d@1 ({@link #compile1d}): @2's window on the {@code (c, 1, l)} view of a {@code (c,
 * l)} input.
 */
final class AvgPool2dKernel implements Kernel {
  private final Window2d g;
  private final boolean includePad;

  static Kernel compile(NodeDef n, int[][] in) {
    Window2d g = Window2d.pool(n, in, false);
    return new AvgPool2dKernel(g, n.boolAttr("count_include_pad"));
  }

  static Kernel compile2(NodeDef n, int[][] in) {
    Window2d g = Window2d.pool2(n, in, false);
    return new AvgPool2dKernel(g, n.boolAttr("count_include_pad"));
  }

  /** avg_pool1d@1: @2's window on the {@code (c, 1, l)} view ({@link Window2d#pool1d}). */
  static Kernel compile1d(NodeDef n, int[][] in) {
    Window2d g = Window2d.pool1d(n, in, false);
    return new AvgPool2dKernel(g, n.boolAttr("count_include_pad"));
  }

  private AvgPool2dKernel(Window2d g, boolean includePad) {
    this.g = g;
    this.includePad = includePad;
  }

  @Override
  public int[] outputShape() {
    return g.outputShape();
  }

  @Override
  public void run(float[][] inputs, float[] out) {
    final int c = g.c, h = g.h, w = g.w, kh = g.kh, kw = g.kw, sh = g.sh, sw = g.sw;
    final int ph = g.ph, pw = g.pw, ho = g.ho, wo = g.wo;
    final int hPadded = h + g.phEnd, wPadded = w + g.pwEnd; // ends of the padded input
    final boolean includePad = this.includePad;
    float[] x = inputs[0];
    int o = 0;
    for (int ch = 0; ch < c; ch++) {
      int base = ch * h * w;
      for (int oy = 0; oy < ho; oy++) {
        int y0 = oy * sh - ph;
        int ya = Math.max(y0, 0);
        int yb = Math.min(y0 + kh, h);
        int spanY = Math.min(y0 + kh, hPadded) - y0;
        for (int ox = 0; ox < wo; ox++) {
          int x0 = ox * sw - pw;
          int xa = Math.max(x0, 0);
          int xb = Math.min(x0 + kw, w);
          int spanX = Math.min(x0 + kw, wPadded) - x0;
          double sum = 0;
          for (int iy = ya; iy < yb; iy++) {
            for (int ix = xa; ix < xb; ix++) {
              sum += x[base + iy * w + ix];
            }
          }
          int count = includePad ? spanY * spanX : (yb - ya) * (xb - xa);
          out[o++] = (float) (sum / count);
        }
      }
    }
  }
}
