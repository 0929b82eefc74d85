package org.pd2java.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.pd2java.runtime.Fixture.map;
import static org.pd2java.runtime.KernelTesting.s;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hand-checked cases for tanh, silu, hardswish, hardsigmoid, elu, mish, gelu (and its erf),
 * log_softmax, clamp and prelu, run through the real loader. Expected values are worked out by
 * hand from the op's formula at points where it is exact (tanh(ln(3) / 2) = 1/2, sigmoid(ln 3) =
 * 3/4, tanh(ln 4) = 15/17, ...) or from tabulated values of the normal distribution.
 */
class ActivationOpsTest {
  @TempDir Path dir;

  private static final float EPS = 1e-6f;
  private static final float LN3 = (float) Math.log(3);

  private float[] run(Fixture f, float[] x, String node) throws IOException {
    return KernelTesting.runDefault(dir, f, x, node);
  }

  private float[] unary(String op, Map<String, Object> attrs, float... x) throws IOException {
    Fixture f = new Fixture(1, 1, x.length).node("a", op, attrs, s(1, 1, x.length));
    return run(f, x, "a");
  }

  private ErrorCode refused(Fixture f, int inputSize) {
    Pd2JavaException e =
        assertThrows(Pd2JavaException.class, () -> run(f, new float[inputSize], "a"));
    assertEquals("a", e.node());
    return e.code();
  }

  @Test
  void tanhAndSilu() throws IOException {
    assertArrayEquals(new float[] {0f, 0.5f, -0.5f, 1f, -1f},
        unary("tanh", map(), 0, LN3 / 2, -LN3 / 2, 30, -30), EPS);
    // silu(x) = x * sigmoid(x); sigmoid(ln 3) = 3/4, sigmoid(-ln 3) = 1/4.
    assertArrayEquals(new float[] {0f, LN3 * 0.75f, -LN3 * 0.25f, 50f, -0f},
        unary("silu", map(), 0, LN3, -LN3, 50, -200), EPS);
  }

  @Test
  void hardswishAndHardsigmoid() throws IOException {
    // relu6(x + 3) / 6 at -4, -3, 0, 1, 3, 4.
    assertArrayEquals(new float[] {0f, 0f, 0.5f, 4f / 6f, 1f, 1f},
        unary("hardsigmoid", map(), -4, -3, 0, 1, 3, 4), EPS);
    assertArrayEquals(new float[] {-0f, -0f, 0f, 4f / 6f, 3f, 4f},
        unary("hardswish", map(), -4, -3, 0, 1, 3, 4), EPS);
    assertArrayEquals(new float[] {-1.5f * 1.5f / 6f}, unary("hardswish", map(), -1.5f), EPS);
  }

  @Test
  void elu() throws IOException {
    // alpha (exp(-ln 2) - 1) = 2 * (1/2 - 1) = -1; x > 0 is unchanged.
    assertArrayEquals(new float[] {1f, 0f, -1f, -2f},
        unary("elu", map("alpha", 2.0), 1, 0, (float) -Math.log(2), -100), EPS);
    // An alpha given as a JSON integer is a valid JSON number.
    assertArrayEquals(new float[] {-0.5f}, unary("elu", map("alpha", 1), (float) -Math.log(2)),
        EPS);
  }

  @Test
  void mish() throws IOException {
    // softplus(ln 3) = ln 4, tanh(ln 4) = 15/17; softplus(-ln 3) = ln(4/3), tanh = 7/25.
    assertArrayEquals(new float[] {0f, LN3 * 15f / 17f, -LN3 * 7f / 25f, 40f},
        unary("mish", map(), 0, LN3, -LN3, 40), EPS);
  }

  @Test
  void erfAgainstTabulatedValues() {
    double[][] erf = {
      {0.5, 0.5204998778130465}, {1, 0.8427007929497149}, {2.5, 0.999593047982555},
      {-3, -0.9999779095030014}, {1e-5, 1.1283791670579e-05}, {0, 0}};
    for (double[] c : erf) {
      assertEquals(c[1], GeluKernel.erf(c[0]), 1e-15 * Math.abs(c[1]), "erf(" + c[0] + ")");
    }
    // Either side of the seam at 2 between the series and the continued fraction.
    double[][] erfc = {
      {3, 2.2090496998585438e-05}, {5, 1.5374597944280351e-12}, {-1, 1.842700792949715},
      {1.9999, 0.004679802092970608}, {2.0001, 0.0046756686958033394}, {30, 0}};
    for (double[] c : erfc) {
      assertEquals(c[1], GeluKernel.erfc(c[0]), 1e-13 * Math.abs(c[1]), "erfc(" + c[0] + ")");
    }
  }

  @Test
  void gelu() throws IOException {
    // x * Phi(x): Phi(1) = 0.8413447460685429, Phi(-1) = 0.15865525393145707, Phi(2) =
    // 0.9772498680518208.
    assertArrayEquals(new float[] {0f, 0.8413447f, -0.15865525f, 1.9544997f},
        unary("gelu", map("tanh_approximation", false), 0, 1, -1, 2), EPS);
    // x * (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2 at 1 and -2.
    assertArrayEquals(new float[] {0f, 0.84119199f, -0.04540231f},
        unary("gelu", map("tanh_approximation", true), 0, 1, -2), EPS);
  }

  @Test
  void logSoftmax() throws IOException {
    Fixture f = new Fixture(3, 1, 1)
        .node("f", "flatten", map(), s(3))
        .node("a", "log_softmax", map("dim", 1), s(3));
    float[] want = {-2.4076059644f, -1.4076059644f, -0.4076059644f};
    assertArrayEquals(want, run(f, new float[] {1, 2, 3}, "a"), EPS);
    // Large logits must not overflow (max is subtracted first).
    assertArrayEquals(want, run(f, new float[] {1001, 1002, 1003}, "a"), EPS);
    // Over the last axis of a (2, 1, 2) value: log(1/4), log(3/4) and log(1/2) twice.
    float ln3 = LN3;
    Fixture last = new Fixture(2, 1, 2).node("a", "log_softmax", map("dim", 3), s(2, 1, 2));
    float l2 = (float) Math.log(2);
    assertArrayEquals(new float[] {-l2, -l2, ln3 - 2 * l2, -2 * l2},
        run(last, new float[] {0, 0, ln3, 0}, "a"), EPS);
    for (int dim : new int[] {0, -1, 4}) {
      Fixture bad = new Fixture(2, 1, 2).node("a", "log_softmax", map("dim", dim), s(2, 1, 2));
      assertEquals(ErrorCode.INVALID_ATTRIBUTE, refused(bad, 4), "dim " + dim);
    }
  }

  @Test
  void clamp() throws IOException {
    assertArrayEquals(new float[] {-1f, 0.5f, 2f, -1f},
        unary("clamp", map("min", -1.0, "max", 2.0), -3, 0.5f, 5, -1), 0f);
    // One-sided: the missing bound is the largest float32.
    assertArrayEquals(new float[] {-0.25f, 1e30f},
        unary("clamp", map("min", -0.25, "max", 3.4028234663852886e38), -3, 1e30f), 0f);
    assertArrayEquals(new float[] {-1e30f, 0f},
        unary("clamp", map("min", -3.4028234663852886e38, "max", 0.0), -1e30f, 7), 0f);
    // min == max is allowed; min > max is not.
    assertArrayEquals(new float[] {1f, 1f}, unary("clamp", map("min", 1, "max", 1), -5, 5), 0f);
    Fixture bad = new Fixture(1, 1, 2).node("a", "clamp", map("min", 2.0, "max", 1.0), s(1, 1, 2));
    assertEquals(ErrorCode.INVALID_ATTRIBUTE, refused(bad, 2));
  }

  private static Fixture prelu(int count, int[] in, float... weight) {
    return new Fixture(in)
        .tensor("w", s(weight.length), weight)
        .node("a", "prelu", map("num_parameters", count), map("weight", "w"), in);
  }

  @Test
  void prelu() throws IOException {
    float[] x = {-4, 1, -2, 3};
    assertArrayEquals(new float[] {-1, 1, -0.5f, 3}, run(prelu(1, s(2, 1, 2), 0.25f), x, "a"), 0f);
    // One slope per channel: channel 0 is x[0..1], channel 1 is x[2..3].
    assertArrayEquals(new float[] {-2, 1, -4, 3},
        run(prelu(2, s(2, 1, 2), 0.5f, 2f), x, "a"), 0f);
    // A 1-channel input with its one slope; zero stays zero.
    assertArrayEquals(new float[] {0, -0.3f}, run(prelu(1, s(1, 2, 1), 0.3f), new float[] {0, -1},
        "a"), EPS);
    // num_parameters neither 1 nor C; below 1.
    assertEquals(ErrorCode.SHAPE_MISMATCH, refused(prelu(3, s(2, 1, 2), 1, 1, 1), 4));
    assertEquals(ErrorCode.INVALID_ATTRIBUTE, refused(prelu(0, s(2, 1, 2), 1), 4));
    // A weight whose length is not num_parameters.
    assertEquals(ErrorCode.INVALID_PARAMETER, refused(prelu(2, s(2, 1, 2), 1), 4));
  }
}
