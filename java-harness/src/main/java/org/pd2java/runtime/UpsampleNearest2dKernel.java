package org.pd2java.runtime;

/**
 * upsample_nearest2d@1: nearest-neighbour resize of a (C, H, W) value to (C, oh, ow) with
 * PyTorch's 'nearest' index rule, computed in float32 as its CPU kernel does: output row {@code
 * dst} reads input row {@code min(floor((float) dst * ((float) H / oh)), H - 1)}, except that
 * {@code oh == H} copies and {@code oh == 2H} reads {@code dst / 2}; columns likewise. The source
 * rows and columns are tabulated once at load; {@code run} only gathers.
 */
final class UpsampleNearest2dKernel implements Kernel {
  private final int c, h, w, oh, ow;
  private final int[] rows, cols;

  static Kernel compile(NodeDef n, int[][] in) {
    int[] size = outputSize(n);
    int[] x = n.input(in, 0, 3);
    return new UpsampleNearest2dKernel(x, size[0], size[1]);
  }

  /**
   * The {@code output_size} attribute, each entry >= 1 (INVALID_ATTRIBUTE), and each at most
   * MAX_VALUE_ELEMENTS (LIMIT_EXCEEDED) so the index tables stay reasonable arrays.
   */
  static int[] outputSize(NodeDef n) {
    int[] size = n.int2Attr("output_size", 1);
    for (int s : size) {
      if (s > FormatRules.MAX_VALUE_ELEMENTS) {
        throw n.error(
            ErrorCode.LIMIT_EXCEEDED,
            "output extent " + s + " exceeds MAX_VALUE_ELEMENTS ("
                + FormatRules.MAX_VALUE_ELEMENTS + ")");
      }
    }
    return size;
  }

  /** PyTorch's nearest source index for every output position along one axis. */
  static int[] nearestIndex(int in, int out) {
    int[] idx = new int[out];
    float scale = (float) in / (float) out;
    for (int dst = 0; dst < out; dst++) {
      if (out == in) {
        idx[dst] = dst;
      } else if (out == 2 * in) {
        idx[dst] = dst >> 1;
      } else {
        idx[dst] = (int) Math.min((long) Math.floor((float) dst * scale), in - 1L);
      }
    }
    return idx;
  }

  private UpsampleNearest2dKernel(int[] x, int oh, int ow) {
    this.c = x[0];
    this.h = x[1];
    this.w = x[2];
    this.oh = oh;
    this.ow = ow;
    this.rows = nearestIndex(h, oh);
    this.cols = nearestIndex(w, ow);
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
        int row = plane + rows[oy] * w;
        for (int ox = 0; ox < ow; ox++) {
          out[o++] = x[row + cols[ox]];
        }
      }
    }
  }
}
