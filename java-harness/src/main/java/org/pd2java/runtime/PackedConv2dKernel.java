package org.pd2java.runtime;

import java.util.Arrays;

/**
 * conv2d@1 (and conv1d@1) with a compressed weight (F16, or I8 with per-output-channel scales),
 * which stays compressed in memory, for the geometries {@link Conv2dKernel} (the reference) runs:
 * grouped convolutions, and every convolution with {@link LoadOptions#withReferenceKernels}. The
 * reference's loops, each output channel's weights ({@code in_channels/groups x kh x kw}) first
 * dequantised into a per-call scratch row: the result is bit-identical to {@link Conv2dKernel} on
 * the dequantised weights (JUnit checks it).
 */
final class PackedConv2dKernel implements Kernel {
  private final Window2d g;
  private final WeightTensor weight;
  private final float[] bias;
  // Per kernel column kx: the range [owLo, owHi) of output columns whose input column is inside.
  private final int[] owLo, owHi;

  PackedConv2dKernel(Window2d g, WeightTensor weight, float[] bias) {
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
    final int cin = g.c, h = g.h, w = g.w, cout = g.cout, groups = g.groups;
    final int kh = g.kh, kw = g.kw, sh = g.sh, sw = g.sw, ph = g.ph, pw = g.pw, dh = g.dh;
    final int dw = g.dw, ho = g.ho, wo = g.wo;
    final float[] bias = this.bias;
    final int[] owLo = this.owLo, owHi = this.owHi;
    float[] x = inputs[0];
    int inPerG = cin / groups;
    int outPerG = cout / groups;
    int plane = ho * wo;
    float[] row = new float[inPerG * kh * kw]; // output channel oc's weights, dequantised
    for (int oc = 0; oc < cout; oc++) {
      weight.row(oc, row, 0);
      int grp = oc / outPerG;
      int obase = oc * plane;
      Arrays.fill(out, obase, obase + plane, bias == null ? 0f : bias[oc]);
      for (int icg = 0; icg < inPerG; icg++) {
        int ibase = (grp * inPerG + icg) * h * w;
        int wbase = icg * kh * kw;
        for (int ky = 0; ky < kh; ky++) {
          for (int kx = 0; kx < kw; kx++) {
            float wt = row[wbase + ky * kw + kx];
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
