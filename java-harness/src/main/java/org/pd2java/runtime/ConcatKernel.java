package org.pd2java.runtime;

import java.util.Arrays;

/**
 * concat@1: two values joined along {@code dim}, counted with the batch axis as PyTorch does
 * (1..rank, rank the per-sample rank); every other dim must be equal. For each outer index (the
 * dims before {@code dim}) the first input's block, then the second's, are copied.
 */
final class ConcatKernel implements Kernel {
  private final int[] shape;
  private final int outer, blockA, blockB;

  static Kernel compile(NodeDef n, int[][] in) {
    int[] a = in[0];
    int[] b = in[1];
    int dim = ShapeOnlyKernel.axis(n, "dim", a.length);
    if (a.length != b.length) {
      throw n.error(
          ErrorCode.SHAPE_MISMATCH,
          "inputs of different ranks " + Arrays.toString(a) + " and " + Arrays.toString(b));
    }
    for (int i = 0; i < a.length; i++) {
      if (i != dim - 1 && a[i] != b[i]) {
        throw n.error(
            ErrorCode.SHAPE_MISMATCH,
            "along dim " + dim + " per-sample shapes " + Arrays.toString(a) + " and "
                + Arrays.toString(b) + " differ in another dim");
      }
    }
    int outer = 1;
    int inner = 1;
    for (int i = 0; i < dim - 1; i++) {
      outer *= a[i];
    }
    for (int i = dim; i < a.length; i++) {
      inner *= a[i];
    }
    int[] shape = a.clone();
    shape[dim - 1] = a[dim - 1] + b[dim - 1];
    return new ConcatKernel(shape, outer, a[dim - 1] * inner, b[dim - 1] * inner);
  }

  private ConcatKernel(int[] shape, int outer, int blockA, int blockB) {
    this.shape = shape;
    this.outer = outer;
    this.blockA = blockA;
    this.blockB = blockB;
  }

  @Override
  public int[] outputShape() {
    return shape.clone();
  }

  @Override
  public void run(float[][] inputs, float[] out) {
    int o = 0;
    for (int i = 0; i < outer; i++) {
      System.arraycopy(inputs[0], i * blockA, out, o, blockA);
      o += blockA;
      System.arraycopy(inputs[1], i * blockB, out, o, blockB);
      o += blockB;
    }
  }
}
