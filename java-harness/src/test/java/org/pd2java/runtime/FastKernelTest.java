package org.pd2java.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.pd2java.runtime.Fixture.map;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The fast dense-conv kernel matches the reference kernel on a sweep of geometries. */
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
              "groups", 1), map("weight", "w", "bias", "b"), new int[] {c[1], ho, wo});
      Path d = Files.createTempDirectory(dir, "c");
      Path p = Fixture.write(d, f.manifest(), f.weights());
      Model fast = Model.load(p);
      Model ref = Model.load(p, LoadOptions.defaults().withReferenceKernels(true));
      float[] x = random(r, c[0] * c[10] * c[11]);
      float[] a = fast.runLayers(x).get("c");
      float[] b = ref.runLayers(x).get("c");
      assertEquals(b.length, a.length);
      for (int i = 0; i < a.length; i++) {
        assertTrue(Math.abs(a[i] - b[i]) <= 1e-5 + 1e-4 * Math.abs(b[i]),
            "case " + java.util.Arrays.toString(c) + " index " + i + ": " + a[i] + " vs " + b[i]);
      }
      checked++;
    }
    assertEquals(cases.length, checked);
  }
}
