package org.pd2java.runtime;

import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * conv2d@1 and conv1d@1 with {@code groups == in_channels > 1} (depthwise, any channel
 * multiplier, kernel, stride, padding and dilation) on the Vector API.
 *
 * <p>Per input channel, the input is copied row by row into a zero-padded plane split by row
 * phase: padded row {@code r} goes to phase plane {@code r % sh}, row {@code r / sh} (one plane
 * when {@code sh} is 1). Output row {@code oy} then reads, for tap row {@code ky}, row {@code oy +
 * (ky dh) / sh} of phase {@code (ky dh) % sh}: every tap sees the output rows at one pitch, so a
 * channel's whole output is one sweep of vector loads and fused multiply-adds over {@code ho x wp}
 * positions (the columns that fall in the padding are computed and dropped, which costs less
 * than a loop per row). A column stride keeps every {@code sw}-th column when copying out. The
 * sweep writes whole vectors into scratch, so no load or store needs a mask; the activation
 * ({@link Epilogue}) runs over that cache-hot result before the copy.
 *
 * <p>Padding cells are cleared once per call and never written after. Summation is float32 in
 * tap order, as the scalar reference's up to rounding. A compressed weight's channel is
 * dequantised into scratch.
 */
final class VectorDepthwiseKernel extends FusableKernel {
  private static final VectorSpecies<Float> S = VectorKernels.S;
  private static final int V = S.length();

  private final Window2d g;
  private final float[] weight;
  private final WeightTensor compressed;
  private final float[] bias;
  /** Padded plane width (the row pitch), and rows per row-phase plane. */
  private final int wp, hq;
  /** Positions of one sweep: {@code ho x wp} rounded up to whole vectors. */
  private final int sweep;
  /** Per tap (ky, kx): its offset in the phase planes from output position 0. */
  private final int[] tapOff;
  private final int[] scratchRows;

  private static final int ROW_PLANE = 0, ROW_OUT = 1, ROW_W = 2;

  VectorDepthwiseKernel(Window2d g, WeightTensor weight, float[] bias, Epilogue ep) {
    super(ep);
    this.g = g;
    this.weight = weight.floats();
    this.compressed = this.weight == null ? weight : null;
    this.bias = bias;
    int hp = g.ph + g.h + g.phEnd;
    this.wp = g.pw + g.w + g.pwEnd;
    this.hq = (hp + g.sh - 1) / g.sh;
    this.sweep = (g.ho * wp + V - 1) / V * V;
    this.tapOff = new int[g.kh * g.kw];
    for (int ky = 0; ky < g.kh; ky++) {
      int r = ky * g.dh;
      for (int kx = 0; kx < g.kw; kx++) {
        tapOff[ky * g.kw + kx] = ((r % g.sh) * hq + r / g.sh) * wp + kx * g.dw;
      }
    }
    this.scratchRows = new int[] {(int) planeLen(g, hq, wp), sweep,
        compressed == null ? 0 : (g.cout / g.c) * g.kh * g.kw};
  }

  private VectorDepthwiseKernel(VectorDepthwiseKernel k, Epilogue ep) {
    super(ep);
    this.g = k.g;
    this.weight = k.weight;
    this.compressed = k.compressed;
    this.bias = k.bias;
    this.wp = k.wp;
    this.hq = k.hq;
    this.sweep = k.sweep;
    this.tapOff = k.tapOff;
    this.scratchRows = k.scratchRows;
  }

  /**
   * The phase planes plus slack: a sweep's last vector starts at most {@code V - 1} before its
   * end and a tap reaches {@code (kw - 1) dw} further.
   */
  static long planeLen(Window2d g, long hq, long wp) {
    return g.sh * hq * wp + V + (g.kw - 1L) * g.dw;
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
  public Kernel fused(Epilogue e) {
    return e.residual() ? null : new VectorDepthwiseKernel(this, e);
  }

  @Override
  public void run(float[][] inputs, float[] out, float[][] scratch) {
    final int cin = g.c, h = g.h, w = g.w, sh = g.sh, sw = g.sw, ph = g.ph, pw = g.pw;
    final int ho = g.ho, wo = g.wo, wp = this.wp, hq = this.hq, sweep = this.sweep;
    final int mult = g.cout / cin, taps = tapOff.length;
    final float[] x = inputs[0];
    final float[] plane = scratch[ROW_PLANE];
    final float[] rows = scratch[ROW_OUT];
    Arrays.fill(plane, 0, scratchRows[ROW_PLANE], 0f);
    for (int ic = 0; ic < cin; ic++) {
      int ibase = ic * h * w;
      for (int iy = 0; iy < h; iy++) {
        int r = iy + ph; // padded row
        System.arraycopy(x, ibase + iy * w, plane, ((r % sh) * hq + r / sh) * wp + pw, w);
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
        if (taps == 9) {
          sweep9(plane, wt, wOff, b, rows, sweep);
        } else {
          sweepAny(plane, wt, wOff, b, rows, sweep);
        }
        VectorEpilogue.apply(ep, rows, 0, sweep, null);
        int obase = oc * ho * wo;
        for (int oy = 0; oy < ho; oy++) {
          int src = oy * wp;
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

  /** One sweep of {@code len} positions (whole vectors), any kernel: taps in order. */
  private void sweepAny(float[] plane, float[] wt, int wOff, float b, float[] rows, int len) {
    final int[] tapOff = this.tapOff;
    final int taps = tapOff.length;
    for (int ox = 0; ox < len; ox += V) {
      FloatVector acc = FloatVector.broadcast(S, b);
      int p = ox;
      for (int t = 0; t < taps; t++) {
        acc = FloatVector.fromArray(S, plane, p + tapOff[t])
            .fma(FloatVector.broadcast(S, wt[wOff + t]), acc);
      }
      acc.intoArray(rows, ox);
    }
  }

  /** As {@link #sweepAny} for a 3x3 kernel: the nine weights stay in registers. */
  private void sweep9(float[] plane, float[] wt, int wOff, float b, float[] rows, int len) {
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
      int p = ox;
      FloatVector acc = FloatVector.fromArray(S, plane, p + o0).fma(w0, bv);
      acc = FloatVector.fromArray(S, plane, p + o1).fma(w1, acc);
      acc = FloatVector.fromArray(S, plane, p + o2).fma(w2, acc);
      acc = FloatVector.fromArray(S, plane, p + o3).fma(w3, acc);
      acc = FloatVector.fromArray(S, plane, p + o4).fma(w4, acc);
      acc = FloatVector.fromArray(S, plane, p + o5).fma(w5, acc);
      acc = FloatVector.fromArray(S, plane, p + o6).fma(w6, acc);
      acc = FloatVector.fromArray(S, plane, p + o7).fma(w7, acc);
      acc = FloatVector.fromArray(S, plane, p + o8).fma(w8, acc);
      acc.intoArray(rows, ox);
    }
  }
}
