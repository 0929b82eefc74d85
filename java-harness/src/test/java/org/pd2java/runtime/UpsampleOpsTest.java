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

/**
 * Hand-checked cases for the upsampling kernels (upsample_nearest2d, upsample_bilinear2d,
 * conv_transpose2d), run through the real loader; every expected value was worked out by hand
 * from PyTorch's index rules and agrees with torch.nn.functional.
 */
class UpsampleOpsTest {
  @TempDir Path dir;

  private static final float EPS = 1e-6f;

  private float[] run(Fixture f, float[] x, String node) throws IOException {
    return KernelTesting.run(dir, f, x, node, (float) FormatRules.ATOL);
  }

  private static Fixture nearest(int[] in, int oh, int ow) {
    return new Fixture(in)
        .node("u", "upsample_nearest2d", map("output_size", s(oh, ow)), s(in[0], oh, ow));
  }

  private static Fixture bilinear(int[] in, int oh, int ow, boolean alignCorners) {
    return new Fixture(in)
        .node("u", "upsample_bilinear2d",
            map("output_size", s(oh, ow), "align_corners", alignCorners), s(in[0], oh, ow));
  }

  @Test
  void nearestDoublesRowsAndColumns() throws IOException {
    // [[1, 2, 3], [4, 5, 6]] to 4x6: output row r reads row r / 2, column c reads c / 2.
    float[] want = {
      1, 1, 2, 2, 3, 3,
      1, 1, 2, 2, 3, 3,
      4, 4, 5, 5, 6, 6,
      4, 4, 5, 5, 6, 6
    };
    assertArrayEquals(want, run(nearest(s(1, 2, 3), 4, 6), seq(6, 1), "u"), 0f);
  }

  @Test
  void nearestNonIntegerRatios() throws IOException {
    // 3 -> 5 columns: floor(dst * 0.6) = 0, 0, 1, 1, 2.
    assertArrayEquals(new float[] {1, 1, 2, 2, 3}, run(nearest(s(1, 1, 3), 1, 5), seq(3, 1), "u"),
        0f);
    // 5 -> 2 columns: floor(dst * 2.5) = 0, 2.
    assertArrayEquals(new float[] {1, 3}, run(nearest(s(1, 1, 5), 1, 2), seq(5, 1), "u"), 0f);
    // 1x1 map to 2x3, two channels: every output cell is its channel's only value.
    assertArrayEquals(new float[] {7, 7, 7, 7, 7, 7, 8, 8, 8, 8, 8, 8},
        run(nearest(s(2, 1, 1), 2, 3), seq(2, 7), "u"), 0f);
  }

  @Test
  void bilinearHalfPixelClampsAtZero() throws IOException {
    // [1, 3] to 4 columns: src = 0.5 * (dst + 0.5) - 0.5 = -0.25 (clamped to 0), 0.25, 0.75,
    // 1.25 (the last column repeated).
    assertArrayEquals(new float[] {1, 1.5f, 2.5f, 3},
        run(bilinear(s(1, 1, 2), 1, 4, false), new float[] {1, 3}, "u"), EPS);
    // One output column: src = 3 * 0.5 - 0.5 = 1, the middle of [1, 2, 4].
    assertArrayEquals(new float[] {2},
        run(bilinear(s(1, 1, 3), 1, 1, false), new float[] {1, 2, 4}, "u"), EPS);
  }

  @Test
  void bilinearAlignCorners() throws IOException {
    // [[1, 3], [5, 7]] to 3x3: corners kept, midpoints averaged.
    float[] want = {1, 2, 3, 3, 4, 5, 5, 6, 7};
    assertArrayEquals(want, run(bilinear(s(1, 2, 2), 3, 3, true), new float[] {1, 3, 5, 7}, "u"),
        EPS);
  }

  @Test
  void resizeRefusesEmptyOutputSize() {
    // The declared output_shape stays positive so the manifest itself is well formed.
    Fixture n = new Fixture(1, 2, 2)
        .node("u", "upsample_nearest2d", map("output_size", s(0, 2)), s(1, 1, 2));
    Fixture b = new Fixture(1, 2, 2).node("u", "upsample_bilinear2d",
        map("output_size", s(2, 0), "align_corners", true), s(1, 2, 1));
    for (Fixture f : new Fixture[] {n, b}) {
      Pd2JavaException e = assertThrows(Pd2JavaException.class, () -> run(f, seq(4, 1), "u"));
      assertEquals(ErrorCode.INVALID_ATTRIBUTE, e.code(), e.getMessage());
      assertEquals("u", e.node());
    }
  }

  private static Fixture convT(int[] in, int cout, int[] k, int[] st, int[] p, int[] op,
      int[] dl, int groups, float[] w, float[] b, int[] out) {
    Fixture f = new Fixture(in);
    f.tensor("w", s(in[0], cout / groups, k[0], k[1]), w);
    if (b != null) {
      f.tensor("b", s(cout), b);
    }
    f.node("t", "conv_transpose2d",
        map("in_channels", in[0], "out_channels", cout, "kernel_size", k, "stride", st,
            "padding", p, "output_padding", op, "dilation", dl, "groups", groups),
        map("weight", "w", "bias", b == null ? null : "b"), out);
    return f;
  }

  @Test
  void convTransposeStrideTwoPlacesDiagonalBlocks() throws IOException {
    // Each input pixel v is written as [[v, 0], [0, v]] in its own 2x2 block, plus bias 0.5.
    Fixture f = convT(s(1, 2, 2), 1, s(2, 2), s(2, 2), s(0, 0), s(0, 0), s(1, 1), 1,
        new float[] {1, 0, 0, 1}, new float[] {0.5f}, s(1, 4, 4));
    float[] want = {
      1.5f, 0.5f, 2.5f, 0.5f,
      0.5f, 1.5f, 0.5f, 2.5f,
      3.5f, 0.5f, 4.5f, 0.5f,
      0.5f, 3.5f, 0.5f, 4.5f
    };
    assertArrayEquals(want, run(f, seq(4, 1), "t"), EPS);
  }

  @Test
  void convTransposeOverlapPaddingAndOutputPadding() throws IOException {
    float[] ones = {1, 1, 1, 1};
    // Overlapping 2x2 kernels of ones on [[1, 2], [3, 4]]: the centre sums all four.
    Fixture f = convT(s(1, 2, 2), 1, s(2, 2), s(1, 1), s(0, 0), s(0, 0), s(1, 1), 1, ones, null,
        s(1, 3, 3));
    assertArrayEquals(new float[] {1, 3, 2, 4, 10, 6, 3, 7, 4}, run(f, seq(4, 1), "t"), EPS);
    // padding 1 crops one row and column from each side: only the centre is left.
    Fixture g = convT(s(1, 2, 2), 1, s(2, 2), s(1, 1), s(1, 1), s(0, 0), s(1, 1), 1, ones, null,
        s(1, 1, 1));
    assertArrayEquals(new float[] {10}, run(g, seq(4, 1), "t"), EPS);
    // 1x1 kernel, stride 2, output_padding 1: the input on even cells, a zero row/column added.
    Fixture h = convT(s(1, 2, 2), 1, s(1, 1), s(2, 2), s(0, 0), s(1, 1), s(1, 1), 1,
        new float[] {1}, null, s(1, 4, 4));
    float[] want = {1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4, 0, 0, 0, 0, 0};
    assertArrayEquals(want, run(h, seq(4, 1), "t"), EPS);
  }

  @Test
  void convTransposeGroups() throws IOException {
    // Two groups of one channel: weights 2 and 3 scale their own channel only.
    Fixture f = convT(s(2, 1, 1), 2, s(1, 1), s(1, 1), s(0, 0), s(0, 0), s(1, 1), 2,
        new float[] {2, 3}, null, s(2, 1, 1));
    assertArrayEquals(new float[] {2, 6}, run(f, new float[] {1, 2}, "t"), EPS);
  }

  @Test
  void convTransposeRefusesBadAttributes() {
    // output_padding 2 is not smaller than stride 2 or dilation 1.
    Fixture f = convT(s(1, 2, 2), 1, s(1, 1), s(2, 2), s(0, 0), s(2, 2), s(1, 1), 1,
        new float[] {1}, null, s(1, 5, 5));
    Pd2JavaException e = assertThrows(Pd2JavaException.class, () -> run(f, seq(4, 1), "t"));
    assertEquals(ErrorCode.INVALID_ATTRIBUTE, e.code(), e.getMessage());
    // groups 2 does not divide out_channels 3.
    Fixture g = convT(s(2, 1, 1), 3, s(1, 1), s(1, 1), s(0, 0), s(0, 0), s(1, 1), 2,
        new float[] {1, 1}, null, s(3, 1, 1));
    e = assertThrows(Pd2JavaException.class, () -> run(g, seq(2, 1), "t"));
    assertEquals(ErrorCode.INVALID_ATTRIBUTE, e.code(), e.getMessage());
  }
}
