package org.pd2java.runtime;

import java.util.Arrays;

/**
 * conv2d@1, fast path for depthwise convolutions ({@code groups == in_channels}, any channel
 * multiplier {@code out_channels / in_channels}), any kernel size, stride, padding and dilation.
 * Same results as {@link Conv2dKernel} (the reference, against which JUnit tests it) up to float
 * rounding from the summation order.
 *
 * <p>Per input channel, each kernel tap's shifted (and strided) view of the input is copied into
 * its own plane-sized array (a one-channel im2col, mostly {@code System.arraycopy}); each output
 * plane is then a weighted sum of those tap planes over the whole plane, three taps per pass,
 * every array indexed by the same {@code i} from 0, which HotSpot 17 vectorises (the reference's
 * row loop with two different offsets stays scalar; see {@link Conv2dGemmKernel}).
 *
 * <p>Scratch per call: {@code kh*kw} tap planes and one accumulator plane, reused for every
 * channel of the call. A tap plane's padded cells are the same for every channel and are never
 * written, so they stay 0.
 */
final class DepthwiseConv2dKernel implements Kernel {
  private final int cin, h, w, cout, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo, mult;
  private final float[] weight;
  private final float[] bias;
  private final int[] owLo, owHi;

  DepthwiseConv2dKernel(
      int[] x, int cout, int[] k, int[] s, int[] p, int[] d, int ho, int wo, float[] weight,
      float[] bias) {
    this.cin = x[0];
    this.h = x[1];
    this.w = x[2];
    this.cout = cout;
    this.mult = cout / cin;
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
  }

  @Override
  public int[] outputShape() {
    return new int[] {cout, ho, wo};
  }

  @Override
  public void run(float[][] inputs, float[] out) {
    float[] x = inputs[0];
    int n = ho * wo;
    int taps = kh * kw;
    float[][] tap = new float[taps][n];
    float[] acc = new float[n];
    for (int ic = 0; ic < cin; ic++) {
      int ibase = ic * h * w;
      for (int ky = 0; ky < kh; ky++) {
        for (int kx = 0; kx < kw; kx++) {
          float[] dst = tap[ky * kw + kx];
          int lo = owLo[kx];
          int hi = owHi[kx];
          int xoff = kx * dw - pw;
          for (int oy = 0; oy < ho && lo < hi; oy++) {
            int iy = oy * sh - ph + ky * dh;
            if (iy < 0 || iy >= h) {
              continue; // a padded row: stays 0 for every channel
            }
            int src = ibase + iy * w + xoff;
            int row = oy * wo;
            if (sw == 1) {
              System.arraycopy(x, src + lo, dst, row + lo, hi - lo);
            } else {
              for (int ox = lo; ox < hi; ox++) {
                dst[row + ox] = x[src + ox * sw];
              }
            }
          }
        }
      }
      for (int j = 0; j < mult; j++) {
        int oc = ic * mult + j;
        Arrays.fill(acc, bias == null ? 0f : bias[oc]);
        int wb = oc * taps;
        int t = 0;
        for (; t + 2 < taps; t += 3) {
          madd3(acc, tap[t], tap[t + 1], tap[t + 2], weight[wb + t], weight[wb + t + 1],
              weight[wb + t + 2], n);
        }
        for (; t < taps; t++) {
          madd1(acc, tap[t], weight[wb + t], n);
        }
        System.arraycopy(acc, 0, out, oc * n, n);
      }
    }
  }

  /** a[i] += w0 * b0[i] + w1 * b1[i] + w2 * b2[i], i in [0, n). */
  private static void madd3(
      float[] a, float[] b0, float[] b1, float[] b2, float w0, float w1, float w2, int n) {
    for (int i = 0; i < n; i++) {
      a[i] += w0 * b0[i] + w1 * b1[i] + w2 * b2[i];
    }
  }

  /** a[i] += w0 * b0[i], i in [0, n). */
  private static void madd1(float[] a, float[] b0, float w0, int n) {
    for (int i = 0; i < n; i++) {
      a[i] += w0 * b0[i];
    }
  }
}
