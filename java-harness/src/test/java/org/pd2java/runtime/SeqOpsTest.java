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
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hand-checked cases for the sequence ops conv1d, max_pool1d and avg_pool1d (the 2-D kernels on
 * the (c, 1, l) view), run through the real loader; every case also runs on the reference
 * kernels and must agree with the fast paths. The model input is a (c, 1, l) image squeezed to
 * (c, l) by the first node ({@link #squeezed}).
 */
class SeqOpsTest {
  @TempDir Path dir;

  private static final float EPS = 1e-5f;

  private float[] run(Fixture f, float[] x, String node) throws IOException {
    return KernelTesting.run(dir, f, x, node, (float) FormatRules.ATOL);
  }

  /** A fixture whose (c, 1, l) input is squeezed to the (c, l) value "s". */
  private static Fixture squeezed(int c, int l) {
    return new Fixture(c, 1, l).node("s", "squeeze", map("dim", 2), s(c, l));
  }

  /** The pool {@code op} ("p") on the squeezed (c, l) input. */
  private static Fixture pool(int c, int l, String op, Map<String, Object> attrs, int[] out) {
    return squeezed(c, l).node("p", op, attrs, out);
  }

  private static Fixture conv1d(int c, int l, Map<String, Object> attrs, float[] w, float[] b,
      int[] out) {
    int cout = (Integer) attrs.get("out_channels");
    int groups = (Integer) attrs.get("groups");
    int k = (Integer) attrs.get("kernel_size");
    Fixture f = squeezed(c, l).tensor("w", s(cout, c / groups, k), w);
    if (b != null) {
      f.tensor("b", s(cout), b);
    }
    return f.node("c", "conv1d", attrs, map("weight", "w", "bias", b == null ? null : "b"), out);
  }

  private static Map<String, Object> convAttrs(
      int cin, int cout, int k, int stride, int pad, int dil, int groups) {
    return map("in_channels", cin, "out_channels", cout, "kernel_size", k, "stride", stride,
        "padding", pad, "dilation", dil, "groups", groups);
  }

  private static Map<String, Object> maxAttrs(int k, int stride, int[] pad, int dil, boolean ceil) {
    return map("kernel_size", k, "stride", stride, "padding", pad, "dilation", dil, "ceil_mode",
        ceil);
  }

  private static Map<String, Object> avgAttrs(
      int k, int stride, int[] pad, boolean ceil, boolean includePad) {
    return map("kernel_size", k, "stride", stride, "padding", pad, "ceil_mode", ceil,
        "count_include_pad", includePad);
  }

  @Test
  void conv1dPaddingStrideDilation() throws IOException {
    // padded 0 1 2 3 4 5 0; taps i and i + 2 from 0, 2, 4: 0 + 10*2, 2 + 10*4, 4 + 10*0; + 0.5
    Fixture f = conv1d(1, 5, convAttrs(1, 1, 2, 2, 1, 2, 1), new float[] {1, 10},
        new float[] {0.5f}, s(1, 3));
    assertArrayEquals(new float[] {20.5f, 42.5f, 4.5f}, run(f, seq(5, 1), "c"), EPS);
  }

  @Test
  void conv1dDenseMixesChannels() throws IOException {
    Fixture f = conv1d(2, 4, convAttrs(2, 1, 1, 1, 0, 1, 1), new float[] {1, 2}, null, s(1, 4));
    assertArrayEquals(new float[] {11, 14, 17, 20}, run(f, seq(8, 1), "c"), EPS);
  }

  @Test
  void conv1dDepthwise() throws IOException {
    // channel 0 sums 3 neighbours (zero padded), channel 1 negates the centre
    Fixture f = conv1d(2, 4, convAttrs(2, 2, 3, 1, 1, 1, 2), new float[] {1, 1, 1, 0, -1, 0},
        null, s(2, 4));
    assertArrayEquals(new float[] {3, 6, 9, 7, -5, -6, -7, -8}, run(f, seq(8, 1), "c"), EPS);
  }

  @Test
  void conv1dLongSequencesOnEveryPathMatchADirectSum() throws IOException {
    // dense (GEMM, column tiles straddled), depthwise with a channel multiplier (tap planes),
    // grouped (the reference kernel), each against a plain loop over the taps
    int[][] shapes = {{3, 4, 1, 300, 5, 1, 2, 1}, {3, 6, 3, 100, 3, 1, 1, 2},
        {4, 6, 2, 37, 4, 3, 1, 2}};
    Random rnd = new Random(7);
    for (int[] sh : shapes) {
      int cin = sh[0], cout = sh[1], groups = sh[2], l = sh[3], k = sh[4], st = sh[5];
      int pad = sh[6], dil = sh[7];
      float[] w = new float[cout * (cin / groups) * k];
      float[] b = new float[cout];
      float[] x = new float[cin * l];
      for (float[] a : new float[][] {w, b, x}) {
        for (int i = 0; i < a.length; i++) {
          a[i] = (float) rnd.nextGaussian();
        }
      }
      int lo = (l + 2 * pad - dil * (k - 1) - 1) / st + 1;
      Fixture f = conv1d(cin, l, convAttrs(cin, cout, k, st, pad, dil, groups), w, b, s(cout, lo));
      float[] want = new float[cout * lo];
      int inG = cin / groups, outG = cout / groups;
      for (int oc = 0; oc < cout; oc++) {
        for (int o = 0; o < lo; o++) {
          double sum = b[oc];
          for (int icg = 0; icg < inG; icg++) {
            int ic = oc / outG * inG + icg;
            for (int t = 0; t < k; t++) {
              int i = o * st - pad + t * dil;
              if (i >= 0 && i < l) {
                sum += (double) w[(oc * inG + icg) * k + t] * x[ic * l + i];
              }
            }
          }
          want[oc * lo + o] = (float) sum;
        }
      }
      assertArrayEquals(want, run(f, x, "c"), 1e-4f);
    }
  }

  @Test
  void maxPool1dPerSidePaddingCeilModeAndDilation() throws IOException {
    float[] x = {3, -1, 4, -5, 9};
    // ceil_mode keeps the partial last window [9] (which reaches past the unpadded input)
    Fixture ceil = pool(1, 5, "max_pool1d", maxAttrs(2, 2, s(0, 0), 1, true), s(1, 3));
    assertArrayEquals(new float[] {3, 4, 9}, run(ceil, x, "p"), 0f);
    Fixture floor = pool(1, 5, "max_pool1d", maxAttrs(2, 2, s(0, 0), 1, false), s(1, 2));
    assertArrayEquals(new float[] {3, 4}, run(floor, x, "p"), 0f);
    // left pad 1 only: windows [pad, 3], [-1, 4], [-5, 9]; the pad never wins
    Fixture left = pool(1, 5, "max_pool1d", maxAttrs(2, 2, s(1, 0), 1, false), s(1, 3));
    assertArrayEquals(new float[] {3, 4, 9}, run(left, x, "p"), 0f);
    // dilation 2, pads [1, 1]: taps i and i + 2 of pad 1 2 3 4 5 pad
    Fixture dil = pool(1, 5, "max_pool1d", maxAttrs(2, 1, s(1, 1), 2, false), s(1, 5));
    assertArrayEquals(new float[] {2, 3, 4, 5, 4}, run(dil, seq(5, 1), "p"), 0f);
  }

  @Test
  void avgPool1dDivisors() throws IOException {
    // kernel 3, stride 2, pads [1, 1] on 1..5: windows [pad 1 2], [2 3 4], [4 5 pad]
    Fixture incl = pool(1, 5, "avg_pool1d", avgAttrs(3, 2, s(1, 1), false, true), s(1, 3));
    assertArrayEquals(new float[] {1, 3, 3}, run(incl, seq(5, 1), "p"), EPS);
    Fixture excl = pool(1, 5, "avg_pool1d", avgAttrs(3, 2, s(1, 1), false, false), s(1, 3));
    assertArrayEquals(new float[] {1.5f, 3, 4.5f}, run(excl, seq(5, 1), "p"), EPS);
    // ceil_mode's partial window [5] divides by the one cell inside the (unpadded) input
    Fixture ceil = pool(1, 5, "avg_pool1d", avgAttrs(2, 2, s(0, 0), true, true), s(1, 3));
    assertArrayEquals(new float[] {1.5f, 3.5f, 5}, run(ceil, seq(5, 1), "p"), EPS);
  }

  @Test
  void twoChannelsPoolIndependently() throws IOException {
    Fixture f = pool(2, 4, "max_pool1d", maxAttrs(2, 2, s(0, 0), 1, false), s(2, 2));
    assertArrayEquals(new float[] {2, 4, -5, -7}, run(f, new float[] {1, 2, 3, 4, -5, -6, -7,
        -8}, "p"), 0f);
  }

  private void assertRefused(Fixture f, float[] x, String node, ErrorCode code) {
    Pd2JavaException e = assertThrows(Pd2JavaException.class, () -> run(f, x, node));
    assertEquals(code, e.code(), e.getMessage());
    assertEquals(node, e.node());
  }

  @Test
  void poolsRefusePaddingOverHalfTheKernel() {
    assertRefused(pool(1, 6, "max_pool1d", maxAttrs(3, 1, s(0, 2), 1, false), s(1, 6)),
        seq(6, 1), "p", ErrorCode.INVALID_ATTRIBUTE);
    assertRefused(pool(1, 6, "avg_pool1d", avgAttrs(2, 1, s(2, 0), false, true), s(1, 7)),
        seq(6, 1), "p", ErrorCode.INVALID_ATTRIBUTE);
  }

  @Test
  void poolsRefuseBadWindows() {
    assertRefused(pool(1, 6, "max_pool1d", maxAttrs(2, 0, s(0, 0), 1, false), s(1, 6)),
        seq(6, 1), "p", ErrorCode.INVALID_ATTRIBUTE);
    // a window longer than the padded input, without ceil_mode
    assertRefused(pool(1, 2, "avg_pool1d", avgAttrs(3, 1, s(0, 0), false, true), s(1, 1)),
        seq(2, 1), "p", ErrorCode.SHAPE_MISMATCH);
  }

  @Test
  void conv1dRefusals() {
    float[] x = seq(6, 1);
    // groups not dividing the channels
    assertRefused(conv1d(3, 2, convAttrs(3, 2, 1, 1, 0, 1, 2), new float[] {1, 1}, null,
        s(2, 2)), x, "c", ErrorCode.INVALID_ATTRIBUTE);
    // a 4-D (conv2d) weight
    Fixture f = conv1d(1, 6, convAttrs(1, 1, 3, 1, 0, 1, 1), new float[] {1, 1, 1}, null,
        s(1, 4));
    f.tensor("w", s(1, 1, 1, 3), 1, 1, 1);
    assertRefused(f, x, "c", ErrorCode.INVALID_PARAMETER);
    // the (c, 1, l) image itself: conv1d needs a rank-2 input
    Fixture g = new Fixture(1, 1, 6).tensor("w", s(1, 1, 3), 1, 1, 1)
        .node("c", "conv1d", convAttrs(1, 1, 3, 1, 0, 1, 1), map("weight", "w", "bias", null),
            s(1, 4));
    assertRefused(g, x, "c", ErrorCode.SHAPE_MISMATCH);
    // a kernel longer than the padded input
    assertRefused(conv1d(1, 6, convAttrs(1, 1, 9, 1, 1, 1, 1), new float[9], null, s(1, 1)), x,
        "c", ErrorCode.SHAPE_MISMATCH);
  }
}
