package org.pd2java.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.pd2java.runtime.Fixture.map;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Hand-checked small cases for the global and adaptive pools, run through the real loader. */
class PoolOpsTest {
  @TempDir Path dir;

  private static final float EPS = 1e-6f;

  private static int[] s(int... d) {
    return d;
  }

  private static float[] seq(int n, float start) {
    float[] a = new float[n];
    for (int i = 0; i < n; i++) {
      a[i] = start + i;
    }
    return a;
  }

  private float[] run(Fixture f, float[] x, String node) throws IOException {
    Path d = Files.createTempDirectory(dir, "case");
    Path p = Fixture.write(d, f.manifest(), f.weights());
    float[] fast = Model.load(p).runLayers(x).get(node);
    float[] ref = Model.load(p, LoadOptions.defaults().withReferenceKernels(true))
        .runLayers(x).get(node);
    assertArrayEquals(
        ref, fast, (float) FormatRules.ATOL, "fast path differs from the reference kernel");
    return fast;
  }

  @Test
  void globalMaxPoolKeepdims() throws IOException {
    // channel 0: 1..6 (max 6); channel 1: all negative, max -1 (not 0: no padding value wins)
    float[] x = {1, 5, 2, 6, 3, 4, -4, -2, -9, -1, -3, -5};
    Fixture f = new Fixture(2, 2, 3).node("g", "global_max_pool", map("keepdims", true), s(2, 1, 1));
    assertArrayEquals(new float[] {6, -1}, run(f, x, "g"), 0f);
  }

  @Test
  void globalMaxPoolFlatOnOneByOneMap() throws IOException {
    Fixture f = new Fixture(3, 1, 1).node("g", "global_max_pool", map("keepdims", false), s(3));
    assertArrayEquals(new float[] {7, -2, 0.5f}, run(f, new float[] {7, -2, 0.5f}, "g"), 0f);
  }
}
