package org.pd2java.runtime;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Builds small manifest + safetensors pairs inside a test folder, so the Java tests need no
 * Python. Tests may edit {@link #manifest()} (a mutable map tree) or the weights bytes before
 * writing, to produce each kind of bad input.
 */
final class Fixture {
  /** A tensor to write: dtype, shape and raw little-endian bytes. */
  record Raw(String dtype, long[] shape, byte[] data) {}

  final TreeMap<String, Raw> tensors = new TreeMap<>();
  final List<Map<String, Object>> nodes = new ArrayList<>();
  final int[] inputShape;
  String name = "m";
  List<String> classes = null;
  String outputKind = "probabilities";
  /** {@code input.image_convention}: null, or a record such as {@link #prpdConvention()}. */
  Map<String, Object> imageConvention = null;
  /**
   * The format version written: 2 (float32 weights), 3 (compressed weights allowed, with a
   * {@code quantization} object) or 1 (input [C, H, W], one [K] output).
   */
  int version = 2;
  /** Version 3's {@code quantization} object: int8 tensor name -> {"scale": tensor name}. */
  final Map<String, Object> quantization = new LinkedHashMap<>();
  Map<String, Object> golden = null;
  private String last = "input";
  private int[] lastShape;

  Fixture(int... inputShape) {
    this.inputShape = inputShape;
    this.lastShape = inputShape;
  }

  static byte[] f32(float... v) {
    ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
    for (float x : v) {
      b.putFloat(x);
    }
    return b.array();
  }

  /** IEEE half bit patterns as little-endian bytes. */
  static byte[] f16(short... bits) {
    ByteBuffer b = ByteBuffer.allocate(2 * bits.length).order(ByteOrder.LITTLE_ENDIAN);
    for (short x : bits) {
      b.putShort(x);
    }
    return b.array();
  }

  /** An F16 tensor of the given half bit patterns (the file must then be version 3). */
  Fixture half(String name, int[] shape, short... bits) {
    tensors.put(name, new Raw("F16", longs(shape), f16(bits)));
    return this;
  }

  /**
   * An I8 tensor with its F32 scale tensor {@code name + ".scale"} and its quantization entry
   * (the file must then be version 3).
   */
  Fixture int8(String name, int[] shape, byte[] q, float... scale) {
    tensors.put(name, new Raw("I8", longs(shape), q.clone()));
    tensors.put(name + ".scale", new Raw("F32", longs(scale.length), f32(scale)));
    quantization.put(name, map("scale", name + ".scale"));
    return this;
  }

  static long[] longs(int... shape) {
    return Arrays.stream(shape).asLongStream().toArray();
  }

  Fixture tensor(String name, int[] shape, float... data) {
    tensors.put(name, new Raw("F32", longs(shape), f32(data)));
    return this;
  }

  static Map<String, Object> map(Object... kv) {
    Map<String, Object> m = new LinkedHashMap<>();
    for (int i = 0; i < kv.length; i += 2) {
      m.put((String) kv[i], kv[i + 1]);
    }
    return m;
  }

  /** Adds a node fed by the previous node's output (or the explicit inputs). */
  Fixture node(String name, String op, Map<String, Object> attrs, Map<String, Object> params,
      int[] outShape, String... inputs) {
    Map<String, Object> n = new LinkedHashMap<>();
    n.put("name", name);
    n.put("op", op);
    n.put("version", 1);
    n.put("inputs", inputs.length == 0 ? List.of(last) : List.of(inputs));
    n.put("outputs", List.of(name));
    n.put("attrs", attrs);
    n.put("params", params);
    n.put("output_shape", outShape);
    nodes.add(n);
    last = name;
    lastShape = outShape;
    return this;
  }

  Fixture node(String name, String op, Map<String, Object> attrs, int[] outShape, String... in) {
    return node(name, op, attrs, map(), outShape, in);
  }

  /** Golden vectors: count samples of inputs with expected outputs. */
  Fixture golden(int count, float[] in, float[] out, double atol, double rtol) {
    int[] inShape = new int[inputShape.length + 1];
    inShape[0] = count;
    System.arraycopy(inputShape, 0, inShape, 1, inputShape.length);
    tensors.put("golden.input", new Raw("F32", longs(inShape), f32(in)));
    tensors.put("golden.output", new Raw("F32", longs(count, out.length / count), f32(out)));
    golden = map("input", "golden.input", "count", count, "atol", atol, "rtol", rtol);
    return this;
  }

  /** The golden entry in this fixture's format version. */
  private Map<String, Object> goldenEntry() {
    if (golden == null) {
      return null;
    }
    Map<String, Object> g = new LinkedHashMap<>(golden);
    if (version == 1) {
      g.put("output", "golden.output");
    } else {
      g.put("outputs", List.of("golden.output"));
    }
    return g;
  }

  /** This fixture written in format version {@code v}. */
  Fixture version(int v) {
    this.version = v;
    return this;
  }

  /** The safetensors bytes of {@link #tensors}, as a conforming writer produces them. */
  byte[] weights() {
    Map<String, Object> header = new TreeMap<>();
    long off = 0;
    for (Map.Entry<String, Raw> e : tensors.entrySet()) {
      Raw r = e.getValue();
      header.put(e.getKey(), map("dtype", r.dtype(), "shape", r.shape(),
          "data_offsets", new long[] {off, off + r.data().length}));
      off += r.data().length;
    }
    byte[] body = new byte[(int) off];
    int p = 0;
    for (Raw r : tensors.values()) {
      System.arraycopy(r.data(), 0, body, p, r.data().length);
      p += r.data().length;
    }
    return safetensors(json(header), body);
  }

  /** A safetensors file from a header text (padded with spaces to 8 bytes) and a body. */
  static byte[] safetensors(String header, byte[] body) {
    byte[] h = header.getBytes(StandardCharsets.UTF_8);
    int n = (h.length + 7) / 8 * 8;
    ByteBuffer b = ByteBuffer.allocate(8 + n + body.length).order(ByteOrder.LITTLE_ENDIAN);
    b.putLong(n);
    b.put(h);
    for (int i = h.length; i < n; i++) {
      b.put((byte) ' ');
    }
    b.put(body);
    return b.array();
  }

  /** pd2java's PRPD image convention record, as the exporter writes it. */
  static Map<String, Object> prpdConvention() {
    return map("shape", new int[] {60, 120}, "axis0", "amplitude bin, 0 = lowest, 59 = full scale",
        "axis1", "phase bin of 3 degrees, 0 = positive-going zero crossing",
        "value", "log1p(count) / max(log1p(count)) over the image; empty image stays zero",
        "png_rows", "row 0 of a PNG file is the top = highest amplitude");
  }

  /** The manifest as a mutable map tree (weights entry filled in by {@link #write}). */
  Map<String, Object> manifest() {
    List<Map<String, Object>> all = new ArrayList<>(nodes);
    String out = last;
    int[] outShape = lastShape;
    if (lastShape.length != 1) {
      int size = Arrays.stream(lastShape).reduce(1, (a, b) -> a * b);
      Map<String, Object> flat = map("name", "out_flat", "op", "flatten", "version", 1,
          "inputs", List.of(last), "outputs", List.of("out_flat"), "attrs", map(), "params", map(),
          "output_shape", new int[] {size});
      all.add(flat);
      out = "out_flat";
      outShape = new int[] {size};
    }
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("format", "pd2java.manifest");
    m.put("format_version", version);
    m.put("producer", map("name", "junit", "version", "0"));
    m.put("name", name);
    m.put("classes", classes);
    Map<String, Object> output =
        map("name", out, "shape", outShape, "dtype", "float32", "kind", outputKind);
    if (version == 1) {
      m.put("input", map("name", "input", "shape", inputShape, "dtype", "float32", "layout",
          "CHW", "image_convention", null));
      m.put("output", output);
    } else {
      m.put("input", map("name", "input", "shape", inputShape, "dtype", "float32",
          "image_convention", imageConvention));
      m.put("outputs", new ArrayList<>(List.of(output)));
    }
    m.put("transforms", List.of());
    m.put("weights", map("file", name + ".safetensors", "bytes", 0, "sha256", ""));
    if (version >= 3) {
      m.put("quantization", new LinkedHashMap<>(quantization));
    }
    m.put("nodes", all);
    m.put("golden", goldenEntry());
    return m;
  }

  /** Writes weights and manifest; weights.bytes and sha256 describe the bytes written. */
  static Path write(Path dir, Map<String, Object> manifest, byte[] weights) throws IOException {
    @SuppressWarnings("unchecked")
    Map<String, Object> w = (Map<String, Object>) manifest.get("weights");
    if (w != null && w.get("file") instanceof String f && !f.contains("/") && !f.contains("..")) {
      Files.write(dir.resolve(f), weights);
      if (Integer.valueOf(0).equals(w.get("bytes"))) {
        w.put("bytes", weights.length);
      }
      if ("".equals(w.get("sha256"))) {
        w.put("sha256", ManifestLoader.sha256(weights));
      }
    }
    Path p = dir.resolve("m.manifest.json");
    Files.writeString(p, json(manifest));
    return p;
  }

  Path write(Path dir) throws IOException {
    return write(dir, manifest(), weights());
  }

  Model load(Path dir) throws IOException {
    return Model.load(write(dir));
  }

  // ---- JSON, through the runtime's own writer ----

  static String json(Object v) {
    return Json.write(plain(v));
  }

  /** The fixture's map tree in the parser's model: Java null as Json.NULL, arrays as lists. */
  private static Object plain(Object v) {
    if (v == null) {
      return Json.NULL;
    } else if (v instanceof Map<?, ?> m) {
      Map<String, Object> out = new LinkedHashMap<>();
      m.forEach((k, x) -> out.put(String.valueOf(k), plain(x)));
      return out;
    } else if (v instanceof List<?> l) {
      return l.stream().map(Fixture::plain).toList();
    } else if (v instanceof int[] a) {
      return Arrays.stream(a).boxed().toList();
    } else if (v instanceof long[] a) {
      return Arrays.stream(a).boxed().toList();
    } else if (v instanceof float[] a) {
      List<Object> l = new ArrayList<>();
      for (float x : a) {
        l.add((double) x); // Double.toString is valid JSON for finite values
      }
      return l;
    }
    return v; // strings, numbers and booleans
  }
}
