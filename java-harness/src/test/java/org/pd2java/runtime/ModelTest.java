package org.pd2java.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.pd2java.runtime.Fixture.map;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Inference API: predict, batch, classify, runLayers, input policy, many threads. */
class ModelTest {
  @TempDir Path dir;

  private static float[] random(Random r, int n) {
    float[] a = new float[n];
    for (int i = 0; i < n; i++) {
      a[i] = r.nextFloat() * 2 - 1;
    }
    return a;
  }

  /** A small CNN with every kind of step: conv, bn, leaky relu, pools, residual add, head. */
  static Fixture cnn() {
    Random r = new Random(42);
    Fixture f = new Fixture(1, 8, 10);
    f.classes = List.of("p", "q", "r", "s");
    f.tensor("c1.w", new int[] {4, 1, 3, 3}, random(r, 36))
        .tensor("bn.m", new int[] {4}, random(r, 4))
        .tensor("bn.v", new int[] {4}, 0.5f, 1, 1.5f, 2)
        .tensor("bn.g", new int[] {4}, random(r, 4))
        .tensor("bn.b", new int[] {4}, random(r, 4))
        .tensor("dw.w", new int[] {4, 1, 3, 3}, random(r, 36))
        .tensor("fc.w", new int[] {4, 4}, random(r, 16))
        .tensor("fc.b", new int[] {4}, random(r, 4))
        .node("c1", "conv2d", map("in_channels", 1, "out_channels", 4, "kernel_size",
            new int[] {3, 3}, "stride", new int[] {1, 1}, "padding", new int[] {1, 1},
            "dilation", new int[] {1, 1}, "groups", 1), map("weight", "c1.w", "bias", null),
            new int[] {4, 8, 10})
        .node("bn", "batch_norm2d", map("num_features", 4, "eps", 1e-5),
            map("running_mean", "bn.m", "running_var", "bn.v", "weight", "bn.g", "bias", "bn.b"),
            new int[] {4, 8, 10})
        .node("act", "leaky_relu", map("negative_slope", 0.2), new int[] {4, 8, 10})
        .node("mp", "max_pool2d", map("kernel_size", new int[] {2, 2}, "stride", new int[] {2, 2},
            "padding", new int[] {0, 0}, "dilation", new int[] {1, 1}), new int[] {4, 4, 5})
        .node("dw", "conv2d", map("in_channels", 4, "out_channels", 4, "kernel_size",
            new int[] {3, 3}, "stride", new int[] {1, 1}, "padding", new int[] {1, 1},
            "dilation", new int[] {1, 1}, "groups", 4), map("weight", "dw.w", "bias", null),
            new int[] {4, 4, 5})
        .node("r6", "relu6", map(), new int[] {4, 4, 5})
        .node("res", "add", map(), new int[] {4, 4, 5}, "mp", "r6")
        .node("ap", "avg_pool2d", map("kernel_size", new int[] {2, 2}, "stride",
            new int[] {1, 1}, "padding", new int[] {1, 1}, "count_include_pad", false),
            new int[] {4, 5, 6})
        .node("gap", "global_avg_pool", map("keepdims", true), new int[] {4, 1, 1})
        .node("flat", "flatten", map(), new int[] {4})
        .node("fc", "linear", map("in_features", 4, "out_features", 4),
            map("weight", "fc.w", "bias", "fc.b"), new int[] {4})
        .node("prob", "softmax", map("dim", 1), new int[] {4});
    return f;
  }

  @Test
  void severalOutputsOfAnyRankEachKeepTheirValues() throws IOException {
    Fixture f = cnn();
    java.util.Map<String, Object> m = f.manifest();
    List<java.util.Map<String, Object>> outs = new ArrayList<>(
        List.of(map("name", "prob", "shape", new int[] {4}, "dtype", "float32", "kind",
            "probabilities"),
            map("name", "res", "shape", new int[] {4, 4, 5}, "dtype", "float32", "kind",
                "logits"),
            map("name", "gap", "shape", new int[] {4, 1, 1}, "dtype", "float32", "kind",
                "logits")));
    m.put("outputs", outs);
    Model model = Model.load(Fixture.write(dir, m, f.weights()));
    assertEquals(3, model.outputCount());
    assertEquals("res", model.outputName(1));
    assertArrayEquals(new int[] {4, 4, 5}, model.outputShape(1));
    assertEquals("logits", model.outputKind(2));
    assertArrayEquals(new int[] {4}, model.outputShape());
    float[] x = random(new Random(3), 80);
    float[][] all = model.predictAll(x);
    LinkedHashMap<String, float[]> layers = model.runLayers(x);
    assertArrayEquals(layers.get("prob"), all[0]);
    assertArrayEquals(layers.get("res"), all[1]);
    assertArrayEquals(layers.get("gap"), all[2]);
    assertArrayEquals(all[0], model.predict(x));
    float[] two = new float[160];
    System.arraycopy(x, 0, two, 80, 80);
    float[][] batch = model.predictBatchAll(two, 2);
    assertEquals(160, batch[1].length);
    assertArrayEquals(all[1], java.util.Arrays.copyOfRange(batch[1], 80, 160));
    assertThrows(IndexOutOfBoundsException.class, () -> model.outputShape(3));
  }

  @Test
  void featureVectorInputAndNonVectorPrimaryOutput() throws IOException {
    Random r = new Random(5);
    Fixture f = new Fixture(6)
        .tensor("fc.w", new int[] {2, 6}, random(r, 12))
        .node("fc", "linear", map("in_features", 6, "out_features", 2),
            map("weight", "fc.w", "bias", null), new int[] {2})
        .node("u", "unsqueeze", map("dim", 2), new int[] {2, 1});
    java.util.Map<String, Object> m = f.manifest();
    m.put("nodes", new ArrayList<>(f.nodes)); // no flatten: the primary output is [2, 1]
    LoaderTest.output(m, 0).put("name", "u");
    LoaderTest.output(m, 0).put("shape", new int[] {2, 1});
    Model model = Model.load(Fixture.write(dir, m, f.weights()));
    assertArrayEquals(new int[] {6}, model.inputShape());
    assertEquals(2, model.predict(new float[6]).length);
    UnsupportedOperationException e =
        assertThrows(UnsupportedOperationException.class, () -> model.classify(new float[6]));
    assertTrue(e.getMessage().contains("[2, 1]"), e.getMessage());
  }

  @Test
  void versionOneFilesStillLoadAndAgree() throws IOException {
    Model two = cnn().load(java.nio.file.Files.createDirectories(dir.resolve("v2")));
    Model one = cnn().version(1).load(java.nio.file.Files.createDirectories(dir.resolve("v1")));
    float[] x = random(new Random(9), 80);
    assertArrayEquals(two.predict(x), one.predict(x));
    assertArrayEquals(two.inputShape(), one.inputShape());
  }

  @Test
  void predictBatchClassifyAndLayersAgree() throws IOException {
    Model m = cnn().load(dir);
    Random r = new Random(1);
    float[] a = random(r, 80);
    float[] b = random(r, 80);
    float[] pa = m.predict(a);
    float[] pb = m.predict(b);
    float sum = 0;
    for (float v : pa) {
      sum += v;
    }
    assertEquals(1f, sum, 1e-6f);
    float[] both = new float[160];
    System.arraycopy(a, 0, both, 0, 80);
    System.arraycopy(b, 0, both, 80, 80);
    float[] batch = m.predictBatch(both, 2);
    assertArrayEquals(pa, java.util.Arrays.copyOfRange(batch, 0, 4), 0f);
    assertArrayEquals(pb, java.util.Arrays.copyOfRange(batch, 4, 8), 0f);
    Prediction p = m.classify(a);
    int best = 0;
    for (int i = 1; i < 4; i++) {
      best = pa[i] > pa[best] ? i : best;
    }
    assertEquals(best, p.index());
    assertEquals(List.of("p", "q", "r", "s").get(best), p.label());
    assertArrayEquals(pa, p.probabilities(), 0f);
    LinkedHashMap<String, float[]> layers = m.runLayers(a);
    assertEquals(List.of("c1", "bn", "act", "mp", "dw", "r6", "res", "ap", "gap", "flat", "fc",
        "prob"), new ArrayList<>(layers.keySet()));
    assertArrayEquals(pa, layers.get("prob"), 0f);
    assertEquals(4 * 8 * 10, layers.get("c1").length);
    // predict reuses buffers of dead values: less scratch than keeping every value.
    long all = 80;
    for (float[] v : layers.values()) {
      all += v.length;
    }
    assertTrue(m.scratchFloats() < all, m.scratchFloats() + " vs " + all);
    // The caller's input is never modified.
    float[] copy = a.clone();
    m.predict(a);
    assertArrayEquals(copy, a, 0f);
  }

  @Test
  void wrongInputLengthRefused() throws IOException {
    Model m = cnn().load(dir);
    Pd2JavaException e = assertThrows(Pd2JavaException.class, () -> m.predict(new float[79]));
    assertEquals(ErrorCode.INVALID_INPUT, e.code());
    assertTrue(e.getMessage().contains("expects 80 floats"), e.getMessage());
    assertEquals(ErrorCode.INVALID_INPUT,
        assertThrows(Pd2JavaException.class, () -> m.predictBatch(new float[80], 2)).code());
    assertEquals(ErrorCode.INVALID_INPUT,
        assertThrows(Pd2JavaException.class, () -> m.predict(null)).code());
  }

  @Test
  void emptyBatchRefused() throws IOException {
    Model m = cnn().load(dir);
    for (int n : new int[] {0, -1}) {
      Pd2JavaException e =
          assertThrows(Pd2JavaException.class, () -> m.predictBatch(new float[0], n));
      assertEquals(ErrorCode.INVALID_INPUT, e.code());
      assertTrue(e.getMessage().contains("at least one sample"), e.getMessage());
    }
  }

  @Test
  void nonFiniteOutputFromExtremeInputsIsAnErrorNotAClass() throws IOException {
    // conv 1x1 weights (4, -2): an input of 1e38 (finite) gives 4e38 = infinity in channel 0
    // and 0 after the relu in channel 1; the linear layer's 0 * infinity is NaN.
    Fixture f = LoaderTest.small();
    f.tensor("conv.w", new int[] {2, 1, 1, 1}, 4f, -2f);
    Model m = f.load(dir);
    float[] x = {1e38f, 1e38f, 1e38f, 1e38f};
    Pd2JavaException e = assertThrows(Pd2JavaException.class, () -> m.predict(x));
    assertEquals(ErrorCode.NON_FINITE_OUTPUT, e.code());
    assertTrue(e.getMessage().contains("sample 0"), e.getMessage());
    assertEquals(ErrorCode.NON_FINITE_OUTPUT,
        assertThrows(Pd2JavaException.class, () -> m.classify(x)).code());
    float[] batch = new float[8];
    System.arraycopy(x, 0, batch, 4, 4);
    e = assertThrows(Pd2JavaException.class, () -> m.predictBatch(batch, 2));
    assertEquals(ErrorCode.NON_FINITE_OUTPUT, e.code());
    assertTrue(e.getMessage().contains("sample 1"), e.getMessage());
    // runLayers is for debugging: it shows the values as computed.
    assertTrue(Float.isNaN(m.runLayers(x).get("prob")[0]));
    // An ordinary input still works after that.
    assertEquals(3, m.predict(new float[4]).length);
  }

  @Test
  void nanAndInfiniteInputsRefusedNamingTheIndex() throws IOException {
    Model m = cnn().load(dir);
    float[] x = new float[80];
    x[23] = Float.NaN;
    Pd2JavaException e = assertThrows(Pd2JavaException.class, () -> m.predict(x));
    assertEquals(ErrorCode.INVALID_INPUT, e.code());
    assertTrue(e.getMessage().contains("index 23 (sample 0, position [0, 2, 3])"), e.getMessage());
    float[] batch = new float[160];
    batch[81] = Float.NEGATIVE_INFINITY;
    e = assertThrows(Pd2JavaException.class, () -> m.predictBatch(batch, 2));
    assertTrue(e.getMessage().contains("sample 1"), e.getMessage());
  }

  @Test
  void manyThreadsGetTheSameAnswers() throws Exception {
    Model m = cnn().load(dir);
    Random r = new Random(7);
    float[][] inputs = new float[16][];
    float[][] expected = new float[16][];
    for (int i = 0; i < 16; i++) {
      inputs[i] = random(r, 80);
      expected[i] = m.predict(inputs[i]);
    }
    ExecutorService pool = Executors.newFixedThreadPool(8);
    try {
      List<Future<Integer>> futures = new ArrayList<>();
      for (int t = 0; t < 8; t++) {
        final int seed = t;
        futures.add(pool.submit(() -> {
          Random tr = new Random(seed);
          int checked = 0;
          for (int it = 0; it < 300; it++) {
            int i = tr.nextInt(16);
            float[] got = it % 2 == 0 ? m.predict(inputs[i]) : m.runLayers(inputs[i]).get("prob");
            assertArrayEquals(expected[i], got, 0f, "thread " + seed + " sample " + i);
            checked++;
          }
          return checked;
        }));
      }
      int total = 0;
      for (Future<Integer> f : futures) {
        total += f.get(120, TimeUnit.SECONDS);
      }
      assertEquals(8 * 300, total);
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void cliCheckLoadsAndReportsErrors() throws IOException {
    Path p = cnn().write(dir);
    assertEquals(0, Cli.run(new String[] {"check", p.toString()}));
    assertEquals(1, Cli.run(new String[] {"check", dir.resolve("none.json").toString()}));
    assertEquals(64, Cli.run(new String[] {"nope"}));
  }
}
