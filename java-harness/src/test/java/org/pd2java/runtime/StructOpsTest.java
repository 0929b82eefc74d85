package org.pd2java.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.pd2java.runtime.Fixture.map;
import static org.pd2java.runtime.KernelTesting.s;
import static org.pd2java.runtime.KernelTesting.seq;

import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Hand-checked cases for concat@1, squeeze@1, unsqueeze@1 and flatten@2 through the loader. */
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
}
