package org.pd2java.runtime;

import java.util.Arrays;

/**
 * Ops that change only the per-sample shape, never the row-major values: squeeze@1 (remove the
 * size-1 axis {@code dim}), unsqueeze@1 (insert a size-1 axis at {@code dim}), flatten@2 (merge
 * the axes {@code start_dim}..last) and reshape@1 (any {@code shape} of the same element count).
 * Every axis counts the batch axis, as in PyTorch, and must be a per-sample one (>= 1). The run
 * is a copy.
 */
final class ShapeOnlyKernel implements Kernel {
  private final int[] shape;
  private final int size;

  /** Attribute {@code attr} as an axis 1..max, INVALID_ATTRIBUTE otherwise. */
  static int axis(NodeDef n, String attr, int max) {
    int v = (Integer) n.attrs.get(attr);
    if (v < 1 || v > max) {
      throw n.error(
          ErrorCode.INVALID_ATTRIBUTE,
          "attribute '" + attr + "' is " + v + ", not a per-sample axis (allowed: 1.." + max
              + "; the batch axis 0 and negative dims are refused)");
    }
    return v;
  }

  /** squeeze@1. */
  static Kernel compileSqueeze(NodeDef n, int[][] in) {
    int[] x = in[0];
    int dim = axis(n, "dim", x.length);
    if (x[dim - 1] != 1) {
      throw n.error(
          ErrorCode.SHAPE_MISMATCH,
          "dim " + dim + " of per-sample shape " + Arrays.toString(x) + " has size "
              + x[dim - 1] + ", not 1");
    }
    if (x.length == 1) {
      throw n.error(
          ErrorCode.SHAPE_MISMATCH,
          "squeezing per-sample shape " + Arrays.toString(x) + " would leave no per-sample axis");
    }
    int[] out = new int[x.length - 1];
    for (int i = 0, j = 0; i < x.length; i++) {
      if (i != dim - 1) {
        out[j++] = x[i];
      }
    }
    return new ShapeOnlyKernel(out);
  }

  /** unsqueeze@1. */
  static Kernel compileUnsqueeze(NodeDef n, int[][] in) {
    int[] x = in[0];
    int dim = axis(n, "dim", x.length + 1);
    int[] out = new int[x.length + 1];
    for (int i = 0, j = 0; i < out.length; i++) {
      out[i] = i == dim - 1 ? 1 : x[j++];
    }
    return new ShapeOnlyKernel(out);
  }

  /** flatten@2. */
  static Kernel compileFlatten(NodeDef n, int[][] in) {
    int[] x = in[0];
    int start = axis(n, "start_dim", x.length);
    int[] out = Arrays.copyOf(x, start);
    int merged = 1;
    for (int i = start - 1; i < x.length; i++) {
      merged *= x[i];
    }
    out[start - 1] = merged;
    return new ShapeOnlyKernel(out);
  }

  /**
   * reshape@1: every entry of {@code shape} >= 1 (INVALID_ATTRIBUTE), their product the input's
   * element count (SHAPE_MISMATCH).
   */
  static Kernel compileReshape(NodeDef n, int[][] in) {
    int[] target = n.intsAttr("shape", 1);
    long size = 1;
    for (int d : in[0]) {
      size *= d;
    }
    long product = 1;
    for (int d : target) {
      product *= d;
      if (product > size) {
        break; // entries are >= 1, so it only grows: stop before it can overflow
      }
    }
    if (product != size) {
      throw n.error(
          ErrorCode.SHAPE_MISMATCH,
          "reshape of per-sample shape " + Arrays.toString(in[0]) + " (" + size
              + " elements) to " + Arrays.toString(target) + ": the element counts differ");
    }
    return new ShapeOnlyKernel(target.clone());
  }

  private ShapeOnlyKernel(int[] shape) {
    this.shape = shape;
    int s = 1;
    for (int d : shape) {
      s *= d;
    }
    this.size = s;
  }

  @Override
  public int[] outputShape() {
    return shape.clone();
  }

  @Override
  public void run(float[][] inputs, float[] out) {
    System.arraycopy(inputs[0], 0, out, 0, size);
  }
}
