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
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Hand-checked small cases for every kernel, run through the real loader. */
class KernelTest {
  @TempDir Path dir;

  private static final float EPS = 1e-6f;

  private float[] run(Fixture f, float[] x, String node) throws IOException {
    return KernelTesting.run(dir, f, x, node, (float) FormatRules.ATOL);
  }

  private static Fixture conv(int[] in, int cin, int cout, int[] k, int[] st, int[] p, int[] dl,
      int groups, float[] w, float[] b, int[] out) {
    Fixture f = new Fixture(in);
    f.tensor("w", s(cout, cin / groups, k[0], k[1]), w);
    if (b != null) {
      f.tensor("b", s(cout), b);
    }
    f.node("c", "conv2d",
        map("in_channels", cin, "out_channels", cout, "kernel_size", k, "stride", st,
            "padding", p, "dilation", dl, "groups", groups),
        map("weight", "w", "bias", b == null ? null : "b"), out);
    return f;
  }

  @Test
  void conv2dPlainWithBias() throws IOException {
    Fixture f = conv(s(1, 3, 3), 1, 1, s(2, 2), s(1, 1), s(0, 0), s(1, 1), 1,
        new float[] {1, 0, 0, 1}, new float[] {0.5f}, s(1, 2, 2));
    assertArrayEquals(new float[] {6.5f, 8.5f, 12.5f, 14.5f}, run(f, seq(9, 1), "c"), EPS);
  }

  @Test
  void conv2dPaddingOne() throws IOException {
    float[] ones = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    Fixture f = conv(s(1, 3, 3), 1, 1, s(3, 3), s(1, 1), s(1, 1), s(1, 1), 1, ones, null,
        s(1, 3, 3));
    assertArrayEquals(new float[] {12, 21, 16, 27, 45, 33, 24, 39, 28}, run(f, seq(9, 1), "c"),
        EPS);
  }

  @Test
  void conv2dStrideTwoWithPadding() throws IOException {
    float[] ones = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    Fixture f = conv(s(1, 3, 3), 1, 1, s(3, 3), s(2, 2), s(1, 1), s(1, 1), 1, ones, null,
        s(1, 2, 2));
    assertArrayEquals(new float[] {12, 16, 24, 28}, run(f, seq(9, 1), "c"), EPS);
  }

  @Test
  void conv2dAsymmetricStride() throws IOException {
    Fixture f = conv(s(1, 2, 4), 1, 1, s(1, 1), s(1, 2), s(0, 0), s(1, 1), 1, new float[] {1},
        null, s(1, 2, 2));
    assertArrayEquals(new float[] {1, 3, 5, 7}, run(f, seq(8, 1), "c"), EPS);
  }

  @Test
  void conv2dDilation() throws IOException {
    Fixture f = conv(s(1, 3, 3), 1, 1, s(2, 2), s(1, 1), s(0, 0), s(2, 2), 1,
        new float[] {1, 1, 1, 1}, null, s(1, 1, 1));
    assertArrayEquals(new float[] {20}, run(f, seq(9, 1), "c"), EPS);
  }

  @Test
  void conv2dMixesInputChannels() throws IOException {
    Fixture f = conv(s(2, 2, 2), 2, 1, s(1, 1), s(1, 1), s(0, 0), s(1, 1), 1,
        new float[] {1, 2}, null, s(1, 2, 2));
    assertArrayEquals(new float[] {11, 14, 17, 20}, run(f, seq(8, 1), "c"), EPS);
  }

  @Test
  void conv2dGrouped() throws IOException {
    // groups=2, 2 -> 4 channels: outputs 0,1 see input 0; outputs 2,3 see input 1.
    Fixture f = conv(s(2, 1, 1), 2, 4, s(1, 1), s(1, 1), s(0, 0), s(1, 1), 2,
        new float[] {1, 10, 100, 1000}, null, s(4, 1, 1));
    assertArrayEquals(new float[] {2, 20, 300, 3000}, run(f, new float[] {2, 3}, "c"), EPS);
  }

  @Test
  void conv2dDepthwise() throws IOException {
    Fixture f = conv(s(2, 2, 2), 2, 2, s(2, 2), s(1, 1), s(0, 0), s(1, 1), 2,
        new float[] {1, 1, 1, 1, -1, -1, -1, -1}, null, s(2, 1, 1));
    assertArrayEquals(new float[] {10, -26}, run(f, seq(8, 1), "c"), EPS);
  }

  @Test
  void conv2dRefusesBadGroupsAndWeightShape() throws IOException {
    Fixture f = conv(s(3, 2, 2), 3, 2, s(1, 1), s(1, 1), s(0, 0), s(1, 1), 2,
        new float[] {1, 1}, null, s(2, 2, 2));
    Pd2JavaException e = assertThrows(Pd2JavaException.class, () -> run(f, seq(12, 0), "c"));
    assertEquals(ErrorCode.INVALID_ATTRIBUTE, e.code());
    Fixture g = conv(s(1, 2, 2), 1, 1, s(1, 1), s(1, 1), s(0, 0), s(1, 1), 1,
        new float[] {1}, null, s(1, 2, 2));
    g.tensor("w", s(1, 1, 1, 2), 1, 1); // wrong kernel shape
    e = assertThrows(Pd2JavaException.class, () -> run(g, seq(4, 0), "c"));
    assertEquals(ErrorCode.INVALID_PARAMETER, e.code());
    assertEquals("c", e.node());
  }

  private Fixture bn(float[] mean, float[] var, float[] w, float[] b, double eps) {
    Fixture f = new Fixture(2, 1, 2);
    f.tensor("mean", s(2), mean).tensor("var", s(2), var);
    if (w != null) {
      f.tensor("gamma", s(2), w).tensor("beta", s(2), b);
    }
    f.node("bn", "batch_norm2d", map("num_features", 2, "eps", eps),
        map("running_mean", "mean", "running_var", "var", "weight", w == null ? null : "gamma",
            "bias", w == null ? null : "beta"), s(2, 1, 2));
    return f;
  }

  @Test
  void batchNormAffine() throws IOException {
    // eps must be > 0; 1e-12 does not change these float results.
    Fixture f = bn(new float[] {2, 0}, new float[] {4, 1}, new float[] {1, 2},
        new float[] {0, 1}, 1e-12);
    assertArrayEquals(new float[] {-0.5f, 0.5f, 5, 9}, run(f, new float[] {1, 3, 2, 4}, "bn"),
        EPS);
  }

  @Test
  void batchNormEpsAndNoAffine() throws IOException {
    Fixture f = bn(new float[] {0, 1}, new float[] {3, 0}, null, null, 1.0);
    // channel 0: x / sqrt(3 + 1); channel 1: (x - 1) / sqrt(0 + 1)
    assertArrayEquals(new float[] {1, 2, 1, 2}, run(f, new float[] {2, 4, 2, 3}, "bn"), EPS);
  }

  private float[] unary(String op, Map<String, Object> attrs, float... x) throws IOException {
    Fixture f = new Fixture(1, 1, x.length).node("a", op, attrs, s(1, 1, x.length));
    return run(f, x, "a");
  }

  @Test
  void activations() throws IOException {
    assertArrayEquals(new float[] {0, 0, 2}, unary("relu", map(), -1, 0, 2), 0f);
    assertArrayEquals(new float[] {0, 3, 6}, unary("relu6", map(), -1, 3, 7), 0f);
    assertArrayEquals(new float[] {-0.2f, 3, 0},
        unary("leaky_relu", map("negative_slope", 0.1), -2, 3, 0), EPS);
    // A slope given as a JSON integer is a valid JSON number.
    assertArrayEquals(new float[] {-4, 3}, unary("leaky_relu", map("negative_slope", 2), -2, 3),
        EPS);
    float[] sig = unary("sigmoid", map(), 0, (float) Math.log(3), -100, 100);
    assertArrayEquals(new float[] {0.5f, 0.75f, 0f, 1f}, sig, EPS);
  }

  private static Map<String, Object> pool(int[] k, int[] st, int[] p, int[] d) {
    return map("kernel_size", k, "stride", st, "padding", p, "dilation", d);
  }

  @Test
  void maxPool() throws IOException {
    Fixture f = new Fixture(1, 4, 4)
        .node("p", "max_pool2d", pool(s(2, 2), s(2, 2), s(0, 0), s(1, 1)), s(1, 2, 2));
    assertArrayEquals(new float[] {6, 8, 14, 16}, run(f, seq(16, 1), "p"), 0f);
  }

  @Test
  void maxPoolPaddingNeverWins() throws IOException {
    Fixture f = new Fixture(1, 3, 3)
        .node("p", "max_pool2d", pool(s(3, 3), s(2, 2), s(1, 1), s(1, 1)), s(1, 2, 2));
    assertArrayEquals(new float[] {5, 6, 8, 9}, run(f, seq(9, 1), "p"), 0f);
    float[] neg = new float[9];
    for (int i = 0; i < 9; i++) {
      neg[i] = -(i + 1);
    }
    assertArrayEquals(new float[] {-1, -2, -4, -5}, run(f, neg, "p"), 0f);
  }

  @Test
  void maxPoolDilation() throws IOException {
    Fixture f = new Fixture(1, 3, 3)
        .node("p", "max_pool2d", pool(s(2, 2), s(1, 1), s(0, 0), s(2, 2)), s(1, 1, 1));
    float[] x = {-1, 50, -3, 50, 50, 50, -7, 50, -9};
    assertArrayEquals(new float[] {-1}, run(f, x, "p"), 0f);
  }

  @Test
  void maxPoolRefusesPaddingOverHalfKernel() throws IOException {
    Fixture f = new Fixture(1, 4, 4)
        .node("p", "max_pool2d", pool(s(2, 2), s(1, 1), s(2, 2), s(1, 1)), s(1, 7, 7));
    Pd2JavaException e = assertThrows(Pd2JavaException.class, () -> run(f, seq(16, 1), "p"));
    assertEquals(ErrorCode.INVALID_ATTRIBUTE, e.code());
  }

  /** A max pool on a (1, 5, 5) input, stride 1; out is the (correct) output side. */
  private static Fixture dilatedPool(int k, int d, int p, int out) {
    return new Fixture(1, 5, 5)
        .node("p", "max_pool2d", pool(s(k, k), s(1, 1), s(p, p), s(d, d)), s(1, out, out));
  }

  @Test
  void maxPoolPaddingIsBoundedByTheUndilatedKernel() throws IOException {
    // As PyTorch and the Python reader: p <= k / 2 whatever the dilation. Both refused cases
    // are within half the dilated span (5 and 4), which must not widen the bound.
    for (int[] c : new int[][] {{3, 2, 2, 5}, {2, 3, 2, 6}}) {
      Fixture f = dilatedPool(c[0], c[1], c[2], c[3]);
      Pd2JavaException e =
          assertThrows(Pd2JavaException.class, () -> run(f, seq(25, 1), "p"), Arrays.toString(c));
      assertEquals(ErrorCode.INVALID_ATTRIBUTE, e.code(), e.getMessage());
      assertEquals("p", e.node());
      assertTrue(e.getMessage().contains("padding 2 exceeds half the kernel size " + c[0]),
          e.getMessage());
    }
    // k=3, d=2, p=1: rows (and columns) oy-1, oy+1, oy+3 of 0..4; the padded -1 never wins.
    float[] got = run(dilatedPool(3, 2, 1, 3), seq(25, 1), "p");
    assertArrayEquals(new float[] {19, 20, 19, 24, 25, 24, 19, 20, 19}, got, 0f);
  }

  @Test
  void avgPoolRefusesPaddingOverHalfKernel() throws IOException {
    Fixture f = new Fixture(1, 5, 5).node("p", "avg_pool2d", map("kernel_size", s(3, 3),
        "stride", s(1, 1), "padding", s(1, 2), "count_include_pad", true), s(1, 5, 7));
    Pd2JavaException e = assertThrows(Pd2JavaException.class, () -> run(f, seq(25, 1), "p"));
    assertEquals(ErrorCode.INVALID_ATTRIBUTE, e.code());
    assertEquals("p", e.node());
  }

  @Test
  void poolWindowThatDoesNotFitIsAShapeMismatch() throws IOException {
    // Span d*(k-1)+1 = 7 > 5 + 2*0: no window fits.
    Fixture f = new Fixture(1, 5, 5)
        .node("p", "max_pool2d", pool(s(3, 3), s(1, 1), s(0, 0), s(3, 3)), s(1, 1, 1));
    Pd2JavaException e = assertThrows(Pd2JavaException.class, () -> run(f, seq(25, 1), "p"));
    assertEquals(ErrorCode.SHAPE_MISMATCH, e.code());
    assertEquals("p", e.node());
    assertTrue(e.getMessage().contains("window of 7 does not fit the height extent 5"),
        e.getMessage());
  }

  @Test
  void poolRefusesStrideAndDilationBelowOne() throws IOException {
    Fixture stride = new Fixture(1, 4, 4)
        .node("p", "max_pool2d", pool(s(2, 2), s(0, 1), s(0, 0), s(1, 1)), s(1, 3, 3));
    Pd2JavaException e = assertThrows(Pd2JavaException.class, () -> run(stride, seq(16, 1), "p"));
    assertEquals(ErrorCode.INVALID_ATTRIBUTE, e.code());
    Fixture dil = new Fixture(1, 4, 4)
        .node("p", "max_pool2d", pool(s(2, 2), s(1, 1), s(0, 0), s(1, 0)), s(1, 3, 3));
    e = assertThrows(Pd2JavaException.class, () -> run(dil, seq(16, 1), "p"));
    assertEquals(ErrorCode.INVALID_ATTRIBUTE, e.code());
  }

  private Fixture avg(boolean includePad) {
    return new Fixture(1, 3, 3).node("p", "avg_pool2d", map("kernel_size", s(3, 3),
        "stride", s(2, 2), "padding", s(1, 1), "count_include_pad", includePad), s(1, 2, 2));
  }

  @Test
  void avgPoolCountIncludePad() throws IOException {
    assertArrayEquals(new float[] {12f / 9, 16f / 9, 24f / 9, 28f / 9},
        run(avg(true), seq(9, 1), "p"), EPS);
    assertArrayEquals(new float[] {3, 4, 6, 7}, run(avg(false), seq(9, 1), "p"), EPS);
  }

  @Test
  void avgPoolNoPadding() throws IOException {
    Fixture f = new Fixture(1, 4, 4).node("p", "avg_pool2d", map("kernel_size", s(2, 2),
        "stride", s(2, 2), "padding", s(0, 0), "count_include_pad", true), s(1, 2, 2));
    assertArrayEquals(new float[] {3.5f, 5.5f, 11.5f, 13.5f}, run(f, seq(16, 1), "p"), EPS);
  }

  @Test
  void globalAvgPoolAndFlatten() throws IOException {
    Fixture f = new Fixture(2, 2, 2).node("g", "global_avg_pool", map("keepdims", true),
        s(2, 1, 1));
    assertArrayEquals(new float[] {2.5f, 6.5f}, run(f, seq(8, 1), "g"), EPS);
    Fixture g = new Fixture(2, 2, 2).node("g", "global_avg_pool", map("keepdims", false), s(2));
    assertArrayEquals(new float[] {2.5f, 6.5f}, run(g, seq(8, 1), "g"), EPS);
    Fixture h = new Fixture(2, 1, 2).node("f", "flatten", map(), s(4));
    assertArrayEquals(new float[] {1, 2, 3, 4}, run(h, seq(4, 1), "f"), 0f);
  }

  @Test
  void linear() throws IOException {
    Fixture f = new Fixture(3, 1, 1)
        .tensor("W", s(2, 3), 1, 2, 3, 4, 5, 6)
        .tensor("b", s(2), 0.5f, -1)
        .node("f", "flatten", map(), s(3))
        .node("l", "linear", map("in_features", 3, "out_features", 2),
            map("weight", "W", "bias", "b"), s(2));
    assertArrayEquals(new float[] {9.5f, 20}, run(f, new float[] {1, 1, 2}, "l"), EPS);
    Fixture g = new Fixture(3, 1, 1)
        .tensor("W", s(1, 3), 1, 1, 1)
        .node("f", "flatten", map(), s(3))
        .node("l", "linear", map("in_features", 3, "out_features", 1),
            map("weight", "W", "bias", null), s(1));
    assertArrayEquals(new float[] {4}, run(g, new float[] {1, 1, 2}, "l"), EPS);
  }

  @Test
  void softmaxOverClasses() throws IOException {
    Fixture f = new Fixture(3, 1, 1)
        .node("f", "flatten", map(), s(3))
        .node("s", "softmax", map("dim", 1), s(3));
    assertArrayEquals(new float[] {0.09003057f, 0.24472847f, 0.66524096f},
        run(f, new float[] {1, 2, 3}, "s"), EPS);
    // Large logits must not overflow (max is subtracted first).
    assertArrayEquals(new float[] {0.09003057f, 0.24472847f, 0.66524096f},
        run(f, new float[] {1001, 1002, 1003}, "s"), EPS);
  }

  @Test
  void softmaxOverChannelsAndLastAxis() throws IOException {
    float ln3 = (float) Math.log(3);
    Fixture ch = new Fixture(2, 1, 2).node("s", "softmax", map("dim", 1), s(2, 1, 2));
    assertArrayEquals(new float[] {0.25f, 0.5f, 0.75f, 0.5f},
        run(ch, new float[] {0, 0, ln3, 0}, "s"), EPS);
    Fixture last = new Fixture(2, 1, 2).node("s", "softmax", map("dim", 3), s(2, 1, 2));
    assertArrayEquals(new float[] {0.5f, 0.5f, 0.75f, 0.25f},
        run(last, new float[] {0, 0, ln3, 0}, "s"), EPS);
    // The batch axis and negative dims are refused.
    for (int dim : new int[] {0, -1}) {
      Fixture bad = new Fixture(2, 1, 2).node("s", "softmax", map("dim", dim), s(2, 1, 2));
      Pd2JavaException e =
          assertThrows(Pd2JavaException.class, () -> run(bad, new float[4], "s"));
      assertEquals(ErrorCode.INVALID_ATTRIBUTE, e.code());
    }
  }

  @Test
  void addTwoBranches() throws IOException {
    Fixture f = new Fixture(1, 1, 2)
        .node("r", "relu", map(), s(1, 1, 2))
        .node("a", "add", map(), s(1, 1, 2), "input", "r");
    assertArrayEquals(new float[] {-1, 4}, run(f, new float[] {-1, 2}, "a"), 0f);
  }

  @Test
  void addRefusesBroadcast() throws IOException {
    Fixture f = new Fixture(1, 1, 2)
        .node("g", "global_avg_pool", map("keepdims", true), s(1, 1, 1))
        .node("a", "add", map(), s(1, 1, 2), "input", "g");
    Pd2JavaException e = assertThrows(Pd2JavaException.class, () -> run(f, new float[2], "a"));
    assertEquals(ErrorCode.SHAPE_MISMATCH, e.code());
  }
}
