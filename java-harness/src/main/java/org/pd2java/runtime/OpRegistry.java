package org.pd2java.runtime;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Every op this runtime implements, keyed by {@code name@version}; the Java mirror of
 * pd2java.ops.table (a pytest test checks that both agree in both directions, through {@code
 * java -cp runtime.jar org.pd2java.runtime.OpRegistry --json}).
 *
 * <p>To add an op: write one kernel class with a static {@code compile(NodeDef, int[][])} and
 * register it here with its slots and attributes, exactly as in the Python table.
 */
public final class OpRegistry {
  private static final AttrSpec K = new AttrSpec("kernel_size", AttrKind.INT2);
  private static final AttrSpec S = new AttrSpec("stride", AttrKind.INT2);
  private static final AttrSpec P = new AttrSpec("padding", AttrKind.INT2);
  private static final AttrSpec D = new AttrSpec("dilation", AttrKind.INT2);

  private static final Map<String, OpSpec> OPS;

  static {
    LinkedHashMap<String, OpSpec> m = new LinkedHashMap<>();
    add(
        m,
        new OpSpec(
            "conv2d", 1, 1,
            List.of(new ParamSpec("weight", false), new ParamSpec("bias", true)),
            List.of(
                new AttrSpec("in_channels", AttrKind.INT),
                new AttrSpec("out_channels", AttrKind.INT),
                K, S, P, D,
                new AttrSpec("groups", AttrKind.INT)),
            Conv2dKernel::compile));
    add(
        m,
        new OpSpec(
            "batch_norm2d", 1, 1,
            List.of(
                new ParamSpec("running_mean", false),
                new ParamSpec("running_var", false, true),
                new ParamSpec("weight", true),
                new ParamSpec("bias", true)),
            List.of(
                new AttrSpec("num_features", AttrKind.INT), new AttrSpec("eps", AttrKind.FLOAT)),
            BatchNorm2dKernel::compile));
    add(m, new OpSpec("relu", 1, 1, List.of(), List.of(), ReluKernel::compile));
    add(m, new OpSpec("relu6", 1, 1, List.of(), List.of(), Relu6Kernel::compile));
    add(
        m,
        new OpSpec(
            "leaky_relu", 1, 1, List.of(),
            List.of(new AttrSpec("negative_slope", AttrKind.FLOAT)),
            LeakyReluKernel::compile));
    add(m, new OpSpec("sigmoid", 1, 1, List.of(), List.of(), SigmoidKernel::compile));
    add(
        m,
        new OpSpec("max_pool2d", 1, 1, List.of(), List.of(K, S, P, D), MaxPool2dKernel::compile));
    add(
        m,
        new OpSpec(
            "avg_pool2d", 1, 1, List.of(),
            List.of(K, S, P, new AttrSpec("count_include_pad", AttrKind.BOOL)),
            AvgPool2dKernel::compile));
    add(
        m,
        new OpSpec(
            "global_avg_pool", 1, 1, List.of(),
            List.of(new AttrSpec("keepdims", AttrKind.BOOL)),
            GlobalAvgPoolKernel::compile));
    add(m, new OpSpec("flatten", 1, 1, List.of(), List.of(), FlattenKernel::compile));
    add(
        m,
        new OpSpec(
            "linear", 1, 1,
            List.of(new ParamSpec("weight", false), new ParamSpec("bias", true)),
            List.of(
                new AttrSpec("in_features", AttrKind.INT),
                new AttrSpec("out_features", AttrKind.INT)),
            LinearKernel::compile));
    add(
        m,
        new OpSpec(
            "softmax", 1, 1, List.of(), List.of(new AttrSpec("dim", AttrKind.INT)),
            SoftmaxKernel::compile));
    add(m, new OpSpec("add", 1, 2, List.of(), List.of(), AddKernel::compile));
    OPS = Collections.unmodifiableMap(m);
  }

  private OpRegistry() {}

  private static void add(Map<String, OpSpec> m, OpSpec spec) {
    if (m.put(spec.key(), spec) != null) {
      throw new IllegalStateException("duplicate op " + spec.key());
    }
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

  /** @return the registry as JSON: a list of {name, version, num_inputs, params, attrs} */
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
        sb.append("\", \"optional\": ").append(p.optional()).append('}');
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

  /**
   * Prints the registry: {@code --json} for machine-readable output, otherwise one key a line.
   *
   * @param args command-line arguments
   */
  public static void main(String[] args) {
    if (args.length == 1 && args[0].equals("--json")) {
      System.out.println(toJson());
    } else {
      OPS.keySet().forEach(System.out::println);
    }
  }
}
