package org.pd2java.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Helpers shared by the hand-checked kernel tests: shape and input literals, and running one
 * {@link Fixture} through the real loader, in a fresh folder under the test's temp dir.
 */
final class KernelTesting {
  private KernelTesting() {}

  /** A shape literal: {@code s(2, 3, 4)}. */
  /**
   * The fast kernel class expected for an op: {@code vector} when this JVM runs the Vector API
   * kernels ({@link Kernels#vector()}), else {@code scalar}.
   */
  static String fast(String scalar, String vector) {
    return Kernels.vector() != null ? vector : scalar;
  }

  static int[] s(int... d) {
    return d;
  }

  /** {@code n} values {@code start, start + 1, ...}. */
  static float[] seq(int n, float start) {
    float[] a = new float[n];
    for (int i = 0; i < n; i++) {
      a[i] = start + i;
    }
    return a;
  }

  /**
   * Writes the fixture, runs {@code x} through it with the default kernels (fast paths where
   * there are some) and again with the reference kernels only, asserts they agree within
   * {@code tol} and returns the default run's output of {@code node}.
   */
  static float[] run(Path dir, Fixture f, float[] x, String node, float tol) throws IOException {
    return run(dir, f.manifest(), f.weights(), x, node, tol);
  }

  /** {@link #run(Path, Fixture, float[], String, float)} for an edited manifest. */
  static float[] run(
      Path dir, Map<String, Object> manifest, byte[] weights, float[] x, String node, float tol)
      throws IOException {
    Path p = Fixture.write(Files.createTempDirectory(dir, "case"), manifest, weights);
    float[] fast = Model.load(p).runLayers(x).get(node);
    float[] ref = Model.load(p, LoadOptions.defaults().withReferenceKernels(true))
        .runLayers(x).get(node);
    assertArrayEquals(ref, fast, tol, "fast path differs from the reference kernel");
    return fast;
  }

  /** Writes the fixture and returns the output of {@code node} with the default kernels only. */
  static float[] runDefault(Path dir, Fixture f, float[] x, String node) throws IOException {
    Path p = Fixture.write(Files.createTempDirectory(dir, "case"), f.manifest(), f.weights());
    return Model.load(p).runLayers(x).get(node);
  }
}
