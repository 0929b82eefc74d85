package org.pd2java.runtime;

import java.util.Arrays;

/**
 * conv2d@1, fast path for dense convolutions (groups == 1): im2col into column tiles, then a
 * register-blocked matrix product. Same results as {@link Conv2dKernel} (the reference, against
 * which JUnit tests it) up to float rounding from the summation order.
 *
 * <p>Why this shape: HotSpot 17's auto-vectoriser (SuperWord) reliably vectorises a loop only
 * when every array it touches is indexed by the same expression, ideally the bare loop variable
 * from 0; {@code out[rowOffset + i] += w * col[otherOffset + i]} with two different run-time
 * offsets stays scalar (measured: about 3 vs 15-19 GMAC/s on this machine's AVX2 core). So the
 * im2col matrix is cut into tiles of {@link #TILE} output positions and every (tile, k) row is its
 * own {@code float[]}; the product accumulates four output channels at once into four tile-sized
 * accumulator arrays, two k rows per pass ({@link #madd42}), all indexed by {@code i} from 0.
 * Each column element loaded feeds eight multiply-adds and the accumulators stay in L1.
 *
 * <p>Scratch: the column tiles ({@code in_channels*kh*kw x out_h*out_w} floats in all) and four
 * accumulators of {@link #TILE} floats are allocated per call, like every other intermediate
 * value, so the kernel holds nothing mutable.
 */
final class Conv2dGemmKernel implements Kernel {
  /** Output positions per column tile: 4 accumulators + 2 column rows stay in L1. */
  static final int TILE = 256;

  private final Window2d g;
  private final float[] weight;
  private final float[] bias;
  private final int[] owLo, owHi;

  Conv2dGemmKernel(Window2d g, float[] weight, float[] bias) {
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

  /**
   * im2col into tiles: {@code col[tile][k][j]} is input tap {@code k = (ic, ky, kx)} for output
   * position {@code tile*TILE + j} (position = oy*out_w + ox). Fresh arrays, so padding stays 0.
   */
  private float[][][] im2colTiles(float[] x) {
    final int cin = g.c, h = g.h, w = g.w, kh = g.kh, kw = g.kw, sh = g.sh, sw = g.sw;
    final int ph = g.ph, pw = g.pw, dh = g.dh, dw = g.dw, ho = g.ho, wo = g.wo;
    final int[] owLo = this.owLo, owHi = this.owHi;
    int n = ho * wo;
    int kk = cin * kh * kw;
    int tiles = (n + TILE - 1) / TILE;
    float[][][] col = new float[tiles][kk][];
    for (int t = 0; t < tiles; t++) {
      int len = Math.min(TILE, n - t * TILE);
      for (int k = 0; k < kk; k++) {
        col[t][k] = new float[len];
      }
    }
    for (int ic = 0; ic < cin; ic++) {
      int ibase = ic * h * w;
      for (int ky = 0; ky < kh; ky++) {
        for (int kx = 0; kx < kw; kx++) {
          int k = (ic * kh + ky) * kw + kx;
          int lo = owLo[kx];
          int hi = owHi[kx];
          if (lo >= hi) {
            continue;
          }
          int xoff = kx * dw - pw;
          for (int oy = 0; oy < ho; oy++) {
            int iy = oy * sh - ph + ky * dh;
            if (iy < 0 || iy >= h) {
              continue;
            }
            int src = ibase + iy * w + xoff; // input index of output column ox: src + ox * sw
            int p = oy * wo + lo;
            int end = oy * wo + hi;
            while (p < end) { // a row segment may straddle two tiles
              int t = p / TILE;
              int j = p - t * TILE;
              int len = Math.min(end - p, TILE - j);
              float[] dst = col[t][k];
              int ox = p - oy * wo;
              if (sw == 1) {
                System.arraycopy(x, src + ox, dst, j, len);
              } else {
                for (int q = 0; q < len; q++) {
                  dst[j + q] = x[src + (ox + q) * sw];
                }
              }
              p += len;
            }
          }
        }
      }
    }
    return col;
  }

  @Override
  public void run(float[][] inputs, float[] out) {
    float[][][] col = im2colTiles(inputs[0]);
    final int cout = g.cout;
    final float[] weight = this.weight, bias = this.bias;
    int n = g.ho * g.wo;
    int kk = g.c * g.kh * g.kw;
    float[] a0 = new float[TILE];
    float[] a1 = new float[TILE];
    float[] a2 = new float[TILE];
    float[] a3 = new float[TILE];
    for (int tile = 0; tile < col.length; tile++) {
      float[][] b = col[tile];
      int j0 = tile * TILE;
      int t = Math.min(TILE, n - j0);
      int m = 0;
      for (; m + 3 < cout; m += 4) {
        Arrays.fill(a0, 0, t, bias == null ? 0f : bias[m]);
        Arrays.fill(a1, 0, t, bias == null ? 0f : bias[m + 1]);
        Arrays.fill(a2, 0, t, bias == null ? 0f : bias[m + 2]);
        Arrays.fill(a3, 0, t, bias == null ? 0f : bias[m + 3]);
        int r0 = m * kk;
        int r1 = r0 + kk;
        int r2 = r1 + kk;
        int r3 = r2 + kk;
        int k = 0;
        for (; k + 1 < kk; k += 2) {
          madd42(a0, a1, a2, a3, b[k], b[k + 1],
              weight[r0 + k], weight[r0 + k + 1], weight[r1 + k], weight[r1 + k + 1],
              weight[r2 + k], weight[r2 + k + 1], weight[r3 + k], weight[r3 + k + 1], t);
        }
        if (k < kk) {
          madd41(a0, a1, a2, a3, b[k], weight[r0 + k], weight[r1 + k], weight[r2 + k],
              weight[r3 + k], t);
        }
        System.arraycopy(a0, 0, out, m * n + j0, t);
        System.arraycopy(a1, 0, out, (m + 1) * n + j0, t);
        System.arraycopy(a2, 0, out, (m + 2) * n + j0, t);
        System.arraycopy(a3, 0, out, (m + 3) * n + j0, t);
      }
      for (; m < cout; m++) { // the last cout % 4 channels, one at a time
        Arrays.fill(a0, 0, t, bias == null ? 0f : bias[m]);
        int r0 = m * kk;
        for (int k = 0; k < kk; k++) {
          madd11(a0, b[k], weight[r0 + k], t);
        }
        System.arraycopy(a0, 0, out, m * n + j0, t);
      }
    }
  }

  /** a_r[i] += w_r0 * b0[i] + w_r1 * b1[i] for the four accumulators, i in [0, n). */
  private static void madd42(
      float[] a0, float[] a1, float[] a2, float[] a3, float[] b0, float[] b1,
      float w00, float w01, float w10, float w11, float w20, float w21, float w30, float w31,
      int n) {
    for (int i = 0; i < n; i++) {
      float x0 = b0[i];
      float x1 = b1[i];
      a0[i] += w00 * x0 + w01 * x1;
      a1[i] += w10 * x0 + w11 * x1;
      a2[i] += w20 * x0 + w21 * x1;
      a3[i] += w30 * x0 + w31 * x1;
    }
  }

  /** a_r[i] += w_r * b0[i] for the four accumulators, i in [0, n). */
  private static void madd41(
      float[] a0, float[] a1, float[] a2, float[] a3, float[] b0,
      float w0, float w1, float w2, float w3, int n) {
    for (int i = 0; i < n; i++) {
      float x0 = b0[i];
      a0[i] += w0 * x0;
      a1[i] += w1 * x0;
      a2[i] += w2 * x0;
      a3[i] += w3 * x0;
    }
  }

  /** a0[i] += w0 * b0[i], i in [0, n). */
  private static void madd11(float[] a0, float[] b0, float w0, int n) {
    for (int i = 0; i < n; i++) {
      a0[i] += w0 * b0[i];
    }
  }
}
