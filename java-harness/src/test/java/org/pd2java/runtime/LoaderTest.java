package org.pd2java.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.pd2java.runtime.Fixture.map;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every bad input gets a clear typed error at load (never a hang, crash or OOM). */
class LoaderTest {
  @TempDir Path dir;

  /** conv 1x1 (1->2, bias) -> relu -> gap -> linear 2->3 -> softmax, on a 1x2x2 input. */
  static Fixture small() {
    Fixture f = new Fixture(1, 2, 2);
    f.classes = List.of("a", "b", "c");
    f.tensor("conv.w", new int[] {2, 1, 1, 1}, 1f, -2f)
        .tensor("conv.b", new int[] {2}, 0.1f, 0.2f)
        .tensor("fc.w", new int[] {3, 2}, 1, 0, 0, 1, 1, 1)
        .tensor("fc.b", new int[] {3}, 0, 0, -1)
        .node("conv", "conv2d",
            map("in_channels", 1, "out_channels", 2, "kernel_size", new int[] {1, 1},
                "stride", new int[] {1, 1}, "padding", new int[] {0, 0},
                "dilation", new int[] {1, 1}, "groups", 1),
            map("weight", "conv.w", "bias", "conv.b"), new int[] {2, 2, 2})
        .node("act", "relu", map(), new int[] {2, 2, 2})
        .node("pool", "global_avg_pool", map("keepdims", false), new int[] {2})
        .node("fc", "linear", map("in_features", 2, "out_features", 3),
            map("weight", "fc.w", "bias", "fc.b"), new int[] {3})
        .node("prob", "softmax", map("dim", 1), new int[] {3});
    return f;
  }

  @SuppressWarnings("unchecked")
  static Map<String, Object> node(Map<String, Object> manifest, String name) {
    for (Object o : (List<Object>) manifest.get("nodes")) {
      Map<String, Object> n = (Map<String, Object>) o;
      if (n.get("name").equals(name)) {
        return n;
      }
    }
    throw new AssertionError(name);
  }

  @SuppressWarnings("unchecked")
  static Map<String, Object> sub(Map<String, Object> m, String key) {
    return (Map<String, Object>) m.get(key);
  }

  private Pd2JavaException fails(ErrorCode code, Map<String, Object> manifest, byte[] weights,
      String... mustMention) throws IOException {
    Path d = Files.createTempDirectory(dir, "case");
    Path p = Fixture.write(d, manifest, weights);
    Pd2JavaException e = assertThrows(Pd2JavaException.class, () -> Model.load(p));
    assertEquals(code, e.code(), e.getMessage());
    String msg = e.getMessage();
    assertTrue(msg.contains("m.manifest.json") || msg.contains(".safetensors"),
        "message names the file: " + e.getMessage());
    for (String s : mustMention) {
      assertTrue(e.getMessage().contains(s), "'" + s + "' not in: " + e.getMessage());
    }
    return e;
  }

  private Pd2JavaException fails(ErrorCode code, Map<String, Object> manifest, String... mention)
      throws IOException {
    return fails(code, manifest, small().weights(), mention);
  }

  private Pd2JavaException failsWeights(ErrorCode code, byte[] weights, String... mention)
      throws IOException {
    return fails(code, small().manifest(), weights, mention);
  }

  @Test
  void validModelLoads() throws IOException {
    Model m = small().load(dir);
    assertEquals("m", m.name());
    assertEquals(List.of("a", "b", "c"), m.classes());
    assertArrayEquals(new int[] {1, 2, 2}, m.inputShape());
    assertArrayEquals(new int[] {3}, m.outputShape());
    assertEquals(List.of("conv", "act", "pool", "fc", "prob"), m.nodeNames());
  }

  @Test
  void newerFormatVersionTellsToUpgrade() throws IOException {
    Map<String, Object> m = small().manifest();
    m.put("format_version", 2);
    m.remove("nodes"); // the version is checked before anything else
    fails(ErrorCode.UNSUPPORTED_FORMAT_VERSION, m, "newer", "upgrade");
  }

  @Test
  void wrongFormatIdentifier() throws IOException {
    Map<String, Object> m = small().manifest();
    m.put("format", "onnx");
    fails(ErrorCode.UNSUPPORTED_FORMAT, m, "pd2java.manifest");
  }

  @Test
  void missingTopLevelKey() throws IOException {
    Map<String, Object> m = small().manifest();
    m.remove("transforms");
    fails(ErrorCode.INVALID_MANIFEST, m, "transforms");
  }

  @Test
  void unknownOpListsKnownOnes() throws IOException {
    Map<String, Object> m = small().manifest();
    node(m, "act").put("op", "gelu");
    fails(ErrorCode.UNKNOWN_OP, m, "node 'act'", "gelu@1", "relu@1", "conv2d@1");
  }

  @Test
  void unknownOpVersion() throws IOException {
    Map<String, Object> m = small().manifest();
    node(m, "act").put("version", 7);
    fails(ErrorCode.UNKNOWN_OP, m, "relu@7", "known");
  }

  @Test
  void missingAttributeIsNeverDefaulted() throws IOException {
    Map<String, Object> m = small().manifest();
    sub(node(m, "conv"), "attrs").remove("groups");
    fails(ErrorCode.INVALID_ATTRIBUTE, m, "node 'conv'", "groups", "no defaults");
  }

  @Test
  void wronglyTypedAttributes() throws IOException {
    Map<String, Object> m = small().manifest();
    sub(node(m, "conv"), "attrs").put("stride", 1);
    fails(ErrorCode.INVALID_ATTRIBUTE, m, "stride", "int2");
    m = small().manifest();
    sub(node(m, "conv"), "attrs").put("groups", 1.5);
    fails(ErrorCode.INVALID_ATTRIBUTE, m, "groups");
    m = small().manifest();
    sub(node(m, "pool"), "attrs").put("keepdims", 0);
    fails(ErrorCode.INVALID_ATTRIBUTE, m, "keepdims", "bool");
    m = small().manifest();
    sub(node(m, "conv"), "attrs").put("kernel_size", new int[] {1, 1, 1});
    fails(ErrorCode.INVALID_ATTRIBUTE, m, "kernel_size");
    m = small().manifest();
    sub(node(m, "conv"), "attrs").put("padding", "same");
    fails(ErrorCode.INVALID_ATTRIBUTE, m, "padding");
  }

  @Test
  void extraAttributeAndParameterSlot() throws IOException {
    Map<String, Object> m = small().manifest();
    sub(node(m, "act"), "attrs").put("inplace", false);
    fails(ErrorCode.INVALID_ATTRIBUTE, m, "inplace");
    m = small().manifest();
    sub(node(m, "fc"), "params").put("scale", "fc.w");
    fails(ErrorCode.INVALID_PARAMETER, m, "scale");
    m = small().manifest();
    sub(node(m, "fc"), "params").remove("bias");
    fails(ErrorCode.INVALID_PARAMETER, m, "bias");
    m = small().manifest();
    sub(node(m, "fc"), "params").put("weight", null);
    fails(ErrorCode.INVALID_PARAMETER, m, "required");
  }

  @Test
  void parameterShapeAndOutputShapeChecked() throws IOException {
    Map<String, Object> m = small().manifest();
    sub(node(m, "fc"), "attrs").put("out_features", 2);
    fails(ErrorCode.INVALID_PARAMETER, m, "node 'fc'", "[3, 2]");
    m = small().manifest();
    node(m, "conv").put("output_shape", new int[] {2, 2, 3});
    fails(ErrorCode.SHAPE_MISMATCH, m, "node 'conv'", "output_shape");
    m = small().manifest();
    sub(m, "output").put("shape", new int[] {4});
    fails(ErrorCode.INVALID_MANIFEST, m, "classes");
  }

  @Test
  void hugeActivationsRefusedAtLoadNotAtPredict() throws IOException {
    Map<String, Object> m = small().manifest();
    int big = 1 << 20;
    sub(node(m, "conv"), "attrs").put("padding", new int[] {big, big});
    node(m, "conv").put("output_shape", new int[] {2, 2 * big + 2, 2 * big + 2});
    fails(ErrorCode.SHAPE_MISMATCH, m, "node 'conv'", "exceeds");
    m = small().manifest();
    sub(node(m, "conv"), "attrs").put("padding", new int[] {1 << 30, 1});
    fails(ErrorCode.SHAPE_MISMATCH, m, "node 'conv'", "too large");
  }

  @Test
  void graphWiring() throws IOException {
    Map<String, Object> m = small().manifest();
    node(m, "pool").put("inputs", List.of("nowhere"));
    fails(ErrorCode.INVALID_GRAPH, m, "node 'pool'", "nowhere");
    m = small().manifest();
    node(m, "act").put("outputs", List.of("conv"));
    fails(ErrorCode.INVALID_GRAPH, m, "already defined");
    m = small().manifest();
    sub(m, "output").put("name", "ghost");
    fails(ErrorCode.INVALID_GRAPH, m, "ghost");
    m = small().manifest();
    node(m, "act").put("name", "conv");
    fails(ErrorCode.INVALID_GRAPH, m, "not unique");
  }

  // ---- the weights file ----

  @Test
  void weightsOneByteShort() throws IOException {
    byte[] w = small().weights();
    failsWeights(ErrorCode.INVALID_SAFETENSORS, Arrays.copyOf(w, w.length - 1), "truncated");
  }

  @Test
  void weightsWithTrailingBytes() throws IOException {
    byte[] w = small().weights();
    failsWeights(ErrorCode.INVALID_SAFETENSORS, Arrays.copyOf(w, w.length + 4), "trailing");
  }

  private static String header(String... entries) {
    return "{" + String.join(",", entries) + "}";
  }

  private static String entry(String name, String dtype, String shape, long b, long e) {
    return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape
        + ",\"data_offsets\":[" + b + "," + e + "]}";
  }

  @Test
  void weightsWithOverlappingOffsets() throws IOException {
    byte[] w = Fixture.safetensors(header(entry("x", "F32", "[2]", 0, 8),
        entry("y", "F32", "[2]", 4, 12)), new byte[12]);
    failsWeights(ErrorCode.INVALID_SAFETENSORS, w, "overlaps");
  }

  @Test
  void weightsWithGappedOffsets() throws IOException {
    byte[] w = Fixture.safetensors(header(entry("x", "F32", "[2]", 0, 8),
        entry("y", "F32", "[2]", 12, 20)), new byte[20]);
    failsWeights(ErrorCode.INVALID_SAFETENSORS, w, "gap");
  }

  @Test
  void weightsShapeOverflowing64Bits() throws IOException {
    byte[] w = Fixture.safetensors(
        header(entry("x", "F32", "[4294967296,4294967296,16]", 0, 8)), new byte[8]);
    failsWeights(ErrorCode.INVALID_SAFETENSORS, w, "overflows 64 bits");
  }

  @Test
  void weightsShapeTimesDtypeDisagreesWithOffsets() throws IOException {
    byte[] w = Fixture.safetensors(header(entry("x", "F32", "[3]", 0, 8)), new byte[8]);
    failsWeights(ErrorCode.INVALID_SAFETENSORS, w, "shape x dtype");
  }

  @Test
  void weightsHeaderLengthLargerThanFile() throws IOException {
    byte[] w = small().weights();
    ByteBuffer.wrap(w).order(ByteOrder.LITTLE_ENDIAN).putLong(0, w.length);
    failsWeights(ErrorCode.INVALID_SAFETENSORS, w, "header length");
    ByteBuffer.wrap(w).order(ByteOrder.LITTLE_ENDIAN).putLong(0, Long.MAX_VALUE);
    failsWeights(ErrorCode.INVALID_SAFETENSORS, w, "header length");
  }

  @Test
  void weightsHeaderPaddedWithNonSpace() throws IOException {
    byte[] h = (header(entry("x", "F32", "[2]", 0, 8)) + "\0\0\0").getBytes(StandardCharsets.UTF_8);
    ByteBuffer b = ByteBuffer.allocate(8 + h.length + 8).order(ByteOrder.LITTLE_ENDIAN);
    b.putLong(h.length).put(h).put(new byte[8]);
    failsWeights(ErrorCode.INVALID_SAFETENSORS, b.array(), "header");
  }

  @Test
  void weightsSizeAndChecksumChecked() throws IOException {
    Fixture f = small();
    Map<String, Object> m = f.manifest();
    sub(m, "weights").put("bytes", 12345);
    fails(ErrorCode.WEIGHTS_SIZE_MISMATCH, m, f.weights(), "12345");
    m = f.manifest();
    sub(m, "weights").put("sha256", "0".repeat(64));
    fails(ErrorCode.WEIGHTS_CHECKSUM_MISMATCH, m, f.weights(), "SHA-256");
  }

  @Test
  void tensorMissingFromWeights() throws IOException {
    Map<String, Object> m = small().manifest();
    sub(node(m, "fc"), "params").put("bias", "fc.bias_typo");
    fails(ErrorCode.MISSING_TENSOR, m, "node 'fc'", "fc.bias_typo");
  }

  @Test
  void weightsPathOutsideTheFolder() throws IOException {
    for (String bad : List.of("../m.safetensors", "/etc/passwd", "sub/m.safetensors",
        "..\\m.safetensors", "C:\\m.safetensors", "..")) {
      Map<String, Object> m = small().manifest();
      sub(m, "weights").put("file", bad);
      sub(m, "weights").put("bytes", 1);
      sub(m, "weights").put("sha256", "0".repeat(64));
      fails(ErrorCode.UNSAFE_PATH, m, "bare file name");
    }
  }

  @Test
  void nonFiniteWeightsRefused() throws IOException {
    Fixture f = small();
    f.tensor("fc.b", new int[] {3}, 0, Float.NaN, 0);
    fails(ErrorCode.NON_FINITE_WEIGHT, f.manifest(), f.weights(), "fc.b", "NaN");
    f.tensor("fc.b", new int[] {3}, 0, Float.POSITIVE_INFINITY, 0);
    fails(ErrorCode.NON_FINITE_WEIGHT, f.manifest(), f.weights(), "Infinity");
  }

  @Test
  void unsupportedDtypeRefusedByName() throws IOException {
    Fixture f = small();
    f.tensors.put("fc.b", new Fixture.Raw("I32", new long[] {3}, new byte[12]));
    fails(ErrorCode.UNSUPPORTED_DTYPE, f.manifest(), f.weights(), "fc.b", "I32");
    f.tensors.put("fc.b", new Fixture.Raw("Q4", new long[] {3}, new byte[12]));
    fails(ErrorCode.INVALID_SAFETENSORS, f.manifest(), f.weights(), "Q4");
  }

  @Test
  void f16WeightsAreWidened() throws IOException {
    Fixture f = small();
    ByteBuffer b = ByteBuffer.allocate(6).order(ByteOrder.LITTLE_ENDIAN);
    b.putShort((short) 0x3c00).putShort((short) 0xc000).putShort((short) 0x3800); // 1, -2, 0.5
    f.tensors.put("fc.b", new Fixture.Raw("F16", new long[] {3}, b.array()));
    Path d = Files.createTempDirectory(dir, "f16");
    Model m = Model.load(Fixture.write(d, f.manifest(), f.weights()));
    float[] fc = m.runLayers(new float[4]).get("fc");
    // input 0 -> conv gives the biases 0.1, 0.2 -> relu -> pool -> fc: W x + (1, -2, 0.5)
    assertArrayEquals(new float[] {0.1f + 1, 0.2f - 2, 0.3f + 0.5f}, fc, 1e-6f);
    assertEquals(0.5f, SafeTensors.halfToFloat((short) 0x3800));
    assertEquals(65504f, SafeTensors.halfToFloat((short) 0x7bff));
    assertEquals(0x1p-24f, SafeTensors.halfToFloat((short) 0x0001));
  }

  // ---- hostile JSON ----

  @Test
  void manifestNested10000Deep() throws IOException {
    String deep = "[".repeat(10_000) + "]".repeat(10_000);
    Path p = dir.resolve("m.manifest.json");
    Files.writeString(p, "{\"format\":\"pd2java.manifest\",\"format_version\":1,\"x\":" + deep
        + "}");
    Pd2JavaException e = assertThrows(Pd2JavaException.class, () -> Model.load(p));
    assertEquals(ErrorCode.LIMIT_EXCEEDED, e.code());
    assertTrue(e.getMessage().contains("nesting"), e.getMessage());
  }

  @Test
  void manifestWithMillionDigitNumber() throws IOException {
    Path p = dir.resolve("m.manifest.json");
    Files.writeString(p, "{\"format\":\"pd2java.manifest\",\"format_version\":"
        + "9".repeat(1_000_000) + "}");
    Pd2JavaException e = assertThrows(Pd2JavaException.class, () -> Model.load(p));
    assertEquals(ErrorCode.LIMIT_EXCEEDED, e.code());
    assertTrue(e.getMessage().contains("number longer"), e.getMessage());
  }

  @Test
  void manifestNotValidJson() throws IOException {
    Path p = dir.resolve("m.manifest.json");
    Files.writeString(p, "{\"format\": \"pd2java.manifest\", \"format\": \"x\"}");
    Pd2JavaException e = assertThrows(Pd2JavaException.class, () -> Model.load(p));
    assertEquals(ErrorCode.INVALID_JSON, e.code());
    assertTrue(e.getMessage().contains("duplicate key"), e.getMessage());
    Files.writeString(p, "{} x");
    assertEquals(ErrorCode.INVALID_JSON,
        assertThrows(Pd2JavaException.class, () -> Model.load(p)).code());
  }

  @Test
  void missingManifestFile() {
    Pd2JavaException e = assertThrows(Pd2JavaException.class,
        () -> Model.load(dir.resolve("absent.manifest.json")));
    assertEquals(ErrorCode.IO_ERROR, e.code());
    assertNotNull(e.getCause());
  }

  // ---- golden self-test ----

  private Fixture withGolden(float delta) {
    Fixture f = small();
    Path d;
    try {
      d = Files.createTempDirectory(dir, "g");
      Model m = Model.load(Fixture.write(d, f.manifest(), f.weights()));
      float[] x = {0.1f, 0.5f, -0.3f, 0.9f, 1, 2, 3, 4};
      float[] y = m.predictBatch(x, 2);
      y[4] += delta;
      return f.golden(2, x, y, 1e-5, 1e-4);
    } catch (IOException e) {
      throw new AssertionError(e);
    }
  }

  @Test
  void goldenSelfTestPassesAndFails() throws IOException {
    Path ok = Files.createTempDirectory(dir, "ok");
    Fixture good = withGolden(0f);
    assertNotNull(Model.load(Fixture.write(ok, good.manifest(), good.weights())));
    Fixture bad = withGolden(0.01f);
    Pd2JavaException e = fails(ErrorCode.SELF_TEST_FAILED, bad.manifest(), bad.weights(),
        "golden sample 1, output 1");
    assertNotNull(e);
    Path off = Files.createTempDirectory(dir, "off");
    Path p = Fixture.write(off, bad.manifest(), bad.weights());
    assertNotNull(Model.load(p, LoadOptions.defaults().withSelfTest(false)));
  }

  @Test
  void goldenTensorsAreValidatedEvenWithoutSelfTest() throws IOException {
    Fixture f = withGolden(0f);
    Map<String, Object> m = f.manifest();
    sub(m, "golden").put("count", 3);
    Path d = Files.createTempDirectory(dir, "gc");
    Path p = Fixture.write(d, m, f.weights());
    Pd2JavaException e = assertThrows(Pd2JavaException.class,
        () -> Model.load(p, LoadOptions.defaults().withSelfTest(false)));
    assertEquals(ErrorCode.SHAPE_MISMATCH, e.code());
  }
}
