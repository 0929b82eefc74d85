package org.pd2java.runtime;

/**
 * The 2-D padding ops of a (C, H, W) value: circular_pad2d@1, constant_pad2d@1,
 * reflection_pad2d@1 and replication_pad2d@1. Attributes {@code pad_h} = [top, bottom] and
 * {@code pad_w} = [left, right], every entry >= 0 (INVALID_ATTRIBUTE otherwise); constant_pad2d's
 * {@code value} must be finite as a float (INVALID_ATTRIBUTE). As in PyTorch, circular padding
 * needs each pad <= the extent it pads and reflection padding each pad < it (SHAPE_MISMATCH
 * otherwise: the rule depends on the input).
 *
 * <p>At compile, each output row and column gets the input row / column it copies (-1: the
 * constant), so {@code run} is one gather, the same for every mode, with no allocation.
 */
final class Pad2dKernel implements Kernel {
  /** How a position outside the input is filled. */
  enum Mode {
    CIRCULAR,
    CONSTANT,
    REFLECT,
    REPLICATE
  }

  private final int c, h, w, ho, wo;
  private final int[] rowSrc, colSrc;
  private final float value;

  static Kernel compileCircular(NodeDef n, int[][] in) {
    return compile(n, in, Mode.CIRCULAR);
  }

  static Kernel compileConstant(NodeDef n, int[][] in) {
    return compile(n, in, Mode.CONSTANT);
  }

  static Kernel compileReflection(NodeDef n, int[][] in) {
    return compile(n, in, Mode.REFLECT);
  }

  static Kernel compileReplication(NodeDef n, int[][] in) {
    return compile(n, in, Mode.REPLICATE);
  }

  private static Kernel compile(NodeDef n, int[][] in, Mode mode) {
    int[] ph = n.int2Attr("pad_h", 0);
    int[] pw = n.int2Attr("pad_w", 0);
    float value = 0f;
    if (mode == Mode.CONSTANT) {
      double v = n.floatAttr("value");
      value = (float) v;
      if (!Float.isFinite(value)) {
        throw n.error(
            ErrorCode.INVALID_ATTRIBUTE, "attribute 'value' is " + v + ", not finite as a float32");
      }
    }
    int[] x = n.input(in, 0, 3);
    // Every shape rule before any limit, as the Python reader (shape rule, then plan sizes).
    checkExtent(n, mode, "height", x[1], ph[0], ph[1]);
    checkExtent(n, mode, "width", x[2], pw[0], pw[1]);
    int[] rows = sources(n, mode, "height", x[1], ph[0], ph[1]);
    int[] cols = sources(n, mode, "width", x[2], pw[0], pw[1]);
    return new Pad2dKernel(x[0], x[1], x[2], rows, cols, value);
  }

  /** PyTorch's rule on how far circular and reflection padding may reach. */
  private static void checkExtent(
      NodeDef n, Mode mode, String axis, int size, int before, int after) {
    if (mode == Mode.CIRCULAR && Math.max(before, after) > size) {
      throw n.error(
          ErrorCode.SHAPE_MISMATCH,
          "circular padding [" + before + ", " + after + "] exceeds the input " + axis + " "
              + size + " (each pad must be <= the extent, as in PyTorch)");
    }
    if (mode == Mode.REFLECT && Math.max(before, after) >= size) {
      throw n.error(
          ErrorCode.SHAPE_MISMATCH,
          "reflection padding [" + before + ", " + after + "] is not below the input " + axis
              + " " + size + " (each pad must be < the extent, as in PyTorch)");
    }
  }

  /** For each output index along one axis, the input index it copies, or -1 for the constant. */
  private static int[] sources(NodeDef n, Mode mode, String axis, int size, int before, int after) {
    long out = (long) size + before + after;
    if (out > FormatRules.MAX_VALUE_ELEMENTS) {
      throw n.error(
          ErrorCode.LIMIT_EXCEEDED,
          axis + " output extent " + out + " exceeds MAX_VALUE_ELEMENTS ("
              + FormatRules.MAX_VALUE_ELEMENTS + ")");
    }
    int[] src = new int[(int) out];
    for (int o = 0; o < src.length; o++) {
      int i = o - before; // the position in input coordinates
      if (i >= 0 && i < size) {
        src[o] = i;
        continue;
      }
      switch (mode) {
        case CONSTANT:
          src[o] = -1;
          break;
        case CIRCULAR:
          src[o] = Math.floorMod(i, size);
          break;
        case REFLECT: // mirror about the edge cell, which is not repeated
          src[o] = i < 0 ? -i : 2 * (size - 1) - i;
          break;
        case REPLICATE:
          src[o] = i < 0 ? 0 : size - 1;
          break;
        default:
          throw new IllegalStateException("unknown pad mode " + mode);
      }
    }
    return src;
  }

  private Pad2dKernel(int c, int h, int w, int[] rowSrc, int[] colSrc, float value) {
    this.c = c;
    this.h = h;
    this.w = w;
    this.ho = rowSrc.length;
    this.wo = colSrc.length;
    this.rowSrc = rowSrc;
    this.colSrc = colSrc;
    this.value = value;
  }

  @Override
  public int[] outputShape() {
    return new int[] {c, ho, wo};
  }

  @Override
  public void run(float[][] inputs, float[] out) {
    float[] x = inputs[0];
    int o = 0;
    for (int ch = 0; ch < c; ch++) {
      int plane = ch * h * w;
      for (int oy = 0; oy < ho; oy++) {
        int r = rowSrc[oy];
        for (int ox = 0; ox < wo; ox++) {
          int q = colSrc[ox];
          out[o++] = r < 0 || q < 0 ? value : x[plane + r * w + q];
        }
      }
    }
  }
}
