package org.pd2java.runtime;

import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * conv2d@1 and conv1d@1 with {@code groups == 1} on the Vector API: a GEMM {@code out[m][j] =
 * sum_k W[m][k] * B[k][j]} over output channels {@code m}, im2col taps {@code k = (ic, ky, kx)}
 * and output positions {@code j}, computed by a register-blocked microkernel.
 *
 * <p><b>Layout.</b> {@code B} is the im2col matrix, {@code kk x n}, built one column tile at a
 * time into a scratch panel that stays in L2 while every channel block uses it; for a pointwise
 * convolution (1x1, stride 1, no padding) the input already is {@code B} and no copy is made. The float32 weight is packed at load into the microkernel's order, {@link #MR}
 * output channels interleaved per tap ({@code [cout / MR][kk][MR]}, then the last {@code cout %
 * MR} channels row by row), and the file's row-major copy is not kept. A compressed weight (F16,
 * I8) stays compressed: each block of {@link #MR} channels is dequantised into scratch when used.
 *
 * <p><b>Microkernel.</b> {@link #MR} output channels by two vectors of positions: eight
 * accumulators, each tap loads two vectors of {@code B} and broadcasts four weights for eight
 * fused multiply-adds. Residual add and activation ({@link Epilogue}) are applied in registers
 * before the single store (for the last {@code cout % MR} channels, on their L1-hot rows by
 * {@link VectorEpilogue}). Positions left over at the end of a row (fewer
 * than two vectors) are copied into a zero-padded panel and computed the same way.
 *
 * <p>Summation is float32 in tap order with fused multiply-adds: results differ from the scalar
 * kernels by rounding only (JUnit and the parity tests hold them to 1e-5 + 1e-4 |x|). All working
 * memory is scratch ({@link #scratchRows()}), so a call in a {@link Workspace} allocates nothing.
 */
final class VectorConvKernel extends FusableKernel {
  private static final VectorSpecies<Float> S = VectorKernels.S;
  private static final int V = S.length();
  /** Output positions per microkernel call: two vectors. */
  private static final int NR = 2 * V;
  /** Output channels per microkernel call. */
  static final int MR = 4;
  /** Bytes of the B panel a column tile may span (kept in L2 while all channel blocks use it). */
  private static final int PANEL_BYTES = 192 * 1024;

  private final Window2d g;
  private final int n, kk, full;
  private final boolean direct;
  /** Packed float32 weights, or null when {@link #compressed} holds the weight. */
  private final float[] packed;
  private final WeightTensor compressed;
  private final float[] bias;
  private final int[] owLo, owHi;
  /** Positions per column tile (a multiple of NR). */
  private final int tile;
  private final int[] scratchRows;

  // Scratch rows: B (im2col), the tail panel, the tail output, a dequantised weight block (and
  // its row-major staging).
  private static final int ROW_B = 0, ROW_PANEL = 1, ROW_TAIL = 2, ROW_W = 3, ROW_WROWS = 4;

  static VectorConvKernel of(Window2d g, WeightTensor weight, float[] bias) {
    float[] w = weight.floats();
    int kk = g.c * g.kh * g.kw;
    return new VectorConvKernel(g, w == null ? null : pack(w, g.cout, kk),
        w == null ? weight : null, bias, Epilogue.NONE);
  }

  private VectorConvKernel(Window2d g, float[] packed, WeightTensor compressed, float[] bias,
      Epilogue ep) {
    super(ep);
    this.g = g;
    this.packed = packed;
    this.compressed = compressed;
    this.bias = bias;
    this.n = g.ho * g.wo;
    this.kk = g.c * g.kh * g.kw;
    this.full = g.cout / MR * MR;
    this.direct = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0
        && g.phEnd == 0 && g.pwEnd == 0 && g.ho == g.h && g.wo == g.w;
    int[][] range = g.validOutputColumns();
    this.owLo = range[0];
    this.owHi = range[1];
    int cols = PANEL_BYTES / 4 / Math.max(1, kk) / NR * NR;
    this.tile = Math.max(NR, Math.min(cols, Math.max(NR, n / NR * NR)));
    long b = direct ? 0 : (long) kk * tile;
    this.scratchRows = new int[] {(int) b, kk * NR, MR * NR,
        compressed == null ? 0 : kk * MR, compressed == null ? 0 : kk * MR};
  }

  /** Row-major {@code [cout][kk]} to the microkernel's order (see the class comment). */
  static float[] pack(float[] w, int cout, int kk) {
    float[] p = new float[cout * kk];
    int full = cout / MR * MR;
    int i = 0;
    for (int m = 0; m < full; m += MR) {
      for (int k = 0; k < kk; k++) {
        for (int r = 0; r < MR; r++) {
          p[i++] = w[(m + r) * kk + k];
        }
      }
    }
    System.arraycopy(w, full * kk, p, i, (cout - full) * kk);
    return p;
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
    return new VectorConvKernel(g, packed, compressed, bias, e);
  }

  @Override
  public void run(float[][] inputs, float[] out, float[][] scratch) {
    final float[] x = inputs[0];
    final float[] res = ep.residual() ? inputs[1] : null;
    final int n = this.n, kk = this.kk, cout = g.cout, tile = this.tile;
    final float[] bt = scratch[ROW_B];
    int mainEnd = n / NR * NR;
    for (int j0 = 0; j0 < mainEnd; j0 += tile) {
      int j1 = Math.min(mainEnd, j0 + tile);
      // This tile's columns of B: the input itself (pointwise), or im2col into the L2 panel.
      float[] b = x;
      int ldb = n, bOff = j0;
      if (!direct) {
        im2col(x, bt, tile, j0, j1);
        b = bt;
        ldb = tile;
        bOff = 0;
      }
      for (int m = 0; m < full; m += MR) {
        float[] w = packed;
        int wOff = m * kk;
        if (w == null) {
          w = dequantise(m, scratch);
          wOff = 0;
        }
        for (int j = j0; j < j1; j += NR) {
          block(b, ldb, bOff + j - j0, w, wOff, m, out, n, j, res, true);
        }
      }
      for (int m = full; m < cout; m++) {
        float[] w = packed;
        int wOff = m * kk;
        if (w == null) {
          w = scratch[ROW_W];
          compressed.row(m, w, 0);
          wOff = 0;
        }
        for (int j = j0; j < j1; j += NR) {
          row(b, ldb, bOff + j - j0, w, wOff, m, out, n, j);
        }
        VectorEpilogue.apply(ep, out, m * n + j0, j1 - j0, res);
      }
    }
    if (mainEnd < n) {
      tail(x, mainEnd, out, res, scratch);
    }
  }

  /**
   * The last {@code n % NR} positions: through a zero-padded panel one vector wide when they fit
   * in one (so at most {@code V - 1} lanes are wasted), else two, then a scalar epilogue.
   */
  private void tail(float[] x, int j0, float[] out, float[] res, float[][] scratch) {
    final int n = this.n, kk = this.kk, t = n - j0;
    final int pw = t <= V ? V : NR;
    float[] panel = scratch[ROW_PANEL];
    float[] y = scratch[ROW_TAIL];
    if (direct) {
      for (int k = 0; k < kk; k++) {
        System.arraycopy(x, k * n + j0, panel, k * pw, t);
      }
    } else {
      im2col(x, panel, pw, j0, n);
    }
    for (int k = 0; k < kk; k++) {
      Arrays.fill(panel, k * pw + t, (k + 1) * pw, 0f);
    }
    for (int m = 0; m < g.cout; m += m < full ? MR : 1) {
      boolean four = m < full;
      float[] w = packed;
      int wOff = m * kk;
      if (w == null) {
        w = four ? dequantise(m, scratch) : scratch[ROW_W];
        if (!four) {
          compressed.row(m, w, 0);
        }
        wOff = 0;
      }
      int rows = four ? MR : 1;
      if (pw == V) {
        blockV(panel, w, wOff, m, rows, y);
      } else if (four) {
        block(panel, NR, 0, w, wOff, m, y, NR, -m * NR, null, false);
      } else {
        row(panel, NR, 0, w, wOff, m, y, NR, -m * NR);
      }
      for (int r = 0; r < rows; r++) {
        int o = (m + r) * n + j0;
        for (int q = 0; q < t; q++) {
          out[o + q] = ep.apply(y[r * NR + q], res, o + q);
        }
      }
    }
  }

  /** Channels {@code [m, m + MR)} of a compressed weight, packed, in scratch. */
  private float[] dequantise(int m, float[][] scratch) {
    float[] rows = scratch[ROW_WROWS];
    float[] w = scratch[ROW_W];
    compressed.rows(m, MR, rows);
    final int kk = this.kk;
    for (int k = 0; k < kk; k++) {
      for (int r = 0; r < MR; r++) {
        w[k * MR + r] = rows[r * kk + k];
      }
    }
    return w;
  }

  /**
   * Channels {@code [m, m + MR)} at positions {@code [j, j + NR)}: {@code out[(m + r) * ldo +
   * oOff + q]} for r < MR, q < NR, from {@code B[k * ldb + j + q]} and the packed weights at
   * {@code wOff}, plus the bias; with {@code epi}, the epilogue (the residual read at the
   * output's indices).
   */
  private void block(float[] b, int ldb, int j, float[] w, int wOff, int m, float[] out, int ldo,
      int oOff, float[] res, boolean epi) {
    FloatVector c00 = bias(m), c01 = c00;
    FloatVector c10 = bias(m + 1), c11 = c10;
    FloatVector c20 = bias(m + 2), c21 = c20;
    FloatVector c30 = bias(m + 3), c31 = c30;
    final int kk = this.kk;
    int bi = j;
    int wi = wOff;
    for (int k = 0; k < kk; k++) {
      FloatVector x0 = FloatVector.fromArray(S, b, bi);
      FloatVector x1 = FloatVector.fromArray(S, b, bi + V);
      FloatVector w0 = FloatVector.broadcast(S, w[wi]);
      FloatVector w1 = FloatVector.broadcast(S, w[wi + 1]);
      FloatVector w2 = FloatVector.broadcast(S, w[wi + 2]);
      FloatVector w3 = FloatVector.broadcast(S, w[wi + 3]);
      c00 = x0.fma(w0, c00);
      c01 = x1.fma(w0, c01);
      c10 = x0.fma(w1, c10);
      c11 = x1.fma(w1, c11);
      c20 = x0.fma(w2, c20);
      c21 = x1.fma(w2, c21);
      c30 = x0.fma(w3, c30);
      c31 = x1.fma(w3, c31);
      bi += ldb;
      wi += MR;
    }
    int o0 = m * ldo + oOff, o1 = o0 + ldo, o2 = o1 + ldo, o3 = o2 + ldo;
    // The epilogue in registers, before the one store.
    final Epilogue e = ep;
    if (epi && e.residual()) {
      c00 = c00.add(FloatVector.fromArray(S, res, o0));
      c01 = c01.add(FloatVector.fromArray(S, res, o0 + V));
      c10 = c10.add(FloatVector.fromArray(S, res, o1));
      c11 = c11.add(FloatVector.fromArray(S, res, o1 + V));
      c20 = c20.add(FloatVector.fromArray(S, res, o2));
      c21 = c21.add(FloatVector.fromArray(S, res, o2 + V));
      c30 = c30.add(FloatVector.fromArray(S, res, o3));
      c31 = c31.add(FloatVector.fromArray(S, res, o3 + V));
    }
    if (epi && e.activation()) {
      // Only the operations this activation needs (Epilogue.actMode), written out: a helper
      // taking vectors is boxed whenever HotSpot does not inline it.
      final float sl = e.slope(), lo = e.lo(), hi = e.hi();
      final int mode = e.actMode();
      if ((mode & Epilogue.ZERO) != 0) {
        c00 = c00.max(0f);
        c01 = c01.max(0f);
        c10 = c10.max(0f);
        c11 = c11.max(0f);
        c20 = c20.max(0f);
        c21 = c21.max(0f);
        c30 = c30.max(0f);
        c31 = c31.max(0f);
      } else if ((mode & Epilogue.LEAKY) != 0) {
        c00 = c00.max(c00.mul(sl));
        c01 = c01.max(c01.mul(sl));
        c10 = c10.max(c10.mul(sl));
        c11 = c11.max(c11.mul(sl));
        c20 = c20.max(c20.mul(sl));
        c21 = c21.max(c21.mul(sl));
        c30 = c30.max(c30.mul(sl));
        c31 = c31.max(c31.mul(sl));
      }
      if ((mode & Epilogue.LOWER) != 0) {
        c00 = c00.max(lo);
        c01 = c01.max(lo);
        c10 = c10.max(lo);
        c11 = c11.max(lo);
        c20 = c20.max(lo);
        c21 = c21.max(lo);
        c30 = c30.max(lo);
        c31 = c31.max(lo);
      }
      if ((mode & Epilogue.UPPER) != 0) {
        c00 = c00.min(hi);
        c01 = c01.min(hi);
        c10 = c10.min(hi);
        c11 = c11.min(hi);
        c20 = c20.min(hi);
        c21 = c21.min(hi);
        c30 = c30.min(hi);
        c31 = c31.min(hi);
      }
    }
    c00.intoArray(out, o0);
    c01.intoArray(out, o0 + V);
    c10.intoArray(out, o1);
    c11.intoArray(out, o1 + V);
    c20.intoArray(out, o2);
    c21.intoArray(out, o2 + V);
    c30.intoArray(out, o3);
    c31.intoArray(out, o3 + V);
  }

  /** One channel {@code m} at positions {@code [j, j + NR)} (weights row-major at wOff). */
  private void row(float[] b, int ldb, int j, float[] w, int wOff, int m, float[] out, int ldo,
      int oOff) {
    FloatVector c0 = bias(m), c1 = c0;
    final int kk = this.kk;
    int bi = j;
    for (int k = 0; k < kk; k++) {
      FloatVector wk = FloatVector.broadcast(S, w[wOff + k]);
      c0 = FloatVector.fromArray(S, b, bi).fma(wk, c0);
      c1 = FloatVector.fromArray(S, b, bi + V).fma(wk, c1);
      bi += ldb;
    }
    int o = m * ldo + oOff;
    c0.intoArray(out, o);
    c1.intoArray(out, o + V);
  }

  /**
   * Channels {@code [m, m + rows)} (rows 4 or 1) on a one-vector panel ({@code panel[k * V + q]},
   * weights packed or row-major at wOff): {@code y[r * NR + q]}, bias only.
   */
  private void blockV(float[] panel, float[] w, int wOff, int m, int rows, float[] y) {
    final int kk = this.kk;
    if (rows == 1) {
      FloatVector c = bias(m);
      for (int k = 0; k < kk; k++) {
        c = FloatVector.fromArray(S, panel, k * V).fma(FloatVector.broadcast(S, w[wOff + k]), c);
      }
      c.intoArray(y, 0);
      return;
    }
    FloatVector c0 = bias(m), c1 = bias(m + 1), c2 = bias(m + 2), c3 = bias(m + 3);
    int wi = wOff;
    for (int k = 0; k < kk; k++) {
      FloatVector x0 = FloatVector.fromArray(S, panel, k * V);
      c0 = x0.fma(FloatVector.broadcast(S, w[wi]), c0);
      c1 = x0.fma(FloatVector.broadcast(S, w[wi + 1]), c1);
      c2 = x0.fma(FloatVector.broadcast(S, w[wi + 2]), c2);
      c3 = x0.fma(FloatVector.broadcast(S, w[wi + 3]), c3);
      wi += MR;
    }
    c0.intoArray(y, 0);
    c1.intoArray(y, NR);
    c2.intoArray(y, 2 * NR);
    c3.intoArray(y, 3 * NR);
  }

  private FloatVector bias(int m) {
    return FloatVector.broadcast(S, bias == null ? 0f : bias[m]);
  }

  /**
   * im2col of output positions {@code [j0, j1)}: {@code b[k * ldb + j - j0]} is input tap {@code
   * k = (ic, ky, kx)} for output position {@code j = oy * wo + ox}. Every element of that range
   * is written (padding as 0), so scratch needs no clearing.
   */
  private void im2col(float[] x, float[] b, int ldb, int j0, int j1) {
    final int cin = g.c, h = g.h, w = g.w, kh = g.kh, kw = g.kw, sh = g.sh, sw = g.sw;
    final int ph = g.ph, pw = g.pw, dh = g.dh, dw = g.dw, wo = g.wo;
    for (int ic = 0; ic < cin; ic++) {
      int ibase = ic * h * w;
      for (int ky = 0; ky < kh; ky++) {
        for (int kx = 0; kx < kw; kx++) {
          int row = ((ic * kh + ky) * kw + kx) * ldb - j0;
          int lo = owLo[kx];
          int hi = owHi[kx];
          int xoff = kx * dw - pw;
          for (int j = j0; j < j1; ) {
            int oy = j / wo;
            int ox0 = j - oy * wo;
            int ox1 = Math.min(wo, ox0 + (j1 - j));
            int p = row + j - ox0; // b index of (oy, ox): p + ox
            int iy = oy * sh - ph + ky * dh;
            int a = Math.max(lo, ox0);
            int e = Math.min(hi, ox1);
            if (iy < 0 || iy >= h || a >= e) {
              Arrays.fill(b, p + ox0, p + ox1, 0f);
            } else {
              Arrays.fill(b, p + ox0, p + a, 0f);
              int src = ibase + iy * w + xoff; // input index of output column ox: src + ox * sw
              if (sw == 1) {
                System.arraycopy(x, src + a, b, p + a, e - a);
              } else {
                for (int ox = a; ox < e; ox++) {
                  b[p + ox] = x[src + ox * sw];
                }
              }
              Arrays.fill(b, p + e, p + ox1, 0f);
            }
            j += ox1 - ox0;
          }
        }
      }
    }
  }
}
