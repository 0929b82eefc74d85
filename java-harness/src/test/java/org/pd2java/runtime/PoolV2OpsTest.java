package org.pd2java.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.pd2java.runtime.Fixture.map;
import static org.pd2java.runtime.KernelTesting.s;
import static org.pd2java.runtime.KernelTesting.seq;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hand-checked cases for max_pool2d@2 and avg_pool2d@2 (per-side padding, ceil_mode), run
 * through the real loader; the expected values agree with PyTorch's F.max_pool2d / F.avg_pool2d.
 */
class PoolV2OpsTest {
  @TempDir Path dir;

  private static final float EPS = 1e-6f;

  private float[] run(Fixture f, float[] x, String node) throws IOException {
    return KernelTesting.run(dir, f, x, node, (float) FormatRules.ATOL);
  }

  /** A one-node fixture of {@code op}@2 on a (c, h, w) input. */
  private static Fixture v2(int[] in, String op, Map<String, Object> attrs, int[] out) {
    Fixture f = new Fixture(in[0], in[1], in[2]).node("p", op, attrs, out);
    f.nodes.get(0).put("version", 2);
    return f;
  }

  private static Map<String, Object> maxAttrs(int[] k, int[] st, int[] ph, int[] pw, boolean ceil) {
    return map("kernel_size", k, "stride", st, "pad_h", ph, "pad_w", pw, "dilation", s(1, 1),
        "ceil_mode", ceil);
  }

  private static Map<String, Object> avgAttrs(
      int[] k, int[] st, int[] ph, int[] pw, boolean ceil, boolean includePad) {
    return map("kernel_size", k, "stride", st, "pad_h", ph, "pad_w", pw, "ceil_mode", ceil,
        "count_include_pad", includePad);
  }

  @Test
  void ceilModeKeepsThePartialLastWindow() throws IOException {
    // 3x3 = 1..9, kernel 2, stride 2: floor gives 1x1, ceil 2x2 with windows of one row/column.
    int[] k = s(2, 2), st = s(2, 2), none = s(0, 0);
    Fixture max = v2(s(1, 3, 3), "max_pool2d", maxAttrs(k, st, none, none, true), s(1, 2, 2));
    assertArrayEquals(new float[] {5, 6, 8, 9}, run(max, seq(9, 1), "p"), 0f);
    // the partial windows divide by the cells inside the (unpadded) input: 2, 2 and 1
    Fixture avg =
        v2(s(1, 3, 3), "avg_pool2d", avgAttrs(k, st, none, none, true, true), s(1, 2, 2));
    assertArrayEquals(new float[] {3, 4.5f, 7.5f, 9}, run(avg, seq(9, 1), "p"), EPS);
  }

  @Test
  void asymmetricPadding() throws IOException {
    // [[1, 2], [3, 4]] padded one row on top and one column on the right, kernel 2, stride 1:
    // windows {0,0,1,2} {0,0,2,0} {1,2,3,4} {2,0,4,0}.
    int[] k = s(2, 2), st = s(1, 1), ph = s(1, 0), pw = s(0, 1);
    float[] x = {1, 2, 3, 4};
    Fixture max = v2(s(1, 2, 2), "max_pool2d", maxAttrs(k, st, ph, pw, false), s(1, 2, 2));
    assertArrayEquals(new float[] {2, 2, 4, 4}, run(max, x, "p"), 0f);
    Fixture inc = v2(s(1, 2, 2), "avg_pool2d", avgAttrs(k, st, ph, pw, false, true), s(1, 2, 2));
    assertArrayEquals(new float[] {0.75f, 0.5f, 2.5f, 1.5f}, run(inc, x, "p"), EPS);
    Fixture exc = v2(s(1, 2, 2), "avg_pool2d", avgAttrs(k, st, ph, pw, false, false), s(1, 2, 2));
    assertArrayEquals(new float[] {1.5f, 2, 2.5f, 3}, run(exc, x, "p"), EPS);
  }

  @Test
  void ceilModeWindowBeyondThePaddingCountsOnlyThePaddedInput() throws IOException {
    // a row 1..4, kernel 3, stride 2, one padding column each side, ceil: windows start at
    // columns -1, 1, 3; the last covers 4, a padding cell and a cell beyond the padding.
    int[] k = s(1, 3), st = s(1, 2), ph = s(0, 0), pw = s(1, 1);
    float[] x = seq(4, 1);
    Fixture max = v2(s(1, 1, 4), "max_pool2d", maxAttrs(k, st, ph, pw, true), s(1, 1, 3));
    assertArrayEquals(new float[] {2, 4, 4}, run(max, x, "p"), 0f);
    Fixture inc = v2(s(1, 1, 4), "avg_pool2d", avgAttrs(k, st, ph, pw, true, true), s(1, 1, 3));
    assertArrayEquals(new float[] {1, 3, 2}, run(inc, x, "p"), EPS);
    Fixture exc = v2(s(1, 1, 4), "avg_pool2d", avgAttrs(k, st, ph, pw, true, false), s(1, 1, 3));
    assertArrayEquals(new float[] {1.5f, 3, 4}, run(exc, x, "p"), EPS);
  }

  @Test
  void ceilModeDropsAWindowStartingInTheEndPadding() throws IOException {
    // width 3, kernel 2, stride 2, pads [1, 1]: ceil((3 + 2 - 2) / 2) + 1 = 3, but the third
    // window would start at padded column 4 >= 3 + 1, so 2 outputs, as in PyTorch.
    int[] k = s(1, 2), st = s(1, 2);
    Fixture max =
        v2(s(1, 1, 3), "max_pool2d", maxAttrs(k, st, s(0, 0), s(1, 1), true), s(1, 1, 2));
    assertArrayEquals(new float[] {1, 3}, run(max, seq(3, 1), "p"), 0f);
  }

  @Test
  void paddingBeyondHalfTheKernelIsRefused() {
    int[] k = s(3, 3), st = s(1, 1);
    Fixture max =
        v2(s(1, 4, 4), "max_pool2d", maxAttrs(k, st, s(0, 2), s(1, 1), false), s(1, 3, 4));
    Pd2JavaException e = assertThrows(Pd2JavaException.class, () -> run(max, seq(16, 1), "p"));
    assertEquals(ErrorCode.INVALID_ATTRIBUTE, e.code());
    Fixture avg =
        v2(s(1, 4, 4), "avg_pool2d", avgAttrs(k, st, s(1, 1), s(2, 0), false, true), s(1, 4, 3));
    e = assertThrows(Pd2JavaException.class, () -> run(avg, seq(16, 1), "p"));
    assertEquals(ErrorCode.INVALID_ATTRIBUTE, e.code());
  }
}
