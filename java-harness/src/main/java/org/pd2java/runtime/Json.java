package org.pd2java.runtime;

import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small, strict JSON reader (RFC 8259) with limits, so a hostile file gives an error instead of
 * a hang, a stack overflow or an out-of-memory.
 *
 * <p>Values map to: object {@code LinkedHashMap<String,Object>}, array {@code ArrayList<Object>},
 * string {@code String}, integer (no fraction or exponent) {@code Long}, other number {@code
 * Double}, {@code Boolean}, and {@link #NULL}. Rejected: invalid UTF-8, a byte-order mark,
 * duplicate keys, trailing content, invalid escapes, raw control characters in strings, leading
 * zeros, NaN/Infinity literals, integers outside 64 bits, numbers that overflow a double.
 */
final class Json {
  /** The JSON {@code null} value (a Java null would be ambiguous with "key absent"). */
  static final Object NULL =
      new Object() {
        @Override
        public String toString() {
          return "null";
        }
      };

  /**
   * Reader limits.
   *
   * @param maxBytes largest document, bytes
   * @param maxDepth deepest nesting of arrays and objects
   * @param maxNumberChars longest number, characters
   * @param maxStringChars longest string, characters
   * @param maxTopMembers most members of the top-level object (checked while parsing, so a
   *     header naming millions of tensors is refused before they are all built in memory)
   * @param maxValues most values in the document: the root, every array element and every
   *     object member (checked while parsing, so the memory built stays bounded)
   */
  record Limits(
      long maxBytes,
      int maxDepth,
      int maxNumberChars,
      int maxStringChars,
      int maxTopMembers,
      int maxValues) {
    /** Limits for a manifest: FormatRules' sizes, no member cap at the top level. */
    static final Limits MANIFEST =
        new Limits(
            FormatRules.MAX_MANIFEST_BYTES,
            Math.toIntExact(FormatRules.MAX_JSON_DEPTH),
            Math.toIntExact(FormatRules.MAX_JSON_NUMBER_CHARS),
            Math.toIntExact(FormatRules.MAX_JSON_STRING_CHARS),
            Integer.MAX_VALUE,
            Math.toIntExact(FormatRules.MAX_JSON_VALUES));

    /**
     * Limits for a safetensors header: FormatRules' sizes; at most MAX_TENSORS tensors plus the
     * optional {@code __metadata__} entry at the top level.
     */
    static final Limits HEADER =
        new Limits(
            FormatRules.MAX_HEADER_BYTES,
            Math.toIntExact(FormatRules.MAX_JSON_DEPTH),
            Math.toIntExact(FormatRules.MAX_JSON_NUMBER_CHARS),
            Math.toIntExact(FormatRules.MAX_JSON_STRING_CHARS),
            Math.toIntExact(FormatRules.MAX_TENSORS + 1),
            Math.toIntExact(FormatRules.MAX_JSON_VALUES));

    /** Limits without a top-level member cap, and FormatRules' value cap. */
    Limits(long maxBytes, int maxDepth, int maxNumberChars, int maxStringChars) {
      this(
          maxBytes,
          maxDepth,
          maxNumberChars,
          maxStringChars,
          Integer.MAX_VALUE,
          Math.toIntExact(FormatRules.MAX_JSON_VALUES));
    }
  }

  private final String text;
  private final String file;
  private final Limits limits;
  private int pos;
  private int values;

  private Json(String text, String file, Limits limits) {
    this.text = text;
    this.file = file;
    this.limits = limits;
  }

  /**
   * Parses one JSON document.
   *
   * @param bytes UTF-8 bytes
   * @param file file name for error messages
   * @param limits reader limits
   * @return the value
   */
  static Object parse(byte[] bytes, String file, Limits limits) {
    return parse(bytes, 0, bytes.length, file, limits);
  }

  /**
   * Parses one JSON document held in part of an array (no copy of the surrounding bytes).
   *
   * @param bytes UTF-8 bytes
   * @param offset where the document starts
   * @param length its length in bytes
   * @param file file name for error messages
   * @param limits reader limits
   * @return the value
   */
  static Object parse(byte[] bytes, int offset, int length, String file, Limits limits) {
    if (length > limits.maxBytes()) {
      throw new Pd2JavaException(
          ErrorCode.LIMIT_EXCEEDED,
          file,
          null,
          "JSON document is " + length + " bytes; the limit is " + limits.maxBytes());
    }
    String text;
    try {
      text =
          StandardCharsets.UTF_8
              .newDecoder()
              .onMalformedInput(CodingErrorAction.REPORT)
              .onUnmappableCharacter(CodingErrorAction.REPORT)
              .decode(ByteBuffer.wrap(bytes, offset, length))
              .toString();
    } catch (CharacterCodingException e) {
      throw new Pd2JavaException(ErrorCode.INVALID_JSON, file, null, "not valid UTF-8", e);
    }
    Json p = new Json(text, file, limits);
    p.skipWs();
    Object v = p.value(0);
    p.skipWs();
    if (p.pos != text.length()) {
      throw p.error("trailing content after the JSON value");
    }
    return v;
  }

  private Pd2JavaException error(String rule) {
    int line = 1;
    int col = 1;
    for (int i = 0; i < pos && i < text.length(); i++) {
      if (text.charAt(i) == '\n') {
        line++;
        col = 1;
      } else {
        col++;
      }
    }
    return new Pd2JavaException(
        ErrorCode.INVALID_JSON, file, null, rule + " (line " + line + ", column " + col + ")");
  }

  private Pd2JavaException limit(String rule) {
    return new Pd2JavaException(
        ErrorCode.LIMIT_EXCEEDED, file, null, rule + " (at character " + pos + ")");
  }

  private void skipWs() {
    while (pos < text.length()) {
      char c = text.charAt(pos);
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        pos++;
      } else {
        break;
      }
    }
  }

  private Object value(int depth) {
    if (pos >= text.length()) {
      throw error("unexpected end of input");
    }
    if (++values > limits.maxValues()) {
      throw limit("more than " + limits.maxValues() + " values (MAX_JSON_VALUES)");
    }
    char c = text.charAt(pos);
    switch (c) {
      case '{':
        return object(depth + 1);
      case '[':
        return array(depth + 1);
      case '"':
        return string();
      case 't':
        literal("true");
        return Boolean.TRUE;
      case 'f':
        literal("false");
        return Boolean.FALSE;
      case 'n':
        literal("null");
        return NULL;
      default:
        if (c == '-' || (c >= '0' && c <= '9')) {
          return number();
        }
        throw error("unexpected character '" + printable(c) + "'");
    }
  }

  private static String printable(char c) {
    return c < 0x20 || c > 0x7e ? String.format("\\u%04x", (int) c) : String.valueOf(c);
  }

  private void literal(String word) {
    if (!text.startsWith(word, pos)) {
      throw error("invalid literal (expected '" + word + "')");
    }
    pos += word.length();
  }

  private void checkDepth(int depth) {
    if (depth > limits.maxDepth()) {
      throw limit("nesting deeper than " + limits.maxDepth() + " levels");
    }
  }

  private Map<String, Object> object(int depth) {
    checkDepth(depth);
    pos++; // '{'
    LinkedHashMap<String, Object> map = new LinkedHashMap<>();
    skipWs();
    if (pos < text.length() && text.charAt(pos) == '}') {
      pos++;
      return map;
    }
    while (true) {
      skipWs();
      if (pos >= text.length() || text.charAt(pos) != '"') {
        throw error("expected a string key");
      }
      if (depth == 1 && map.size() >= limits.maxTopMembers()) {
        throw limit("more than " + limits.maxTopMembers() + " members in the top-level object");
      }
      int keyPos = pos;
      String key = string();
      skipWs();
      if (pos >= text.length() || text.charAt(pos) != ':') {
        throw error("expected ':' after a key");
      }
      pos++;
      skipWs();
      Object v = value(depth);
      if (map.containsKey(key)) {
        pos = keyPos;
        throw error("duplicate key \"" + key + "\"");
      }
      map.put(key, v);
      skipWs();
      if (pos >= text.length()) {
        throw error("unexpected end of input in an object");
      }
      char c = text.charAt(pos++);
      if (c == '}') {
        return map;
      }
      if (c != ',') {
        pos--;
        throw error("expected ',' or '}' in an object");
      }
    }
  }

  private List<Object> array(int depth) {
    checkDepth(depth);
    pos++; // '['
    ArrayList<Object> list = new ArrayList<>();
    skipWs();
    if (pos < text.length() && text.charAt(pos) == ']') {
      pos++;
      return list;
    }
    while (true) {
      skipWs();
      list.add(value(depth));
      skipWs();
      if (pos >= text.length()) {
        throw error("unexpected end of input in an array");
      }
      char c = text.charAt(pos++);
      if (c == ']') {
        return list;
      }
      if (c != ',') {
        pos--;
        throw error("expected ',' or ']' in an array");
      }
    }
  }

  private String string() {
    pos++; // opening quote
    StringBuilder sb = new StringBuilder();
    while (true) {
      if (pos >= text.length()) {
        throw error("unterminated string");
      }
      if (sb.length() > limits.maxStringChars()) {
        throw limit("string longer than " + limits.maxStringChars() + " characters");
      }
      char c = text.charAt(pos++);
      if (c == '"') {
        return sb.toString();
      }
      if (c < 0x20) {
        pos--;
        throw error("raw control character in a string");
      }
      if (c != '\\') {
        sb.append(c);
        continue;
      }
      if (pos >= text.length()) {
        throw error("unterminated escape");
      }
      char e = text.charAt(pos++);
      switch (e) {
        case '"' -> sb.append('"');
        case '\\' -> sb.append('\\');
        case '/' -> sb.append('/');
        case 'b' -> sb.append('\b');
        case 'f' -> sb.append('\f');
        case 'n' -> sb.append('\n');
        case 'r' -> sb.append('\r');
        case 't' -> sb.append('\t');
        case 'u' -> {
          if (pos + 4 > text.length()) {
            throw error("truncated \\u escape");
          }
          int cp = 0;
          for (int i = 0; i < 4; i++) {
            int d = Character.digit(text.charAt(pos + i), 16);
            if (d < 0) {
              throw error("invalid \\u escape");
            }
            cp = cp * 16 + d;
          }
          pos += 4;
          sb.append((char) cp);
        }
        default -> {
          pos -= 2;
          throw error("invalid escape '\\" + printable(e) + "'");
        }
      }
    }
  }

  private Object number() {
    int start = pos;
    boolean integer = true;
    if (text.charAt(pos) == '-') {
      pos++;
    }
    if (pos >= text.length()) {
      throw error("truncated number");
    }
    if (text.charAt(pos) == '0') {
      pos++;
      if (pos < text.length() && isDigit(text.charAt(pos))) {
        throw error("leading zero in a number");
      }
    } else if (isDigit(text.charAt(pos))) {
      digits();
    } else {
      throw error("invalid number");
    }
    if (pos < text.length() && text.charAt(pos) == '.') {
      integer = false;
      pos++;
      if (pos >= text.length() || !isDigit(text.charAt(pos))) {
        throw error("digit expected after '.'");
      }
      digits();
    }
    if (pos < text.length() && (text.charAt(pos) == 'e' || text.charAt(pos) == 'E')) {
      integer = false;
      pos++;
      if (pos < text.length() && (text.charAt(pos) == '+' || text.charAt(pos) == '-')) {
        pos++;
      }
      if (pos >= text.length() || !isDigit(text.charAt(pos))) {
        throw error("digit expected in the exponent");
      }
      digits();
    }
    String s = text.substring(start, pos);
    if (s.length() > limits.maxNumberChars()) {
      pos = start;
      throw limit("number longer than " + limits.maxNumberChars() + " characters");
    }
    if (integer) {
      BigInteger big = new BigInteger(s);
      if (big.bitLength() > 63) {
        pos = start;
        throw error("integer " + s + " is outside the 64-bit range");
      }
      return big.longValue();
    }
    double d = Double.parseDouble(s);
    if (Double.isInfinite(d)) {
      pos = start;
      throw error("number " + s + " overflows a double");
    }
    return d;
  }

  private void digits() {
    int start = pos;
    while (pos < text.length() && isDigit(text.charAt(pos))) {
      pos++;
      if (pos - start > limits.maxNumberChars()) {
        throw limit("number longer than " + limits.maxNumberChars() + " characters");
      }
    }
  }

  private static boolean isDigit(char c) {
    return c >= '0' && c <= '9';
  }

  /**
   * A parsed value back as compact JSON text (strings escaped as JSON requires), for showing a
   * free-form manifest value such as a nested {@code producer} entry.
   */
  static String write(Object v) {
    StringBuilder sb = new StringBuilder();
    write(v, sb);
    return sb.toString();
  }

  private static void write(Object v, StringBuilder sb) {
    if (v instanceof String s) {
      sb.append('"');
      for (int i = 0; i < s.length(); i++) {
        char c = s.charAt(i);
        switch (c) {
          case '"' -> sb.append("\\\"");
          case '\\' -> sb.append("\\\\");
          case '\n' -> sb.append("\\n");
          case '\r' -> sb.append("\\r");
          case '\t' -> sb.append("\\t");
          default -> {
            if (c < 0x20) {
              sb.append(String.format("\\u%04x", (int) c));
            } else {
              sb.append(c);
            }
          }
        }
      }
      sb.append('"');
    } else if (v instanceof Map<?, ?> m) {
      sb.append('{');
      boolean first = true;
      for (Map.Entry<?, ?> e : m.entrySet()) {
        sb.append(first ? "" : ",");
        first = false;
        write(String.valueOf(e.getKey()), sb);
        sb.append(':');
        write(e.getValue(), sb);
      }
      sb.append('}');
    } else if (v instanceof List<?> l) {
      sb.append('[');
      for (int i = 0; i < l.size(); i++) {
        sb.append(i == 0 ? "" : ",");
        write(l.get(i), sb);
      }
      sb.append(']');
    } else {
      sb.append(v); // Long, Double, Boolean, NULL
    }
  }
}
