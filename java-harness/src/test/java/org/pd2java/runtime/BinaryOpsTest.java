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
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hand-checked cases for the broadcasting binary ops (add@2, sub@1, mul@1, div@1) and the
 * zero-input constant@1 node, run through the real loader.
 */
class BinaryOpsTest {
  @TempDir Path dir;

  /** A constant node: the fixture wires every node to an input, so its inputs are cleared. */
  private static Fixture constant(Fixture f, String name, int[] shape, float... value) {
    f.tensor(name + ".value", shape, value);
    return f.node(name, "constant", map(), map("value", name + ".value"), shape);
  }

  @SuppressWarnings("unchecked")
  private float[] run(Fixture f, float[] x, String node, Map<String, Integer> versions)
      throws IOException {
    Map<String, Object> m = f.manifest();
    for (Map<String, Object> n : (List<Map<String, Object>>) m.get("nodes")) {
      if ("constant".equals(n.get("op"))) {
        n.put("inputs", List.of());
      }
      Integer v = versions.get((String) n.get("name"));
      if (v != null) {
        n.put("version", v);
      }
    }
    return KernelTesting.run(dir, m, f.weights(), x, node, 0f);
  }

  private float[] run(Fixture f, float[] x, String node) throws IOException {
    return run(f, x, node, Map.of());
  }

  @Test
  void mulByPerChannelConstant() throws IOException {
    // x (2, 2, 2) = 1..8 times [10, -1] per channel.
    Fixture f = constant(new Fixture(2, 2, 2), "c", s(2, 1, 1), 10, -1);
    f.node("m", "mul", map(), s(2, 2, 2), "input", "c");
    assertArrayEquals(new float[] {10, 20, 30, 40, -5, -6, -7, -8}, run(f, seq(8, 1), "m"));
  }

  @Test
  void addVersionTwoBroadcastsALowerRankRow() throws IOException {
    // x (1, 2, 3) = 1..6 plus the row [1, 2, 3] (shape (3), left-padded to (1, 1, 3)).
    Fixture f = constant(new Fixture(1, 2, 3), "c", s(3), 1, 2, 3);
    f.node("a", "add", map(), s(1, 2, 3), "input", "c");
    assertArrayEquals(
        new float[] {2, 4, 6, 5, 7, 9}, run(f, seq(6, 1), "a", Map.of("a", 2)));
  }

  @Test
  void subWithTheConstantOnTheLeft() throws IOException {
    Fixture f = constant(new Fixture(1, 1, 3), "c", s(1), 10);
    f.node("d", "sub", map(), s(1, 1, 3), "c", "input");
    assertArrayEquals(new float[] {9, 8, 7}, run(f, seq(3, 1), "d"));
  }

  @Test
  void divBroadcastsBothOperands() throws IOException {
    // (2, 1, 1) [2, 4] / (1, 1, 2) [1, 2] -> (2, 1, 2) [2, 1, 4, 2].
    Fixture f = constant(new Fixture(1, 1, 2), "c", s(2, 1, 1), 2, 4);
    f.node("q", "div", map(), s(2, 1, 2), "c", "input");
    assertArrayEquals(new float[] {2, 1, 4, 2}, run(f, seq(2, 1), "q"));
  }

  @Test
  void mulOfTwoComputedValuesOfTheSameShape() throws IOException {
    // x * x elementwise, the identity-index path.
    Fixture f = new Fixture(1, 2, 2).node("m", "mul", map(), s(1, 2, 2), "input", "input");
    assertArrayEquals(new float[] {1, 4, 9, 16}, run(f, seq(4, 1), "m"));
  }

  @Test
  void constantNodeOutputsItsValue() throws IOException {
    Fixture f = constant(new Fixture(1, 1, 1), "c", s(2, 1), 0.5f, -3);
    f.node("m", "mul", map(), s(1, 2, 1), "input", "c"); // (1, 1, 1) * (2, 1) -> (1, 2, 1)
    assertArrayEquals(new float[] {0.5f, -3}, run(f, new float[] {1}, "c"));
    assertArrayEquals(new float[] {1f, -6}, run(f, new float[] {2}, "m"));
  }

  @Test
  void incompatibleShapesAreRefused() {
    Fixture f = constant(new Fixture(2, 3, 4), "c", s(3, 1, 1), 1, 2, 3);
    f.node("m", "mul", map(), s(2, 3, 4), "input", "c");
    Pd2JavaException e =
        assertThrows(Pd2JavaException.class, () -> run(f, seq(24, 0), "m"));
    assertEquals(ErrorCode.SHAPE_MISMATCH, e.code(), e.getMessage());
    assertEquals("m", e.node());
    assertTrue(e.getMessage().contains("cannot broadcast"), e.getMessage());
  }

  @Test
  void addVersionOneStillNeedsEqualShapes() {
    Fixture f = constant(new Fixture(1, 1, 3), "c", s(3), 1, 2, 3);
    f.node("a", "add", map(), s(1, 1, 3), "input", "c");
    Pd2JavaException e = assertThrows(Pd2JavaException.class, () -> run(f, seq(3, 0), "a"));
    assertEquals(ErrorCode.SHAPE_MISMATCH, e.code(), e.getMessage());
  }

  @Test
  void constantOfRankZeroIsRefused() {
    Fixture f = new Fixture(1, 1, 1);
    f.tensor("c.value", s(), 2);
    f.node("c", "constant", map(), map("value", "c.value"), s(1));
    f.node("m", "mul", map(), s(1, 1, 1), "input", "c");
    Pd2JavaException e = assertThrows(Pd2JavaException.class, () -> run(f, new float[] {1}, "m"));
    assertEquals(ErrorCode.INVALID_PARAMETER, e.code(), e.getMessage());
    assertEquals("c", e.node());
  }
}
