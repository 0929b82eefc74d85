package org.pd2java.gateway;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.pd2java.runtime.Prpd;

/**
 * {@link Prpd}'s factories for the parity tests, with arrays as little-endian bytes (one py4j
 * message per array, never one per element).
 */
public final class Prpds {
  private Prpds() {}

  private static ByteBuffer le(byte[] bytes, int width, String what) {
    if (bytes.length % width != 0) {
      throw new IllegalArgumentException(
          what + ": length " + bytes.length + " is not a multiple of " + width);
    }
    return ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
  }

  private static double[] doubles(byte[] bytes, String what) {
    double[] out = new double[bytes.length / 8];
    le(bytes, 8, what).asDoubleBuffer().get(out);
    return out;
  }

  /**
   * {@link Prpd#fromCounts(int[])}.
   *
   * @param int32 little-endian int32 counts
   * @return the image
   */
  public static Prpd fromCounts(byte[] int32) {
    int[] counts = new int[int32.length / 4];
    le(int32, 4, "counts").asIntBuffer().get(counts);
    return Prpd.fromCounts(counts);
  }

  /**
   * {@link Prpd#fromCounts(double[])}.
   *
   * @param float64 little-endian float64 counts
   * @return the image
   */
  public static Prpd fromCountsDouble(byte[] float64) {
    return Prpd.fromCounts(doubles(float64, "counts"));
  }

  /**
   * {@link Prpd#fromPulses}.
   *
   * @param phaseDeg little-endian float64 phases
   * @param amplitude little-endian float64 amplitudes
   * @param fullScale full scale
   * @return the image
   */
  public static Prpd fromPulses(byte[] phaseDeg, byte[] amplitude, double fullScale) {
    return Prpd.fromPulses(
        doubles(phaseDeg, "phaseDeg"), doubles(amplitude, "amplitude"), fullScale);
  }

  /**
   * {@link Prpd#fromPrps}.
   *
   * @param float32 little-endian float32 values, {@code cycles * windows} of them, row-major
   * @param cycles rows
   * @param windows columns
   * @param fullScale full scale
   * @return the image
   */
  public static Prpd fromPrps(byte[] float32, int cycles, int windows, double fullScale) {
    if ((long) cycles * windows * 4 != float32.length) {
      throw new IllegalArgumentException("PRPS: " + float32.length + " bytes for " + cycles
          + " x " + windows + " float32 values");
    }
    float[] flat = new float[float32.length / 4];
    le(float32, 4, "PRPS").asFloatBuffer().get(flat);
    float[][] prps = new float[cycles][windows];
    for (int c = 0; c < cycles; c++) {
      System.arraycopy(flat, c * windows, prps[c], 0, windows);
    }
    return Prpd.fromPrps(prps, fullScale);
  }

  /**
   * The image of a Prpd as bytes.
   *
   * @param prpd the image
   * @return its values as little-endian float32
   */
  public static byte[] image(Prpd prpd) {
    return Floats.toBytes(prpd.image());
  }
}
