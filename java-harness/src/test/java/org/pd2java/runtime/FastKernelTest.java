package org.pd2java.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.pd2java.runtime.Fixture.map;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The fast kernels match the reference kernels on sweeps of geometries: convolutions (every other
 * case without bias), max pools (@1 unpadded, @2 on random geometries), relu and leaky_relu.
 */
class FastKernelTest {
  @TempDir Path dir;

  private static float[] random(Random r, int n) {
    float[] a = new float[n];
    for (int i = 0; i < n; i++) {
      a[i] = r.nextFloat() * 2 - 1;
    }
    return a;
  }

  @Test
  void gemmConvMatchesReference() throws IOException {
    Random r = new Random(3);
    // cin, cout, kh, kw, sh, sw, ph, pw, dh, dw, h, w
    int[][] cases = {
      {1, 4, 3, 3, 1, 1, 1, 1, 1, 1, 7, 9},
      {3, 5, 1, 1, 1, 1, 0, 0, 1, 1, 5, 6}, // direct 1x1 path
      {3, 2, 1, 1, 2, 2, 0, 0, 1, 1, 5, 6},
      {2, 3, 3, 3, 2, 2, 1, 1, 1, 1, 8, 11},
      {2, 3, 3, 2, 1, 2, 2, 0, 2, 1, 9, 7},
      {4, 2, 5, 5, 3, 1, 2, 2, 1, 1, 10, 10},
      {6, 7, 3, 3, 1, 1, 0, 0, 2, 2, 9, 9},
      {5, 3, 2, 2, 1, 1, 1, 1, 1, 1, 4, 3},
      // Several column tiles (Conv2dGemmKernel.TILE = 256 output positions), row segments that
      // straddle tiles, out_channels not a multiple of 4, odd in_channels*kh*kw.
      {3, 7, 3, 3, 1, 1, 1, 1, 1, 1, 20, 33},
      {5, 9, 1, 1, 1, 1, 0, 0, 1, 1, 17, 31},
      {2, 6, 3, 5, 2, 3, 1, 2, 2, 1, 40, 50},
      {1, 4, 3, 3, 1, 1, 1, 1, 1, 1, 16, 16}, // exactly one full tile
      {1, 5, 3, 3, 1, 1, 1, 1, 1, 1, 16, 17}, // one full tile + 17 positions
      {4, 1, 2, 2, 1, 1, 0, 0, 1, 1, 30, 30},
      {6, 10, 3, 3, 1, 1, 2, 2, 2, 2, 19, 23},
    };
    int checked = 0;
    for (int[] c : cases) {
      int ho = (c[10] + 2 * c[6] - c[8] * (c[2] - 1) - 1) / c[4] + 1;
      int wo = (c[11] + 2 * c[7] - c[9] * (c[3] - 1) - 1) / c[5] + 1;
      Fixture f = new Fixture(c[0], c[10], c[11])
          .tensor("w", new int[] {c[1], c[0], c[2], c[3]}, random(r, c[1] * c[0] * c[2] * c[3]))
          .tensor("b", new int[] {c[1]}, random(r, c[1]))
          .node("c", "conv2d", map("in_channels", c[0], "out_channels", c[1],
              "kernel_size", new int[] {c[2], c[3]}, "stride", new int[] {c[4], c[5]},
              "padding", new int[] {c[6], c[7]}, "dilation", new int[] {c[8], c[9]},
              "groups", 1),
              map("weight", "w", "bias", checked % 2 == 0 ? "b" : null),
              new int[] {c[1], ho, wo});
      Path d = Files.createTempDirectory(dir, "c");
      Path p = Fixture.write(d, f.manifest(), f.weights());
      Model fast = Model.load(p);
      Model ref = Model.load(p, LoadOptions.defaults().withReferenceKernels(true));
      float[] x = random(r, c[0] * c[10] * c[11]);
      assertKernel(fast, x, KernelTesting.fast("Conv2dGemmKernel", "VectorConvKernel"));
      assertKernel(ref, x, "Conv2dKernel");
      float[] a = fast.runLayers(x).get("c");
      float[] b = ref.runLayers(x).get("c");
      assertEquals(b.length, a.length);
      for (int i = 0; i < a.length; i++) {
        assertTrue(Math.abs(a[i] - b[i]) <= FormatRules.ATOL + FormatRules.RTOL * Math.abs(b[i]),
            "case " + java.util.Arrays.toString(c) + " index " + i + ": " + a[i] + " vs " + b[i]);
      }
      checked++;
    }
    assertEquals(cases.length, checked);
  }
  /** The model's only node runs on the kernel class {@code simpleName}. */
  private static void assertKernel(Model m, float[] x, String simpleName) {
    String node = m.profile(x, 1).keySet().iterator().next();
    assertEquals("c (" + simpleName + ")", node);
  }

  @Test
  void depthwiseConvMatchesReference() throws IOException {
    Random r = new Random(5);
    // cin, multiplier, kh, kw, sh, sw, ph, pw, dh, dw, h, w
    int[][] cases = {
      {32, 1, 3, 3, 1, 1, 1, 1, 1, 1, 30, 60}, // PDLightModel's shapes
      {96, 1, 3, 3, 2, 2, 1, 1, 1, 1, 30, 60},
      {4, 1, 3, 3, 2, 2, 1, 1, 1, 1, 15, 30}, // odd output height (8 rows)
      {3, 2, 3, 3, 1, 1, 1, 1, 1, 1, 7, 9}, // channel multiplier 2
      {2, 3, 5, 5, 1, 2, 2, 2, 1, 1, 9, 11}, // 25 taps, not a multiple of 3
      {5, 1, 3, 2, 2, 1, 2, 0, 2, 1, 9, 7},
      {3, 1, 1, 1, 1, 1, 0, 0, 1, 1, 4, 5}, // one tap
      {2, 1, 2, 2, 3, 3, 1, 1, 2, 2, 10, 10},
      {6, 1, 3, 3, 1, 1, 0, 0, 2, 2, 9, 9},
      {2, 1, 4, 4, 1, 1, 2, 2, 1, 1, 3, 3}, // kernel wider than the input, padded
      // Stride 1 with more than DIRECT_MAX_PLANE outputs: the tap-plane path (the cases above
      // with stride > 1 or small planes take the direct path).
      {3, 2, 3, 3, 1, 1, 1, 1, 2, 2, 12, 14},
      {2, 1, 5, 5, 1, 1, 2, 2, 1, 1, 9, 11},
      {5, 1, 3, 2, 1, 1, 2, 0, 2, 1, 12, 9},
    };
    int checked = 0;
    for (int[] c : cases) {
      int cin = c[0];
      int cout = c[0] * c[1];
      int ho = (c[10] + 2 * c[6] - c[8] * (c[2] - 1) - 1) / c[4] + 1;
      int wo = (c[11] + 2 * c[7] - c[9] * (c[3] - 1) - 1) / c[5] + 1;
      Fixture f = new Fixture(cin, c[10], c[11])
          .tensor("w", new int[] {cout, 1, c[2], c[3]}, random(r, cout * c[2] * c[3]))
          .tensor("b", new int[] {cout}, random(r, cout))
          .node("c", "conv2d", map("in_channels", cin, "out_channels", cout,
              "kernel_size", new int[] {c[2], c[3]}, "stride", new int[] {c[4], c[5]},
              "padding", new int[] {c[6], c[7]}, "dilation", new int[] {c[8], c[9]},
              "groups", cin),
              map("weight", "w", "bias", checked % 2 == 0 ? "b" : null),
              new int[] {cout, ho, wo});
      Path d = Files.createTempDirectory(dir, "d");
      Path p = Fixture.write(d, f.manifest(), f.weights());
      Model fast = Model.load(p);
      Model ref = Model.load(p, LoadOptions.defaults().withReferenceKernels(true));
      float[] x = random(r, cin * c[10] * c[11]);
      assertKernel(fast, x,
          KernelTesting.fast("DepthwiseConv2dKernel", "VectorDepthwiseKernel"));
      assertKernel(ref, x, "Conv2dKernel");
      // Twice: the second call reuses nothing from the first (per-call scratch).
      for (int rep = 0; rep < 2; rep++) {
        float[] a = fast.runLayers(x).get("c");
        float[] b = ref.runLayers(x).get("c");
        assertEquals(b.length, a.length);
        for (int i = 0; i < a.length; i++) {
          assertTrue(Math.abs(a[i] - b[i]) <= FormatRules.ATOL + FormatRules.RTOL * Math.abs(b[i]),
              "case " + java.util.Arrays.toString(c) + " index " + i + ": " + a[i] + " vs " + b[i]);
        }
        x = random(r, cin * c[10] * c[11]);
      }
      checked++;
    }
    assertEquals(cases.length, checked);
  }

  @Test
  void groupedNonDepthwiseConvKeepsTheReferenceKernel() throws IOException {
    Random r = new Random(9);
    Fixture f = new Fixture(4, 5, 6)
        .tensor("w", new int[] {6, 2, 3, 3}, random(r, 6 * 2 * 9))
        .node("c", "conv2d", map("in_channels", 4, "out_channels", 6,
            "kernel_size", new int[] {3, 3}, "stride", new int[] {1, 1},
            "padding", new int[] {1, 1}, "dilation", new int[] {1, 1}, "groups", 2),
            map("weight", "w", "bias", null), new int[] {6, 5, 6});
    Path p = Fixture.write(dir, f.manifest(), f.weights());
    assertKernel(Model.load(p), random(r, 4 * 5 * 6), "Conv2dKernel");
  }
  @Test
  void unpaddedMaxPoolMatchesReference() throws IOException {
    Random r = new Random(11);
    // c, kh, kw, sh, sw, ph, pw, dh, dw, h, w, expected fast kernel
    int[][] cases = {
      {3, 2, 2, 2, 2, 0, 0, 1, 1, 60, 120, 1}, // the PRPD CNN's pools
      {2, 2, 2, 2, 2, 0, 0, 1, 1, 15, 31, 1}, // odd sizes: last row/column dropped (floor)
      {2, 2, 2, 1, 1, 0, 0, 2, 2, 7, 8, 1},
      {2, 3, 3, 2, 2, 0, 0, 1, 1, 9, 10, 1},
      {1, 3, 2, 1, 3, 0, 0, 2, 1, 9, 10, 1},
      {2, 3, 3, 2, 2, 1, 1, 1, 1, 9, 10, 0}, // padded: stays on the reference
    };
    for (int[] c : cases) {
      int ho = (c[9] + 2 * c[5] - c[7] * (c[1] - 1) - 1) / c[3] + 1;
      int wo = (c[10] + 2 * c[6] - c[8] * (c[2] - 1) - 1) / c[4] + 1;
      Fixture f = new Fixture(c[0], c[9], c[10])
          .node("c", "max_pool2d", map("kernel_size", new int[] {c[1], c[2]},
              "stride", new int[] {c[3], c[4]}, "padding", new int[] {c[5], c[6]},
              "dilation", new int[] {c[7], c[8]}), map(), new int[] {c[0], ho, wo});
      Path d = Files.createTempDirectory(dir, "p");
      Path p = Fixture.write(d, f.manifest(), f.weights());
      Model fast = Model.load(p);
      Model ref = Model.load(p, LoadOptions.defaults().withReferenceKernels(true));
      float[] x = random(r, c[0] * c[9] * c[10]);
      assertKernel(fast, x, c[11] == 1 ? "FastMaxPool2dKernel" : "MaxPool2dKernel");
      assertKernel(ref, x, "MaxPool2dKernel");
      assertArrayEquals(ref.runLayers(x).get("c"), fast.runLayers(x).get("c"), 0f,
          java.util.Arrays.toString(c));
    }
  }
  /** PyTorch's pool output extent with per-side pads and ceil_mode (Window2d.poolExtent). */
  private static int poolExtent(int in, int k, int s, int begin, int end, int d, boolean ceil) {
    int num = in + begin + end - (d * (k - 1) + 1);
    int out = Math.floorDiv(num + (ceil ? s - 1 : 0), s) + 1;
    return ceil && (out - 1) * s >= in + begin ? out - 1 : out;
  }

  @Test
  void maxPoolV2MatchesReferenceOnRandomGeometries() throws IOException {
    Random r = new Random(17);
    int ceilFast = 0, overhanging = 0, padded = 0, floorFast = 0;
    for (int t = 0; t < 150; t++) {
      int c = 1 + r.nextInt(3);
      int[] k = {1 + r.nextInt(4), 1 + r.nextInt(4)};
      int[] st = {1 + r.nextInt(3), 1 + r.nextInt(3)};
      int[] d = {1 + r.nextInt(2), 1 + r.nextInt(2)};
      boolean ceil = r.nextBoolean();
      boolean pad = r.nextInt(4) == 0;
      int[] ph = {pad ? r.nextInt(k[0] / 2 + 1) : 0, pad ? r.nextInt(k[0] / 2 + 1) : 0};
      int[] pw = {pad ? r.nextInt(k[1] / 2 + 1) : 0, pad ? r.nextInt(k[1] / 2 + 1) : 0};
      int h = d[0] * (k[0] - 1) + 1 + r.nextInt(9);
      int w = d[1] * (k[1] - 1) + 1 + r.nextInt(9);
      if (t == 0) { // the PRPD CNN's pool with ceil_mode on even sizes: 2x2 body, ceil == floor
        c = 3;
        k = new int[] {2, 2};
        st = new int[] {2, 2};
        d = new int[] {1, 1};
        ceil = true;
        ph = new int[] {0, 0};
        pw = new int[] {0, 0};
        h = 60;
        w = 120;
      }
      int ho = poolExtent(h, k[0], st[0], ph[0], ph[1], d[0], ceil);
      int wo = poolExtent(w, k[1], st[1], pw[0], pw[1], d[1], ceil);
      boolean unpadded = ph[0] + ph[1] + pw[0] + pw[1] == 0;
      boolean inside = unpadded
          && (ho - 1) * st[0] + d[0] * (k[0] - 1) < h
          && (wo - 1) * st[1] + d[1] * (k[1] - 1) < w;
      Fixture f = new Fixture(c, h, w).node("c", "max_pool2d", map("kernel_size", k,
          "stride", st, "pad_h", ph, "pad_w", pw, "dilation", d, "ceil_mode", ceil), map(),
          new int[] {c, ho, wo});
      f.nodes.get(0).put("version", 2);
      Path dd = Files.createTempDirectory(dir, "q");
      Path p = Fixture.write(dd, f.manifest(), f.weights());
      Model fast = Model.load(p);
      Model ref = Model.load(p, LoadOptions.defaults().withReferenceKernels(true));
      float[] x = random(r, c * h * w);
      String what = "case " + t + ": k " + java.util.Arrays.toString(k) + " s "
          + java.util.Arrays.toString(st) + " d " + java.util.Arrays.toString(d) + " pads "
          + java.util.Arrays.toString(ph) + java.util.Arrays.toString(pw) + " ceil " + ceil
          + " in " + h + "x" + w;
      assertKernel(fast, x, inside ? "FastMaxPool2dKernel" : "MaxPool2dKernel");
      assertKernel(ref, x, "MaxPool2dKernel");
      assertArrayEquals(ref.runLayers(x).get("c"), fast.runLayers(x).get("c"), 0f, what);
      if (inside) {
        if (ceil) {
          ceilFast++;
        } else {
          floorFast++;
        }
      } else if (unpadded) {
        overhanging++;
      } else {
        padded++;
      }
    }
    // the sweep reaches every case: ceil_mode equal to the floor (fast), floor (fast), a ceil
    // window overhanging the input and padding (both on the reference)
    assertTrue(ceilFast > 5 && floorFast > 5 && overhanging > 5 && padded > 5,
        ceilFast + " " + floorFast + " " + overhanging + " " + padded);
  }

  @Test
  void branchFreeActivationsMatchReferenceExactly() throws IOException {
    Random r = new Random(13);
    Object[][] cases = {
      {"relu", map(), "FastReluKernel", "ReluKernel"},
      {"leaky_relu", map("negative_slope", 0.2), "FastLeakyReluKernel", "LeakyReluKernel"},
      {"leaky_relu", map("negative_slope", -1.5), "FastLeakyReluKernel", "LeakyReluKernel"},
    };
    for (Object[] c : cases) {
      @SuppressWarnings("unchecked")
      java.util.Map<String, Object> attrs = (java.util.Map<String, Object>) c[1];
      Fixture f = new Fixture(3, 7, 13).node("c", (String) c[0], attrs, map(),
          new int[] {3, 7, 13});
      Path d = Files.createTempDirectory(dir, "a");
      Path p = Fixture.write(d, f.manifest(), f.weights());
      Model fast = Model.load(p);
      Model ref = Model.load(p, LoadOptions.defaults().withReferenceKernels(true));
      float[] x = random(r, 3 * 7 * 13);
      x[0] = 0f;
      x[1] = Float.MAX_VALUE;
      x[2] = -Float.MAX_VALUE;
      x[3] = Float.MIN_VALUE;
      x[4] = -Float.MIN_VALUE;
      assertKernel(fast, x, (String) c[2]);
      assertKernel(ref, x, (String) c[3]);
      // Delta 0: equal values, but a -0.0 may come out as +0.0 (documented on the fast kernel).
      assertArrayEquals(ref.runLayers(x).get("c"), fast.runLayers(x).get("c"), 0f,
          (String) c[0]);
    }
  }
}
