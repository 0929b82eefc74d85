package org.pd2java.runtime;

/**
 * linear@1 with a compressed weight (F16, or I8 with one scale per output row; FORMAT.md,
 * "Compressed weights"), which stays compressed in memory: each weight is dequantised as the dot
 * product reads it, giving the same float32 value as {@link WeightTensor#row}, and the products
 * are summed in double in the same order as {@link LinearKernel}, so the result is bit-identical
 * to that kernel on the dequantised weights (JUnit checks it). No scratch.
 */
final class PackedLinearKernel implements Kernel {
  private final int in, out;
  private final WeightTensor weight;
  private final float[] bias;

  PackedLinearKernel(int in, int out, WeightTensor weight, float[] bias) {
    this.in = in;
    this.out = out;
    this.weight = weight;
    this.bias = bias;
  }

  @Override
  public int[] outputShape() {
    return new int[] {out};
  }

  @Override
  public void run(float[][] inputs, float[] y) {
    if (weight instanceof WeightTensor.I8 t) {
      runInt8(t.q, t.scale, inputs[0], y);
    } else { // F16 (a float32 weight runs on LinearKernel: LinearKernel.compile chooses)
      runHalf(((WeightTensor.F16) weight).bits, inputs[0], y);
    }
  }

  /** Int8: weight {@code (float) q * scale[o]}, one float32 multiply. */
  private void runInt8(byte[] q, float[] scale, float[] x, float[] y) {
    for (int o = 0; o < out; o++) {
      double sum = bias == null ? 0.0 : bias[o];
      float s = scale[o];
      int row = o * in;
      for (int i = 0; i < in; i++) {
        sum += (double) ((float) q[row + i] * s) * x[i];
      }
      y[o] = (float) sum;
    }
  }

  /** Half: weight widened as {@link WeightTensor.F16#widen} does (finite halves). */
  private void runHalf(short[] bits, float[] x, float[] y) {
    for (int o = 0; o < out; o++) {
      double sum = bias == null ? 0.0 : bias[o];
      int row = o * in;
      for (int i = 0; i < in; i++) {
        int h = bits[row + i];
        float w = Float.intBitsToFloat(((h & 0x8000) << 16) | ((h & 0x7fff) << 13)) * 0x1p112f;
        sum += (double) w * x[i];
      }
      y[o] = (float) sum;
    }
  }
}
