package org.pd2java.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code predictBatch} over a 64-thread pool, over one thread and sequentially gives the same
 * float bits, for a model with a dense conv, a depthwise conv, pointwise convs and a linear
 * layer, with float32, half and int8 weights, on whichever kernel family this JVM runs (the
 * suite runs in both).
 */
class ThreadDeterminismTest {
  @TempDir Path dir;

  private static void assertSameBits(float[] want, float[] got, String what) {
    assertEquals(want.length, got.length, what);
    for (int i = 0; i < want.length; i++) {
      if (Float.floatToRawIntBits(want[i]) != Float.floatToRawIntBits(got[i])) {
        throw new AssertionError(what + ": element " + i + " is " + got[i] + " ("
            + Integer.toHexString(Float.floatToRawIntBits(got[i])) + "), sequential gives "
            + want[i] + " (" + Integer.toHexString(Float.floatToRawIntBits(want[i])) + ")");
      }
    }
  }

  @Test
  void oneAndSixtyFourThreadsGiveIdenticalBits() throws IOException, InterruptedException {
    ExecutorService many = Executors.newFixedThreadPool(64);
    ExecutorService one = Executors.newSingleThreadExecutor();
    try {
      for (HotOps.Dtype d : HotOps.Dtype.values()) {
        Random r = new Random(7);
        Path p = HotOps.mixed(r, d).write(Files.createTempDirectory(dir, d.name()));
        Model m = Model.load(p);
        assertEquals(KernelPathTest.expectVector(), m.kernelInfo().startsWith("vector:"),
            m.kernelInfo());
        int n = 300;
        int size = HotOps.count(m.inputShape());
        float[] xs = HotOps.random(r, n * size);
        float[] seq = m.predictBatch(xs, n);
        String what = d + " (" + m.kernelInfo() + ")";
        assertSameBits(seq, m.predictBatch(xs, n, many, 64), what + ", 64 threads");
        assertSameBits(seq, m.predictBatch(xs, n, many, 64), what + ", 64 threads again");
        assertSameBits(seq, m.predictBatch(xs, n, many, 7), what + ", 64 threads, 7 parts");
        assertSameBits(seq, m.predictBatch(xs, n, one, 1), what + ", 1 thread");
        assertSameBits(seq, m.predictBatch(xs, n, one, 64), what + ", 1 thread, 64 parts");
        // And each sample alone, as predict computes it.
        int out = HotOps.count(m.outputShape());
        for (int s = 0; s < n; s += 37) {
          float[] x = new float[size];
          System.arraycopy(xs, s * size, x, 0, size);
          float[] want = new float[out];
          System.arraycopy(seq, s * out, want, 0, out);
          assertSameBits(want, m.predict(x), what + ", predict of sample " + s);
        }
      }
    } finally {
      many.shutdownNow();
      one.shutdownNow();
      assertTrue(many.awaitTermination(30, TimeUnit.SECONDS));
      assertTrue(one.awaitTermination(30, TimeUnit.SECONDS));
    }
  }
}
