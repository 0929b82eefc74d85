package org.pd2java.runtime;

import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * conv2d@1 and conv1d@1 with {@code groups == in_channels > 1} (depthwise, any channel
 * multiplier, kernel, stride, padding and dilation) on the Vector API.
 *
 * <p>Per input channel, the zero-padded input plane is split by column phase into {@code sw}
 * planes (plane {@code q} holds padded columns {@code q, q + sw, q + 2 sw, ...}), so that for
 * every tap the inputs of consecutive output columns are consecutive floats even when strided.
 * Each output row is then a sum over taps of {@code weight * (a vector load)}, one vector of
 * output columns at a time, with the bias. The row is built in a scratch row padded to whole
 * vectors, so no load or store needs a mask; the activation ({@link Epilogue}) runs on it while
 * it is cache-hot, and it is copied out.
 *
 * <p>Scratch: the phase planes (cleared once per call; their padding cells are never written
 * after) and the row; a compressed weight's channel is dequantised into a third row. Summation is
 * float32 in tap order, as the scalar reference's up to rounding.
 */
final class VectorDepthwiseKernel implements Epilogue.Fusable {
  private static final VectorSpecies<Float> S = VectorKernels.S;
  private static final int V = S.length();

  private final Window2d g;
  private final float[] weight;
  private final WeightTensor compressed;
  private final float[] bias;
  private final Epilogue ep;
  /** Padded plane height, phase-plane width, one phase plane's floats (with a vector of slack). */
  private final int hp, wq, planeSize;
  /** Output columns rounded up to whole vectors. */
  private final int woPad;
  /** Per phase q: phase-plane columns {@code [colLo[q], colHi[q])} that hold input columns. */
  private final int[] colLo, colHi;
  /** Per tap (ky, kx): its offset in the phase planes from the window's top-left output. */
  private final int[] tapOff;
  private final int[] scratchRows;

  private static final int ROW_PLANES = 0, ROW_OUT = 1, ROW_W = 2;

  VectorDepthwiseKernel(Window2d g, WeightTensor weight, float[] bias, Epilogue ep) {
    this.g = g;
    this.weight = weight.floats();
    this.compressed = this.weight == null ? weight : null;
    this.bias = bias;
    this.ep = ep;
    this.hp = g.ph + g.h + g.phEnd;
    int wp = g.pw + g.w + g.pwEnd;
    this.wq = (wp + g.sw - 1) / g.sw;
    this.planeSize = hp * wq + V;
    this.woPad = (g.wo + V - 1) / V * V;
    this.colLo = new int[g.sw];
    this.colHi = new int[g.sw];
    for (int q = 0; q < g.sw; q++) {
      // padded column c = c' * sw + q holds input column c - pw when that lies in [0, w)
      int lo = 0;
      while (lo * g.sw + q < g.pw) {
        lo++;
      }
      int hi = lo;
      while (hi < wq && hi * g.sw + q < g.pw + g.w) {
        hi++;
      }
      colLo[q] = lo;
      colHi[q] = hi;
    }
    this.tapOff = new int[g.kh * g.kw];
    for (int ky = 0; ky < g.kh; ky++) {
      for (int kx = 0; kx < g.kw; kx++) {
        int off = kx * g.dw;
        tapOff[ky * g.kw + kx] = (off % g.sw) * planeSize + ky * g.dh * wq + off / g.sw;
      }
    }
    this.scratchRows = new int[] {g.sw * planeSize, woPad + V,
        compressed == null ? 0 : (g.cout / g.c) * g.kh * g.kw};
  }

  private VectorDepthwiseKernel(VectorDepthwiseKernel k, Epilogue ep) {
    this.g = k.g;
    this.weight = k.weight;
    this.compressed = k.compressed;
    this.bias = k.bias;
    this.ep = ep;
    this.hp = k.hp;
    this.wq = k.wq;
    this.planeSize = k.planeSize;
    this.woPad = k.woPad;
    this.colLo = k.colLo;
    this.colHi = k.colHi;
    this.tapOff = k.tapOff;
    this.scratchRows = k.scratchRows;
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

  /** One output row, any kernel: taps in order, each a load and a fused multiply-add. */
  private void rowAny(float[] planes, int base, float[] wt, int wOff, float b, float[] row) {
    final int[] tapOff = this.tapOff;
    final int taps = tapOff.length, woPad = this.woPad;
    for (int ox = 0; ox < woPad; ox += V) {
      FloatVector acc = FloatVector.broadcast(S, b);
      int p = base + ox;
      for (int t = 0; t < taps; t++) {
        acc = FloatVector.fromArray(S, planes, p + tapOff[t])
            .fma(FloatVector.broadcast(S, wt[wOff + t]), acc);
      }
      acc.intoArray(row, ox);
    }
  }

  /** One output row of a 3x3 kernel: the nine weights stay in registers. */
  private void row9(float[] planes, int base, float[] wt, int wOff, float b, float[] row) {
    final int[] o = this.tapOff;
    final int o0 = o[0], o1 = o[1], o2 = o[2], o3 = o[3], o4 = o[4], o5 = o[5], o6 = o[6];
    final int o7 = o[7], o8 = o[8], woPad = this.woPad;
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
    for (int ox = 0; ox < woPad; ox += V) {
      int p = base + ox;
      FloatVector acc = FloatVector.fromArray(S, planes, p + o0).fma(w0, bv);
      acc = FloatVector.fromArray(S, planes, p + o1).fma(w1, acc);
      acc = FloatVector.fromArray(S, planes, p + o2).fma(w2, acc);
      acc = FloatVector.fromArray(S, planes, p + o3).fma(w3, acc);
      acc = FloatVector.fromArray(S, planes, p + o4).fma(w4, acc);
      acc = FloatVector.fromArray(S, planes, p + o5).fma(w5, acc);
      acc = FloatVector.fromArray(S, planes, p + o6).fma(w6, acc);
      acc = FloatVector.fromArray(S, planes, p + o7).fma(w7, acc);
      acc = FloatVector.fromArray(S, planes, p + o8).fma(w8, acc);
      acc.intoArray(row, ox);
    }
  }


  @Override
  public void run(float[][] inputs, float[] out, float[][] scratch) {
    final int cin = g.c, h = g.h, w = g.w, kh = g.kh, kw = g.kw, sh = g.sh, sw = g.sw;
    final int ph = g.ph, pw = g.pw, dh = g.dh, dw = g.dw, ho = g.ho, wo = g.wo;
    final int mult = g.cout / cin, taps = kh * kw, wq = this.wq, planeSize = this.planeSize;
    final float[] x = inputs[0];
    final float[] planes = scratch[ROW_PLANES];
    final float[] row = scratch[ROW_OUT];
    Arrays.fill(planes, 0, sw * planeSize, 0f);
    for (int ic = 0; ic < cin; ic++) {
      // The channel's padded plane, split by column phase.
      int ibase = ic * h * w;
      for (int q = 0; q < sw; q++) {
        int lo = colLo[q], hi = colHi[q];
        int first = lo * sw + q - pw; // input column of phase column lo
        for (int iy = 0; iy < h; iy++) {
          int dst = q * planeSize + (iy + ph) * wq + lo;
          int src = ibase + iy * w + first;
          if (sw == 1) {
            System.arraycopy(x, src, planes, dst, hi - lo);
          } else {
            for (int c = 0; c < hi - lo; c++) {
              planes[dst + c] = x[src + c * sw];
            }
          }
        }
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
        for (int oy = 0; oy < ho; oy++) {
          int base = oy * sh * wq;
          if (taps == 9) {
            row9(planes, base, wt, wOff, b, row);
          } else {
            rowAny(planes, base, wt, wOff, b, row);
          }
          VectorEpilogue.apply(ep, row, 0, wo, null);
          System.arraycopy(row, 0, out, obase + oy * wo, wo);
        }
      }
    }
  }
}
