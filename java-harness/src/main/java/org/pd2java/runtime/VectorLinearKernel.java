package org.pd2java.runtime;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * linear@1 on the Vector API: four output rows at a time, each a dot product of a weight row
 * with the input in vector-wide partial sums (one input load feeds four fused multiply-adds),
 * summed across lanes in lane order at the end; the last {@code in % V} terms are scalar. The float32 weight
 * is used as the file holds it (row-major is already this kernel's order); a compressed one is
 * dequantised four rows at a time into scratch. Bias and activation ({@link Epilogue}) follow.
 *
 * <p>Float32 partial sums instead of the reference's double: results differ by rounding only,
 * held to 1e-5 + 1e-4 |x| by JUnit and the parity tests.
 */
final class VectorLinearKernel extends FusableKernel {
  private static final VectorSpecies<Float> S = VectorKernels.S;
  private static final int V = S.length();
  private static final int MR = 4;

  private final int in, out;
  private final float[] weight;
  private final WeightTensor compressed;
  private final float[] bias;
  private final int[] scratchRows;

  VectorLinearKernel(int in, int out, WeightTensor weight, float[] bias, Epilogue ep) {
    super(ep);
    this.in = in;
    this.out = out;
    this.weight = weight.floats();
    this.compressed = this.weight == null ? weight : null;
    this.bias = bias;
    this.scratchRows = new int[] {compressed == null ? 0 : MR * in, MR * V};
  }

  private VectorLinearKernel(VectorLinearKernel k, Epilogue ep) {
    super(ep);
    this.in = k.in;
    this.out = k.out;
    this.weight = k.weight;
    this.compressed = k.compressed;
    this.bias = k.bias;
    this.scratchRows = k.scratchRows;
  }

  @Override
  public int[] outputShape() {
    return new int[] {out};
  }

  @Override
  public int[] scratchRows() {
    return scratchRows;
  }

  @Override
  public Kernel fused(Epilogue e) {
    return e.residual() ? null : new VectorLinearKernel(this, e);
  }

  @Override
  public void run(float[][] inputs, float[] y, float[][] scratch) {
    final float[] x = inputs[0];
    final int in = this.in, out = this.out;
    int o = 0;
    for (; o + MR <= out; o += MR) {
      float[] w = weight;
      int r0 = o * in;
      if (w == null) {
        w = scratch[0];
        compressed.rows(o, MR, w);
        r0 = 0;
      }
      dot4(x, w, r0, y, o, scratch[1]);
    }
    for (; o < out; o++) {
      float[] w = weight;
      int r0 = o * in;
      if (w == null) {
        w = scratch[0];
        compressed.row(o, w, 0);
        r0 = 0;
      }
      FloatVector acc = FloatVector.zero(S);
      int i = 0;
      for (; i + V <= in; i += V) {
        acc = FloatVector.fromArray(S, w, r0 + i).fma(FloatVector.fromArray(S, x, i), acc);
      }
      float[] lanes = scratch[1];
      acc.intoArray(lanes, 0);
      float sum = sum(lanes, 0);
      for (; i < in; i++) {
        sum += w[r0 + i] * x[i];
      }
      y[o] = finish(sum, o);
    }
  }

  /** Rows {@code o .. o + 3}, weights from {@code w[r0 + r * in + i]}. */
  private void dot4(float[] x, float[] w, int r0, float[] y, int o, float[] lanes) {
    final int in = this.in;
    FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
    int r1 = r0 + in, r2 = r1 + in, r3 = r2 + in;
    int i = 0;
    for (; i + V <= in; i += V) {
      FloatVector xv = FloatVector.fromArray(S, x, i);
      a0 = FloatVector.fromArray(S, w, r0 + i).fma(xv, a0);
      a1 = FloatVector.fromArray(S, w, r1 + i).fma(xv, a1);
      a2 = FloatVector.fromArray(S, w, r2 + i).fma(xv, a2);
      a3 = FloatVector.fromArray(S, w, r3 + i).fma(xv, a3);
    }
    a0.intoArray(lanes, 0);
    a1.intoArray(lanes, V);
    a2.intoArray(lanes, 2 * V);
    a3.intoArray(lanes, 3 * V);
    float s0 = sum(lanes, 0);
    float s1 = sum(lanes, V);
    float s2 = sum(lanes, 2 * V);
    float s3 = sum(lanes, 3 * V);
    for (; i < in; i++) {
      float xi = x[i];
      s0 += w[r0 + i] * xi;
      s1 += w[r1 + i] * xi;
      s2 += w[r2 + i] * xi;
      s3 += w[r3 + i] * xi;
    }
    y[o] = finish(s0, o);
    y[o + 1] = finish(s1, o + 1);
    y[o + 2] = finish(s2, o + 2);
    y[o + 3] = finish(s3, o + 3);
  }

  /**
   * The lanes {@code [off, off + V)} summed in lane order. Not {@code reduceLanes}: its order is
   * unspecified and may differ between the interpreter and compiled code, and results must be
   * bit-identical whichever thread (and so whichever tier) runs a sample.
   */
  private static float sum(float[] lanes, int off) {
    float s = 0f;
    for (int l = 0; l < V; l++) {
      s += lanes[off + l];
    }
    return s;
  }

  private float finish(float sum, int o) {
    return ep.apply(bias == null ? sum : sum + bias[o], null, 0);
  }
}
