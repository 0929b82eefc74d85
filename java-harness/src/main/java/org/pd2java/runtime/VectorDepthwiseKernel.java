package org.pd2java.runtime;

import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * conv2d@1 and conv1d@1 with {@code groups == in_channels > 1} (depthwise, any channel
 * multiplier, kernel, stride, padding and dilation) on the Vector API.
 *
 * <p>Per input channel, the input is copied into a zero-padded plane (its padding cells are
 * cleared once per call and never written after). Each output row is a sum over taps of {@code
 * weight * (a vector load)}, one vector of output columns at a time. At stride 1 all the rows
 * are one sweep: at the plane's row pitch they are one contiguous run, and the columns that fall
 * in the padding are computed and dropped, which costs less than a loop per row. A strided one
 * computes its rows at column stride 1 (consecutive inputs, so no gathers) and keeps every
 * {@code sw}-th column when copying out. Rows are built in a scratch plane padded to whole
 * vectors, so no load or store needs a mask; the activation ({@link Epilogue}) runs over that
 * cache-hot plane, and the rows are copied out.
 *
 * <p>Summation is float32 in tap order, as the scalar reference's up to rounding. A compressed
 * weight's channel is dequantised into scratch.
 */
final class VectorDepthwiseKernel implements Epilogue.Fusable {
  private static final VectorSpecies<Float> S = VectorKernels.S;
  private static final int V = S.length();

  private final Window2d g;
  private final float[] weight;
  private final WeightTensor compressed;
  private final float[] bias;
  private final Epilogue ep;
  /** Padded plane height and width. */
  private final int hp, wp;
  /** Output columns at column stride 1, and that rounded up to whole vectors. */
  private final int wFull, wFullPad;
  /** Stride 1: all output rows in one sweep of {@code flatLen} positions at pitch {@code wp}. */
  private final boolean flat;
  private final int flatLen;
  /** Per tap (ky, kx): its offset in the padded plane from the window's top-left corner. */
  private final int[] tapOff;
  private final int[] scratchRows;

  private static final int ROW_PLANE = 0, ROW_OUT = 1, ROW_W = 2;

  VectorDepthwiseKernel(Window2d g, WeightTensor weight, float[] bias, Epilogue ep) {
    this.g = g;
    this.weight = weight.floats();
    this.compressed = this.weight == null ? weight : null;
    this.bias = bias;
    this.ep = ep;
    this.hp = g.ph + g.h + g.phEnd;
    this.wp = g.pw + g.w + g.pwEnd;
    this.wFull = (g.wo - 1) * g.sw + 1;
    this.wFullPad = (wFull + V - 1) / V * V;
    this.tapOff = new int[g.kh * g.kw];
    for (int ky = 0; ky < g.kh; ky++) {
      for (int kx = 0; kx < g.kw; kx++) {
        tapOff[ky * g.kw + kx] = ky * g.dh * wp + kx * g.dw;
      }
    }
    this.flat = g.sh == 1 && g.sw == 1;
    this.flatLen = (g.ho * wp + V - 1) / V * V;
    this.scratchRows = new int[] {planeLen(), Math.max(g.ho * wFullPad, flatLen),
        compressed == null ? 0 : (g.cout / g.c) * g.kh * g.kw};
  }

  private VectorDepthwiseKernel(VectorDepthwiseKernel k, Epilogue ep) {
    this.g = k.g;
    this.weight = k.weight;
    this.compressed = k.compressed;
    this.bias = k.bias;
    this.ep = ep;
    this.hp = k.hp;
    this.wp = k.wp;
    this.wFull = k.wFull;
    this.wFullPad = k.wFullPad;
    this.tapOff = k.tapOff;
    this.flat = k.flat;
    this.flatLen = k.flatLen;
    this.scratchRows = k.scratchRows;
  }

  /**
   * The padded plane plus slack: a vector's reads start at most one vector minus one before the
   * end of a sweep and a tap reaches {@code (kw - 1) dw} further.
   */
  private int planeLen() {
    return hp * wp + V + (g.kw - 1) * g.dw;
  }

  @Override
  public int[] outputShape() {
    return g.outputShape();
  }

  @Override
  public int[] scratchRows() {
    return scratchRows;
  }

  @Override
  public Epilogue epilogue() {
    return ep;
  }

  @Override
  public Kernel fused(Epilogue e) {
    return e.residual() ? null : new VectorDepthwiseKernel(this, e);
  }

  @Override
  public void run(float[][] inputs, float[] out) {
    run(inputs, out, Kernel.newScratch(scratchRows));
  }

  @Override
  public void run(float[][] inputs, float[] out, float[][] scratch) {
    final int cin = g.c, h = g.h, w = g.w, sh = g.sh, sw = g.sw, ph = g.ph, pw = g.pw;
    final int ho = g.ho, wo = g.wo, wp = this.wp, wFullPad = this.wFullPad;
    final int mult = g.cout / cin, taps = tapOff.length;
    final float[] x = inputs[0];
    final float[] plane = scratch[ROW_PLANE];
    final float[] rows = scratch[ROW_OUT];
    Arrays.fill(plane, 0, planeLen(), 0f);
    for (int ic = 0; ic < cin; ic++) {
      int ibase = ic * h * w;
      for (int iy = 0; iy < h; iy++) {
        System.arraycopy(x, ibase + iy * w, plane, (iy + ph) * wp + pw, w);
      }
      for (int mq = 0; mq < mult; mq++) {
        int oc = ic * mult + mq;
        float[] wt = weight;
        int wOff = oc * taps;
        if (wt == null) {
          wt = scratch[ROW_W];
          compressed.row(oc, wt, 0);
          wOff = 0;
        }
        float b = bias == null ? 0f : bias[oc];
        int obase = oc * ho * wo;
        if (flat) {
          // Stride 1: the output rows at the plane's row pitch are one contiguous run of
          // positions, computed in one sweep (the columns past wo are dropped when copying out).
          if (taps == 9) {
            row9(plane, 0, wt, wOff, b, rows, 0, flatLen);
          } else {
            rowAny(plane, 0, wt, wOff, b, rows, 0, flatLen);
          }
          VectorEpilogue.apply(ep, rows, 0, flatLen, null);
          for (int oy = 0; oy < ho; oy++) {
            System.arraycopy(rows, oy * wp, out, obase + oy * wo, wo);
          }
          continue;
        }
        for (int oy = 0; oy < ho; oy++) {
          if (taps == 9) {
            row9(plane, oy * sh * wp, wt, wOff, b, rows, oy * wFullPad, wFullPad);
          } else {
            rowAny(plane, oy * sh * wp, wt, wOff, b, rows, oy * wFullPad, wFullPad);
          }
        }
        VectorEpilogue.apply(ep, rows, 0, ho * wFullPad, null);
        for (int oy = 0; oy < ho; oy++) {
          int src = oy * wFullPad;
          int dst = obase + oy * wo;
          if (sw == 1) {
            System.arraycopy(rows, src, out, dst, wo);
          } else {
            for (int ox = 0; ox < wo; ox++) {
              out[dst + ox] = rows[src + ox * sw];
            }
          }
        }
      }
    }
  }

  /** {@code len} positions (whole vectors) at column stride 1 from {@code base}, any kernel. */
  private void rowAny(float[] plane, int base, float[] wt, int wOff, float b, float[] rows,
      int dst, int len) {
    final int[] tapOff = this.tapOff;
    final int taps = tapOff.length;
    for (int ox = 0; ox < len; ox += V) {
      FloatVector acc = FloatVector.broadcast(S, b);
      int p = base + ox;
      for (int t = 0; t < taps; t++) {
        acc = FloatVector.fromArray(S, plane, p + tapOff[t])
            .fma(FloatVector.broadcast(S, wt[wOff + t]), acc);
      }
      acc.intoArray(rows, dst + ox);
    }
  }

  /** As {@link #rowAny} for a 3x3 kernel: the nine weights stay in registers. */
  private void row9(float[] plane, int base, float[] wt, int wOff, float b, float[] rows,
      int dst, int len) {
    final int[] o = this.tapOff;
    final int o0 = o[0], o1 = o[1], o2 = o[2], o3 = o[3], o4 = o[4], o5 = o[5], o6 = o[6];
    final int o7 = o[7], o8 = o[8];
    FloatVector w0 = FloatVector.broadcast(S, wt[wOff]);
    FloatVector w1 = FloatVector.broadcast(S, wt[wOff + 1]);
    FloatVector w2 = FloatVector.broadcast(S, wt[wOff + 2]);
    FloatVector w3 = FloatVector.broadcast(S, wt[wOff + 3]);
    FloatVector w4 = FloatVector.broadcast(S, wt[wOff + 4]);
    FloatVector w5 = FloatVector.broadcast(S, wt[wOff + 5]);
    FloatVector w6 = FloatVector.broadcast(S, wt[wOff + 6]);
    FloatVector w7 = FloatVector.broadcast(S, wt[wOff + 7]);
    FloatVector w8 = FloatVector.broadcast(S, wt[wOff + 8]);
    FloatVector bv = FloatVector.broadcast(S, b);
    for (int ox = 0; ox < len; ox += V) {
      int p = base + ox;
      FloatVector acc = FloatVector.fromArray(S, plane, p + o0).fma(w0, bv);
      acc = FloatVector.fromArray(S, plane, p + o1).fma(w1, acc);
      acc = FloatVector.fromArray(S, plane, p + o2).fma(w2, acc);
      acc = FloatVector.fromArray(S, plane, p + o3).fma(w3, acc);
      acc = FloatVector.fromArray(S, plane, p + o4).fma(w4, acc);
      acc = FloatVector.fromArray(S, plane, p + o5).fma(w5, acc);
      acc = FloatVector.fromArray(S, plane, p + o6).fma(w6, acc);
      acc = FloatVector.fromArray(S, plane, p + o7).fma(w7, acc);
      acc = FloatVector.fromArray(S, plane, p + o8).fma(w8, acc);
      acc.intoArray(rows, dst + ox);
    }
  }
}
