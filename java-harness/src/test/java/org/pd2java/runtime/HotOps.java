package org.pd2java.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.pd2java.runtime.Fixture.map;

import java.util.Map;
import java.util.Random;

/**
 * Builds fixtures of the hot ops (dense and depthwise convolution, conv1d, linear), the ones a
 * {@link KernelProvider} replaces, with random weights stored as float32, IEEE half or int8 (with
 * per-output-channel scales), and compares outputs at the parity tolerance. Shared by the tests
 * that run in both kernel families (the JUnit suite runs once in a JVM with the Vector API module
 * and once without).
 */
final class HotOps {
  private HotOps() {}

  /** How a weight tensor is stored in the file. */
  enum Dtype {
    F32,
    F16,
    I8
  }

  /** {@code n} values uniform in [-1, 1). */
  static float[] random(Random r, int n) {
    float[] a = new float[n];
    for (int i = 0; i < n; i++) {
      a[i] = r.nextFloat() * 2 - 1;
    }
    return a;
  }

  static int count(int... shape) {
    int n = 1;
    for (int d : shape) {
      n *= d;
    }
    return n;
  }

  /** Output extent of a window: {@code (in + 2p - d(k - 1) - 1) / s + 1}. */
  static int out(int in, int k, int s, int p, int d) {
    return (in + 2 * p - d * (k - 1) - 1) / s + 1;
  }

  /**
   * Adds tensor {@code name} of {@code shape} with random values in {@code dtype} (F16 and I8 need
   * a version 3 fixture; I8 also adds its scale tensor and quantization entry). Values are of
   * unit order: halves below 1 in magnitude (subnormals included), int8 steps of about 1/127.
   */
  static void weight(Fixture f, String name, Dtype dtype, Random r, int... shape) {
    int n = count(shape);
    switch (dtype) {
      case F32 -> f.tensor(name, shape, random(r, n));
      case F16 -> {
        short[] h = new short[n];
        for (int i = 0; i < n; i++) {
          int exp = r.nextInt(10) == 0 ? 0 : 1 + r.nextInt(14); // below 1.0; some subnormals
          h[i] = (short) ((r.nextInt(2) << 15) | (exp << 10) | r.nextInt(1024));
        }
        f.half(name, shape, h);
      }
      case I8 -> {
        byte[] q = new byte[n];
        for (int i = 0; i < n; i++) {
          q[i] = (byte) (r.nextInt(255) - 127);
        }
        float[] scale = new float[shape[0]];
        for (int o = 0; o < scale.length; o++) {
          scale[o] = (0.5f + r.nextFloat()) / 127f;
        }
        f.int8(name, shape, q, scale);
      }
    }
  }

  /** conv2d@1 attributes. */
  static Map<String, Object> conv2d(int cin, int cout, int kh, int kw, int sh, int sw, int ph,
      int pw, int dh, int dw, int groups) {
    return map("in_channels", cin, "out_channels", cout, "kernel_size", new int[] {kh, kw},
        "stride", new int[] {sh, sw}, "padding", new int[] {ph, pw},
        "dilation", new int[] {dh, dw}, "groups", groups);
  }

  /** conv1d@1 attributes. */
  static Map<String, Object> conv1d(int cin, int cout, int k, int s, int p, int d, int groups) {
    return map("in_channels", cin, "out_channels", cout, "kernel_size", k, "stride", s,
        "padding", p, "dilation", d, "groups", groups);
  }

  /**
   * A model with each hot op: a dense 3x3 conv (4 -> 8 channels, padding 1) and relu, a depthwise
   * 3x3 conv (channel multiplier 2, stride 2) and relu6, a pointwise 1x1 conv added to a
   * second 1x1 branch (a residual add), a global average pool and a linear layer with softmax;
   * input (4, 12, 14). Conv and linear weights in {@code dtype}.
   */
  static Fixture mixed(Random r, Dtype dtype) {
    Fixture f = new Fixture(4, 12, 14).version(dtype == Dtype.F32 ? 2 : 3);
    weight(f, "c1.w", dtype, r, 8, 4, 3, 3);
    f.tensor("c1.b", new int[] {8}, random(r, 8));
    weight(f, "dw.w", dtype, r, 16, 1, 3, 3);
    f.tensor("dw.b", new int[] {16}, random(r, 16));
    weight(f, "pw.w", dtype, r, 16, 16, 1, 1);
    weight(f, "pw2.w", dtype, r, 16, 16, 1, 1);
    f.tensor("pw2.b", new int[] {16}, random(r, 16));
    weight(f, "fc.w", dtype, r, 5, 16);
    f.tensor("fc.b", new int[] {5}, random(r, 5));
    return f
        .node("c1", "conv2d", conv2d(4, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1),
            map("weight", "c1.w", "bias", "c1.b"), new int[] {8, 12, 14})
        .node("act", "relu", map(), new int[] {8, 12, 14})
        .node("dw", "conv2d", conv2d(8, 16, 3, 3, 2, 2, 1, 1, 1, 1, 8),
            map("weight", "dw.w", "bias", "dw.b"), new int[] {16, 6, 7})
        .node("r6", "relu6", map(), new int[] {16, 6, 7})
        .node("pw", "conv2d", conv2d(16, 16, 1, 1, 1, 1, 0, 0, 1, 1, 1),
            map("weight", "pw.w", "bias", null), new int[] {16, 6, 7})
        .node("pw2", "conv2d", conv2d(16, 16, 1, 1, 1, 1, 0, 0, 1, 1, 1),
            map("weight", "pw2.w", "bias", "pw2.b"), new int[] {16, 6, 7}, "r6")
        .node("res", "add", map(), new int[] {16, 6, 7}, "pw", "pw2")
        .node("gap", "global_avg_pool", map("keepdims", false), new int[] {16})
        .node("fc", "linear", map("in_features", 16, "out_features", 5),
            map("weight", "fc.w", "bias", "fc.b"), new int[] {5})
        .node("prob", "softmax", map("dim", 1), new int[] {5});
  }

  /** {@code got} equals {@code want} within 1e-5 absolute plus 1e-4 relative, element by element. */
  static void assertClose(float[] want, float[] got, String what) {
    assertEquals(want.length, got.length, what + ": length");
    for (int i = 0; i < want.length; i++) {
      assertTrue(Float.isFinite(got[i]) && Math.abs(got[i] - want[i])
          <= FormatRules.ATOL + FormatRules.RTOL * Math.abs(want[i]),
          what + ": element " + i + " is " + got[i] + ", the reference kernels give " + want[i]);
    }
  }
}
