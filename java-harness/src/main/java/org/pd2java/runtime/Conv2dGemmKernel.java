package org.pd2java.runtime;

import java.util.Arrays;

/**
 * conv2d@1, fast path for dense convolutions (groups == 1): im2col then a matrix product whose
 * inner loop runs over the whole output plane (long, contiguous, so the JIT vectorises it) and
 * consumes four input rows per pass over the output. Same results as {@link Conv2dKernel} (the
 * reference, against which JUnit tests it) up to float rounding from the summation order.
 *
 * <p>Scratch: the im2col matrix ({@code in_channels*kh*kw x out_h*out_w} floats) is allocated per
 * call, like every other intermediate value; 1x1 convolutions with stride 1 and no padding read
 * the input directly and need none.
 */
final class Conv2dGemmKernel implements Kernel {
  private final int cin, h, w, cout, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo;
  private final float[] weight;
  private final float[] bias;
  private final int[] owLo, owHi;
  private final boolean direct;

  Conv2dGemmKernel(
      int[] x, int cout, int[] k, int[] s, int[] p, int[] d, int ho, int wo, float[] weight,
      float[] bias) {
    this.cin = x[0];
    this.h = x[1];
    this.w = x[2];
    this.cout = cout;
    this.kh = k[0];
    this.kw = k[1];
    this.sh = s[0];
    this.sw = s[1];
    this.ph = p[0];
    this.pw = p[1];
    this.dh = d[0];
    this.dw = d[1];
    this.ho = ho;
    this.wo = wo;
    this.weight = weight;
    this.bias = bias;
    this.owLo = new int[kw];
    this.owHi = new int[kw];
    for (int kx = 0; kx < kw; kx++) {
      int off = kx * dw - pw;
      int lo = 0;
      while (lo < wo && lo * sw + off < 0) {
        lo++;
      }
      int hi = wo;
      while (hi > lo && (hi - 1) * sw + off >= w) {
        hi--;
      }
      owLo[kx] = lo;
      owHi[kx] = hi;
    }
    this.direct = kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0;
  }

  @Override
  public int[] outputShape() {
    return new int[] {cout, ho, wo};
  }

  private float[] im2col(float[] x) {
    int plane = ho * wo;
    float[] col = new float[cin * kh * kw * plane]; // zero-filled: padding stays 0
    for (int ic = 0; ic < cin; ic++) {
      int ibase = ic * h * w;
      for (int ky = 0; ky < kh; ky++) {
        for (int kx = 0; kx < kw; kx++) {
          int row = ((ic * kh + ky) * kw + kx) * plane;
          int lo = owLo[kx];
          int hi = owHi[kx];
          int xoff = kx * dw - pw;
          for (int oy = 0; oy < ho; oy++) {
            int iy = oy * sh - ph + ky * dh;
            if (iy < 0 || iy >= h || lo >= hi) {
              continue;
            }
            int src = ibase + iy * w + xoff;
            int dst = row + oy * wo;
            if (sw == 1) {
              System.arraycopy(x, src + lo, col, dst + lo, hi - lo);
            } else {
              for (int ox = lo; ox < hi; ox++) {
                col[dst + ox] = x[src + ox * sw];
              }
            }
          }
        }
      }
    }
    return col;
  }

  @Override
  public void run(float[][] inputs, float[] out) {
    float[] col = direct ? inputs[0] : im2col(inputs[0]);
    int n = ho * wo;
    int kk = cin * kh * kw;
    for (int oc = 0; oc < cout; oc++) {
      int ob = oc * n;
      Arrays.fill(out, ob, ob + n, bias == null ? 0f : bias[oc]);
      int wrow = oc * kk;
      int k = 0;
      for (; k + 3 < kk; k += 4) {
        float w0 = weight[wrow + k];
        float w1 = weight[wrow + k + 1];
        float w2 = weight[wrow + k + 2];
        float w3 = weight[wrow + k + 3];
        int c0 = k * n;
        int c1 = c0 + n;
        int c2 = c1 + n;
        int c3 = c2 + n;
        for (int i = 0; i < n; i++) {
          out[ob + i] += w0 * col[c0 + i] + w1 * col[c1 + i] + w2 * col[c2 + i] + w3 * col[c3 + i];
        }
      }
      for (; k < kk; k++) {
        float w0 = weight[wrow + k];
        int c0 = k * n;
        for (int i = 0; i < n; i++) {
          out[ob + i] += w0 * col[c0 + i];
        }
      }
    }
  }
}
