package org.pd2java.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.pd2java.runtime.Fixture.map;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The load-time fusion pass: which nodes fuse (only with the Vector API kernels, which are
 * {@link Epilogue.Fusable}), and that a fused plan gives the reference kernels' values and
 * leaves every node's value visible in runLayers.
 */
class FusionTest {
  @TempDir Path dir;

  private static Map<String, Object> conv(int cin, int cout, int k, int stride, int pad,
      int groups) {
    return map("in_channels", cin, "out_channels", cout, "kernel_size", new int[] {k, k},
        "stride", new int[] {stride, stride}, "padding", new int[] {pad, pad}, "dilation",
        new int[] {1, 1}, "groups", groups);
  }

  /**
   * conv+relu, a pointwise conv whose output feeds a residual add then a leaky relu, a strided
   * depthwise conv + clamp, linear + relu, and a relu6 after an add (not after a kernel).
   */
  static Fixture block() {
    Random r = new Random(7);
    Fixture f = new Fixture(2, 9, 11);
    f.tensor("c1.w", new int[] {8, 2, 3, 3}, HotOps.random(r, 144))
        .tensor("c1.b", new int[] {8}, HotOps.random(r, 8))
        .tensor("pw.w", new int[] {8, 8, 1, 1}, HotOps.random(r, 64))
        .tensor("dw.w", new int[] {8, 1, 3, 3}, HotOps.random(r, 72))
        .tensor("dw.b", new int[] {8}, HotOps.random(r, 8))
        .tensor("fc.w", new int[] {6, 8}, HotOps.random(r, 48))
        .tensor("fc.b", new int[] {6}, HotOps.random(r, 6))
        .tensor("fc2.w", new int[] {5, 6}, HotOps.random(r, 30))
        .node("c1", "conv2d", conv(2, 8, 3, 1, 1, 1), map("weight", "c1.w", "bias", "c1.b"),
            new int[] {8, 9, 11})
        .node("relu", "relu", map(), new int[] {8, 9, 11})
        .node("pw", "conv2d", conv(8, 8, 1, 1, 0, 1), map("weight", "pw.w", "bias", null),
            new int[] {8, 9, 11})
        .node("res", "add", map(), new int[] {8, 9, 11}, "relu", "pw")
        .node("act", "leaky_relu", map("negative_slope", 0.1), new int[] {8, 9, 11})
        .node("dw", "conv2d", conv(8, 8, 3, 2, 1, 8), map("weight", "dw.w", "bias", "dw.b"),
            new int[] {8, 5, 6})
        .node("clip", "clamp", map("min", -0.5, "max", 0.75), new int[] {8, 5, 6})
        .node("sum", "add", map(), new int[] {8, 5, 6}, "clip", "clip")
        .node("r6", "relu6", map(), new int[] {8, 5, 6})
        .node("gap", "global_avg_pool", map("keepdims", false), new int[] {8})
        .node("fc", "linear", map("in_features", 8, "out_features", 6),
            map("weight", "fc.w", "bias", "fc.b"), new int[] {6})
        .node("fcr", "relu", map(), new int[] {6})
        .node("fc2", "linear", map("in_features", 6, "out_features", 5),
            map("weight", "fc2.w", "bias", null), new int[] {5});
    f.outputKind = "logits";
    return f;
  }

  @Test
  void fusedPlanMatchesTheReferenceAndKeepsEveryLayer() throws IOException {
    Fixture f = block();
    Path manifest = f.write(dir);
    Model fast = Model.load(manifest);
    Model ref = Model.load(manifest, LoadOptions.defaults().withReferenceKernels(true));
    List<String> nodes = ref.nodeNames();
    assertEquals(nodes, fast.nodeNames());
    if (Kernels.vector() != null) {
      assertEquals(List.of("c1+relu", "pw+res+act", "dw+clip", "sum", "r6", "gap", "fc+fcr",
          "fc2"), fast.planNodes());
    } else {
      assertEquals(nodes, fast.planNodes()); // the scalar kernels do not fuse
    }
    assertEquals(nodes, ref.planNodes());
    Random r = new Random(11);
    for (int i = 0; i < 10; i++) {
      float[] x = HotOps.random(r, 2 * 9 * 11);
      HotOps.assertClose(ref.predict(x), fast.predict(x), "sample " + i);
      LinkedHashMap<String, float[]> a = ref.runLayers(x);
      LinkedHashMap<String, float[]> b = fast.runLayers(x);
      assertEquals(a.keySet(), b.keySet());
      for (String node : a.keySet()) {
        HotOps.assertClose(a.get(node), b.get(node), node);
      }
    }
  }

  @Test
  void aValueThatIsAModelOutputIsNotFusedAway() throws IOException {
    Fixture f = block();
    Map<String, Object> m = f.manifest();
    List<Map<String, Object>> outs = new ArrayList<>();
    outs.add(map("name", "fc2", "shape", new int[] {5}, "dtype", "float32", "kind", "logits"));
    outs.add(map("name", "c1", "shape", new int[] {8, 9, 11}, "dtype", "float32", "kind",
        "logits"));
    outs.add(map("name", "pw", "shape", new int[] {8, 9, 11}, "dtype", "float32", "kind",
        "logits"));
    m.put("outputs", outs);
    Path manifest = Fixture.write(dir, m, f.weights());
    Model fast = Model.load(manifest);
    Model ref = Model.load(manifest, LoadOptions.defaults().withReferenceKernels(true));
    List<String> plan = fast.planNodes();
    assertTrue(plan.contains("c1") && plan.contains("relu") && plan.contains("pw"), plan::toString);
    float[] x = HotOps.random(new Random(5), 2 * 9 * 11);
    float[][] want = ref.predictAll(x);
    float[][] got = fast.predictAll(x);
    for (int k = 0; k < want.length; k++) {
      HotOps.assertClose(want[k], got[k], "output " + k);
    }
  }
}
