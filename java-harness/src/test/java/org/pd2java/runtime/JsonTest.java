package org.pd2java.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The strict JSON reader: what it accepts and everything it must refuse. */
class JsonTest {
  private static Object parse(String s) {
    return Json.parse(s.getBytes(StandardCharsets.UTF_8), "t.json", Json.Limits.MANIFEST);
  }

  private static Pd2JavaException refuse(ErrorCode code, String s, String mention) {
    Pd2JavaException e = assertThrows(Pd2JavaException.class, () -> parse(s));
    assertEquals(code, e.code(), e.getMessage());
    assertTrue(e.getMessage().contains(mention), e.getMessage());
    assertTrue(e.getMessage().contains("t.json"), e.getMessage());
    return e;
  }

  @Test
  void acceptsValidJson() {
    Map<String, Object> m = Model.asMap(parse(
        " {\"a\": [1, -2, 0, 3.5, -1e-5, 2E+3], \"b\": \"x\\\"\\\\\\/\\n\\u00e9\\ud83d\\ude00\","
            + " \"c\": true, \"d\": false, \"e\": null, \"f\": {}, \"g\": []}\n"));
    assertEquals(List.of(1L, -2L, 0L, 3.5, -1e-5, 2000.0), m.get("a"));
    assertEquals("x\"\\/\n\u00e9\ud83d\ude00", m.get("b"));
    assertEquals(Boolean.TRUE, m.get("c"));
    assertSame(Json.NULL, m.get("e"));
    assertEquals(List.of("a", "b", "c", "d", "e", "f", "g"), List.copyOf(m.keySet()));
    assertEquals(Long.MIN_VALUE, parse("-9223372036854775808"));
  }

  @Test
  void refusesInvalidJson() {
    refuse(ErrorCode.INVALID_JSON, "{\"a\": 1, \"a\": 2}", "duplicate key");
    refuse(ErrorCode.INVALID_JSON, "{} {}", "trailing");
    refuse(ErrorCode.INVALID_JSON, "[1,]", "unexpected character");
    refuse(ErrorCode.INVALID_JSON, "{\"a\" 1}", "expected ':'");
    refuse(ErrorCode.INVALID_JSON, "\"\\x\"", "invalid escape");
    refuse(ErrorCode.INVALID_JSON, "\"\\u12G4\"", "invalid \\u escape");
    refuse(ErrorCode.INVALID_JSON, "\"a\nb\"", "control character");
    refuse(ErrorCode.INVALID_JSON, "\"abc", "unterminated");
    refuse(ErrorCode.INVALID_JSON, "012", "leading zero");
    refuse(ErrorCode.INVALID_JSON, "1.", "digit expected");
    refuse(ErrorCode.INVALID_JSON, "NaN", "unexpected character");
    refuse(ErrorCode.INVALID_JSON, "[Infinity]", "unexpected character");
    refuse(ErrorCode.INVALID_JSON, "tru", "invalid literal");
    refuse(ErrorCode.INVALID_JSON, "9223372036854775808", "64-bit");
    refuse(ErrorCode.INVALID_JSON, "1e400", "overflows");
    refuse(ErrorCode.INVALID_JSON, "", "end of input");
    refuse(ErrorCode.INVALID_JSON, "\ufeff{}", "unexpected character");
    byte[] bad = {'"', (byte) 0xc3, '"'};
    Pd2JavaException e = assertThrows(Pd2JavaException.class,
        () -> Json.parse(bad, "t.json", Json.Limits.MANIFEST));
    assertTrue(e.getMessage().contains("UTF-8"), e.getMessage());
  }

  @Test
  void limitsAreTheFormatRules() {
    assertEquals(FormatRules.MAX_MANIFEST_BYTES, Json.Limits.MANIFEST.maxBytes());
    assertEquals(FormatRules.MAX_HEADER_BYTES, Json.Limits.HEADER.maxBytes());
    for (Json.Limits l : List.of(Json.Limits.MANIFEST, Json.Limits.HEADER)) {
      assertEquals(FormatRules.MAX_JSON_DEPTH, l.maxDepth());
      assertEquals(FormatRules.MAX_JSON_NUMBER_CHARS, l.maxNumberChars());
      assertEquals(FormatRules.MAX_JSON_STRING_CHARS, l.maxStringChars());
    }
    assertEquals(FormatRules.MAX_TENSORS + 1, Json.Limits.HEADER.maxTopMembers());
  }

  @Test
  void capsTopLevelMembersWhileParsing() {
    Json.Limits three = new Json.Limits(1 << 20, 64, 100, 100, 3, 1 << 20);
    assertEquals(3, Model.asMap(Json.parse(
        "{\"a\":[1,2,3,4],\"b\":{\"x\":1,\"y\":2,\"z\":3,\"w\":4},\"c\":3}"
            .getBytes(StandardCharsets.UTF_8), "t.json", three)).size());
    Pd2JavaException e = assertThrows(Pd2JavaException.class, () -> Json.parse(
        "{\"a\":1,\"b\":2,\"c\":3,\"d\":4}".getBytes(StandardCharsets.UTF_8), "t.json",
        three));
    assertEquals(ErrorCode.LIMIT_EXCEEDED, e.code());
    assertTrue(e.getMessage().contains("more than 3 members"), e.getMessage());
  }

  @Test
  void capsValuesWhileParsing() {
    // The root, every array element and every object member: this document holds 10 values,
    // the count the Python reader's pre-scan gives (1 + commas + non-empty containers).
    byte[] doc = "{\"a\": [1, [], {}, [2, 3]], \"b\": {\"c\": null}}"
        .getBytes(StandardCharsets.UTF_8);
    Json.Limits ten = new Json.Limits(1 << 20, 64, 100, 100, 1 << 20, 10);
    assertEquals(2, Model.asMap(Json.parse(doc, "t.json", ten)).size());
    Json.Limits nine = new Json.Limits(1 << 20, 64, 100, 100, 1 << 20, 9);
    Pd2JavaException e =
        assertThrows(Pd2JavaException.class, () -> Json.parse(doc, "t.json", nine));
    assertEquals(ErrorCode.LIMIT_EXCEEDED, e.code());
    assertTrue(e.getMessage().contains("MAX_JSON_VALUES"), e.getMessage());
  }

  @Test
  void parsesPartOfAnArray() {
    byte[] b = "xx{\"a\":1}  yy".getBytes(StandardCharsets.UTF_8);
    assertEquals(Map.of("a", 1L), Json.parse(b, 2, 7, "t.json", Json.Limits.MANIFEST));
    byte[] big = ("[" + "1,".repeat(10) + "1]").getBytes(StandardCharsets.UTF_8);
    Json.Limits small = new Json.Limits(8, 64, 100, 100);
    assertEquals(ErrorCode.LIMIT_EXCEEDED, assertThrows(Pd2JavaException.class,
        () -> Json.parse(big, 0, big.length, "t.json", small)).code());
  }

  @Test
  void enforcesLimits() {
    refuse(ErrorCode.LIMIT_EXCEEDED, "[".repeat(65) + "]".repeat(65), "nesting");
    assertEquals(1, ((List<?>) parse("[".repeat(64) + "]".repeat(64))).size());
    refuse(ErrorCode.LIMIT_EXCEEDED, "1" + "0".repeat(100), "number longer");
    refuse(ErrorCode.LIMIT_EXCEEDED, "0." + "1".repeat(99), "number longer");
    Json.Limits tiny = new Json.Limits(10, 64, 100, 4);
    Pd2JavaException e = assertThrows(Pd2JavaException.class,
        () -> Json.parse("\"abcdefgh\"".getBytes(StandardCharsets.UTF_8), "t.json", tiny));
    assertEquals(ErrorCode.LIMIT_EXCEEDED, e.code());
    e = assertThrows(Pd2JavaException.class,
        () -> Json.parse("[1,2,3,4,5,6]".getBytes(StandardCharsets.UTF_8), "t.json", tiny));
    assertTrue(e.getMessage().contains("bytes"), e.getMessage());
  }
}
