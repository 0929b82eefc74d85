package org.pd2java.runtime;

import java.util.Arrays;

/**
 * conv2d@1, fast path for depthwise convolutions ({@code groups == in_channels}, any channel
 * multiplier {@code out_channels / in_channels}), any kernel size, stride, padding and dilation.
 * Same results as {@link Conv2dKernel} (the reference, against which JUnit tests it) up to float
 * rounding from the summation order.
 *
 * <p>Two paths, chosen by geometry (measured on the PDLightModel layers):
 *
 * <ul>
 *   <li>Stride 1 and output planes over {@link #DIRECT_MAX_PLANE} cells: per input channel, each
 *       kernel tap's shifted view of the input is copied into its own plane-sized array (a
 *       one-channel im2col, by row {@code System.arraycopy}); each output plane is then a
 *       weighted sum of those tap planes, three taps per pass, every array indexed by the same
 *       {@code i} from 0, which HotSpot 17 vectorises (the reference's row loop with two
 *       different offsets stays scalar; see {@link Conv2dGemmKernel}).
 *   <li>Strided or small planes (where the per-row copies or the strided gathers cost more than
 *       the arithmetic): scalar, each output computed at once from a zero-padded copy of the
 *       input plane with no bounds checks; 3x3 kernels keep their nine weights in registers.
 * </ul>
 *
 * <p>Scratch per call (reused for every channel of the call): the tap planes and an accumulator
 * plane, or the padded plane. Padded cells are the same for every channel and are never
 * written, so they stay 0.
 */
final class DepthwiseConv2dKernel implements Kernel {
  private final Window2d g;
  private final float[] weight;
  private final float[] bias;
  private final int[] owLo, owHi;
  /** Stride-1 output planes up to this many cells are computed directly, larger by tap planes. */
  static final int DIRECT_MAX_PLANE = 64;

  DepthwiseConv2dKernel(Window2d g, float[] weight, float[] bias) {
    this.g = g;
    this.weight = weight;
    this.bias = bias;
    int[][] range = g.validOutputColumns();
    this.owLo = range[0];
    this.owHi = range[1];
  }

  @Override
  public int[] outputShape() {
    return g.outputShape();
  }

  @Override
  public void run(float[][] inputs, float[] out) {
    if (g.ho * g.wo <= DIRECT_MAX_PLANE || g.sh > 1 || g.sw > 1) {
      runDirect(inputs[0], out);
    } else {
      runTaps(inputs[0], out);
    }
  }

  /**
   * Small planes: the tap planes' per-row copies cost more than the arithmetic, so compute each
   * output directly (scalar) from a zero-padded copy of the input plane, with no bounds checks.
   */
  private void runDirect(float[] x, float[] out) {
    final int cin = g.c, h = g.h, w = g.w, kh = g.kh, kw = g.kw, sh = g.sh, sw = g.sw;
    final int ph = g.ph, pw = g.pw, dh = g.dh, dw = g.dw, ho = g.ho, wo = g.wo;
    final int mult = g.cout / g.c;
    final float[] weight = this.weight, bias = this.bias;
    int pwid = w + 2 * pw;
    int phgt = h + 2 * ph;
    int n = ho * wo;
    int taps = kh * kw;
    float[] plane = new float[pwid * phgt]; // the border stays 0 for every channel
    int[] off = new int[taps]; // padded-plane offset of each tap from the window's corner
    for (int ky = 0; ky < kh; ky++) {
      for (int kx = 0; kx < kw; kx++) {
        off[ky * kw + kx] = ky * dh * pwid + kx * dw;
      }
    }
    for (int ic = 0; ic < cin; ic++) {
      for (int iy = 0; iy < h; iy++) {
        System.arraycopy(x, (ic * h + iy) * w, plane, (iy + ph) * pwid + pw, w);
      }
      for (int j = 0; j < mult; j++) {
        int oc = ic * mult + j;
        float b = bias == null ? 0f : bias[oc];
        int wb = oc * taps;
        int o = oc * n;
        if (taps == 9) { // 3x3: the nine weights and offsets in registers
          float w0 = weight[wb];
          float w1 = weight[wb + 1];
          float w2 = weight[wb + 2];
          float w3 = weight[wb + 3];
          float w4 = weight[wb + 4];
          float w5 = weight[wb + 5];
          float w6 = weight[wb + 6];
          float w7 = weight[wb + 7];
          float w8 = weight[wb + 8];
          int o1 = off[1];
          int o2 = off[2];
          int o3 = off[3];
          int o4 = off[4];
          int o5 = off[5];
          int o6 = off[6];
          int o7 = off[7];
          int o8 = off[8];
          for (int oy = 0; oy < ho; oy++) {
            int corner = oy * sh * pwid;
            for (int ox = 0; ox < wo; ox++) {
              int c = corner + ox * sw;
              out[o++] = b + w0 * plane[c] + w1 * plane[c + o1] + w2 * plane[c + o2]
                  + w3 * plane[c + o3] + w4 * plane[c + o4] + w5 * plane[c + o5]
                  + w6 * plane[c + o6] + w7 * plane[c + o7] + w8 * plane[c + o8];
            }
          }
          continue;
        }
        for (int oy = 0; oy < ho; oy++) {
          int corner = oy * sh * pwid;
          for (int ox = 0; ox < wo; ox++) {
            int c = corner + ox * sw;
            float acc = b;
            for (int t = 0; t < taps; t++) {
              acc += weight[wb + t] * plane[c + off[t]];
            }
            out[o++] = acc;
          }
        }
      }
    }
  }

  private void runTaps(float[] x, float[] out) {
    final int cin = g.c, h = g.h, w = g.w, kh = g.kh, kw = g.kw, sh = g.sh, sw = g.sw;
    final int ph = g.ph, pw = g.pw, dh = g.dh, dw = g.dw, ho = g.ho, wo = g.wo;
    final int mult = g.cout / g.c;
    final float[] weight = this.weight, bias = this.bias;
    final int[] owLo = this.owLo, owHi = this.owHi;
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
