package org.pd2java.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.pd2java.runtime.Fixture.map;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
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

  /** Output {@code k} of a version-2 manifest. */
  @SuppressWarnings("unchecked")
  static Map<String, Object> output(Map<String, Object> m, int k) {
    return ((List<Map<String, Object>>) m.get("outputs")).get(k);
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
    m.put("format_version", FormatRules.FORMAT_VERSION + 1);
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
    node(m, "act").put("op", "fake");
    fails(ErrorCode.UNKNOWN_OP, m, "node 'act'", "fake@1", "relu@1", "conv2d@1");
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
    output(m, 0).put("shape", new int[] {4});
    fails(ErrorCode.SHAPE_MISMATCH, m, "output 0", "[4]");
    m = small().manifest();
    m.put("classes", List.of("a", "b"));
    fails(ErrorCode.INVALID_MANIFEST, m, "classes");
  }

  @Test
  void hugeActivationsRefusedAtLoadNotAtPredict() throws IOException {
    Map<String, Object> m = small().manifest();
    int big = 1 << 20;
    sub(node(m, "conv"), "attrs").put("padding", new int[] {big, big});
    node(m, "conv").put("output_shape", new int[] {2, 2 * big + 2, 2 * big + 2});
    fails(ErrorCode.LIMIT_EXCEEDED, m, "node 'conv'", "MAX_VALUE_ELEMENTS");
    m = small().manifest();
    sub(node(m, "conv"), "attrs").put("padding", new int[] {1 << 30, 1});
    fails(ErrorCode.LIMIT_EXCEEDED, m, "node 'conv'", "height output extent");
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
    output(m, 0).put("name", "ghost");
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
    // Over the header limit: refused from the length alone, before the file size matters.
    ByteBuffer.wrap(w).order(ByteOrder.LITTLE_ENDIAN).putLong(0, Long.MAX_VALUE);
    failsWeights(ErrorCode.LIMIT_EXCEEDED, w, "header length", "MAX_HEADER_BYTES");
    ByteBuffer.wrap(w).order(ByteOrder.LITTLE_ENDIAN).putLong(0, -1L); // 2^64 - 1, unsigned
    failsWeights(ErrorCode.LIMIT_EXCEEDED, w, "18446744073709551615");
  }

  @Test
  void weightsHeaderPaddedWithMoreThanTheLimitOfSpaces() throws IOException {
    // A valid header followed by 17 MiB of spaces: a typed limit error, not a parse of it all.
    int pad = (int) FormatRules.MAX_HEADER_BYTES + (1 << 20);
    byte[] h = header(entry("x", "F32", "[2]", 0, 8)).getBytes(StandardCharsets.UTF_8);
    ByteBuffer b = ByteBuffer.allocate(8 + h.length + pad + 8).order(ByteOrder.LITTLE_ENDIAN);
    b.putLong(h.length + pad).put(h);
    for (int i = 0; i < pad; i++) {
      b.put((byte) ' ');
    }
    failsWeights(ErrorCode.LIMIT_EXCEEDED, b.array(), "MAX_HEADER_BYTES");
  }

  @Test
  void weightsHeaderMustStartWithABraceAndEndInSpacesOnly() throws IOException {
    byte[] lead = Fixture.safetensors(" " + header(entry("x", "F32", "[2]", 0, 8)), new byte[8]);
    failsWeights(ErrorCode.INVALID_SAFETENSORS, lead, "starting at byte 8");
    for (String pad : List.of("\t", "\n", "\r", "\0", "\n  ")) {
      byte[] h = (header(entry("x", "F32", "[2]", 0, 8)) + pad).getBytes(StandardCharsets.UTF_8);
      ByteBuffer b = ByteBuffer.allocate(8 + h.length + 8).order(ByteOrder.LITTLE_ENDIAN);
      b.putLong(h.length).put(h).put(new byte[8]);
      failsWeights(ErrorCode.INVALID_SAFETENSORS, b.array(), "only by spaces");
    }
    // Invalid JSON inside the header is INVALID_JSON, naming the weights file.
    byte[] broken = Fixture.safetensors("{\"x\":{\"dtype\":\"F32\",}}", new byte[0]);
    failsWeights(ErrorCode.INVALID_JSON, broken, "safetensors header");
  }

  @Test
  void weightsWith300000TensorsRefusedWithoutBuildingThemAll() throws IOException {
    StringBuilder sb = new StringBuilder("{");
    for (int i = 0; i < 300_000; i++) {
      if (i > 0) {
        sb.append(',');
      }
      sb.append('"').append(Integer.toString(i, 36))
          .append("\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}");
    }
    String h = sb.append('}').toString();
    assertTrue(h.length() < FormatRules.MAX_HEADER_BYTES, "the header itself is within its limit");
    failsWeights(ErrorCode.LIMIT_EXCEEDED, Fixture.safetensors(h, new byte[0]), "100001");
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
  void weightsFileMissing() throws IOException {
    Map<String, Object> m = small().manifest();
    sub(m, "weights").put("file", "absent.safetensors");
    sub(m, "weights").put("bytes", 1);
    sub(m, "weights").put("sha256", "0".repeat(64));
    Path d = Files.createTempDirectory(dir, "missing");
    Path p = Fixture.write(d, m, new byte[0]);
    Files.delete(d.resolve("absent.safetensors"));
    assertEquals(ErrorCode.IO_ERROR,
        assertThrows(Pd2JavaException.class, () -> Model.load(p)).code());
  }

  @Test
  void weightsNameMayStartWithATilde() throws IOException {
    Fixture f = small();
    Map<String, Object> m = f.manifest();
    sub(m, "weights").put("file", "~m.safetensors");
    Path d = Files.createTempDirectory(dir, "tilde");
    assertNotNull(Model.load(Fixture.write(d, m, f.weights())));
  }

  /** Writes the small model into a new folder and returns its manifest path. */
  private Path written(String prefix) throws IOException {
    Fixture f = small();
    return Fixture.write(Files.createTempDirectory(dir, prefix), f.manifest(), f.weights());
  }

  private static Pd2JavaException loadFails(ErrorCode code, Path manifest, String... mention) {
    Pd2JavaException e = assertTimeoutPreemptively(Duration.ofSeconds(20),
        () -> assertThrows(Pd2JavaException.class, () -> Model.load(manifest)));
    assertEquals(code, e.code(), e.getMessage());
    for (String s : mention) {
      assertTrue(e.getMessage().contains(s), "'" + s + "' not in: " + e.getMessage());
    }
    return e;
  }

  @Test
  void weightsSymlinkLeavingTheFolderRefused() throws IOException {
    Path p = written("escape");
    Path outside = Files.createTempDirectory(dir, "outside").resolve("m.safetensors");
    Files.move(p.resolveSibling("m.safetensors"), outside);
    try {
      Files.createSymbolicLink(p.resolveSibling("m.safetensors"), outside);
    } catch (UnsupportedOperationException | IOException e) {
      Assumptions.abort("symbolic links unavailable: " + e);
    }
    loadFails(ErrorCode.UNSAFE_PATH, p, "outside the export folder");
  }

  @Test
  void weightsSymlinkToASiblingIsFine() throws IOException {
    Path p = written("sibling");
    Path real = p.resolveSibling("real.safetensors");
    Files.move(p.resolveSibling("m.safetensors"), real);
    try {
      Files.createSymbolicLink(p.resolveSibling("m.safetensors"), Path.of("real.safetensors"));
    } catch (UnsupportedOperationException | IOException e) {
      Assumptions.abort("symbolic links unavailable: " + e);
    }
    assertNotNull(Model.load(p));
  }

  @Test
  void weightsSymlinkToDevZeroRefusedWithoutReadingIt() throws IOException {
    Assumptions.assumeTrue(Files.exists(Path.of("/dev/zero")), "no /dev/zero");
    Path p = written("devzero");
    Files.delete(p.resolveSibling("m.safetensors"));
    try {
      Files.createSymbolicLink(p.resolveSibling("m.safetensors"), Path.of("/dev/zero"));
    } catch (UnsupportedOperationException | IOException e) {
      Assumptions.abort("symbolic links unavailable: " + e);
    }
    loadFails(ErrorCode.UNSAFE_PATH, p, "m.safetensors");
  }

  /** Makes a FIFO with mkfifo, or skips the test where there is none. */
  private static void mkfifo(Path path) {
    try {
      Process pr = new ProcessBuilder("mkfifo", path.toString()).redirectErrorStream(true).start();
      Assumptions.assumeTrue(pr.waitFor() == 0 && Files.exists(path), "mkfifo failed");
    } catch (IOException e) {
      Assumptions.abort("mkfifo unavailable: " + e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      Assumptions.abort("interrupted");
    }
  }

  @Test
  void weightsFifoRefusedWithoutBlocking() throws IOException {
    Path p = written("fifo");
    Files.delete(p.resolveSibling("m.safetensors"));
    mkfifo(p.resolveSibling("m.safetensors"));
    loadFails(ErrorCode.UNSAFE_PATH, p, "not a regular file");
  }

  @Test
  void manifestMustBeARegularFile() throws IOException {
    Path d = Files.createTempDirectory(dir, "mdir");
    Path asDir = Files.createDirectory(d.resolve("m.manifest.json"));
    loadFails(ErrorCode.UNSAFE_PATH, asDir, "not a regular file");
    Path fifo = d.resolve("f.manifest.json");
    mkfifo(fifo);
    loadFails(ErrorCode.UNSAFE_PATH, fifo, "not a regular file");
  }

  @Test
  void manifestOverTheSizeLimitRefusedBeforeReading() throws IOException {
    Path p = dir.resolve("big.manifest.json");
    try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
      f.setLength(FormatRules.MAX_MANIFEST_BYTES + 1); // sparse: no need to write it
    }
    loadFails(ErrorCode.LIMIT_EXCEEDED, p, "MAX_MANIFEST_BYTES");
  }

  @Test
  void weightsOverTheSizeLimitRefusedBeforeReading() throws IOException {
    Path p = written("bigw");
    long size = FormatRules.MAX_WEIGHTS_BYTES + 1;
    try (RandomAccessFile f = new RandomAccessFile(p.resolveSibling("m.safetensors").toFile(),
        "rw")) {
      f.setLength(size); // sparse
    }
    Map<String, Object> m = small().manifest();
    sub(m, "weights").put("bytes", size);
    sub(m, "weights").put("sha256", "0".repeat(64));
    Files.writeString(p, Fixture.json(m));
    loadFails(ErrorCode.LIMIT_EXCEEDED, p, "MAX_WEIGHTS_BYTES");
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
  void f16WeightsRefusedButUnreferencedTensorsMayHaveAnyKnownDtype() throws IOException {
    Fixture f = small();
    f.tensors.put("fc.b", new Fixture.Raw("F16", new long[] {3}, new byte[6]));
    fails(ErrorCode.UNSUPPORTED_DTYPE, f.manifest(), f.weights(), "fc.b", "F16", "F32");
    Fixture g = small();
    g.tensors.put("extra.half", new Fixture.Raw("F16", new long[] {3}, new byte[6]));
    g.tensors.put("extra.int", new Fixture.Raw("I64", new long[] {1}, new byte[8]));
    Path d = Files.createTempDirectory(dir, "extra");
    assertNotNull(Model.load(Fixture.write(d, g.manifest(), g.weights())));
  }

  @Test
  void goldenTensorDtypeAndValuesChecked() throws IOException {
    Fixture f = withGolden(0f);
    f.tensors.put("golden.output", new Fixture.Raw("F16", new long[] {2, 3}, new byte[12]));
    fails(ErrorCode.UNSUPPORTED_DTYPE, f.manifest(), f.weights(), "golden.output");
    Fixture g = withGolden(Float.NaN);
    fails(ErrorCode.NON_FINITE_WEIGHT, g.manifest(), g.weights(), "golden.output", "NaN");
  }

  @Test
  void goldenCountAndTolerancesChecked() throws IOException {
    for (Object[] bad : new Object[][] {
        {"count", 0}, {"count", FormatRules.MAX_GOLDEN_COUNT + 1}, {"count", 2.0},
        {"atol", -1e-5}, {"rtol", -1.0}, {"atol", "0"}}) {
      Fixture f = withGolden(0f);
      Map<String, Object> m = f.manifest();
      sub(m, "golden").put((String) bad[0], bad[1]);
      fails(ErrorCode.INVALID_MANIFEST, m, f.weights(), "golden." + bad[0]);
    }
    Fixture f = withGolden(0f);
    Map<String, Object> m = f.manifest();
    sub(m, "golden").remove("rtol");
    fails(ErrorCode.INVALID_MANIFEST, m, f.weights(), "golden.rtol");
  }

  // ---- value rules of ops and names ----

  @Test
  void batchNormEpsMustBePositive() throws IOException {
    for (double eps : new double[] {0.0, -1e-5}) {
      Map<String, Object> m = ModelTest.cnn().manifest();
      sub(node(m, "bn"), "attrs").put("eps", eps);
      fails(ErrorCode.INVALID_ATTRIBUTE, m, ModelTest.cnn().weights(), "node 'bn'", "eps");
    }
  }

  @Test
  void negativeRunningVarianceRefusedFromTheOpTable() throws IOException {
    Fixture f = ModelTest.cnn();
    f.tensor("bn.v", new int[] {4}, 0.5f, 1, -0.25f, 2);
    fails(ErrorCode.INVALID_PARAMETER, f.manifest(), f.weights(), "node 'bn'", "running_var",
        "-0.25", ">= 0");
    // Zero (and -0.0) is a valid variance: eps keeps the denominator positive.
    Fixture z = ModelTest.cnn();
    z.tensor("bn.v", new int[] {4}, 0f, -0f, 1, 2);
    Path d = Files.createTempDirectory(dir, "zero");
    assertNotNull(Model.load(Fixture.write(d, z.manifest(), z.weights())));
  }

  @Test
  void softmaxDimMustBeAPositivePerSampleAxis() throws IOException {
    for (int dim : new int[] {-1, 0, 2}) {
      Map<String, Object> m = small().manifest();
      sub(node(m, "prob"), "attrs").put("dim", dim);
      fails(ErrorCode.INVALID_ATTRIBUTE, m, "node 'prob'", "dim " + dim);
    }
  }

  @Test
  void emptyNamesRefused() throws IOException {
    Map<String, Object> m = small().manifest();
    node(m, "act").put("name", "");
    fails(ErrorCode.INVALID_GRAPH, m, "nodes[1].name", "empty");
    m = small().manifest();
    node(m, "act").put("outputs", List.of(""));
    fails(ErrorCode.INVALID_GRAPH, m, "node 'act'", "empty");
    m = small().manifest();
    node(m, "act").put("inputs", List.of(""));
    fails(ErrorCode.INVALID_GRAPH, m, "node 'act'", "empty");
    m = small().manifest();
    sub(m, "input").put("name", "");
    fails(ErrorCode.INVALID_GRAPH, m, "input.name");
    m = small().manifest();
    output(m, 0).put("name", "");
    fails(ErrorCode.INVALID_GRAPH, m, "outputs/0.name");
  }

  @Test
  void emptyNodesAndTooManyNodes() throws IOException {
    Map<String, Object> m = small().manifest();
    m.put("nodes", List.of());
    fails(ErrorCode.INVALID_GRAPH, m, "empty");
    m = small().manifest();
    Map<String, Object> relu = node(m, "act");
    List<Object> many = new ArrayList<>();
    for (int i = 0; i <= FormatRules.MAX_NODES; i++) {
      many.add(relu);
    }
    m.put("nodes", many);
    fails(ErrorCode.LIMIT_EXCEEDED, m, "MAX_NODES");
  }

  @Test
  void planLargerThanTheLimitRefusedAtLoad() throws IOException {
    // Each value is 2^24 floats (at the per-value limit); five of them pass the plan limit 2^26.
    Fixture f = new Fixture(1, 4096, 4096);
    int[] s = {1, 4096, 4096};
    f.node("r1", "relu", map(), s).node("r2", "relu", map(), s).node("r3", "relu", map(), s)
        .node("r4", "relu", map(), s).node("r5", "relu", map(), s);
    fails(ErrorCode.LIMIT_EXCEEDED, f.manifest(), f.weights(), "node 'r4'", "MAX_PLAN_ELEMENTS");
    Fixture g = new Fixture(1, 4097, 4096).node("r1", "relu", map(), new int[] {1, 4097, 4096});
    fails(ErrorCode.LIMIT_EXCEEDED, g.manifest(), g.weights(), "input shape",
        "MAX_VALUE_ELEMENTS");
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
        "golden sample 1, output 0 ('prob') element 1");
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
