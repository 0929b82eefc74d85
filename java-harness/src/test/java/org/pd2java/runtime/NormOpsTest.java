package org.pd2java.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.pd2java.runtime.Fixture.map;
import static org.pd2java.runtime.KernelTesting.s;

import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Hand-checked cases for the normalisation kernels, run through the real loader. */
class NormOpsTest {
  @TempDir Path dir;

  private static final float EPS = 1e-6f;

  private float[] run(Fixture f, float[] x, String node) throws IOException {
    return KernelTesting.run(dir, f, x, node, (float) FormatRules.ATOL);
  }

  private static Fixture groupNorm(int groups, int c, double eps, float[] w, float[] b) {
    Fixture f = new Fixture(2, 1, 2);
    if (w != null) {
      f.tensor("w", s(2), w).tensor("b", s(2), b);
    }
    f.node("gn", "group_norm", map("num_groups", groups, "num_channels", c, "eps", eps),
        map("weight", w == null ? null : "w", "bias", b == null ? null : "b"), s(2, 1, 2));
    return f;
  }

  @Test
  void groupNormOneGroupAffine() throws IOException {
    // x = 1 3 5 7: mean 4, biased variance 5, + eps 4 = 9, so y = (x - 4) / 3
    // = -1, -1/3, 1/3, 1; channel 1 then * 3 + 1 = 2, 4.
    Fixture f = groupNorm(1, 2, 4.0, new float[] {1, 3}, new float[] {0, 1});
    assertArrayEquals(new float[] {-1, -1f / 3, 2, 4}, run(f, new float[] {1, 3, 5, 7}, "gn"),
        EPS);
  }

  @Test
  void groupNormOneChannelPerGroupNoAffine() throws IOException {
    // channel 0: 1 3 -> mean 2, variance 1, + eps 1 = 2; channel 1: constant -> 0.
    Fixture f = groupNorm(2, 2, 1.0, null, null);
    float r = (float) (1 / Math.sqrt(2));
    assertArrayEquals(new float[] {-r, r, 0, 0}, run(f, new float[] {1, 3, 5, 5}, "gn"), EPS);
  }

  @Test
  void groupNormOnAVector() throws IOException {
    // A (4) value, two groups of two: (0, 2) has mean 1 and variance 1 -> -1, 1 (eps 1e-12 is
    // below float precision here); (10, 10) is constant -> 0, 0.
    Fixture f = new Fixture(4, 1, 1);
    f.node("flat", "flatten", map(), s(4));
    f.node("gn", "group_norm", map("num_groups", 2, "num_channels", 4, "eps", 1e-12),
        map("weight", null, "bias", null), s(4));
    assertArrayEquals(new float[] {-1, 1, 0, 0}, run(f, new float[] {0, 2, 10, 10}, "gn"), EPS);
  }

  @Test
  void groupNormRefusesBadAttributesAndShapes() throws IOException {
    Fixture notMultiple = new Fixture(3, 1, 1);
    notMultiple.node("gn", "group_norm", map("num_groups", 2, "num_channels", 3, "eps", 1e-5),
        map("weight", null, "bias", null), s(3, 1, 1));
    Pd2JavaException e =
        assertThrows(Pd2JavaException.class, () -> run(notMultiple, new float[3], "gn"));
    assertEquals(ErrorCode.INVALID_ATTRIBUTE, e.code());
    Fixture zeroEps = groupNorm(1, 2, 0.0, null, null);
    e = assertThrows(Pd2JavaException.class, () -> run(zeroEps, new float[4], "gn"));
    assertEquals(ErrorCode.INVALID_ATTRIBUTE, e.code());
    Fixture channels = groupNorm(1, 4, 1e-5, null, null);
    e = assertThrows(Pd2JavaException.class, () -> run(channels, new float[4], "gn"));
    assertEquals(ErrorCode.SHAPE_MISMATCH, e.code());
  }

  @Test
  void instanceNormAffine() throws IOException {
    // channel 0: 0 6 -> mean 3, variance 9, + eps 7 = 16: -3/4, 3/4, * 2 = -1.5, 1.5;
    // channel 1: constant -> 0, + bias 5.
    Fixture f = new Fixture(2, 1, 2);
    f.tensor("w", s(2), 2, 1).tensor("b", s(2), 0, 5);
    f.node("in", "instance_norm2d", map("num_features", 2, "eps", 7.0),
        map("weight", "w", "bias", "b"), s(2, 1, 2));
    assertArrayEquals(new float[] {-1.5f, 1.5f, 5, 5}, run(f, new float[] {0, 6, 1, 1}, "in"),
        EPS);
  }

  @Test
  void instanceNormRefusesBadEpsAndRank() throws IOException {
    Fixture f = new Fixture(2, 1, 2);
    f.node("in", "instance_norm2d", map("num_features", 2, "eps", -1.0),
        map("weight", null, "bias", null), s(2, 1, 2));
    Pd2JavaException e = assertThrows(Pd2JavaException.class, () -> run(f, new float[4], "in"));
    assertEquals(ErrorCode.INVALID_ATTRIBUTE, e.code());
    Fixture g = new Fixture(2, 1, 2);
    g.node("flat", "flatten", map(), s(4));
    g.node("in", "instance_norm2d", map("num_features", 4, "eps", 1e-5),
        map("weight", null, "bias", null), s(4));
    e = assertThrows(Pd2JavaException.class, () -> run(g, new float[4], "in"));
    assertEquals(ErrorCode.SHAPE_MISMATCH, e.code());
  }

  @Test
  void layerNormOverTheLastDimAffine() throws IOException {
    // Rows (1, 3) and (5, 5) of a (1, 2, 2) input: mean 2, variance 1, + eps 3 = 4, so
    // y = (x - 2) / 2 = -0.5, 0.5, then * (2, 4) + (1, 0) = 0, 2; the constant row gives 0 -> 1, 0.
    Fixture f = new Fixture(1, 2, 2);
    f.tensor("w", s(2), 2, 4).tensor("b", s(2), 1, 0);
    f.node("ln", "layer_norm", map("normalized_dims", 1, "normalized_size", 2, "eps", 3.0),
        map("weight", "w", "bias", "b"), s(1, 2, 2));
    assertArrayEquals(new float[] {0, 2, 1, 0}, run(f, new float[] {1, 3, 5, 5}, "ln"), EPS);
  }

  @Test
  void layerNormOverAllDimsNoAffine() throws IOException {
    // 1 3 5 7 over (C, H, W) = (2, 1, 2): mean 4, variance 5, + eps 4 = 9: (x - 4) / 3.
    Fixture f = new Fixture(2, 1, 2);
    f.node("ln", "layer_norm", map("normalized_dims", 3, "normalized_size", 4, "eps", 4.0),
        map("weight", null, "bias", null), s(2, 1, 2));
    assertArrayEquals(new float[] {-1, -1f / 3, 1f / 3, 1},
        run(f, new float[] {1, 3, 5, 7}, "ln"), EPS);
  }

  @Test
  void layerNormRefusesBadAttributesAndShapes() throws IOException {
    Fixture zero = new Fixture(1, 1, 2);
    zero.node("ln", "layer_norm", map("normalized_dims", 0, "normalized_size", 2, "eps", 1e-5),
        map("weight", null, "bias", null), s(1, 1, 2));
    Pd2JavaException e = assertThrows(Pd2JavaException.class, () -> run(zero, new float[2], "ln"));
    assertEquals(ErrorCode.INVALID_ATTRIBUTE, e.code());
    Fixture size = new Fixture(1, 1, 2);
    size.node("ln", "layer_norm", map("normalized_dims", 1, "normalized_size", 3, "eps", 1e-5),
        map("weight", null, "bias", null), s(1, 1, 2));
    e = assertThrows(Pd2JavaException.class, () -> run(size, new float[2], "ln"));
    assertEquals(ErrorCode.SHAPE_MISMATCH, e.code());
    Fixture rank = new Fixture(1, 1, 2);
    rank.node("ln", "layer_norm", map("normalized_dims", 4, "normalized_size", 2, "eps", 1e-5),
        map("weight", null, "bias", null), s(1, 1, 2));
    e = assertThrows(Pd2JavaException.class, () -> run(rank, new float[2], "ln"));
    assertEquals(ErrorCode.SHAPE_MISMATCH, e.code());
  }

  @Test
  void batchNorm1dOnAVector() throws IOException {
    // eps 1: ch0 (5 - 1) / sqrt(3 + 1) = 2; ch1 3 / sqrt(0 + 1) * 2 = 6;
    // ch2 1 / sqrt(1 + 1) + 1; ch3 6 / sqrt(8 + 1) = 2.
    Fixture f = new Fixture(4, 1, 1);
    f.tensor("mean", s(4), 1, 0, 0, 0).tensor("var", s(4), 3, 0, 1, 8);
    f.tensor("w", s(4), 1, 2, 1, 1).tensor("b", s(4), 0, 0, 1, 0);
    f.node("flat", "flatten", map(), s(4));
    f.node("bn", "batch_norm1d", map("num_features", 4, "eps", 1.0),
        map("running_mean", "mean", "running_var", "var", "weight", "w", "bias", "b"), s(4));
    float r = (float) (1 + 1 / Math.sqrt(2));
    assertArrayEquals(new float[] {2, 6, r, 2}, run(f, new float[] {5, 3, 1, 6}, "bn"), EPS);
  }

  @Test
  void batchNorm1dRefusesBadEpsAndRank() throws IOException {
    Fixture f = new Fixture(2, 1, 1);
    f.tensor("mean", s(2), 0, 0).tensor("var", s(2), 1, 1);
    f.node("flat", "flatten", map(), s(2));
    f.node("bn", "batch_norm1d", map("num_features", 2, "eps", 0.0),
        map("running_mean", "mean", "running_var", "var", "weight", null, "bias", null), s(2));
    Pd2JavaException e = assertThrows(Pd2JavaException.class, () -> run(f, new float[2], "bn"));
    assertEquals(ErrorCode.INVALID_ATTRIBUTE, e.code());
    Fixture g = new Fixture(2, 1, 1);
    g.tensor("mean", s(2), 0, 0).tensor("var", s(2), 1, 1);
    g.node("bn", "batch_norm1d", map("num_features", 2, "eps", 1e-5),
        map("running_mean", "mean", "running_var", "var", "weight", null, "bias", null),
        s(2, 1, 1));
    e = assertThrows(Pd2JavaException.class, () -> run(g, new float[2], "bn"));
    assertEquals(ErrorCode.SHAPE_MISMATCH, e.code());
  }
}
