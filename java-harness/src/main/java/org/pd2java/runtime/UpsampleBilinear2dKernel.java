package org.pd2java.runtime;

/**
 * upsample_bilinear2d@1: bilinear resize of a (C, H, W) value to (C, oh, ow), as PyTorch's
 * F.interpolate(mode='bilinear'). Per output row, in float32 as PyTorch computes it: the source
 * position {@code src = dst * (H - 1) / (oh - 1)} (0 when oh == 1) with align_corners, otherwise
 * {@code max((H / oh) * (dst + 0.5) - 0.5, 0)}; rows {@code i0 = min(floor(src), H - 1)} and
 * {@code i1 = i0 + 1} (i0 at the last row) weighted {@code 1 - l} and {@code l = src - i0}
 * (clamped to [0, 1]); {@code oh == H} copies. Columns likewise. The taps are tabulated at load.
 */
final class UpsampleBilinear2dKernel implements Kernel {
  private final int c, h, w, oh, ow;
  private final int[] r0, r1, c0, c1;
  private final float[] rl, cl;

  static Kernel compile(NodeDef n, int[][] in) {
    int[] size = UpsampleNearest2dKernel.outputSize(n);
    boolean alignCorners = n.boolAttr("align_corners");
    int[] x = n.input(in, 0, 3);
    return new UpsampleBilinear2dKernel(x, size[0], size[1], alignCorners);
  }

  /** Fills {@code i0}, {@code i1} and {@code lambda} for one axis, PyTorch's way. */
  static void taps(int in, int out, boolean alignCorners, int[] i0, int[] i1, float[] lambda) {
    for (int dst = 0; dst < out; dst++) {
      if (out == in) {
        i0[dst] = dst;
        i1[dst] = dst;
        lambda[dst] = 0f;
        continue;
      }
      float src;
      if (alignCorners) {
        float scale = out > 1 ? (float) (in - 1) / (float) (out - 1) : 0f;
        src = scale * (float) dst;
      } else {
        float scale = (float) in / (float) out;
        src = Math.max(scale * ((float) dst + 0.5f) - 0.5f, 0f);
      }
      int i = (int) Math.min((long) Math.floor(src), in - 1L);
      i0[dst] = i;
      i1[dst] = i < in - 1 ? i + 1 : i;
      lambda[dst] = Math.min(Math.max(src - (float) i, 0f), 1f);
    }
  }

  private UpsampleBilinear2dKernel(int[] x, int oh, int ow, boolean alignCorners) {
    this.c = x[0];
    this.h = x[1];
    this.w = x[2];
    this.oh = oh;
    this.ow = ow;
    r0 = new int[oh];
    r1 = new int[oh];
    rl = new float[oh];
    c0 = new int[ow];
    c1 = new int[ow];
    cl = new float[ow];
    taps(h, oh, alignCorners, r0, r1, rl);
    taps(w, ow, alignCorners, c0, c1, cl);
  }

  @Override
  public int[] outputShape() {
    return new int[] {c, oh, ow};
  }

  @Override
  public void run(float[][] inputs, float[] out) {
    float[] x = inputs[0];
    int o = 0;
    for (int ch = 0; ch < c; ch++) {
      int plane = ch * h * w;
      for (int oy = 0; oy < oh; oy++) {
        int top = plane + r0[oy] * w;
        int bottom = plane + r1[oy] * w;
        float ly = rl[oy];
        for (int ox = 0; ox < ow; ox++) {
          float lx = cl[ox];
          int a = c0[ox];
          int b = c1[ox];
          float upper = (1f - lx) * x[top + a] + lx * x[top + b];
          float lower = (1f - lx) * x[bottom + a] + lx * x[bottom + b];
          out[o++] = (1f - ly) * upper + ly * lower;
        }
      }
    }
  }
}
