package org.pd2java.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
 * The kernel family this JVM was meant to run is the one that runs. pd2java runs the JUnit suite
 * twice (build.run_junit): with {@code --add-modules=jdk.incubator.vector} and {@code
 * -Dpd2java.test.expectVector=true}, then without the module and with {@code false}. A JVM whose
 * Vector API kernels failed to start, or a loader that stopped passing them on, would otherwise
 * pass every other test on the scalar kernels; here it fails.
 */
class KernelPathTest {
  @TempDir Path dir;

  /**
   * Whether this JVM must run the Vector API kernels: the system property {@code
   * pd2java.test.expectVector} when set (pd2java sets it), else whether the module is in the boot
   * layer and not switched off with {@code -Dpd2java.vector=false}.
   */
  static boolean expectVector() {
    String p = System.getProperty("pd2java.test.expectVector");
    if (p != null) {
      return Boolean.parseBoolean(p);
    }
    return ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent()
        && !"false".equalsIgnoreCase(System.getProperty("pd2java.vector"));
  }

  @Test
  void theExpectedFamilyIsActive() throws IOException {
    Path p = HotOps.mixed(new Random(1), HotOps.Dtype.F32).write(dir);
    String info = Model.load(p).kernelInfo();
    if (expectVector()) {
      assertTrue(info.startsWith("vector: jdk.incubator.vector"), info);
      assertNotNull(Kernels.vector(), info);
      // Switching the Vector API kernels off for one model gives the scalar ones, saying why.
      assertEquals("scalar: LoadOptions.withVectorKernels(false)",
          Model.load(p, LoadOptions.defaults().withVectorKernels(false)).kernelInfo());
    } else {
      assertTrue(info.startsWith("scalar: "), info);
      assertNull(Kernels.vector(), info);
      // The reason names the missing module (or the property that switched it off).
      assertTrue(info.contains("jdk.incubator.vector") || info.contains("pd2java.vector"), info);
      assertEquals(info,
          Model.load(p, LoadOptions.defaults().withVectorKernels(false)).kernelInfo());
    }
    assertEquals("reference: LoadOptions.withReferenceKernels(true)",
        Model.load(p, LoadOptions.defaults().withReferenceKernels(true)).kernelInfo());
  }

  /** Node name to kernel class name, from the profile's keys "node (ClassName)". */
  private static Map<String, String> kernels(Model m) {
    Map<String, String> out = new LinkedHashMap<>();
    for (String key : m.profile(new float[HotOps.count(m.inputShape())], 1).keySet()) {
      int at = key.lastIndexOf(" (");
      out.put(key.substring(0, at), key.substring(at + 2, key.length() - 1));
    }
    return out;
  }

  /**
   * Every hot op runs the kernel the Vector API provider makes for it when it makes one, and the
   * scalar kernel otherwise: asked directly for each dense conv, depthwise conv and linear node
   * of {@link HotOps#mixed}, the provider's answer is what the loaded model runs. In a JVM
   * without the module every node runs what {@code withVectorKernels(false)} runs.
   */
  @Test
  void theProvidersKernelsAreTheOnesThatRun() throws IOException {
    for (HotOps.Dtype d : HotOps.Dtype.values()) {
      Fixture f = HotOps.mixed(new Random(2), d);
      Path p = f.write(java.nio.file.Files.createTempDirectory(dir, d.name()));
      Model fast = Model.load(p);
      Map<String, String> ran = kernels(fast);
      Map<String, String> scalar =
          kernels(Model.load(p, LoadOptions.defaults().withVectorKernels(false)));
      KernelProvider provider = Kernels.vector();
      if (!expectVector()) {
        assertEquals(scalar, ran, d + ": " + fast.kernelInfo());
        continue;
      }
      assertNotNull(provider, fast.kernelInfo());
      List<String> offered = new ArrayList<>();
      for (String node : List.of("c1", "dw", "pw", "pw2", "fc")) {
        Kernel k = providerKernel(provider, f, node);
        String want = k != null ? k.getClass().getSimpleName() : scalar.get(node);
        if (k != null) {
          offered.add(node);
        }
        if (ran.containsKey(node)) { // a fusing plan may have merged the node into another
          assertEquals(want, ran.get(node), d + " node " + node + " (provider "
              + (k == null ? "offers none" : "offers " + want) + ")");
        }
      }
      // Nodes the provider has no kernel for run exactly as on the scalar path.
      for (Map.Entry<String, String> e : ran.entrySet()) {
        if (!offered.contains(e.getKey()) && scalar.containsKey(e.getKey())) {
          assertEquals(scalar.get(e.getKey()), e.getValue(), d + " node " + e.getKey());
        }
      }
    }
  }

  /** What {@code provider} makes for node {@code node} of {@link HotOps#mixed} fixture {@code f}. */
  private static Kernel providerKernel(KernelProvider provider, Fixture f, String node) {
    // The node's parameters decoded as the loader decodes them for the kernel factories.
    Map<String, Object> n = null;
    for (Map<String, Object> m : f.nodes) {
      if (m.get("name").equals(node)) {
        n = m;
      }
    }
    assertNotNull(n, node);
    SafeTensors st = SafeTensors.parse("w", f.weights());
    @SuppressWarnings("unchecked")
    Map<String, Object> params = (Map<String, Object>) n.get("params");
    String wname = (String) params.get("weight");
    String bname = (String) params.get("bias");
    WeightTensor w = st.weight(wname, node, "weight", List.of("F32", "F16", "I8"));
    if (w instanceof WeightTensor.I8 q) {
      w = new WeightTensor.I8(wname, q.shape, q.q,
          st.floats(wname + ".scale", null, "scale").data);
    }
    float[] bias = bname == null ? null : st.floats(bname, node, "bias").data;
    @SuppressWarnings("unchecked")
    Map<String, Object> attrs = (Map<String, Object>) n.get("attrs");
    if (n.get("op").equals("linear")) {
      return provider.linear((Integer) attrs.get("in_features"),
          (Integer) attrs.get("out_features"), w, bias);
    }
    NodeDef def = new NodeDef(
        "m", node, OpRegistry.lookup("conv2d", 1), attrs, Map.of(), false, provider);
    int[] in = node.equals("c1") ? new int[] {4, 12, 14}
        : node.equals("dw") ? new int[] {8, 12, 14} : new int[] {16, 6, 7};
    Window2d g = Window2d.conv(def, new int[][] {in});
    return g.groups == 1 ? provider.denseConv(g, w, bias) : provider.depthwiseConv(g, w, bias);
  }
}
