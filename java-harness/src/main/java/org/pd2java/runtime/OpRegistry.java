package org.pd2java.runtime;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Every op this runtime implements, keyed by {@code name@version}.
 *
 * <p>The ops themselves (name, version, inputs, parameter slots, attributes) are not typed here:
 * they come from {@link OpTable}, generated from pd2java.ops.table by {@code python -m
 * pd2java.generate}. This class holds only the hand-written part, each op's kernel factory, and
 * joins the two at class init, failing with an {@link IllegalStateException} naming the op if a
 * table op has no factory or a factory has no table op. A pytest test compares the joined registry
 * with the Python table through {@code java -cp runtime.jar org.pd2java.runtime.OpRegistry
 * --json}.
 *
 * <p>To add an op: add it to the Python table, run {@code python -m pd2java.generate}, write one
 * kernel class with a static {@code compile(NodeDef, int[][])} and add it to {@link #factories()}.
 */
final class OpRegistry {
  private static final Map<String, OpSpec> OPS = join(OpTable.OPS, factories());

  private OpRegistry() {}

  /**
   * The hand-written half of the registry: each op's kernel factory, by {@code name@version}.
   *
   * @return a new map, in no particular order
   */
  static Map<String, KernelFactory> factories() {
    Map<String, KernelFactory> f = new LinkedHashMap<>();
    factory(f, "conv2d@1", Conv2dKernel::compile);
    factory(f, "batch_norm2d@1", BatchNormKernel::compile2d);
    factory(f, "relu@1", ReluKernel::compile);
    factory(f, "relu6@1", Relu6Kernel::compile);
    factory(f, "leaky_relu@1", LeakyReluKernel::compile);
    factory(f, "sigmoid@1", SigmoidKernel::compile);
    factory(f, "max_pool2d@1", MaxPool2dKernel::compile);
    factory(f, "avg_pool2d@1", AvgPool2dKernel::compile);
    factory(f, "global_avg_pool@1", GlobalPoolKernel::avg);
    factory(f, "flatten@1", FlattenKernel::compile);
    factory(f, "linear@1", LinearKernel::compile);
    factory(f, "softmax@1", SoftmaxKernel::compile);
    factory(f, "add@1", AddKernel::compile);
    factory(f, "global_max_pool@1", GlobalPoolKernel::max);
    factory(f, "group_norm@1", GroupNormKernel::compileGroup);
    factory(f, "instance_norm2d@1", GroupNormKernel::compileInstance);
    factory(f, "tanh@1", TanhKernel::compile);
    factory(f, "silu@1", SiluKernel::compile);
    factory(f, "hardswish@1", HardswishKernel::compile);
    factory(f, "hardsigmoid@1", HardsigmoidKernel::compile);
    factory(f, "elu@1", EluKernel::compile);
    factory(f, "mish@1", MishKernel::compile);
    factory(f, "gelu@1", GeluKernel::compile);
    factory(f, "log_softmax@1", SoftmaxKernel::compileLog);
    factory(f, "clamp@1", ClampKernel::compile);
    factory(f, "prelu@1", PReluKernel::compile);
    factory(f, "upsample_nearest2d@1", UpsampleNearest2dKernel::compile);
    factory(f, "upsample_bilinear2d@1", UpsampleBilinear2dKernel::compile);
    factory(f, "conv_transpose2d@1", ConvTranspose2dKernel::compile);
    factory(f, "circular_pad2d@1", Pad2dKernel::compileCircular);
    factory(f, "constant_pad2d@1", Pad2dKernel::compileConstant);
    factory(f, "reflection_pad2d@1", Pad2dKernel::compileReflection);
    factory(f, "replication_pad2d@1", Pad2dKernel::compileReplication);
    factory(f, "adaptive_avg_pool2d@1", AdaptivePool2dKernel::avg);
    factory(f, "adaptive_max_pool2d@1", AdaptivePool2dKernel::max);
    factory(f, "layer_norm@1", LayerNormKernel::compile);
    factory(f, "batch_norm1d@1", BatchNormKernel::compile1d);
    factory(f, "add@2", BroadcastBinaryKernel::compile);
    factory(f, "sub@1", BroadcastBinaryKernel::compile);
    factory(f, "mul@1", BroadcastBinaryKernel::compile);
    factory(f, "div@1", BroadcastBinaryKernel::compile);
    factory(f, "constant@1", ConstantKernel::compile);
    factory(f, "concat@1", ConcatKernel::compile);
    factory(f, "squeeze@1", ShapeOnlyKernel::compileSqueeze);
    factory(f, "unsqueeze@1", ShapeOnlyKernel::compileUnsqueeze);
    factory(f, "flatten@2", ShapeOnlyKernel::compileFlatten);
    factory(f, "reshape@1", ShapeOnlyKernel::compileReshape);
    factory(f, "max_pool2d@2", MaxPool2dKernel::compile2);
    factory(f, "avg_pool2d@2", AvgPool2dKernel::compile2);
    factory(f, "conv1d@1", Conv2dKernel::compile1d);
    factory(f, "max_pool1d@1", MaxPool2dKernel::compile1d);
    factory(f, "avg_pool1d@1", AvgPool2dKernel::compile1d);
    return f;
  }

  private static void factory(Map<String, KernelFactory> f, String key, KernelFactory k) {
    if (f.put(key, k) != null) {
      throw new IllegalStateException("OpRegistry: two kernel factories for " + key);
    }
  }

  /**
   * Joins the op table with the kernel factories.
   *
   * @param table the ops, in table order
   * @param factories kernel factory per {@code name@version}
   * @return every op with its factory, keyed by {@code name@version}, in table order (read-only)
   * @throws IllegalStateException naming the op, when an op is listed twice, a table op has no
   *     factory or a factory has no table op
   */
  static Map<String, OpSpec> join(List<OpTable.Op> table, Map<String, KernelFactory> factories) {
    Map<String, KernelFactory> unused = new LinkedHashMap<>(factories);
    LinkedHashMap<String, OpSpec> m = new LinkedHashMap<>();
    for (OpTable.Op op : table) {
      String key = op.key();
      if (m.containsKey(key)) {
        throw new IllegalStateException("op table: " + key + " is listed twice");
      }
      KernelFactory f = unused.remove(key);
      if (f == null) {
        throw new IllegalStateException(
            "op " + key + " is in the op table (OpTable, generated from pd2java/ops/table.py) but"
                + " has no kernel factory: add one to OpRegistry.factories()");
      }
      m.put(key, new OpSpec(op.name(), op.version(), op.numInputs(), op.params(), op.attrs(), f));
    }
    if (!unused.isEmpty()) {
      throw new IllegalStateException(
          "OpRegistry.factories() has kernel factories for ops not in the op table (OpTable,"
              + " generated from pd2java/ops/table.py): " + unused.keySet()
              + "; add them to the Python table and run python -m pd2java.generate");
    }
    return Collections.unmodifiableMap(m);
  }

  /** @return every op, keyed by {@code name@version}, in registration order (read-only) */
  public static Map<String, OpSpec> all() {
    return OPS;
  }

  /**
   * Looks an op up.
   *
   * @param name op name
   * @param version op version
   * @return the spec, or null when unknown
   */
  public static OpSpec lookup(String name, int version) {
    return OPS.get(name + "@" + version);
  }

  /** @return the known ops as a sorted, comma-separated list, for error messages */
  public static String supported() {
    return String.join(", ", new java.util.TreeSet<>(OPS.keySet()));
  }

  /**
   * @return the registry as JSON: a list of {name, version, num_inputs, params (name, optional,
   *     nonnegative, dtypes), attrs}
   */
  public static String toJson() {
    StringBuilder sb = new StringBuilder("[");
    boolean first = true;
    for (OpSpec op : OPS.values()) {
      sb.append(first ? "\n" : ",\n");
      first = false;
      sb.append("{\"name\": \"").append(op.name()).append("\", \"version\": ").append(op.version());
      sb.append(", \"num_inputs\": ").append(op.numInputs()).append(", \"params\": [");
      for (int i = 0; i < op.params().size(); i++) {
        ParamSpec p = op.params().get(i);
        sb.append(i == 0 ? "" : ", ").append("{\"name\": \"").append(p.name());
        sb.append("\", \"optional\": ").append(p.optional());
        sb.append(", \"nonnegative\": ").append(p.nonnegative()).append(", \"dtypes\": [");
        for (int j = 0; j < p.dtypes().size(); j++) {
          sb.append(j == 0 ? "\"" : ", \"").append(p.dtypes().get(j)).append('"');
        }
        sb.append("]}");
      }
      sb.append("], \"attrs\": [");
      for (int i = 0; i < op.attrs().size(); i++) {
        AttrSpec a = op.attrs().get(i);
        sb.append(i == 0 ? "" : ", ").append("{\"name\": \"").append(a.name());
        sb.append("\", \"kind\": \"").append(a.kind().jsonName()).append("\"}");
      }
      sb.append("]}");
    }
    return sb.append("\n]").toString();
  }
}
