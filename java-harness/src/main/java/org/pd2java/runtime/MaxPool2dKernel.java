package org.pd2java.runtime;

/**
 * max_pool2d@1: maximum over each window; padded cells never win (they count as -infinity);
 * floor output size. Padding may be at most half the undilated kernel ({@code p <= k / 2}), as
 * PyTorch and the Python reader require whatever the dilation; so every window holds at least
 * one real cell.
 */
final class MaxPool2dKernel implements Kernel {
  private final int c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo;

  static Kernel compile(NodeDef n, int[][] in) {
    int[] k = n.int2Attr("kernel_size", 1);
    int[] s = n.int2Attr("stride", 1);
    int[] p = n.int2Attr("padding", 0);
    int[] d = n.int2Attr("dilation", 1);
    for (int i = 0; i < 2; i++) {
      if (p[i] > k[i] / 2) {
        throw n.error(
            ErrorCode.INVALID_ATTRIBUTE,
            "padding " + p[i] + " exceeds half the kernel size " + k[i]);
      }
    }
    int[] x = n.input(in, 0, 3);
    int ho = n.windowOut("height", x[1], k[0], s[0], p[0], d[0]);
    int wo = n.windowOut("width", x[2], k[1], s[1], p[1], d[1]);
    if (p[0] == 0 && p[1] == 0 && !n.referenceKernels) {
      return new FastMaxPool2dKernel(x, k, s, d, ho, wo); // every window inside: no bounds checks
    }
    return new MaxPool2dKernel(x, k, s, p, d, ho, wo);
  }

  private MaxPool2dKernel(int[] x, int[] k, int[] s, int[] p, int[] d, int ho, int wo) {
    c = x[0];
    h = x[1];
    w = x[2];
    kh = k[0];
    kw = k[1];
    sh = s[0];
    sw = s[1];
    ph = p[0];
    pw = p[1];
    dh = d[0];
    dw = d[1];
    this.ho = ho;
    this.wo = wo;
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
