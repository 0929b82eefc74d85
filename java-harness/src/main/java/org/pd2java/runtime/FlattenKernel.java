package org.pd2java.runtime;

/** flatten@1: the per-sample value as 1-D, row-major (C, H, W order); a copy. */
final class FlattenKernel implements Kernel {
  private final int size;

  static Kernel compile(NodeDef n, int[][] in) {
    long size = 1;
    for (int d : in[0]) {
      size *= d;
    }
    return new FlattenKernel((int) size);
  }

  private FlattenKernel(int size) {
    this.size = size;
  }

  @Override
  public int[] outputShape() {
    return new int[] {size};
  }

  @Override
  public void run(float[][] inputs, float[] out) {
    System.arraycopy(inputs[0], 0, out, 0, size);
  }
}
