package org.pd2java.gateway;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Conversion between {@code float[]} and little-endian float32 bytes, the only form tensors take
 * on the py4j wire (one call per tensor, never one per element).
 */
public final class Floats {
  private Floats() {}

  /**
   * Decodes little-endian float32 bytes.
   *
   * @param bytes a buffer whose length is a multiple of 4
   * @return the floats
   * @throws IllegalArgumentException if the length is not a multiple of 4
   */
  public static float[] fromBytes(byte[] bytes) {
    if (bytes.length % 4 != 0) {
      throw new IllegalArgumentException(
          "tensor bytes: length " + bytes.length + " is not a multiple of 4 (float32)");
    }
    float[] out = new float[bytes.length / 4];
    ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
    return out;
  }

  /**
   * Encodes floats as little-endian float32 bytes.
   *
   * @param values the floats
   * @return {@code 4 * values.length} bytes
   */
  public static byte[] toBytes(float[] values) {
    ByteBuffer buf = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    buf.asFloatBuffer().put(values);
    return buf.array();
  }
}
