package org.pd2java.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * {@link Prpd} against the Python PRPD preprocessing: the vectors in {@code prpd_vectors.json}
 * (written by {@code python -m pd2java.generate}) hold each case's inputs and Python's image bits
 * and pulse total. The image must match bit for bit or, where numpy's log1p and Java's differ in
 * the last double bit, by one float ulp at most (docs/PRPD.md, "Preprocessing in Java").
 */
class PrpdTest {
  private static final String RESOURCE = "prpd_vectors.json";

  @SuppressWarnings("unchecked")
  private static Map<String, Object> vectors() throws IOException {
    try (InputStream in = PrpdTest.class.getResourceAsStream(RESOURCE)) {
      assertNotNull(in, RESOURCE + " is not on the test class path (src/test/resources)");
      return (Map<String, Object>) Json.parse(in.readAllBytes(), RESOURCE, Json.Limits.MANIFEST);
    }
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> map(Object o) {
    return (Map<String, Object>) o;
  }

  private static double number(Map<String, Object> m, String key) {
    return ((Number) m.get(key)).doubleValue();
  }

  /** The bytes of an encoded array, dense (zeros filled in for a sparse one). */
  private static ByteBuffer decode(Object entry, int width) {
    Map<String, Object> e = map(entry);
    int length = Math.toIntExact(((Number) e.get("length")).longValue());
    byte[] data = Base64.getDecoder().decode((String) e.get("data"));
    if (!e.containsKey("index")) {
      assertEquals(length * width, data.length);
      return ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
    }
    ByteBuffer index = ByteBuffer.wrap(Base64.getDecoder().decode((String) e.get("index")))
        .order(ByteOrder.LITTLE_ENDIAN);
    byte[] dense = new byte[length * width];
    for (int k = 0; index.hasRemaining(); k++) {
      System.arraycopy(data, k * width, dense, index.getInt() * width, width);
    }
    return ByteBuffer.wrap(dense).order(ByteOrder.LITTLE_ENDIAN);
  }

  private static int[] ints(Object entry) {
    ByteBuffer b = decode(entry, 4);
    int[] out = new int[b.remaining() / 4];
    b.asIntBuffer().get(out);
    return out;
  }

  private static float[] floats(Object entry) {
    ByteBuffer b = decode(entry, 4);
    float[] out = new float[b.remaining() / 4];
    b.asFloatBuffer().get(out);
    return out;
  }

  private static float[] unsignedBytes(Object entry) {
    ByteBuffer b = decode(entry, 1);
    float[] out = new float[b.remaining()];
    for (int i = 0; i < out.length; i++) {
      out[i] = b.get(i) & 0xFF;
    }
    return out;
  }

  private static double[] doubles(Object entry) {
    ByteBuffer b = decode(entry, 8);
    double[] out = new double[b.remaining() / 8];
    b.asDoubleBuffer().get(out);
    return out;
  }

  /** A case's image by the public factory, and its counts before normalisation. */
  private record Run(Prpd prpd, double[] counts) {}

  private static Run run(Map<String, Object> c) {
    String kind = (String) c.get("kind");
    switch (kind) {
      case "counts_int": {
        int[] counts = ints(c.get("counts"));
        return new Run(Prpd.fromCounts(counts), Arrays.stream(counts).asDoubleStream().toArray());
      }
      case "counts_double": {
        double[] counts = doubles(c.get("counts"));
        return new Run(Prpd.fromCounts(counts), counts);
      }
      case "pulses": {
        double[] phase = doubles(c.get("phase_deg"));
        double[] amp = doubles(c.get("amplitude"));
        double full = number(c, "full_scale");
        return new Run(Prpd.fromPulses(phase, amp, full),
            Prpd.pulseCounts(phase, amp, full).values());
      }
      case "prps": {
        int cycles = (int) number(c, "cycles");
        int windows = (int) number(c, "windows");
        Map<String, Object> entry = map(c.get("prps"));
        float[] flat = "u1".equals(entry.get("dtype")) ? unsignedBytes(entry) : floats(entry);
        float[][] prps = new float[cycles][windows];
        for (int i = 0; i < cycles; i++) {
          System.arraycopy(flat, i * windows, prps[i], 0, windows);
        }
        double full = number(c, "full_scale");
        return new Run(Prpd.fromPrps(prps, full), Prpd.prpsCounts(prps, full).values());
      }
      default:
        throw new AssertionError("unknown case kind " + kind);
    }
  }

  private static String sha256(double[] values) {
    ByteBuffer b = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
    b.asDoubleBuffer().put(values);
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b.array()));
    } catch (NoSuchAlgorithmException e) {
      throw new AssertionError(e);
    }
  }

  @Test
  void matchesThePythonVectors() throws IOException {
    Map<String, Object> doc = vectors();
    assertEquals(Prpd.AMPLITUDE_BINS, (int) number(doc, "amplitude_bins"));
    assertEquals(Prpd.PHASE_BINS, (int) number(doc, "phase_bins"));
    assertEquals(Prpd.MIN_PULSES, (int) number(doc, "min_pulses"));
    List<?> cases = (List<?>) doc.get("cases");
    assertTrue(cases.size() >= 18, "too few cases: " + cases.size());
    long values = 0;
    long differ = 0;
    StringBuilder report = new StringBuilder();
    for (Object o : cases) {
      Map<String, Object> c = map(o);
      String name = (String) c.get("name");
      Run r = run(c);
      Prpd p = r.prpd();
      // The counts before normalisation, bit for bit (the shared PRPS sums included).
      assertEquals(c.get("counts_sha256"), sha256(r.counts()), name + ": counts differ");
      float[] want = floats(c.get("image"));
      float[] got = p.image();
      assertEquals(Prpd.SIZE, got.length, name);
      int caseDiffer = 0;
      for (int i = 0; i < want.length; i++) {
        int a = Float.floatToRawIntBits(want[i]);
        int b = Float.floatToRawIntBits(got[i]);
        if (a != b) {
          caseDiffer++;
          // Values are >= 0, so adjacent floats have adjacent bit patterns.
          assertTrue(Math.abs(a - b) <= 1,
              name + ": value " + i + " is " + got[i] + ", Python has " + want[i] + " (more than"
                  + " 1 ulp apart)");
        }
      }
      values += want.length;
      differ += caseDiffer;
      report.append(' ').append(name).append('=').append(caseDiffer);
      double pulses = number(c, "pulses");
      if ("counts_double".equals(c.get("kind"))) {
        // Java adds in index order, numpy pairwise: the same sum up to rounding.
        assertEquals(pulses, p.pulses(), 1e-12 * pulses, name);
      } else {
        assertEquals(pulses, p.pulses(), 0.0, name); // whole numbers, exact in both
      }
      assertEquals(c.get("has_activity"), p.hasActivity(), name + ": pulses " + p.pulses());
    }
    System.out.println("PrpdTest: " + differ + " of " + values
        + " image values differ from Python by 1 float ulp;" + report);
    // A handful may differ (log1p's last double bit); a systematic drift would show in many.
    assertTrue(differ <= values / 10000, differ + " of " + values + " values differ");
  }

  @Test
  void imageIsACopyAndShapesAreTheConvention() {
    int[] counts = new int[Prpd.SIZE];
    counts[5 * Prpd.PHASE_BINS + 7] = 99;
    counts[0] = 9;
    Prpd p = Prpd.fromCounts(counts);
    float[] image = p.image();
    assertEquals(1.0f, image[5 * Prpd.PHASE_BINS + 7]);
    assertEquals((float) (Math.log1p(9) / Math.log1p(99)), image[0]);
    image[0] = 42f;
    assertNotSame(image, p.image());
    assertEquals((float) (Math.log1p(9) / Math.log1p(99)), p.image()[0]);
    assertEquals(108.0, p.pulses());
    assertTrue(p.hasActivity());
    assertEquals(7200, Prpd.SIZE);
    assertEquals(3.0, Prpd.DEGREES_PER_PHASE_BIN);
    assertArrayEquals(new float[Prpd.SIZE], Prpd.fromCounts(new int[Prpd.SIZE]).image());
    assertFalse(Prpd.fromCounts(new double[Prpd.SIZE]).hasActivity());
  }

  @Test
  void pulsesWrapPhaseAndSaturateAmplitude() {
    Prpd p = Prpd.fromPulses(
        new double[] {-1.0, 361.0, 719.0, 5.0, 5.0},
        new double[] {0.5, 2.0, 1e308, 0.0, -1.0},
        2.0);
    float[] image = p.image();
    assertEquals(3.0, p.pulses()); // zero and negative amplitudes were never detected
    assertEquals(1.0f, image[15 * Prpd.PHASE_BINS + 119]); // -1 deg -> 359 deg, 0.25 of full scale
    assertEquals(1.0f, image[59 * Prpd.PHASE_BINS]); // 361 deg -> bin 0, full scale -> top bin
    assertEquals(1.0f, image[59 * Prpd.PHASE_BINS + 119]); // 719 deg; 1e308 saturates
  }

  @Test
  void prpsCountsNonZeroEntriesAndSharesWindows() {
    float[][] prps = new float[12][128];
    for (int c = 0; c < 12; c++) {
      prps[c][c * 10] = 200f;
    }
    Prpd p = Prpd.fromPrps(prps, 255);
    assertEquals(12.0, p.pulses());
    assertTrue(p.hasActivity());
    float[][] two = {{0f, 255f}, {1e30f, 0f}};
    Prpd q = Prpd.fromPrps(two, 255);
    assertEquals(2.0, q.pulses());
    assertFalse(q.hasActivity());
    float[] image = q.image();
    // Two windows of 180 degrees: each spreads evenly over 60 phase bins of the top amplitude bin.
    for (int b = 0; b < Prpd.PHASE_BINS; b++) {
      assertEquals(1.0f, image[59 * Prpd.PHASE_BINS + b], "phase bin " + b);
    }
  }

  private static void refused(Executable call, String... mentions) {
    Pd2JavaException e = assertThrows(Pd2JavaException.class, call);
    assertEquals(ErrorCode.INVALID_INPUT, e.code(), e.getMessage());
    for (String m : mentions) {
      assertTrue(e.getMessage().contains(m), "'" + m + "' not in: " + e.getMessage());
    }
  }

  @Test
  void refusesBadCounts() {
    refused(() -> Prpd.fromCounts((int[]) null), "fromCounts", "null");
    refused(() -> Prpd.fromCounts(new int[7199]), "7200", "7199");
    refused(() -> Prpd.fromCounts(new double[60]), "7200", "60");
    int[] negative = new int[Prpd.SIZE];
    negative[125] = -3;
    refused(() -> Prpd.fromCounts(negative), "counts[125]", "amplitude bin 1, phase bin 5", "-3");
    double[] nan = new double[Prpd.SIZE];
    nan[7199] = Double.NaN;
    refused(() -> Prpd.fromCounts(nan), "counts[7199]", "NaN");
    double[] inf = new double[Prpd.SIZE];
    inf[3] = Double.POSITIVE_INFINITY;
    refused(() -> Prpd.fromCounts(inf), "counts[3]", "Infinity");
    double[] neg = new double[Prpd.SIZE];
    neg[4] = -1e-9;
    refused(() -> Prpd.fromCounts(neg), "counts[4]", ">= 0");
  }

  @Test
  void refusesBadPulses() {
    double[] two = {1.0, 2.0};
    refused(() -> Prpd.fromPulses(null, two, 1.0), "phaseDeg is null");
    refused(() -> Prpd.fromPulses(two, null, 1.0), "amplitude is null");
    refused(() -> Prpd.fromPulses(two, new double[3], 1.0), "2 pulses", "3");
    refused(() -> Prpd.fromPulses(two, two, 0.0), "fullScale", "0.0");
    refused(() -> Prpd.fromPulses(two, two, -5.0), "fullScale");
    refused(() -> Prpd.fromPulses(two, two, Double.NaN), "fullScale", "NaN");
    refused(() -> Prpd.fromPulses(two, two, Double.POSITIVE_INFINITY), "fullScale");
    refused(() -> Prpd.fromPulses(two, new double[] {0.5, Double.NaN}, 1.0), "amplitude[1]", "NaN");
    refused(() -> Prpd.fromPulses(new double[] {Double.NEGATIVE_INFINITY, 0}, two, 1.0),
        "phaseDeg[0]", "Infinity");
    refused(() -> Prpd.fromPulses(two, new double[] {Double.POSITIVE_INFINITY, 1}, 1.0),
        "amplitude[0]");
  }

  @Test
  void refusesBadPrps() {
    refused(() -> Prpd.fromPrps(null, 255), "at least one cycle", "null");
    refused(() -> Prpd.fromPrps(new float[0][], 255), "at least one cycle");
    refused(() -> Prpd.fromPrps(new float[3][0], 255), "cycle 0", "empty");
    refused(() -> Prpd.fromPrps(new float[][] {null}, 255), "cycle 0", "null");
    refused(() -> Prpd.fromPrps(new float[][] {new float[128], new float[127]}, 255),
        "cycle 1", "127 windows", "128");
    refused(() -> Prpd.fromPrps(new float[][] {new float[4], null}, 255), "cycle 1", "null");
    float[][] nan = new float[5][100];
    nan[3][17] = Float.NaN;
    refused(() -> Prpd.fromPrps(nan, 255), "(cycle 3, window 17)", "NaN");
    float[][] neg = new float[5][100];
    neg[4][99] = -1f;
    refused(() -> Prpd.fromPrps(neg, 255), "(cycle 4, window 99)", "-1.0");
    float[][] inf = new float[1][120];
    inf[0][0] = Float.POSITIVE_INFINITY;
    refused(() -> Prpd.fromPrps(inf, 255), "(cycle 0, window 0)", "Infinity");
    refused(() -> Prpd.fromPrps(new float[2][120], 0), "fullScale");
    refused(() -> Prpd.fromPrps(new float[2][120], Double.NaN), "fullScale");
  }
}
