package org.pd2java.runtime;

import java.util.Arrays;

/**
 * conv2d@1: 2-D cross-correlation with zero padding, any groups (depthwise included), stride and
 * dilation, optional bias; as torch.nn.Conv2d(padding_mode='zeros').
 *
 * <p>Loop order: for each output channel, for each input channel of its group, for each kernel
 * tap, add {@code w * input row} to the output row. The innermost loop runs along a row with a
 * fixed weight, which the JIT vectorises when the stride is 1. Accumulation is float32.
 *
 * <p>This is the reference kernel: it runs grouped and depthwise convolutions, and every
 * convolution when {@link LoadOptions#withReferenceKernels(boolean)} is set; otherwise dense
 * convolutions use {@link Conv2dGemmKernel} and depthwise ones (groups == in_channels) {@link
 * DepthwiseConv2dKernel}, which JUnit tests against this one.
 */
final class Conv2dKernel implements Kernel {
  private final int cin, h, w, cout, kh, kw, sh, sw, ph, pw, dh, dw, groups, ho, wo;
  private final float[] weight;
  private final float[] bias;
  // Per kernel column kx: the range [owLo, owHi) of output columns whose input column is inside.
  private final int[] owLo, owHi;

  static Kernel compile(NodeDef n, int[][] in) {
    int cin = n.intAttr("in_channels", 1);
    int cout = n.intAttr("out_channels", 1);
    int[] k = n.int2Attr("kernel_size", 1);
    int[] s = n.int2Attr("stride", 1);
    int[] p = n.int2Attr("padding", 0);
    int[] d = n.int2Attr("dilation", 1);
    int groups = n.intAttr("groups", 1);
    if (cin % groups != 0 || cout % groups != 0) {
      throw n.error(
          ErrorCode.INVALID_ATTRIBUTE,
          "groups " + groups + " must divide in_channels " + cin + " and out_channels " + cout);
    }
    int[] x = n.input(in, 0, 3);
    if (x[0] != cin) {
      throw n.error(
          ErrorCode.SHAPE_MISMATCH,
          "input has " + x[0] + " channels but in_channels is " + cin + " (input shape "
              + Arrays.toString(x) + ")");
    }
    float[] weight = n.param("weight", cout, cin / groups, k[0], k[1]);
    float[] bias = n.param("bias", cout);
    int ho = n.windowOut("height", x[1], k[0], s[0], p[0], d[0]);
    int wo = n.windowOut("width", x[2], k[1], s[1], p[1], d[1]);
    // The fast path's im2col scratch must stay a reasonable Java array; else use the reference.
    long scratch = (long) cin * k[0] * k[1] * ho * wo;
    if (groups == 1 && !n.referenceKernels && scratch <= ManifestLoader.MAX_VALUE_ELEMENTS) {
      return new Conv2dGemmKernel(x, cout, k, s, p, d, ho, wo, weight, bias);
    }
    // The depthwise path's per-call scratch: tap planes, or one zero-padded input plane.
    long taps = (long) k[0] * k[1] * ho * wo;
    long padded = (x[1] + 2L * p[0]) * (x[2] + 2L * p[1]);
    if (groups == cin && groups > 1 && !n.referenceKernels
        && Math.max(taps, padded) <= ManifestLoader.MAX_VALUE_ELEMENTS) {
      return new DepthwiseConv2dKernel(x, cout, k, s, p, d, ho, wo, weight, bias);
    }
    return new Conv2dKernel(x, cout, k, s, p, d, groups, ho, wo, weight, bias);
  }

  private Conv2dKernel(
      int[] x, int cout, int[] k, int[] s, int[] p, int[] d, int groups, int ho, int wo,
      float[] weight, float[] bias) {
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
    this.groups = groups;
    this.ho = ho;
    this.wo = wo;
    this.weight = weight;
    this.bias = bias;
    int[][] range = validOutputRange(kw, dw, pw, sw, wo, w);
    this.owLo = range[0];
    this.owHi = range[1];
  }

  /**
   * For each kernel column {@code kx}, the output columns {@code [lo, hi)} whose input column
   * {@code ox * sw + kx * dw - pw} lies inside {@code [0, w)}: the taps outside are zero padding
   * and are skipped. Shared by every conv kernel so they agree on the padding border.
   */
  static int[][] validOutputRange(int kw, int dw, int pw, int sw, int wo, int w) {
    int[] lo = new int[kw];
    int[] hi = new int[kw];
    for (int kx = 0; kx < kw; kx++) {
      int off = kx * dw - pw; // input column = ox * sw + off
      int l = 0;
      while (l < wo && l * sw + off < 0) {
        l++;
      }
      int h = wo;
      while (h > l && (h - 1) * sw + off >= w) {
        h--;
      }
      lo[kx] = l;
      hi[kx] = h;
    }
    return new int[][] {lo, hi};
  }

  @Override
  public int[] outputShape() {
    return new int[] {cout, ho, wo};
  }

  @Override
  public void run(float[][] inputs, float[] out) {
    float[] x = inputs[0];
    int inPerG = cin / groups;
    int outPerG = cout / groups;
    int plane = ho * wo;
    for (int oc = 0; oc < cout; oc++) {
      int g = oc / outPerG;
      int obase = oc * plane;
      Arrays.fill(out, obase, obase + plane, bias == null ? 0f : bias[oc]);
      for (int icg = 0; icg < inPerG; icg++) {
        int ibase = (g * inPerG + icg) * h * w;
        int wbase = (oc * inPerG + icg) * kh * kw;
        for (int ky = 0; ky < kh; ky++) {
          for (int kx = 0; kx < kw; kx++) {
            float wt = weight[wbase + ky * kw + kx];
            int lo = owLo[kx];
            int hi = owHi[kx];
            int xoff = kx * dw - pw;
            for (int oy = 0; oy < ho; oy++) {
              int iy = oy * sh - ph + ky * dh;
              if (iy < 0 || iy >= h) {
                continue;
              }
              int irow = ibase + iy * w + xoff;
              int orow = obase + oy * wo;
              if (sw == 1) {
                for (int ox = lo; ox < hi; ox++) {
                  out[orow + ox] += wt * x[irow + ox];
                }
              } else {
                for (int ox = lo; ox < hi; ox++) {
                  out[orow + ox] += wt * x[irow + ox * sw];
                }
              }
            }
          }
        }
      }
    }
  }
}
