package org.pd2java.runtime;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A safetensors reader applying every rule of FORMAT.md section 2 (the same rules as
 * safetensors' own {@code validate}, with pd2java's tighter limits): header length at most
 * {@link FormatRules#MAX_HEADER_BYTES}, header is a JSON object starting right after the length
 * and padded only with spaces, at most {@link FormatRules#MAX_TENSORS} tensors, known dtypes,
 * non-negative shapes, product(shape) x dtype size == byte length with overflow-checked
 * arithmetic, offsets contiguous from 0 to the end of the file with no gap, overlap or trailing
 * byte. Values are read little-endian explicitly. A tensor the manifest refers to must have a
 * dtype its reference takes (one of {@link FormatRules#WEIGHT_DTYPES}: a parameter slot's {@link
 * ParamSpec#dtypes} in format version 3; F32 for golden vectors, int8 scales and every tensor of
 * a version 1 or 2 file) and finite values; unreferenced tensors may have any known dtype and are
 * never decoded.
 */
final class SafeTensors {
  /** Every dtype safetensors defines, with its element size in bytes. */
  private static final Map<String, Integer> DTYPE_SIZES =
      Map.ofEntries(
          Map.entry("BOOL", 1),
          Map.entry("U8", 1),
          Map.entry("I8", 1),
          Map.entry("F8_E5M2", 1),
          Map.entry("F8_E4M3", 1),
          Map.entry("I16", 2),
          Map.entry("U16", 2),
          Map.entry("F16", 2),
          Map.entry("BF16", 2),
          Map.entry("I32", 4),
          Map.entry("U32", 4),
          Map.entry("F32", 4),
          Map.entry("F64", 8),
          Map.entry("I64", 8),
          Map.entry("U64", 8));

  /** One header entry. Offsets are absolute positions in the file. */
  record Entry(String name, String dtype, long[] shape, long begin, long end) {}

  private final String file;
  private final byte[] bytes;
  private final Map<String, Entry> entries;

  private SafeTensors(String file, byte[] bytes, Map<String, Entry> entries) {
    this.file = file;
    this.bytes = bytes;
    this.entries = entries;
  }

  private static Pd2JavaException bad(String file, String rule) {
    return new Pd2JavaException(ErrorCode.INVALID_SAFETENSORS, file, null, rule);
  }

  private static Pd2JavaException limit(String file, String rule) {
    return new Pd2JavaException(ErrorCode.LIMIT_EXCEEDED, file, null, rule);
  }

  /**
   * Validates a whole safetensors file held in memory.
   *
   * @param file file name for messages
   * @param bytes the file's bytes
   * @return the validated reader
   */
  static SafeTensors parse(String file, byte[] bytes) {
    if (bytes.length < 8) {
      throw bad(file, "file is " + bytes.length + " bytes, shorter than the 8-byte header length");
    }
    long n = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    // Unsigned: a length >= 2^63 reads as negative and is over the limit too. Checked before
    // anything of that size is touched.
    if (n < 0 || n > FormatRules.MAX_HEADER_BYTES) {
      throw limit(
          file,
          "header length " + Long.toUnsignedString(n) + " exceeds the limit of "
              + FormatRules.MAX_HEADER_BYTES + " bytes (MAX_HEADER_BYTES)");
    }
    if (8 + n > bytes.length) {
      throw bad(
          file,
          "header length " + n + " runs past the end of the " + bytes.length + "-byte file");
    }
    int headerEnd = (int) (8 + n);
    if (n == 0 || bytes[8] != '{') {
      throw bad(file, "the header must be a JSON object starting at byte 8 (with '{')");
    }
    // Padding: trailing spaces only (safetensors pads the header to a multiple of 8).
    int jsonEnd = headerEnd;
    while (bytes[jsonEnd - 1] == 0x20) {
      jsonEnd--;
    }
    if (bytes[jsonEnd - 1] != '}') {
      throw bad(
          file,
          "the header JSON object may be followed only by spaces (0x20), found byte 0x"
              + String.format("%02x", bytes[jsonEnd - 1] & 0xff) + " at " + (jsonEnd - 1));
    }
    Object header = Json.parse(bytes, 8, jsonEnd - 8, file + " (safetensors header)",
        Json.Limits.HEADER);
    if (!(header instanceof Map)) {
      throw bad(file, "header is not a JSON object");
    }
    Map<String, Object> top = Model.asMap(header);
    int tensors = top.size() - (top.containsKey("__metadata__") ? 1 : 0);
    if (tensors > FormatRules.MAX_TENSORS) {
      throw limit(
          file,
          "header holds " + tensors + " tensors; the limit is " + FormatRules.MAX_TENSORS
              + " (MAX_TENSORS)");
    }
    Map<String, Entry> entries = new HashMap<>();
    List<Entry> ordered = new ArrayList<>();
    long bufferLen = bytes.length - (long) headerEnd;
    for (Map.Entry<String, Object> kv : top.entrySet()) {
      String name = kv.getKey();
      if (name.equals("__metadata__")) {
        if (!(kv.getValue() instanceof Map)) {
          throw bad(file, "__metadata__ is not an object");
        }
        for (Map.Entry<String, Object> m : Model.asMap(kv.getValue()).entrySet()) {
          if (!(m.getValue() instanceof String)) {
            throw bad(file, "__metadata__ value '" + m.getKey() + "' is not a string");
          }
        }
        continue;
      }
      Entry e = entry(file, name, kv.getValue(), headerEnd);
      entries.put(name, e);
      ordered.add(e);
    }
    ordered.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
    long expected = headerEnd;
    for (Entry e : ordered) {
      if (e.begin() != expected) {
        String what = e.begin() < expected ? "overlaps the previous tensor" : "leaves a gap";
        throw bad(
            file,
            "tensor '"
                + e.name()
                + "' data_offsets begin at "
                + (e.begin() - headerEnd)
                + " but the previous tensor ends at "
                + (expected - headerEnd)
                + ": "
                + what
                + " (offsets must be contiguous)");
      }
      expected = e.end();
    }
    if (expected != bytes.length) {
      long end = expected - headerEnd;
      if (expected < bytes.length) {
        throw bad(
            file,
            "tensors end at buffer offset " + end + " but the buffer holds " + bufferLen
                + " bytes: trailing bytes");
      }
      throw bad(
          file,
          "tensors end at buffer offset " + end + " but the buffer holds only " + bufferLen
              + " bytes: file truncated");
    }
    return new SafeTensors(file, bytes, entries);
  }

  private static Entry entry(String file, String name, Object raw, int headerEnd) {
    if (!(raw instanceof Map)) {
      throw bad(file, "tensor '" + name + "' is not an object");
    }
    Map<String, Object> m = Model.asMap(raw);
    for (String k : m.keySet()) {
      if (!k.equals("dtype") && !k.equals("shape") && !k.equals("data_offsets")) {
        throw bad(file, "tensor '" + name + "' has unknown key '" + k + "'");
      }
    }
    Object dtype = m.get("dtype");
    if (!(dtype instanceof String)) {
      throw bad(file, "tensor '" + name + "' has no string dtype");
    }
    Integer size = DTYPE_SIZES.get(dtype);
    if (size == null) {
      throw bad(
          file,
          "tensor '" + name + "' has unknown dtype '" + dtype + "'; known: "
              + new java.util.TreeSet<>(DTYPE_SIZES.keySet()));
    }
    Object shapeRaw = m.get("shape");
    if (!(shapeRaw instanceof List)) {
      throw bad(file, "tensor '" + name + "' has no shape array");
    }
    List<?> shapeList = (List<?>) shapeRaw;
    long[] shape = new long[shapeList.size()];
    long count = 1;
    for (int i = 0; i < shape.length; i++) {
      Object d = shapeList.get(i);
      if (!(d instanceof Long) || (Long) d < 0) {
        throw bad(
            file, "tensor '" + name + "' shape entry " + i + " is not a non-negative integer");
      }
      shape[i] = (Long) d;
      try {
        count = Math.multiplyExact(count, shape[i]);
      } catch (ArithmeticException ex) {
        throw bad(file, "tensor '" + name + "' element count overflows 64 bits");
      }
    }
    long nbytes;
    try {
      nbytes = Math.multiplyExact(count, (long) size);
    } catch (ArithmeticException ex) {
      throw bad(file, "tensor '" + name + "' byte size overflows 64 bits");
    }
    Object offRaw = m.get("data_offsets");
    if (!(offRaw instanceof List) || ((List<?>) offRaw).size() != 2) {
      throw bad(file, "tensor '" + name + "' data_offsets is not [begin, end]");
    }
    List<?> off = (List<?>) offRaw;
    if (!(off.get(0) instanceof Long) || !(off.get(1) instanceof Long)) {
      throw bad(file, "tensor '" + name + "' data_offsets are not integers");
    }
    long begin = (Long) off.get(0);
    long end = (Long) off.get(1);
    if (begin < 0 || end < begin) {
      throw bad(file, "tensor '" + name + "' data_offsets [" + begin + ", " + end + "] invalid");
    }
    if (end - begin != nbytes) {
      throw bad(
          file,
          "tensor '" + name + "' shape x dtype is " + nbytes + " bytes but data_offsets span "
              + (end - begin));
    }
    return new Entry(name, (String) dtype, shape, begin + headerEnd, end + headerEnd);
  }

  /** @return the entry for a tensor name, or null */
  Entry entry(String name) {
    return entries.get(name);
  }

  /**
   * Decodes a float32-only tensor (a golden vector or an int8 weight's scale), refusing any other
   * dtype and NaN or infinity.
   *
   * @param name tensor name
   * @param node the node referring to it, or null (golden vectors)
   * @param what who refers to it, for messages
   * @return the tensor
   */
  Tensor floats(String name, String node, String what) {
    WeightTensor t = weight(name, node, what, FormatRules.FP32_WEIGHT_DTYPES);
    return new Tensor(name, t.shape, t.floats());
  }

  /**
   * Decodes a referenced tensor in its stored form: F32 to {@code float[]}, F16 to its 16-bit
   * patterns, I8 to its bytes (an {@link WeightTensor.I8} without scales yet: the loader adds
   * them). Refuses a missing tensor (MISSING_TENSOR), a dtype outside {@code allowed}
   * (UNSUPPORTED_DTYPE) and a float NaN or infinity (NON_FINITE_WEIGHT). The arrays are copies:
   * nothing keeps the file's bytes alive.
   *
   * @param name tensor name
   * @param node the node referring to it, or null (golden vectors)
   * @param what who refers to it, for messages
   * @param allowed the dtypes the reference takes (a slot's in format version 3, else F32)
   * @return the tensor
   */
  WeightTensor weight(String name, String node, String what, List<String> allowed) {
    Entry e = entries.get(name);
    if (e == null) {
      throw new Pd2JavaException(
          ErrorCode.MISSING_TENSOR,
          file,
          node,
          what + " tensor '" + name + "' is not in the weights file");
    }
    if (!allowed.contains(e.dtype())) {
      throw new Pd2JavaException(
          ErrorCode.UNSUPPORTED_DTYPE,
          file,
          node,
          what + " tensor '" + name + "' has dtype " + e.dtype() + "; this reference takes "
              + String.join(" or ", allowed)
              + (allowed.size() == 1 && node != null
                  ? " (compressed weights need format version " + FormatRules.FORMAT_VERSION
                      + " and a slot whose op table entry takes them)"
                  : ""));
    }
    int[] shape = new int[e.shape().length];
    for (int i = 0; i < shape.length; i++) {
      if (e.shape()[i] > Integer.MAX_VALUE) {
        throw new Pd2JavaException(
            node == null ? ErrorCode.SHAPE_MISMATCH : ErrorCode.INVALID_PARAMETER,
            file,
            node,
            what + " tensor '" + name + "' has a dimension of " + e.shape()[i]
                + ", too large for its role");
      }
      shape[i] = (int) e.shape()[i];
    }
    // Little-endian, element sizes from the dtype; the byte length was checked against the shape.
    int begin = (int) e.begin();
    int len = (int) (e.end() - e.begin());
    switch (e.dtype()) {
      case "F32" -> {
        float[] data = new float[len / 4];
        ByteBuffer.wrap(bytes, begin, len).slice().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer()
            .get(data);
        for (int i = 0; i < data.length; i++) {
          if (!Float.isFinite(data[i])) {
            throw nonFinite(name, node, what, data[i], i);
          }
        }
        return new WeightTensor.F32(name, shape, data);
      }
      case "F16" -> {
        short[] bits = new short[len / 2];
        ByteBuffer.wrap(bytes, begin, len).slice().order(ByteOrder.LITTLE_ENDIAN).asShortBuffer()
            .get(bits);
        for (int i = 0; i < bits.length; i++) {
          if ((bits[i] & 0x7c00) == 0x7c00) { // exponent all ones: infinity or NaN
            throw nonFinite(name, node, what, WeightTensor.halfToFloat(bits[i]), i);
          }
        }
        return new WeightTensor.F16(name, shape, bits);
      }
      case "I8" -> {
        byte[] q = Arrays.copyOfRange(bytes, begin, begin + len);
        return new WeightTensor.I8(name, shape, q, null);
      }
      default -> throw new IllegalStateException(
          "dtype " + e.dtype() + " is allowed but has no decoder");
    }
  }

  private Pd2JavaException nonFinite(String name, String node, String what, float v, int i) {
    return new Pd2JavaException(
        ErrorCode.NON_FINITE_WEIGHT,
        file,
        node,
        what + " tensor '" + name + "' holds " + v + " at flat index " + i);
  }
}
