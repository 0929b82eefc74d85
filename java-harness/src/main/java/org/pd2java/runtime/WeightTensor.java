package org.pd2java.runtime;

import java.util.Arrays;

/**
 * A parameter tensor as the runtime holds it in memory: float32 ({@link F32}), IEEE half
 * ({@link F16}, 2 bytes an element) or int8 with one float32 scale per output channel ({@link
 * I8}, 1 byte an element). Compressed tensors stay compressed for the model's lifetime: the
 * kernels whose slots take them (conv2d, conv1d and linear weights; the op table's {@code
 * ParamSpec.dtypes}) dequantise them piecewise while computing: a linear layer each weight as
 * its dot product reads it, a convolution a block of output channels ({@link #rows}) into
 * per-call scratch.
 *
 * <p>Dequantised values are exactly the Python reader's (FORMAT.md, "Compressed weights"): a half
 * widened to float32 exactly ({@link #halfToFloat}); an int8 {@code q} of output channel {@code o}
 * (the index on axis 0) becomes {@code (float) q * scale[o]}, one float32 multiply.
 *
 * <p>Immutable after load and shared by every call and thread.
 */
abstract sealed class WeightTensor permits WeightTensor.F32, WeightTensor.F16, WeightTensor.I8 {
  final String name;
  final int[] shape;
  /** Elements per output channel: the product of shape[1:] (the whole tensor for rank 0). */
  final int rowLength;

  private WeightTensor(String name, int[] shape) {
    this.name = name;
    this.shape = shape;
    long len = 1;
    for (int i = 1; i < shape.length; i++) {
      len *= shape[i];
    }
    this.rowLength = (int) len; // a tensor fits the weights file, so an int array
  }

  /** @return the safetensors dtype: F32, F16 or I8 */
  abstract String dtype();

  /** @return the number of elements */
  abstract int size();

  /** @return the bytes of the arrays this tensor holds (data, plus an int8 tensor's scales) */
  abstract long bytes();

  /** @return element {@code i} (row-major) as float32 */
  abstract float get(int i);

  /**
   * Writes output channel {@code o} (elements {@code [o * rowLength, (o + 1) * rowLength)}) as
   * float32 into {@code dst[off, off + rowLength)}.
   */
  abstract void row(int o, float[] dst, int off);

  /**
   * Writes output channels {@code [first, first + count)} as float32 into {@code dst[0, count *
   * rowLength)}.
   */
  final void rows(int first, int count, float[] dst) {
    for (int r = 0; r < count; r++) {
      row(first + r, dst, r * rowLength);
    }
  }

  /** @return the float32 array of an {@link F32} tensor, null for a compressed one */
  float[] floats() {
    return null;
  }

  /**
   * @return every element as float32 (a new array for a compressed tensor; a kernel that keeps
   *     the weight compressed reads {@link #row} instead)
   */
  abstract float[] toFloats();

  String shapeString() {
    return Arrays.toString(shape);
  }

  /** Output channels: shape[0] (1 for a rank-0 tensor). */
  final int rows() {
    return shape.length == 0 ? 1 : shape[0];
  }

  /**
   * IEEE 754 binary16 to binary32, exactly: every half (normal, subnormal, signed zero, infinity,
   * NaN with its payload) is a float. Java 17 has no {@code Float.float16ToFloat} (Java 20).
   *
   * @param h the half's 16 bits (the low 16 bits of {@code h})
   * @return the same value as a float
   */
  static float halfToFloat(int h) {
    int sign = (h & 0x8000) << 16;
    int exp = (h >>> 10) & 0x1f;
    int mant = h & 0x3ff;
    if (exp == 0x1f) { // infinity (mant 0) or NaN (payload kept, as NumPy does)
      return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
    }
    if (exp == 0) { // zero or subnormal: mant * 2^-24, exact in float32 (a normal float)
      float v = mant * 0x1p-24f;
      return sign == 0 ? v : -v;
    }
    // normal: rebias the exponent (15 -> 127), widen the mantissa (10 -> 23 bits)
    return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
  }

  /** Float32 values. */
  static final class F32 extends WeightTensor {
    final float[] data;

    F32(String name, int[] shape, float[] data) {
      super(name, shape);
      this.data = data;
    }

    @Override
    String dtype() {
      return "F32";
    }

    @Override
    int size() {
      return data.length;
    }

    @Override
    long bytes() {
      return 4L * data.length;
    }

    @Override
    float get(int i) {
      return data[i];
    }

    @Override
    void row(int o, float[] dst, int off) {
      System.arraycopy(data, o * rowLength, dst, off, rowLength);
    }

    @Override
    float[] floats() {
      return data;
    }

    @Override
    float[] toFloats() {
      return data;
    }
  }

  /** IEEE half values, held as their 16-bit patterns; finite (the loader checks). */
  static final class F16 extends WeightTensor {
    final short[] bits;

    F16(String name, int[] shape, short[] bits) {
      super(name, shape);
      this.bits = bits;
    }

    @Override
    String dtype() {
      return "F16";
    }

    @Override
    int size() {
      return bits.length;
    }

    @Override
    long bytes() {
      return 2L * bits.length;
    }

    @Override
    float get(int i) {
      return halfToFloat(bits[i]);
    }

    @Override
    void row(int o, float[] dst, int off) {
      widen(bits, o * rowLength, dst, off, rowLength);
    }

    @Override
    float[] toFloats() {
      float[] out = new float[bits.length];
      widen(bits, 0, out, 0, out.length);
      return out;
    }

    /**
     * {@link #halfToFloat} for finite halves (the loader refuses the others), branch-free: the
     * half's exponent and mantissa bits placed in a float's low exponent and high mantissa bits
     * give {@code 2^-112} times its value (a subnormal half lands on a subnormal float), and
     * multiplying by {@code 2^112} is exact. JUnit checks it against {@link #halfToFloat} on
     * every finite half.
     */
    static void widen(short[] bits, int from, float[] dst, int off, int len) {
      for (int i = 0; i < len; i++) {
        int h = bits[from + i];
        dst[off + i] =
            Float.intBitsToFloat(((h & 0x8000) << 16) | ((h & 0x7fff) << 13)) * 0x1p112f;
      }
    }
  }

  /** Symmetric int8 values with one float32 scale per output channel (axis 0). */
  static final class I8 extends WeightTensor {
    final byte[] q;
    /** One scale per output channel, finite and > 0 (checked by the loader). */
    final float[] scale;

    I8(String name, int[] shape, byte[] q, float[] scale) {
      super(name, shape);
      this.q = q;
      this.scale = scale;
    }

    @Override
    String dtype() {
      return "I8";
    }

    @Override
    int size() {
      return q.length;
    }

    @Override
    long bytes() {
      return q.length + (scale == null ? 0L : 4L * scale.length);
    }

    @Override
    float get(int i) {
      return (float) q[i] * scale[rowLength == 0 ? 0 : i / rowLength];
    }

    @Override
    void row(int o, float[] dst, int off) {
      final byte[] q = this.q;
      final float s = scale[o];
      int base = o * rowLength;
      for (int i = 0; i < rowLength; i++) {
        dst[off + i] = (float) q[base + i] * s;
      }
    }

    @Override
    float[] toFloats() {
      float[] out = new float[q.length];
      for (int o = 0; o < rows() && rowLength > 0; o++) {
        row(o, out, o * rowLength);
      }
      return out;
    }
  }
}
