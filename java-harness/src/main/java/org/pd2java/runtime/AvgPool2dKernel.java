package org.pd2java.runtime;

/**
 * avg_pool2d@1: mean over each window, zero padding, floor output size. With {@code
 * count_include_pad} the divisor is the whole window (kh * kw); without it, only the real cells.
 * As in PyTorch, padding may be at most half the kernel size. Sums are accumulated in double.
 */
final class AvgPool2dKernel implements Kernel {
  private final int c, h, w, kh, kw, sh, sw, ph, pw, ho, wo;
  private final boolean includePad;

  static Kernel compile(NodeDef n, int[][] in) {
    int[] k = n.int2Attr("kernel_size", 1);
    int[] s = n.int2Attr("stride", 1);
    int[] p = n.int2Attr("padding", 0);
    for (int i = 0; i < 2; i++) {
      if (p[i] > k[i] / 2) {
        throw n.error(
            ErrorCode.INVALID_ATTRIBUTE,
            "padding " + p[i] + " exceeds half the kernel size " + k[i]);
      }
    }
    int[] x = n.input(in, 0, 3);
    int ho = n.windowOut("height", x[1], k[0], s[0], p[0], 1);
    int wo = n.windowOut("width", x[2], k[1], s[1], p[1], 1);
    return new AvgPool2dKernel(x, k, s, p, ho, wo, n.boolAttr("count_include_pad"));
  }

  private AvgPool2dKernel(int[] x, int[] k, int[] s, int[] p, int ho, int wo, boolean includePad) {
    c = x[0];
    h = x[1];
    w = x[2];
    kh = k[0];
    kw = k[1];
    sh = s[0];
    sw = s[1];
    ph = p[0];
    pw = p[1];
    this.ho = ho;
    this.wo = wo;
    this.includePad = includePad;
  }

  @Override
  public int[] outputShape() {
    return new int[] {c, ho, wo};
  }

  @Override
  public void run(float[][] inputs, float[] out) {
    float[] x = inputs[0];
    int o = 0;
    for (int ch = 0; ch < c; ch++) {
      int base = ch * h * w;
      for (int oy = 0; oy < ho; oy++) {
        int y0 = oy * sh - ph;
        int ya = Math.max(y0, 0);
        int yb = Math.min(y0 + kh, h);
        for (int ox = 0; ox < wo; ox++) {
          int x0 = ox * sw - pw;
          int xa = Math.max(x0, 0);
          int xb = Math.min(x0 + kw, w);
          double sum = 0;
          for (int iy = ya; iy < yb; iy++) {
            for (int ix = xa; ix < xb; ix++) {
              sum += x[base + iy * w + ix];
            }
          }
          int count = includePad ? kh * kw : (yb - ya) * (xb - xa);
          out[o++] = (float) (sum / count);
        }
      }
    }
  }
}
