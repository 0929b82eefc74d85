package org.pd2java.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.pd2java.runtime.Fixture.map;

import java.io.IOException;
import java.lang.ref.Reference;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Compressed weights (format version 3): the half to float conversion, the int8 dequantisation,
 * every kernel that keeps F16 and I8 weights compressed against the same kernel on the
 * dequantised float32 weights (bit-identical), and the memory a loaded model holds.
 *
 * <p>The expected dequantised values come from this test's own oracle, not from {@link
 * WeightTensor}: a half is {@code (-1)^s * 2^(e - 15) * (1 + m / 1024)} (subnormal: {@code m *
 * 2^-24}) computed in double, where it is exact; an int8 value is {@code (float) ((double) q *
 * scale)}, the exact product rounded once, which is what one float32 multiply gives.
 */
class CompressedWeightsTest {
  @TempDir Path dir;

  // ---- half -> float -----------------------------------------------------------------------

  /** The half's value from its fields, in double (exact), or NaN. */
  private static double halfValue(int h) {
    int s = (h >> 15) & 1;
    int e = (h >> 10) & 0x1f;
    int m = h & 0x3ff;
    double sign = s == 1 ? -1.0 : 1.0;
    if (e == 0x1f) {
      return m == 0 ? sign * Double.POSITIVE_INFINITY : Double.NaN;
    }
    if (e == 0) {
      return sign * m * Math.scalb(1.0, -24);
    }
    return sign * Math.scalb(1.0 + m / 1024.0, e - 15);
  }

  @Test
  void halfToFloatOnKnownBitPatterns() {
    // {half bits, float32 bits}
    int[][] cases = {
      {0x0000, 0x00000000}, // +0
      {0x8000, 0x80000000}, // -0 keeps its sign
      {0x3c00, 0x3f800000}, // 1
      {0xbc00, 0xbf800000}, // -1
      {0x4000, 0x40000000}, // 2
      {0x3555, 0x3eaaa000}, // 0.333251953125, the half nearest 1/3
      {0x7bff, 0x477fe000}, // 65504, the largest half
      {0xfbff, 0xc77fe000}, // -65504
      {0x0400, 0x38800000}, // 2^-14, the smallest normal half
      {0x0001, 0x33800000}, // 2^-24, the smallest subnormal half
      {0x8001, 0xb3800000}, // -2^-24
      {0x03ff, 0x387fc000}, // the largest subnormal half, 1023 * 2^-24
      {0x0200, 0x38000000}, // 2^-15, a subnormal
      {0x7c00, 0x7f800000}, // +infinity
      {0xfc00, 0xff800000}, // -infinity
      {0x7e00, 0x7fc00000}, // the quiet NaN
      {0x7c01, 0x7f802000}, // a signalling NaN's payload is kept (as NumPy does)
      {0xfe00, 0xffc00000}, // a negative NaN
    };
    for (int[] c : cases) {
      float f = WeightTensor.halfToFloat(c[0]);
      assertEquals(c[1], Float.floatToRawIntBits(f),
          String.format("half 0x%04x gave 0x%08x", c[0], Float.floatToRawIntBits(f)));
      // the same through a sign-extended short, as the F16 tensor passes its bits
      assertEquals(c[1], Float.floatToRawIntBits(WeightTensor.halfToFloat((short) c[0])));
    }
  }

  @Test
  void halfToFloatIsExactForEveryPattern() {
    int nan = 0;
    for (int h = 0; h < 1 << 16; h++) {
      float f = WeightTensor.halfToFloat(h);
      double want = halfValue(h);
      if (Double.isNaN(want)) {
        assertTrue(Float.isNaN(f), String.format("0x%04x", h));
        nan++;
        continue;
      }
      assertEquals(want, (double) f, 0.0, String.format("0x%04x", h));
      // the sign of a zero too
      assertEquals(h >> 15, Float.floatToRawIntBits(f) >>> 31, String.format("0x%04x", h));
    }
    assertEquals(2 * 1023, nan); // every NaN pattern was seen
  }

  @Test
  void f16RowsWidenEveryFiniteHalfExactly() {
    short[] bits = new short[(1 << 16) - 2 * 1024]; // every pattern but infinities and NaNs
    int n = 0;
    for (int h = 0; h < 1 << 16; h++) {
      if ((h & 0x7c00) != 0x7c00) {
        bits[n++] = (short) h;
      }
    }
    assertEquals(bits.length, n);
    float[] got = new WeightTensor.F16("w", new int[] {1, n}, bits).toFloats();
    for (int i = 0; i < n; i++) {
      assertEquals(Float.floatToRawIntBits(WeightTensor.halfToFloat(bits[i])),
          Float.floatToRawIntBits(got[i]), String.format("0x%04x", bits[i] & 0xffff));
    }
  }

  // ---- int8 --------------------------------------------------------------------------------

  @Test
  void int8IsOneFloatMultiplyByTheOutputChannelsScale() {
    byte[] q = {-128, -127, -1, 0, 1, 3, 127, 100, 7, -50, 33, 5};
    float[] scale = {0.1f, 1e-38f, 3.3333333f, 0.007874016f};
    WeightTensor.I8 t = new WeightTensor.I8("w", new int[] {4, 3}, q, scale);
    float[] got = t.toFloats();
    float[] row = new float[3];
    for (int o = 0; o < 4; o++) {
      t.row(o, row, 0);
      for (int i = 0; i < 3; i++) {
        float want = (float) ((double) q[o * 3 + i] * scale[o]);
        assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(got[o * 3 + i]));
        assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(row[i]));
        assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(t.get(o * 3 + i)));
      }
    }
    assertEquals(12 + 4 * 4, t.bytes()); // one byte an element, plus the float32 scales
    assertNull(t.floats()); // compressed: no float32 array behind it
  }

  @Test
  void f16RowsAreTheHalvesWidened() {
    short[] bits = {0x3c00, (short) 0xbc00, 0x0001, 0x7bff, 0x3555, (short) 0x8000};
    WeightTensor.F16 t = new WeightTensor.F16("w", new int[] {2, 3}, bits);
    float[] all = new float[6];
    t.rows(0, 2, all);
    for (int i = 0; i < 6; i++) {
      assertEquals(halfValue(bits[i] & 0xffff), (double) all[i], 0.0);
    }
    assertEquals(12, t.bytes());
    assertNull(t.floats());
  }

  // ---- kernels: compressed vs the same kernel on the dequantised float32 weights -----------

  /** Random finite halves of magnitude below 4, subnormals included. */
  private static short[] randomHalves(Random r, int n) {
    short[] h = new short[n];
    for (int i = 0; i < n; i++) {
      int exp = r.nextInt(8) == 0 ? 0 : 1 + r.nextInt(16);
      h[i] = (short) ((r.nextInt(2) << 15) | (exp << 10) | r.nextInt(1024));
    }
    return h;
  }

  /** A weight in three forms: F16 bits, I8 bytes with per-row scales, and float32 references. */
  private record Weight(int[] shape, short[] half, byte[] q, float[] scale) {
    static Weight random(Random r, int... shape) {
      int n = 1;
      for (int d : shape) {
        n *= d;
      }
      byte[] q = new byte[n];
      for (int i = 0; i < n; i++) {
        q[i] = (byte) (r.nextInt(255) - 127);
      }
      float[] scale = new float[shape[0]];
      for (int o = 0; o < scale.length; o++) {
        scale[o] = 0.001f + 0.05f * r.nextFloat();
      }
      return new Weight(shape, randomHalves(r, n), q, scale);
    }

    /** The float32 values of the F16 form (the oracle). */
    float[] halfValues() {
      float[] f = new float[half.length];
      for (int i = 0; i < f.length; i++) {
        f[i] = (float) halfValue(half[i] & 0xffff);
      }
      return f;
    }

    /** The float32 values of the I8 form (the oracle). */
    float[] int8Values() {
      int row = q.length / shape[0];
      float[] f = new float[q.length];
      for (int i = 0; i < f.length; i++) {
        f[i] = (float) ((double) q[i] * scale[i / row]);
      }
      return f;
    }
  }

  private static float[] random(Random r, int n) {
    float[] a = new float[n];
    for (int i = 0; i < n; i++) {
      a[i] = r.nextFloat() * 2 - 1;
    }
    return a;
  }

  /** The kernel class of node c (the first), from the profile's key "c (ClassName)". */
  private static String kernel(Model m, float[] x) {
    String key = m.profile(x, 1).keySet().iterator().next();
    assertTrue(key.startsWith("c ("), key);
    return key.substring(3, key.length() - 1);
  }

  /**
   * One node {@code c} of {@code op} with weight {@code w} (and a float32 bias): loaded from a
   * version 3 file with the weight as F16, then as I8, and from a version 2 file with the
   * dequantised float32 values; each compressed model runs on the compressed twin ("Packed" +
   * name) of its float32 twin's kernel and gives bit-identical outputs, with the default and
   * with the reference kernels.
   *
   * @return the float32 kernel class used with the default kernels
   */
  private String compare(Random r, int[] inShape, String op, Map<String, Object> attrs,
      Weight w, int[] outShape) throws IOException {
    float[] bias = random(r, w.shape()[0]);
    int n = 1;
    for (int d : inShape) {
      n *= d;
    }
    float[] x = random(r, n);
    String used = null;
    for (String dtype : new String[] {"F16", "I8"}) {
      Fixture packed = new Fixture(inShape).version(3);
      Fixture plain = new Fixture(inShape);
      if (dtype.equals("F16")) {
        packed.half("w", w.shape(), w.half());
        plain.tensor("w", w.shape(), w.halfValues());
      } else {
        packed.int8("w", w.shape(), w.q(), w.scale());
        plain.tensor("w", w.shape(), w.int8Values());
      }
      for (Fixture f : new Fixture[] {packed, plain}) {
        f.tensor("b", new int[] {bias.length}, bias)
            .node("c", op, attrs, map("weight", "w", "bias", "b"), outShape);
      }
      Path pp = Fixture.write(Files.createTempDirectory(dir, "packed"), packed.manifest(),
          packed.weights());
      Path fp = Fixture.write(Files.createTempDirectory(dir, "plain"), plain.manifest(),
          plain.weights());
      for (boolean reference : new boolean[] {false, true}) {
        LoadOptions o = LoadOptions.defaults().withReferenceKernels(reference);
        Model a = Model.load(pp, o);
        Model b = Model.load(fp, o);
        String what = op + " " + dtype + (reference ? " (reference kernels)" : "");
        // the Vector API kernels take either dtype (one class); the scalar ones have twins
        String plainKernel = kernel(b, x);
        assertEquals((plainKernel.startsWith("Vector") ? "" : "Packed") + plainKernel,
            kernel(a, x), what);
        assertArrayEquals(b.runLayers(x).get("c"), a.runLayers(x).get("c"), 0f, what);
        assertTrue(a.weightBytes() < b.weightBytes(), what);
        if (!reference) {
          used = kernel(b, x);
        }
      }
    }
    return used;
  }

  private static final String GEMM = KernelTesting.fast("Conv2dGemmKernel", "VectorConvKernel");

  private static Map<String, Object> conv(int cin, int cout, int k, int stride, int pad,
      int dil, int groups) {
    return map("in_channels", cin, "out_channels", cout, "kernel_size", new int[] {k, k},
        "stride", new int[] {stride, stride}, "padding", new int[] {pad, pad},
        "dilation", new int[] {dil, dil}, "groups", groups);
  }

  @Test
  void denseConvOnTheGemmKernel() throws IOException {
    Random r = new Random(21);
    // several column tiles, out_channels not a multiple of 4, odd in_channels * kh * kw
    assertEquals(GEMM, compare(r, new int[] {3, 20, 33}, "conv2d",
        conv(3, 7, 3, 1, 1, 1, 1), Weight.random(r, 7, 3, 3, 3), new int[] {7, 20, 33}));
    assertEquals(GEMM, compare(r, new int[] {5, 9, 8}, "conv2d",
        conv(5, 8, 1, 2, 0, 1, 1), Weight.random(r, 8, 5, 1, 1), new int[] {8, 5, 4}));
    // Small maps: the compressed kernel runs blocks of PackedConv2dGemmKernel.MIN_BLOCK output
    // channels (70 = 64 + 6, the last block with a tail of 2; 130 = 64 + 64 + 2)
    assertEquals(64, PackedConv2dGemmKernel.MIN_BLOCK);
    assertEquals(GEMM, compare(r, new int[] {3, 4, 5}, "conv2d",
        conv(3, 70, 3, 1, 1, 1, 1), Weight.random(r, 70, 3, 3, 3), new int[] {70, 4, 5}));
    assertEquals(GEMM, compare(r, new int[] {6, 1, 1}, "conv2d",
        conv(6, 130, 1, 1, 0, 1, 1), Weight.random(r, 130, 6, 1, 1), new int[] {130, 1, 1}));
  }

  @Test
  void depthwiseConvOnBothPathsOfItsKernel() throws IOException {
    Random r = new Random(22);
    // stride 2: the direct path (3x3 weights in registers)
    assertEquals(KernelTesting.fast("DepthwiseConv2dKernel", "VectorDepthwiseKernel"),
        compare(r, new int[] {4, 15, 30}, "conv2d",
        conv(4, 4, 3, 2, 1, 1, 4), Weight.random(r, 4, 1, 3, 3), new int[] {4, 8, 15}));
    // stride 1, a large plane and a channel multiplier: the tap-plane path
    assertEquals(KernelTesting.fast("DepthwiseConv2dKernel", "VectorDepthwiseKernel"),
        compare(r, new int[] {3, 12, 14}, "conv2d",
        conv(3, 6, 3, 1, 1, 1, 3), Weight.random(r, 6, 1, 3, 3), new int[] {6, 12, 14}));
    // 5x5 taps on the direct path (not the 3x3 special case)
    assertEquals(KernelTesting.fast("DepthwiseConv2dKernel", "VectorDepthwiseKernel"),
        compare(r, new int[] {2, 9, 11}, "conv2d",
        conv(2, 2, 5, 2, 2, 1, 2), Weight.random(r, 2, 1, 5, 5), new int[] {2, 5, 6}));
  }

  @Test
  void groupedConvOnTheReferenceKernel() throws IOException {
    Random r = new Random(23);
    assertEquals("Conv2dKernel", compare(r, new int[] {4, 6, 7}, "conv2d",
        conv(4, 6, 3, 1, 1, 1, 2), Weight.random(r, 6, 2, 3, 3), new int[] {6, 6, 7}));
  }

  @Test
  void conv1dOnTheConvKernels() throws IOException {
    Random r = new Random(24);
    Map<String, Object> dense = map("in_channels", 3, "out_channels", 5, "kernel_size", 3,
        "stride", 1, "padding", 1, "dilation", 1, "groups", 1);
    assertEquals(GEMM, compare(r, new int[] {3, 40}, "conv1d", dense,
        Weight.random(r, 5, 3, 3), new int[] {5, 40}));
    Map<String, Object> depthwise = map("in_channels", 4, "out_channels", 4, "kernel_size", 5,
        "stride", 2, "padding", 2, "dilation", 1, "groups", 4);
    assertEquals(KernelTesting.fast("DepthwiseConv2dKernel", "VectorDepthwiseKernel"),
        compare(r, new int[] {4, 30}, "conv1d",
        depthwise, Weight.random(r, 4, 1, 5), new int[] {4, 15}));
  }

  @Test
  void linearDequantisesOneRowAtATime() throws IOException {
    Random r = new Random(25);
    assertEquals(KernelTesting.fast("LinearKernel", "VectorLinearKernel"),
        compare(r, new int[] {37}, "linear",
        map("in_features", 37, "out_features", 11), Weight.random(r, 11, 37), new int[] {11}));
  }

  @Test
  void sharedCompressedTensorIsHeldOnce() throws IOException {
    Random r = new Random(26);
    Weight w = Weight.random(r, 6, 6);
    Fixture f = new Fixture(6).version(3).int8("w", w.shape(), w.q(), w.scale())
        .node("a", "linear", map("in_features", 6, "out_features", 6),
            map("weight", "w", "bias", null), new int[] {6})
        .node("c", "linear", map("in_features", 6, "out_features", 6),
            map("weight", "w", "bias", null), new int[] {6});
    Model m = Model.load(Fixture.write(dir, f.manifest(), f.weights()));
    assertEquals(36 + 6 * 4, m.weightBytes());
  }

  // ---- the loader's rules (the conformance corpus has one case per rule; these add messages) --

  /** A linear 4 -> 2 whose weight is stored by {@code store}, in format version {@code v}. */
  private static Fixture linear(int v, Consumer<Fixture> store) {
    Fixture f = new Fixture(4).version(v);
    store.accept(f);
    return f.tensor("b", new int[] {2}, 0.5f, -0.5f)
        .node("c", "linear", map("in_features", 4, "out_features", 2),
            map("weight", "w", "bias", "b"), new int[] {2});
  }

  private Pd2JavaException refused(ErrorCode code, Fixture f, String... mention)
      throws IOException {
    Path p = Fixture.write(Files.createTempDirectory(dir, "bad"), f.manifest(), f.weights());
    Pd2JavaException e = assertThrows(Pd2JavaException.class, () -> Model.load(p));
    assertEquals(code, e.code(), e.getMessage());
    for (String s : mention) {
      assertTrue(e.getMessage().contains(s), "'" + s + "' not in: " + e.getMessage());
    }
    return e;
  }

  private static final byte[] Q8 = {1, -2, 3, -4, 5, -6, 7, -8};

  @Test
  void compressedWeightsNeedVersion3AndASlotThatTakesThem() throws IOException {
    refused(ErrorCode.UNSUPPORTED_DTYPE,
        linear(2, f -> f.int8("w", new int[] {2, 4}, Q8, 0.1f, 0.2f)), "'w'", "I8", "F32");
    refused(ErrorCode.UNSUPPORTED_DTYPE,
        linear(2, f -> f.half("w", new int[] {2, 4}, new short[8])), "'w'", "F16");
    Fixture bias = linear(3, f -> f.half("w", new int[] {2, 4}, new short[8]));
    bias.half("b", new int[] {2}, (short) 0x3c00, (short) 0x3c00);
    refused(ErrorCode.UNSUPPORTED_DTYPE, bias, "'b'", "F16", "parameter 'bias'");
    // accepted: the same in version 3, and the values are the dequantised ones
    Fixture ok = linear(3, f -> f.int8("w", new int[] {2, 4}, Q8, 0.1f, 0.2f));
    Model m = Model.load(Fixture.write(Files.createTempDirectory(dir, "ok"), ok.manifest(),
        ok.weights()));
    float[] y = m.predict(new float[] {1, 0, 0, 0}); // column 0: q 1 (row 0), 5 (row 1)
    assertEquals((float) ((double) (1f * 0.1f) + 0.5), y[0], 0f);
    assertEquals((float) ((double) (5f * 0.2f) - 0.5), y[1], 0f);
  }

  @Test
  void halfInfinityIsANonFiniteWeight() throws IOException {
    short[] bits = new short[8];
    bits[6] = (short) 0xfc00;
    refused(ErrorCode.NON_FINITE_WEIGHT, linear(3, f -> f.half("w", new int[] {2, 4}, bits)),
        "'w'", "-Infinity", "index 6");
  }

  @Test
  void int8ScalesAreCheckedAgainstTheWeight() throws IOException {
    refused(ErrorCode.INVALID_PARAMETER,
        linear(3, f -> f.int8("w", new int[] {2, 4}, Q8, 0.1f, 0.2f, 0.3f)), "w.scale", "[2]");
    refused(ErrorCode.INVALID_PARAMETER,
        linear(3, f -> f.int8("w", new int[] {2, 4}, Q8, 0.1f, -0f)), "w.scale", "> 0");
    refused(ErrorCode.NON_FINITE_WEIGHT,
        linear(3, f -> f.int8("w", new int[] {2, 4}, Q8, Float.POSITIVE_INFINITY, 1f)),
        "w.scale");
    Fixture noEntry = linear(3, f -> f.int8("w", new int[] {2, 4}, Q8, 0.1f, 0.2f));
    noEntry.quantization.clear();
    refused(ErrorCode.INVALID_PARAMETER, noEntry, "'w'", "no 'quantization' entry");
    Fixture extra = linear(3, f -> f.int8("w", new int[] {2, 4}, Q8, 0.1f, 0.2f));
    extra.quantization.put("b", map("scale", "w.scale"));
    refused(ErrorCode.INVALID_PARAMETER, extra, "'b'", "names no int8 tensor");
    // an int8 tensor of rank 0 has no output-channel axis to scale
    Fixture scalar = new Fixture(1).version(3).int8("w", new int[] {}, new byte[] {3}, 0.5f)
        .node("c", "linear", map("in_features", 1, "out_features", 1),
            map("weight", "w", "bias", null), new int[] {1});
    refused(ErrorCode.INVALID_PARAMETER, scalar, "rank 0");
  }

  @Test
  void malformedQuantizationIsAnInvalidManifest() throws IOException {
    Fixture f = linear(3, g -> g.int8("w", new int[] {2, 4}, Q8, 0.1f, 0.2f));
    f.quantization.put("w", map("scale", 7));
    refused(ErrorCode.INVALID_MANIFEST, f, "quantization/w/scale");
    f.quantization.put("w", map());
    refused(ErrorCode.INVALID_MANIFEST, f, "quantization/w/scale");
    f.quantization.put("w", List.of("w.scale"));
    refused(ErrorCode.INVALID_MANIFEST, f, "quantization/w");
    Map<String, Object> m = f.manifest();
    m.remove("quantization");
    Path p = Fixture.write(Files.createTempDirectory(dir, "bad"), m, f.weights());
    Pd2JavaException e = assertThrows(Pd2JavaException.class, () -> Model.load(p));
    assertEquals(ErrorCode.INVALID_MANIFEST, e.code());
    assertTrue(e.getMessage().contains("'quantization'"), e.getMessage());
  }

  // ---- memory --------------------------------------------------------------------------------

  /** The heap in use after collecting garbage (the least of a few readings). */
  private static long usedHeap() {
    Runtime rt = Runtime.getRuntime();
    long best = Long.MAX_VALUE;
    for (int i = 0; i < 4; i++) {
      System.gc();
      best = Math.min(best, rt.totalMemory() - rt.freeMemory());
    }
    return best;
  }

  /** The heap {@code copies} loaded models of {@code manifest} keep, per model. */
  private static long heapPerModel(Path manifest, int copies) {
    List<Model> keep = new ArrayList<>();
    long before = usedHeap();
    for (int i = 0; i < copies; i++) {
      keep.add(Model.load(manifest, LoadOptions.defaults().withSelfTest(false)));
    }
    long after = usedHeap();
    Reference.reachabilityFence(keep);
    return (after - before) / copies;
  }

  /** A chain of {@code layers} linear layers {@code n -> n}, every weight stored as dtype. */
  private Path chain(String dtype, int layers, int n, Random r) throws IOException {
    Fixture f = new Fixture(n).version(dtype.equals("F32") ? 2 : 3);
    for (int l = 0; l < layers; l++) {
      Weight w = Weight.random(r, n, n);
      String name = "w" + l;
      switch (dtype) {
        case "F16" -> f.half(name, w.shape(), w.half());
        case "I8" -> f.int8(name, w.shape(), w.q(), w.scale());
        default -> f.tensor(name, w.shape(), w.int8Values());
      }
      f.node("fc" + l, "linear", map("in_features", n, "out_features", n),
          map("weight", name, "bias", null), new int[] {n});
    }
    return Fixture.write(Files.createDirectory(dir.resolve(dtype)), f.manifest(), f.weights());
  }

  /**
   * Loaded models keep compressed weights compressed, measured on the heap: several copies of a
   * model of 16 linear layers (500 x 500, 16 MB of float32 weights) are loaded and the heap they
   * retain is divided by the copies. An int8 model keeps at most 0.3x and an fp16 model at most
   * 0.55x the float32 bytes (the exact counts are 0.25x + scales and 0.5x); the float32 model
   * keeps at least 0.9x of them (the measurement sees the weights).
   *
   * <p>Every array stays below 512 KB, under half of G1's smallest heap region: G1 stores an
   * array of at least half a region in whole regions of its own, which would measure the region
   * size this JVM picked (1 to 32 MB, by heap size) rather than the runtime.
   */
  @Test
  void compressedWeightsStayCompressedInTheHeap() throws IOException {
    Random r = new Random(27);
    int layers = 16;
    int n = 500;
    long fp32 = 4L * layers * n * n;
    Path f32 = chain("F32", layers, n, r);
    Path f16 = chain("F16", layers, n, r);
    Path i8 = chain("I8", layers, n, r);
    assertEquals(fp32, Model.load(f32).weightBytes());
    assertEquals(2L * layers * n * n, Model.load(f16).weightBytes());
    assertEquals((long) layers * n * n + 4L * layers * n, Model.load(i8).weightBytes());
    int copies = 4;
    long heapF32 = heapPerModel(f32, copies);
    long heapF16 = heapPerModel(f16, copies);
    long heapI8 = heapPerModel(i8, copies);
    String seen = "heap per model: fp32 " + heapF32 + ", fp16 " + heapF16 + ", int8 " + heapI8
        + " bytes; float32 weights " + fp32 + " bytes";
    assertTrue(heapF32 >= 0.9 * fp32, seen);
    assertTrue(heapF16 <= 0.55 * fp32, seen);
    assertTrue(heapI8 <= 0.3 * fp32, seen);
  }

  /** A large int8 linear layer (2048 x 1024) is counted at a quarter of its float32 bytes. */
  @Test
  void largeInt8LinearHoldsAQuarterOfTheFloatBytes() throws IOException {
    Random r = new Random(28);
    int out = 2048;
    int in = 1024;
    byte[] q = new byte[out * in];
    r.nextBytes(q);
    for (int i = 0; i < q.length; i++) {
      q[i] = q[i] == Byte.MIN_VALUE ? 0 : q[i];
    }
    float[] scale = new float[out];
    Arrays.fill(scale, 0.01f);
    Fixture f = new Fixture(in).version(3).int8("w", new int[] {out, in}, q, scale)
        .node("fc", "linear", map("in_features", in, "out_features", out),
            map("weight", "w", "bias", null), new int[] {out});
    Model m = Model.load(Fixture.write(dir, f.manifest(), f.weights()));
    assertEquals((long) out * in + 4L * out, m.weightBytes());
    assertTrue(m.weightBytes() <= 0.26 * 4L * out * in);
    float[] x = new float[in];
    x[5] = 1f; // picks column 5: row o gives q[o][5] * 0.01
    float[] y = m.predict(x);
    for (int o = 0; o < out; o++) {
      assertEquals((float) ((double) q[o * in + 5] * 0.01f), y[o], 0f);
    }
  }
}
