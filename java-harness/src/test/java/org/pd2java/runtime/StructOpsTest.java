package org.pd2java.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.pd2java.runtime.Fixture.map;
import static org.pd2java.runtime.KernelTesting.s;
import static org.pd2java.runtime.KernelTesting.seq;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hand-checked cases for concat@1, squeeze@1, unsqueeze@1, flatten@2 and reshape@1 (with the
 * {@code ints} attribute kind) through the loader.
 */
class StructOpsTest {
  @TempDir Path dir;

  @Test
  void concatOnChannels() throws IOException {
    // x (1, 2, 2) = 1..4 joined with itself on C: (2, 2, 2) = 1..4, 1..4.
    Fixture f = new Fixture(1, 2, 2);
    f.node("c", "concat", map("dim", 1), s(2, 2, 2), "input", "input");
    assertArrayEquals(
        new float[] {1, 2, 3, 4, 1, 2, 3, 4}, KernelTesting.run(dir, f, seq(4, 1), "c", 0f));
  }

  @Test
  void concatOnWidthInterleavesRows() throws IOException {
    // x (1, 2, 2) = [[1, 2], [3, 4]]; on W: [[1, 2, 1, 2], [3, 4, 3, 4]].
    Fixture f = new Fixture(1, 2, 2);
    f.node("c", "concat", map("dim", 3), s(1, 2, 4), "input", "input");
    assertArrayEquals(
        new float[] {1, 2, 1, 2, 3, 4, 3, 4}, KernelTesting.run(dir, f, seq(4, 1), "c", 0f));
  }

  @Test
  void concatOfDifferentShapesIsAShapeMismatch() {
    // relu keeps (1, 2, 2); an unsqueeze makes (1, 1, 2, 2): ranks differ.
    Fixture f = new Fixture(1, 2, 2);
    f.node("u", "unsqueeze", map("dim", 1), s(1, 1, 2, 2), "input");
    f.node("c", "concat", map("dim", 1), s(2, 1, 2, 2), "u", "input");
    Pd2JavaException e =
        assertThrows(Pd2JavaException.class, () -> KernelTesting.run(dir, f, seq(4, 1), "c", 0f));
    assertEquals(ErrorCode.SHAPE_MISMATCH, e.code());
  }

  @Test
  void unsqueezeSqueezeAndFlattenKeepTheValues() throws IOException {
    // (2, 1, 3) -> unsqueeze at 4 -> (2, 1, 3, 1) -> squeeze 2 -> (2, 3, 1) -> flatten@2 from 2.
    Fixture f = new Fixture(2, 1, 3);
    f.node("u", "unsqueeze", map("dim", 4), s(2, 1, 3, 1));
    f.node("q", "squeeze", map("dim", 2), s(2, 3, 1));
    f.node("g", "flatten", map("start_dim", 2), s(2, 3));
    f.nodes.get(2).put("version", 2);
    assertArrayEquals(seq(6, 1), KernelTesting.run(dir, f, seq(6, 1), "g", 0f));
  }

  @Test
  void squeezeOfADimOtherThanOneIsRefused() {
    Fixture f = new Fixture(2, 1, 3);
    f.node("q", "squeeze", map("dim", 1), s(1, 3));
    Pd2JavaException e =
        assertThrows(Pd2JavaException.class, () -> KernelTesting.run(dir, f, seq(6, 1), "q", 0f));
    assertEquals(ErrorCode.SHAPE_MISMATCH, e.code());
  }

  @Test
  void batchAxisIsAnInvalidAttribute() {
    Fixture f = new Fixture(2, 1, 3);
    f.node("u", "unsqueeze", map("dim", 0), s(1, 2, 1, 3));
    Pd2JavaException e =
        assertThrows(Pd2JavaException.class, () -> KernelTesting.run(dir, f, seq(6, 1), "u", 0f));
    assertEquals(ErrorCode.INVALID_ATTRIBUTE, e.code());
  }

  @Test
  void reshapeKeepsTheRowMajorValues() throws IOException {
    // (2, 1, 3) = 1..6 -> reshape [3, 2] -> relu: [[1, 2], [3, 4], [5, 6]], the same order; a
    // reshape to rank 4 and back to [6] keeps it too.
    Fixture f = new Fixture(2, 1, 3);
    f.node("r", "reshape", map("shape", s(3, 2)), s(3, 2));
    f.node("a", "relu", map(), s(3, 2));
    f.node("r4", "reshape", map("shape", s(1, 3, 1, 2)), s(1, 3, 1, 2));
    f.node("r1", "reshape", map("shape", s(6)), s(6));
    assertArrayEquals(seq(6, 1), KernelTesting.run(dir, f, seq(6, 1), "a", 0f));
    assertArrayEquals(seq(6, 1), KernelTesting.run(dir, f, seq(6, 1), "r1", 0f));
  }

  private Pd2JavaException reshapeFails(Object shapeAttr, int[] outShape, ErrorCode code) {
    Fixture f = new Fixture(2, 3, 4);
    f.node("view", "reshape", map("shape", shapeAttr), outShape);
    Pd2JavaException e =
        assertThrows(
            Pd2JavaException.class, () -> KernelTesting.run(dir, f, seq(24, 1), "view", 0f));
    assertEquals(code, e.code(), e.getMessage());
    assertTrue(e.getMessage().contains("'view'"), "names the node: " + e.getMessage());
    return e;
  }

  @Test
  void reshapeToAnotherElementCountIsAShapeMismatch() {
    Pd2JavaException e = reshapeFails(s(5, 5), s(5, 5), ErrorCode.SHAPE_MISMATCH);
    assertTrue(e.getMessage().contains("element counts differ"), e.getMessage());
  }

  @Test
  void reshapeEntryBelowOneIsAnInvalidAttribute() {
    // [-2, -12] multiplies to the 24 elements; only the entries are wrong.
    Pd2JavaException e = reshapeFails(s(-2, -12), s(2, 12), ErrorCode.INVALID_ATTRIBUTE);
    assertTrue(e.getMessage().contains("'shape'"), e.getMessage());
    assertTrue(e.getMessage().contains(">= 1"), e.getMessage());
  }

  @Test
  void intsKindIsCheckedEntryByEntry() {
    Object[][] cases = {
      {24, "not an array"},
      {List.of(), "an empty array"},
      {s(1, 1, 1, 1, 1, 1, 1, 4, 6), "9 entries, more than " + FormatRules.MAX_INTS_LENGTH},
      {List.of(4, 6.0), "entry 1 (6.0) is not an integer"},
      {List.of(true, 24), "entry 0 (true) is not an integer"},
      {List.of(24, "1"), "entry 1 (the string '1') is not an integer"},
      {List.of(1L << 32, 24), "outside the 32-bit integer range"},
    };
    for (Object[] c : cases) {
      Pd2JavaException e = reshapeFails(c[0], s(24), ErrorCode.INVALID_ATTRIBUTE);
      String msg = e.getMessage();
      assertTrue(msg.contains("attribute 'shape'"), "names the attribute: " + msg);
      assertTrue(msg.contains("ints"), "names the kind: " + msg);
      assertTrue(msg.contains((String) c[1]), "'" + c[1] + "' not in: " + msg);
    }
  }

  @Test
  void intsOfTheMaximumLengthIsRead() throws IOException {
    int[] eight = s(1, 1, 2, 1, 3, 1, 4, 1);
    assertEquals(FormatRules.MAX_INTS_LENGTH, eight.length);
    Fixture f = new Fixture(2, 3, 4);
    f.node("view", "reshape", map("shape", eight), eight);
    assertArrayEquals(seq(24, 1), KernelTesting.run(dir, f, seq(24, 1), "view", 0f));
  }
}
