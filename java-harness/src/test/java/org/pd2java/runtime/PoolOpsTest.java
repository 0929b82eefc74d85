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

/** Hand-checked small cases for the global and adaptive pools, run through the real loader. */
class PoolOpsTest {
  @TempDir Path dir;

  private static final float EPS = 1e-6f;

  private float[] run(Fixture f, float[] x, String node) throws IOException {
    return KernelTesting.run(dir, f, x, node, (float) FormatRules.ATOL);
  }

  @Test
  void globalMaxPoolKeepdims() throws IOException {
    // channel 0: 1..6 (max 6); channel 1: all negative, max -1 (not 0: no padding value wins)
    float[] x = {1, 5, 2, 6, 3, 4, -4, -2, -9, -1, -3, -5};
    Fixture f = new Fixture(2, 2, 3).node("g", "global_max_pool", map("keepdims", true), s(2, 1, 1));
    assertArrayEquals(new float[] {6, -1}, run(f, x, "g"), 0f);
  }

  @Test
  void globalMaxPoolFlatOnOneByOneMap() throws IOException {
    Fixture f = new Fixture(3, 1, 1).node("g", "global_max_pool", map("keepdims", false), s(3));
    assertArrayEquals(new float[] {7, -2, 0.5f}, run(f, new float[] {7, -2, 0.5f}, "g"), 0f);
  }

  @Test
  void adaptivePoolsOverlappingBins() throws IOException {
    // 3 -> 2 along each axis: bins [0, 2) and [1, 3) share the middle row and column.
    Fixture avg = new Fixture(1, 3, 3)
        .node("p", "adaptive_avg_pool2d", map("output_size", s(2, 2)), s(1, 2, 2));
    assertArrayEquals(new float[] {3, 4, 6, 7}, run(avg, seq(9, 1), "p"), EPS);
    Fixture max = new Fixture(1, 3, 3)
        .node("p", "adaptive_max_pool2d", map("output_size", s(2, 2)), s(1, 2, 2));
    assertArrayEquals(new float[] {5, 6, 8, 9}, run(max, seq(9, 1), "p"), 0f);
  }

  @Test
  void adaptivePoolsLargerThanTheInput() throws IOException {
    // rows 1 -> 2: both bins are row 0; columns 2 -> 3: bins [0, 1), [0, 2), [1, 2).
    float[] x = {3, 8};
    Fixture avg = new Fixture(1, 1, 2)
        .node("p", "adaptive_avg_pool2d", map("output_size", s(2, 3)), s(1, 2, 3));
    assertArrayEquals(new float[] {3, 5.5f, 8, 3, 5.5f, 8}, run(avg, x, "p"), EPS);
    Fixture max = new Fixture(1, 1, 2)
        .node("p", "adaptive_max_pool2d", map("output_size", s(2, 3)), s(1, 2, 3));
    assertArrayEquals(new float[] {3, 8, 8, 3, 8, 8}, run(max, x, "p"), 0f);
  }

  @Test
  void adaptivePoolsPerChannelUniformBins() throws IOException {
    // (2, 2, 4) -> (2, 1, 2): bins of 2x2, channel 1 negative.
    float[] x = {1, 2, 3, 4, 5, 6, 7, 8, -1, -2, -3, -4, -5, -6, -7, -8};
    Fixture avg = new Fixture(2, 2, 4)
        .node("p", "adaptive_avg_pool2d", map("output_size", s(1, 2)), s(2, 1, 2));
    assertArrayEquals(new float[] {3.5f, 5.5f, -3.5f, -5.5f}, run(avg, x, "p"), EPS);
    Fixture max = new Fixture(2, 2, 4)
        .node("p", "adaptive_max_pool2d", map("output_size", s(1, 2)), s(2, 1, 2));
    assertArrayEquals(new float[] {6, 8, -1, -3}, run(max, x, "p"), 0f);
  }

  @Test
  void adaptivePoolsRefuseOutputSizeBelowOne() throws IOException {
    for (String op : new String[] {"adaptive_avg_pool2d", "adaptive_max_pool2d"}) {
      Fixture f = new Fixture(1, 3, 3).node("p", op, map("output_size", s(0, 2)), s(1, 1, 2));
      Pd2JavaException e = assertThrows(Pd2JavaException.class, () -> run(f, seq(9, 1), "p"));
      assertEquals(ErrorCode.INVALID_ATTRIBUTE, e.code());
      assertEquals("p", e.node());
    }
  }
}
