package org.pd2java.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.pd2java.runtime.Fixture.map;
import static org.pd2java.runtime.HotOps.conv1d;
import static org.pd2java.runtime.HotOps.conv2d;
import static org.pd2java.runtime.HotOps.out;
import static org.pd2java.runtime.HotOps.random;
import static org.pd2java.runtime.HotOps.weight;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The default kernels (in a JVM with the Vector API module: the Vector API kernels wherever they
 * offer one, see {@link KernelPathTest}; else the scalar fast paths) give the reference kernels'
 * results within 1e-5 absolute plus 1e-4 relative on edge geometries and on random ones, for
 * float32, half and int8 weights: dense convolution (1x1 pointwise, odd sizes, stride larger
 * than the kernel, dilation, padding, conv1d), depthwise convolution (channel multiplier above 1,
 * stride 2, dilation), linear, and a convolution followed by an activation or a residual add
 * (what a fusing kernel would merge). Each case runs on several inputs, the last one all zeros
 * (biases alone).
 */
class FastPathTest {
  @TempDir Path dir;

  private static final HotOps.Dtype[] DTYPES = HotOps.Dtype.values();

  /** Loads {@code f} twice (default and reference kernels) and compares 3 random inputs. */
  private void check(Fixture f, Random r, String what) throws IOException {
    Path p = Fixture.write(Files.createTempDirectory(dir, "case"), f.manifest(), f.weights());
    LoadOptions plain = LoadOptions.defaults().withSelfTest(false);
    Model fast = Model.load(p, plain);
    Model ref = Model.load(p, plain.withReferenceKernels(true));
    assertEquals(KernelPathTest.expectVector(), fast.kernelInfo().startsWith("vector:"),
        what + ": " + fast.kernelInfo());
    assertTrue(ref.kernelInfo().startsWith("reference:"), ref.kernelInfo());
    int n = HotOps.count(f.inputShape);
    for (int s = 0; s < 3; s++) {
      float[] x = s == 2 ? new float[n] : random(r, n);
      HotOps.assertClose(ref.predict(x), fast.predict(x), what + ", input " + s);
    }
  }

  /** A fixture of one dense or grouped conv2d; {@code c}: cin, cout, kh, kw, sh, sw, ph, pw, dh,
   * dw, h, w, groups. */
  private static Fixture conv2dCase(int[] c, HotOps.Dtype dtype, boolean bias, Random r) {
    int cin = c[0], cout = c[1], groups = c[12];
    Fixture f = new Fixture(cin, c[10], c[11]).version(dtype == HotOps.Dtype.F32 ? 2 : 3);
    weight(f, "w", dtype, r, cout, cin / groups, c[2], c[3]);
    f.tensor("b", new int[] {cout}, random(r, cout));
    int ho = out(c[10], c[2], c[4], c[6], c[8]);
    int wo = out(c[11], c[3], c[5], c[7], c[9]);
    return f.node("c", "conv2d",
        conv2d(cin, cout, c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], groups),
        map("weight", "w", "bias", bias ? "b" : null), new int[] {cout, ho, wo});
  }

  /** Runs every case of {@code cases} in every dtype, bias on every other run. */
  private void conv2dCases(int[][] cases, long seed, String kind) throws IOException {
    Random r = new Random(seed);
    int run = 0;
    for (int[] c : cases) {
      for (HotOps.Dtype d : DTYPES) {
        boolean bias = run++ % 2 == 0;
        check(conv2dCase(c, d, bias, r), r,
            kind + " " + Arrays.toString(c) + " " + d + (bias ? " with bias" : ""));
      }
    }
  }

  @Test
  void denseConvEdgeGeometries() throws IOException {
    // cin, cout, kh, kw, sh, sw, ph, pw, dh, dw, h, w, groups
    conv2dCases(new int[][] {
      {8, 16, 1, 1, 1, 1, 0, 0, 1, 1, 7, 9, 1}, // pointwise
      {3, 5, 1, 1, 2, 2, 0, 0, 1, 1, 9, 11, 1}, // strided pointwise
      {4, 6, 1, 1, 1, 1, 1, 1, 1, 1, 5, 5, 1}, // pointwise with padding
      {1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1}, // one value
      {3, 7, 3, 3, 1, 1, 1, 1, 1, 1, 13, 17, 1}, // odd sizes
      {5, 9, 5, 5, 1, 1, 2, 2, 1, 1, 11, 7, 1},
      {17, 33, 3, 3, 1, 1, 1, 1, 1, 1, 9, 19, 1}, // channel counts past a vector's lanes
      {4, 6, 2, 2, 3, 3, 0, 0, 1, 1, 11, 13, 1}, // stride larger than the kernel
      {3, 4, 1, 1, 3, 2, 0, 0, 1, 1, 10, 9, 1},
      {2, 5, 3, 3, 4, 5, 1, 2, 1, 1, 17, 19, 1},
      {4, 8, 3, 3, 1, 1, 2, 2, 2, 2, 12, 12, 1}, // dilation
      {3, 5, 3, 2, 2, 1, 3, 1, 3, 2, 14, 10, 1},
      {2, 3, 3, 3, 1, 1, 3, 3, 1, 1, 5, 6, 1}, // padding as wide as the kernel
      {2, 3, 5, 5, 1, 1, 2, 2, 1, 1, 3, 3, 1}, // kernel larger than the input, padded
      {1, 4, 7, 1, 1, 1, 3, 0, 1, 1, 20, 3, 1}, // a column kernel
      {6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 8, 8, 2}, // grouped (neither dense nor depthwise)
      {3, 8, 3, 3, 1, 1, 1, 1, 1, 1, 40, 50, 1}, // several GEMM column tiles
    }, 11, "conv2d");
  }

  @Test
  void depthwiseConvEdgeGeometries() throws IOException {
    // cin, cout (cin x multiplier), kh, kw, sh, sw, ph, pw, dh, dw, h, w, groups (= cin)
    conv2dCases(new int[][] {
      {16, 16, 3, 3, 1, 1, 1, 1, 1, 1, 14, 18, 16},
      {8, 16, 3, 3, 2, 2, 1, 1, 1, 1, 15, 17, 8}, // multiplier 2, stride 2
      {5, 15, 3, 3, 1, 1, 2, 2, 2, 2, 11, 9, 5}, // multiplier 3, dilation 2
      {32, 32, 3, 3, 2, 2, 1, 1, 1, 1, 30, 60, 32},
      {4, 4, 5, 5, 2, 2, 2, 2, 1, 1, 9, 13, 4},
      {6, 12, 3, 3, 3, 3, 1, 1, 2, 2, 20, 21, 6}, // stride 3 with dilation
      {3, 3, 1, 1, 1, 1, 0, 0, 1, 1, 5, 5, 3}, // one tap
      {17, 17, 3, 3, 1, 1, 1, 1, 1, 1, 7, 33, 17}, // rows past a vector's lanes
      {2, 4, 4, 4, 1, 1, 2, 2, 1, 1, 3, 3, 2}, // kernel wider than the input
      {3, 6, 3, 2, 2, 1, 2, 0, 2, 1, 9, 7, 3},
    }, 12, "depthwise conv2d");
  }

  @Test
  void conv1dEdgeGeometries() throws IOException {
    Random r = new Random(13);
    // cin, cout, k, stride, padding, dilation, length, groups
    int[][] cases = {
      {4, 8, 3, 1, 1, 1, 50, 1},
      {3, 5, 5, 2, 2, 2, 31, 1},
      {8, 16, 1, 1, 0, 1, 17, 1}, // pointwise
      {2, 3, 2, 3, 0, 1, 20, 1}, // stride larger than the kernel
      {6, 12, 3, 2, 1, 2, 25, 6}, // depthwise, multiplier 2
      {1, 1, 1, 1, 0, 1, 1, 1},
    };
    int run = 0;
    for (int[] c : cases) {
      for (HotOps.Dtype d : DTYPES) {
        boolean bias = run++ % 2 == 0;
        Fixture f = new Fixture(c[0], c[6]).version(d == HotOps.Dtype.F32 ? 2 : 3);
        weight(f, "w", d, r, c[1], c[0] / c[7], c[2]);
        f.tensor("b", new int[] {c[1]}, random(r, c[1]));
        f.node("c", "conv1d", conv1d(c[0], c[1], c[2], c[3], c[4], c[5], c[7]),
            map("weight", "w", "bias", bias ? "b" : null),
            new int[] {c[1], out(c[6], c[2], c[3], c[4], c[5])});
        check(f, r, "conv1d " + Arrays.toString(c) + " " + d);
      }
    }
  }

  private static Fixture linearCase(int in, int outs, HotOps.Dtype d, boolean bias, Random r) {
    Fixture f = new Fixture(in).version(d == HotOps.Dtype.F32 ? 2 : 3);
    weight(f, "w", d, r, outs, in);
    f.tensor("b", new int[] {outs}, random(r, outs));
    return f.node("fc", "linear", map("in_features", in, "out_features", outs),
        map("weight", "w", "bias", bias ? "b" : null), new int[] {outs});
  }

  @Test
  void linearEdgeSizes() throws IOException {
    Random r = new Random(14);
    int[][] cases = {{1, 1}, {3, 5}, {16, 10}, {17, 33}, {64, 64}, {100, 7}, {255, 3},
        {512, 20}, {1000, 2}};
    int run = 0;
    for (int[] c : cases) {
      for (HotOps.Dtype d : DTYPES) {
        boolean bias = run++ % 2 == 0;
        check(linearCase(c[0], c[1], d, bias, r), r, "linear " + Arrays.toString(c) + " " + d);
      }
    }
  }

  @Test
  void convFollowedByAnActivationOrAResidualAdd() throws IOException {
    Random r = new Random(15);
    for (HotOps.Dtype d : DTYPES) {
      for (String act : new String[] {"relu", "relu6", "silu"}) {
        Fixture f = conv2dCase(new int[] {5, 12, 3, 3, 1, 1, 1, 1, 1, 1, 9, 10, 1}, d, true, r);
        f.node("a", act, map(), new int[] {12, 9, 10});
        check(f, r, "conv2d + " + act + " " + d);
        Fixture g = conv2dCase(new int[] {12, 12, 3, 3, 1, 1, 1, 1, 1, 1, 7, 9, 12}, d, true, r);
        g.node("a", act, map(), new int[] {12, 7, 9});
        check(g, r, "depthwise conv2d + " + act + " " + d);
      }
      // conv(x) + x, and relu(conv(x) + x)
      Fixture f = conv2dCase(new int[] {6, 6, 3, 3, 1, 1, 1, 1, 1, 1, 8, 11, 1}, d, true, r);
      f.node("res", "add", map(), new int[] {6, 8, 11}, "c", "input")
          .node("a", "relu", map(), new int[] {6, 8, 11});
      check(f, r, "conv2d + residual + relu " + d);
      check(HotOps.mixed(r, d), r, "mixed model " + d);
    }
  }

  @Test
  void randomGeometries() throws IOException {
    Random r = new Random(20240601);
    for (int t = 0; t < 40; t++) {
      HotOps.Dtype d = DTYPES[r.nextInt(DTYPES.length)];
      boolean depthwise = t % 3 == 1;
      int cin = 1 + r.nextInt(depthwise ? 24 : 12);
      int cout = depthwise ? cin * (1 + r.nextInt(3)) : 1 + r.nextInt(20);
      int kh = 1 + r.nextInt(5);
      int kw = 1 + r.nextInt(5);
      int sh = 1 + r.nextInt(3);
      int sw = 1 + r.nextInt(3);
      int dh = 1 + r.nextInt(2);
      int dw = 1 + r.nextInt(2);
      int ph = r.nextInt(kh + 1);
      int pw = r.nextInt(kw + 1);
      // An input at least as large as the dilated window (padding may make up the rest).
      int h = Math.max(1, dh * (kh - 1) + 1 - 2 * ph) + r.nextInt(16);
      int w = Math.max(1, dw * (kw - 1) + 1 - 2 * pw) + r.nextInt(24);
      int[] c = {cin, cout, kh, kw, sh, sw, ph, pw, dh, dw, h, w, depthwise ? cin : 1};
      check(conv2dCase(c, d, r.nextBoolean(), r), r,
          "random " + (depthwise ? "depthwise " : "") + "conv2d " + Arrays.toString(c) + " " + d);
    }
    for (int t = 0; t < 15; t++) {
      HotOps.Dtype d = DTYPES[r.nextInt(DTYPES.length)];
      int in = 1 + r.nextInt(300);
      int outs = 1 + r.nextInt(40);
      check(linearCase(in, outs, d, r.nextBoolean(), r), r,
          "random linear [" + in + ", " + outs + "] " + d);
    }
  }
}
