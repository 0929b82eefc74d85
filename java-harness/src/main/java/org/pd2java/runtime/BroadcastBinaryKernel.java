package org.pd2java.runtime;

import java.util.Arrays;

/**
 * add@2, sub@1, mul@1 and div@1: {@code a op b} with NumPy-style broadcasting of the per-sample
 * shapes. The shapes are right-aligned, the shorter left-padded with 1s; each dim pair must be
 * equal or one of them 1 (SHAPE_MISMATCH otherwise), and the output takes the larger. The batch
 * axis is never broadcast. Division is IEEE float32 division, as in NumPy and PyTorch.
 *
 * <p>At load, each output element's source index in {@code a} and {@code b} is worked out once
 * (null when that input already has the output's shape), so {@code run} is a plain indexed loop.
 */
final class BroadcastBinaryKernel implements Kernel {
  private enum Op {
    ADD,
    SUB,
    MUL,
    DIV
  }

  private final Op op;
  private final int[] shape;
  private final int size;
  private final int[] indexA;
  private final int[] indexB;

  static Kernel compile(NodeDef n, int[][] in) {
    Op op =
        switch (n.op.name()) {
          case "add" -> Op.ADD;
          case "sub" -> Op.SUB;
          case "mul" -> Op.MUL;
          case "div" -> Op.DIV;
          default -> throw new IllegalArgumentException("not a binary op: " + n.op.key());
        };
    int[] a = in[0];
    int[] b = in[1];
    int rank = Math.max(a.length, b.length);
    int[] pa = padded(a, rank);
    int[] pb = padded(b, rank);
    int[] out = new int[rank];
    for (int d = 0; d < rank; d++) {
      if (pa[d] != pb[d] && pa[d] != 1 && pb[d] != 1) {
        throw n.error(
            ErrorCode.SHAPE_MISMATCH,
            "cannot broadcast per-sample shapes " + Arrays.toString(a) + " and "
                + Arrays.toString(b) + ": each dim (right-aligned) must be equal or 1 in one of"
                + " them");
      }
      out[d] = Math.max(pa[d], pb[d]);
    }
    return new BroadcastBinaryKernel(op, out, pa, pb);
  }

  private static int[] padded(int[] shape, int rank) {
    int[] p = new int[rank];
    Arrays.fill(p, 1);
    System.arraycopy(shape, 0, p, rank - shape.length, shape.length);
    return p;
  }

  /** For every output element (row-major), the flat index of its source in an input. */
  private static int[] sourceIndex(int[] in, int[] out, int size) {
    if (Arrays.equals(in, out)) {
      return null;
    }
    int rank = out.length;
    int[] stride = new int[rank]; // the input's strides, 0 on a broadcast axis
    int s = 1;
    for (int d = rank - 1; d >= 0; d--) {
      stride[d] = in[d] == 1 ? 0 : s;
      s *= in[d];
    }
    int[] index = new int[size];
    int[] pos = new int[rank];
    int src = 0;
    for (int i = 0; i < size; i++) {
      index[i] = src;
      for (int d = rank - 1; d >= 0; d--) { // advance the output position like an odometer
        pos[d]++;
        src += stride[d];
        if (pos[d] < out[d]) {
          break;
        }
        src -= stride[d] * pos[d];
        pos[d] = 0;
      }
    }
    return index;
  }

  private BroadcastBinaryKernel(Op op, int[] shape, int[] a, int[] b) {
    this.op = op;
    this.shape = shape;
    int n = 1;
    for (int d : shape) {
      n *= d;
    }
    this.size = n;
    this.indexA = sourceIndex(a, shape, n);
    this.indexB = sourceIndex(b, shape, n);
  }

  @Override
  public int[] outputShape() {
    return shape.clone();
  }

  @Override
  public void run(float[][] inputs, float[] out) {
    float[] a = inputs[0];
    float[] b = inputs[1];
    for (int i = 0; i < size; i++) {
      float x = a[indexA == null ? i : indexA[i]];
      float y = b[indexB == null ? i : indexB[i]];
      out[i] =
          switch (op) {
            case ADD -> x + y;
            case SUB -> x - y;
            case MUL -> x * y;
            case DIV -> x / y;
          };
    }
  }
}
