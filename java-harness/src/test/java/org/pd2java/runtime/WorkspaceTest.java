package org.pd2java.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** predictInto / predictAllInto in a caller-owned Workspace. */
class WorkspaceTest {
  @TempDir Path dir;

  private static float[] random(Random r, int n) {
    float[] a = new float[n];
    for (int i = 0; i < n; i++) {
      a[i] = r.nextFloat() * 2 - 1;
    }
    return a;
  }

  @Test
  void predictIntoEqualsPredictBitForBitAndReusesTheWorkspace() throws IOException {
    Model m = ModelTest.cnn().load(dir);
    Workspace ws = m.newWorkspace();
    assertTrue(ws.floats() >= m.scratchFloats());
    assertEquals(m, ws.model());
    Random r = new Random(1);
    float[] out = new float[4];
    float[][] all = {new float[4]};
    for (int i = 0; i < 20; i++) {
      float[] x = random(r, 80);
      float[] want = m.predict(x);
      m.predictInto(x, out, ws);
      assertArrayEquals(want, out, 0f);
      m.predictAllInto(x, all, ws);
      assertArrayEquals(want, all[0], 0f);
    }
  }

  @Test
  void wrongWorkspaceOrOutputArrayRefused() throws IOException {
    Model a = ModelTest.cnn().load(Files.createDirectories(dir.resolve("other")));
    Model b = ModelTest.cnn().load(dir);
    float[] x = new float[80];
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> b.predictInto(x, new float[4],
            a.newWorkspace()));
    assertTrue(e.getMessage().contains("newWorkspace"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> b.predictInto(x, new float[4], null));
    Pd2JavaException p =
        assertThrows(Pd2JavaException.class, () -> b.predictInto(x, new float[3],
            b.newWorkspace()));
    assertEquals(ErrorCode.INVALID_INPUT, p.code());
    p = assertThrows(Pd2JavaException.class,
        () -> b.predictAllInto(x, new float[2][4], b.newWorkspace()));
    assertEquals(ErrorCode.INVALID_INPUT, p.code());
  }

  @Test
  void twoThreadsWithTheirOwnWorkspacesAgree() throws Exception {
    Model m = ModelTest.cnn().load(dir);
    Random r = new Random(2);
    float[][] xs = new float[50][];
    float[][] want = new float[50][];
    for (int i = 0; i < xs.length; i++) {
      xs[i] = random(r, 80);
      want[i] = m.predict(xs[i]);
    }
    float[][][] got = new float[2][50][4];
    Thread[] threads = new Thread[2];
    for (int t = 0; t < 2; t++) {
      final int id = t;
      threads[t] = new Thread(() -> {
        Workspace ws = m.newWorkspace();
        for (int rep = 0; rep < 20; rep++) {
          for (int i = 0; i < xs.length; i++) {
            m.predictInto(xs[i], got[id][i], ws);
          }
        }
      });
      threads[t].start();
    }
    for (Thread th : threads) {
      th.join();
    }
    for (int t = 0; t < 2; t++) {
      for (int i = 0; i < xs.length; i++) {
        assertArrayEquals(want[i], got[t][i], 0f);
      }
    }
  }

  @Test
  void batchOverAnExecutorIsBitIdenticalToTheSequentialBatch() throws Exception {
    Model m = ModelTest.cnn().load(dir);
    Random r = new Random(5);
    int n = 23;
    float[] xs = random(r, n * 80);
    float[] want = m.predictBatch(xs, n);
    for (int threads : new int[] {1, 2, 7}) {
      java.util.concurrent.ExecutorService pool =
          java.util.concurrent.Executors.newFixedThreadPool(threads);
      try {
        for (int parts : new int[] {1, threads, 64}) {
          assertArrayEquals(want, m.predictBatch(xs, n, pool, parts), 0f,
              threads + " threads, " + parts + " parts");
        }
      } finally {
        pool.shutdown();
      }
    }
  }

  @Test
  void batchOverAnExecutorRefusesBadInputTyped() throws Exception {
    Model m = ModelTest.cnn().load(dir);
    java.util.concurrent.ExecutorService pool =
        java.util.concurrent.Executors.newFixedThreadPool(2);
    try {
      float[] xs = new float[160];
      xs[100] = Float.NaN;
      Pd2JavaException e =
          assertThrows(Pd2JavaException.class, () -> m.predictBatch(xs, 2, pool, 2));
      assertEquals(ErrorCode.INVALID_INPUT, e.code());
      assertThrows(Pd2JavaException.class, () -> m.predictBatch(new float[0], 0, pool, 2));
      assertThrows(IllegalArgumentException.class,
          () -> m.predictBatch(new float[160], 2, pool, 0));
    } finally {
      pool.shutdown();
    }
  }
}
