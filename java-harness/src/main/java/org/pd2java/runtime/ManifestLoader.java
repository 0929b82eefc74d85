package org.pd2java.runtime;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Reads and validates a manifest (format versions FormatRules.READ_VERSIONS) and its weights, then compiles the nodes into a plan.
 * Order (FORMAT.md): the manifest file (a regular file within MAX_MANIFEST_BYTES), JSON, format,
 * format_version, every top-level key, every node's keys, names, op, attrs and parameter slots
 * (no weights needed yet), then the weights file (bare name, real path directly in the export
 * folder, regular file, size limit, size, SHA-256, safetensors rules), then every referenced
 * parameter tensor (dtype the slot takes, finite; version 3: int8 scales), then per node the
 * wiring, the value rules of the slots, shapes and the plan size, then the model output, then the
 * golden vectors and the self-test. Every limit is FormatRules' and is
 * checked before anything of that size is allocated; so is the Java heap: a load the heap cannot
 * hold is refused before the weights are read, LIMIT_EXCEEDED naming what it needs, what is free
 * and -Xmx ({@link #checkHeap}), and an OutOfMemoryError during a load becomes that error too.
 *
 * <p>Unknown extra keys at the top level and in nodes are ignored (FORMAT.md section 6: a new
 * optional key is an additive change); {@code attrs} and {@code params} must match the op exactly.
 */
final class ManifestLoader {
  private static final Pattern NAME = Pattern.compile(FormatRules.NAME_PATTERN);
  private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");
  private static final Pattern VERSION = Pattern.compile(FormatRules.VERSION_PATTERN);

  private final String file;
  /** The manifest's path, or null for a load from memory ({@link #manifestBytes}). */
  private final Path manifest;
  private final byte[] manifestBytes;
  /** A load from memory: the weights by their bare file name (checked before it is asked). */
  private final WeightsSource weightsSource;

  /**
   * Where a load from memory (bytes, streams, the classpath) finds the weights file the manifest
   * names. Returns its bytes, or null when there is none; reads at most {@code max} bytes plus
   * one, so an oversized file is noticed without being read whole.
   */
  @FunctionalInterface
  interface WeightsSource {
    byte[] read(String bareName, long max) throws IOException;
  }

  private ManifestLoader(Path manifest) {
    this.manifest = manifest;
    this.file = String.valueOf(manifest.getFileName());
    this.manifestBytes = null;
    this.weightsSource = null;
  }

  private ManifestLoader(String name, byte[] manifestBytes, WeightsSource weights) {
    this.manifest = null;
    this.file = name;
    this.manifestBytes = manifestBytes;
    this.weightsSource = weights;
  }

  /** A node after the structural pass. */
  private record RawNode(
      String name,
      OpSpec op,
      List<String> inputs,
      String output,
      Map<String, Object> attrs,
      Map<String, String> params,
      int[] outputShape) {}

  static Model load(Path manifest, LoadOptions options) {
    return load(new ManifestLoader(manifest), options);
  }

  /**
   * A load from memory: {@code name} stands for the manifest in error messages; every check of
   * a file load applies except those about files (regular file, folder, links).
   */
  static Model load(String name, byte[] manifest, WeightsSource weights, LoadOptions options) {
    return load(new ManifestLoader(name, manifest, weights), options);
  }

  /** {@link #load(String, byte[], WeightsSource, LoadOptions)}, the manifest read from a stream. */
  static Model load(String name, InputStream manifest, WeightsSource weights,
      LoadOptions options) {
    byte[] json;
    try {
      json = readStream(manifest, FormatRules.MAX_MANIFEST_BYTES);
    } catch (IOException e) {
      throw new Pd2JavaException(ErrorCode.IO_ERROR, name, null,
          "cannot read the manifest: " + e, e);
    }
    return load(name, json, weights, options);
  }

  /** Reads a stream into memory, at most {@code max} bytes plus one (to notice a longer one). */
  static byte[] readStream(InputStream in, long max) throws IOException {
    return in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, max + 1));
  }

  private static Model load(ManifestLoader loader, LoadOptions options) {
    try {
      return loader.run(options);
    } catch (OutOfMemoryError e) {
      // The backstop of checkHeap: a load the estimate let through (kernels' own copies of the
      // weights, a self-test workspace larger than its values) still fails as a typed error,
      // and the partly built model is garbage by now.
      Runtime rt = Runtime.getRuntime();
      throw new Pd2JavaException(
          ErrorCode.LIMIT_EXCEEDED, loader.file, null,
          "the Java heap ran out while loading the model (" + e.getMessage() + "; max heap "
              + mb(rt.maxMemory()) + "); start the JVM with a larger -Xmx", e);
    }
  }

  private Pd2JavaException bad(String rule) {
    return new Pd2JavaException(ErrorCode.INVALID_MANIFEST, file, null, rule);
  }

  private Model run(LoadOptions options) {
    Map<String, Object> top = readManifest();
    // 1. format and format_version, before anything else.
    Object format = top.get("format");
    if (!FormatRules.FORMAT.equals(format)) {
      throw new Pd2JavaException(
          ErrorCode.UNSUPPORTED_FORMAT,
          file,
          null,
          "'format' is " + (format == null ? "missing" : "'" + format + "'") + ", expected '"
              + FormatRules.FORMAT + "': not a pd2java manifest");
    }
    Object version = top.get("format_version");
    if (!(version instanceof Long)) {
      throw new Pd2JavaException(
          ErrorCode.UNSUPPORTED_FORMAT_VERSION, file, null,
          "'format_version' is " + (version == null ? "missing" : version)
              + ", expected an integer");
    }
    long v = (Long) version;
    if (v > FormatRules.FORMAT_VERSION) {
      throw new Pd2JavaException(
          ErrorCode.UNSUPPORTED_FORMAT_VERSION, file, null,
          "format_version " + v + " was written by a newer pd2java; this runtime reads versions "
              + FormatRules.READ_VERSIONS + ": upgrade the pd2java runtime");
    }
    if (!FormatRules.READ_VERSIONS.contains((int) v)) {
      throw new Pd2JavaException(
          ErrorCode.UNSUPPORTED_FORMAT_VERSION, file, null,
          "format_version " + v + " is unknown; this runtime reads versions "
              + FormatRules.READ_VERSIONS);
    }
    String minRuntime = minRuntimeVersion(top);
    boolean v1 = v == 1;
    // 2. Every top-level key present and typed.
    List<String> topKeys =
        v1 ? FormatRules.TOP_KEYS_V1 : v == 2 ? FormatRules.TOP_KEYS_V2 : FormatRules.TOP_KEYS;
    for (String k : topKeys) {
      if (!top.containsKey(k)) {
        throw bad("missing key '" + k + "' (readers assume no defaults)");
      }
    }
    // Version 3: each int8 tensor's scale tensor (a version 2 file's key is ignored, unknown).
    Map<String, String> quantization =
        topKeys.contains("quantization") ? quantization(top.get("quantization")) : Map.of();
    Map<String, String> producer = new LinkedHashMap<>();
    for (Map.Entry<String, Object> e : objectAt(top, "producer", "producer").entrySet()) {
      producer.put(e.getKey(), e.getValue() instanceof String str ? str : Json.write(e.getValue()));
    }
    String name = string(top, "name", "name");
    if (!NAME.matcher(name).matches()) {
      throw bad("'name' " + quote(name) + " does not match " + FormatRules.NAME_PATTERN);
    }
    List<String> classes = null;
    if (top.get("classes") != Json.NULL) {
      classes = stringList(top, "classes", "classes");
    }
    Map<String, Object> input = objectAt(top, "input", "input");
    for (String k : v1 ? FormatRules.INPUT_KEYS_V1 : FormatRules.INPUT_KEYS) {
      if (!input.containsKey(k)) {
        throw bad("missing key 'input." + k + "'");
      }
    }
    String inputName = string(input, "name", "input.name");
    nonEmpty(inputName, null, "input.name");
    int[] inputShape = shape(input, "shape", "input.shape");
    if (v1 && inputShape.length != 3) {
      throw bad("input.shape " + Arrays.toString(inputShape) + " must be [C, H, W] in version 1");
    }
    if (inputShape.length == 0) {
      throw bad("input.shape must hold at least one size");
    }
    expectString(input, "dtype", "input.dtype", "float32");
    if (v1) {
      expectString(input, "layout", "input.layout", "CHW");
    }
    ImageConvention convention = imageConvention(input.get("image_convention"));
    List<Map<String, Object>> outputObjects = new ArrayList<>();
    if (v1) {
      outputObjects.add(objectAt(top, "output", "output"));
    } else {
      Object outs = top.get("outputs");
      if (!(outs instanceof List) || ((List<?>) outs).isEmpty()) {
        throw bad("'outputs' must be a non-empty array");
      }
      for (Object o : (List<?>) outs) {
        if (!(o instanceof Map)) {
          throw bad("'outputs/" + outputObjects.size() + "' must be an object");
        }
        outputObjects.add(Model.asMap(o));
      }
    }
    int outputCount = outputObjects.size();
    String[] outputNames = new String[outputCount];
    int[][] outputShapes = new int[outputCount][];
    String[] outputKinds = new String[outputCount];
    for (int k = 0; k < outputCount; k++) {
      Map<String, Object> output = outputObjects.get(k);
      String path = v1 ? "output" : "outputs/" + k;
      for (String key : FormatRules.OUTPUT_KEYS) {
        if (!output.containsKey(key)) {
          throw bad("missing key '" + path + "." + key + "'");
        }
      }
      outputNames[k] = string(output, "name", path + ".name");
      nonEmpty(outputNames[k], null, path + ".name");
      outputShapes[k] = shape(output, "shape", path + ".shape");
      if (v1 ? outputShapes[k].length != 1 : outputShapes[k].length == 0) {
        throw bad(path + ".shape " + Arrays.toString(outputShapes[k])
            + (v1 ? " must be [K] in version 1" : " must hold at least one size"));
      }
      expectString(output, "dtype", path + ".dtype", "float32");
      outputKinds[k] = string(output, "kind", path + ".kind");
      if (!FormatRules.OUTPUT_KINDS.contains(outputKinds[k])) {
        throw bad("'" + path + ".kind' is " + quote(outputKinds[k]) + ", expected one of "
            + FormatRules.OUTPUT_KINDS);
      }
    }
    ModelMetadata.Confidence confidence = confidence(top, outputKinds[0], outputShapes[0]);
    List<String> transforms = stringList(top, "transforms", "transforms");
    Map<String, Object> weights = objectAt(top, "weights", "weights");
    String weightsFile = string(weights, "file", "weights.file");
    long weightsBytes = integer(weights, "bytes", "weights.bytes");
    String sha = string(weights, "sha256", "weights.sha256");
    if (!SHA256.matcher(sha).matches()) {
      throw bad("'weights.sha256' must be 64 lowercase hex digits");
    }
    Object nodesRaw = top.get("nodes");
    if (!(nodesRaw instanceof List)) {
      throw bad("'nodes' must be an array");
    }
    if (((List<?>) nodesRaw).size() > FormatRules.MAX_NODES) {
      throw new Pd2JavaException(
          ErrorCode.LIMIT_EXCEEDED, file, null,
          "'nodes' holds " + ((List<?>) nodesRaw).size() + " nodes; the limit is "
              + FormatRules.MAX_NODES + " (MAX_NODES)");
    }
    Object goldenRaw = top.get("golden");
    if (goldenRaw != Json.NULL && !(goldenRaw instanceof Map)) {
      throw bad("'golden' must be an object or null");
    }
    // 3. Nodes, structurally (ops, attrs, slots): no weights needed.
    List<RawNode> nodes = new ArrayList<>();
    Set<String> nodeNames = new HashSet<>();
    int i = 0;
    for (Object o : (List<?>) nodesRaw) {
      RawNode n = node(o, i++);
      if (!nodeNames.add(n.name())) {
        throw new Pd2JavaException(
            ErrorCode.INVALID_GRAPH, file, n.name(), "node name is not unique");
      }
      nodes.add(n);
    }
    if (nodes.isEmpty()) {
      throw new Pd2JavaException(ErrorCode.INVALID_GRAPH, file, null, "'nodes' is empty");
    }
    // 4. Weights: the file, then every tensor the nodes reference (dtypes, values, scales).
    // The self-test's workspace: every declared value of one sample (not yet checked against
    // the limits, so each is capped at MAX_VALUE_ELEMENTS and the sum at MAX_PLAN_ELEMENTS).
    long workspace = 0;
    if (options.selfTest() && goldenRaw != Json.NULL) {
      long values = elements(inputShape);
      for (RawNode n : nodes) {
        values = Math.min(values + elements(n.outputShape()), FormatRules.MAX_PLAN_ELEMENTS);
      }
      workspace = 4 * values;
    }
    SafeTensors st = readWeights(weightsFile, weightsBytes, sha, workspace);
    Map<String, WeightTensor> tensors = readParams(nodes, st, v, quantization);
    // 5. Compile: wiring, parameter shapes, output shapes.
    Map<String, Integer> slots = new HashMap<>();
    List<int[]> slotShapes = new ArrayList<>();
    slots.put(inputName, 0);
    slotShapes.add(inputShape);
    long planned = checkSize(inputShape, null, "input");
    List<Model.Step> steps = new ArrayList<>();
    for (RawNode n : nodes) {
      int[] inSlots = new int[n.inputs().size()];
      int[][] inShapes = new int[inSlots.length][];
      for (int k = 0; k < inSlots.length; k++) {
        Integer s = slots.get(n.inputs().get(k));
        if (s == null) {
          throw new Pd2JavaException(
              ErrorCode.INVALID_GRAPH, file, n.name(),
              "input " + quote(n.inputs().get(k))
                  + " is neither the graph input nor the output of an earlier node");
        }
        inSlots[k] = s;
        inShapes[k] = slotShapes.get(s);
      }
      if (slots.containsKey(n.output())) {
        throw new Pd2JavaException(
            ErrorCode.INVALID_GRAPH, file, n.name(),
            "output value " + quote(n.output()) + " is already defined");
      }
      Map<String, WeightTensor> params = new LinkedHashMap<>();
      for (Map.Entry<String, String> p : n.params().entrySet()) {
        WeightTensor tensor = p.getValue() == null ? null : tensors.get(p.getValue());
        if (tensor != null) {
          checkValues(n, p.getKey(), tensor);
        }
        params.put(p.getKey(), tensor);
      }
      NodeDef def =
          new NodeDef(file, n.name(), n.op(), n.attrs(), params, options.referenceKernels(),
              options.vectorKernels() ? Kernels.vector() : null);
      Kernel kernel = n.op().factory().compile(def, inShapes);
      int[] got = kernel.outputShape();
      if (!Arrays.equals(got, n.outputShape())) {
        throw new Pd2JavaException(
            ErrorCode.SHAPE_MISMATCH, file, n.name(),
            "output_shape is " + Arrays.toString(n.outputShape()) + " but " + n.op().key()
                + " on input shape(s) " + Arrays.deepToString(inShapes) + " gives "
                + Arrays.toString(got));
      }
      int size = checkSize(got, n.name(), "output");
      planned += size;
      if (planned > FormatRules.MAX_PLAN_ELEMENTS) {
        throw new Pd2JavaException(
            ErrorCode.LIMIT_EXCEEDED, file, n.name(),
            "the values up to this node need " + planned + " floats per sample; the limit is "
                + FormatRules.MAX_PLAN_ELEMENTS + " (MAX_PLAN_ELEMENTS)");
      }
      int slot = slotShapes.size();
      slots.put(n.output(), slot);
      slotShapes.add(got);
      steps.add(new Model.Step(n.name(), kernel, inSlots, slot, size));
    }
    // 6. The model outputs: each the output of a node, all distinct; class names against the
    // recomputed primary output (as the Python reader does), then the declared shapes.
    int[] outSlots = new int[outputCount];
    Set<String> seenOutputs = new HashSet<>();
    for (int k = 0; k < outputCount; k++) {
      Integer outSlot = slots.get(outputNames[k]);
      if (outSlot == null || outSlot == 0) {
        throw new Pd2JavaException(
            ErrorCode.INVALID_GRAPH, file, null,
            "output " + k + " " + quote(outputNames[k]) + " is not the output of any node");
      }
      outSlots[k] = outSlot;
    }
    for (int k = 0; k < outputCount; k++) {
      if (!seenOutputs.add(outputNames[k])) {
        throw new Pd2JavaException(
            ErrorCode.INVALID_GRAPH, file, null,
            "output " + k + " " + quote(outputNames[k]) + " repeats an earlier output; the "
                + "outputs must be distinct values");
      }
    }
    int[] primary = slotShapes.get(outSlots[0]);
    if (classes != null && (primary.length != 1 || classes.size() != primary[0])) {
      throw bad(classes.size() + " 'classes' for a primary output of shape "
          + Arrays.toString(primary) + " (class names need a 1-D output of that many values)");
    }
    for (int k = 0; k < outputCount; k++) {
      int[] produced = slotShapes.get(outSlots[k]);
      if (!Arrays.equals(produced, outputShapes[k])) {
        throw new Pd2JavaException(
            ErrorCode.SHAPE_MISMATCH, file, null,
            "output " + k + " is declared with shape " + Arrays.toString(outputShapes[k])
                + " but value " + quote(outputNames[k]) + " has shape "
                + Arrays.toString(produced));
      }
    }
    long weightBytes = 0;
    for (WeightTensor t : tensors.values()) {
      weightBytes += t.bytes();
    }
    List<ModelMetadata.Output> outputs = new ArrayList<>();
    for (int k = 0; k < outputCount; k++) {
      outputs.add(new ModelMetadata.Output(
          outputNames[k], Arrays.stream(outputShapes[k]).boxed().toList(), outputKinds[k]));
    }
    ModelMetadata metadata = new ModelMetadata(
        name, (int) v, minRuntime, producer, classes, inputName, inputShape, convention,
        outputs, confidence, transforms, weightsFile, weightsBytes, sha);
    Model model = new Model(
        metadata, steps, slotShapes.size(), outSlots, weightBytes, Kernels.info(options));
    // 7. Golden vectors and the self-test.
    if (goldenRaw != Json.NULL) {
      golden(Model.asMap(goldenRaw), st, model, v1, options.selfTest());
    }
    return model;
  }

  /**
   * The optional {@code min_runtime_version} (FORMAT.md section 1): malformed is
   * INVALID_MANIFEST; above this runtime's version is UNSUPPORTED_FORMAT_VERSION.
   *
   * @return the version the file needs, or null when it does not say
   */
  private String minRuntimeVersion(Map<String, Object> top) {
    String key = FormatRules.MIN_RUNTIME_KEY;
    if (!top.containsKey(key)) {
      return null;
    }
    Object need = top.get(key);
    if (!(need instanceof String s) || !VERSION.matcher(s).matches()) {
      throw bad("'" + key + "' must be a \"MAJOR.MINOR.PATCH\" string, got "
          + (need instanceof String str ? quote(str) : need));
    }
    if (compareVersions(s, FormatRules.RUNTIME_VERSION) > 0) {
      throw new Pd2JavaException(
          ErrorCode.UNSUPPORTED_FORMAT_VERSION, file, null,
          "the file needs pd2java runtime " + s + " or newer; this runtime is "
              + FormatRules.RUNTIME_VERSION + ": upgrade the pd2java runtime");
    }
    return s;
  }

  /** Orders two versions matching VERSION_PATTERN (each part at most 6 digits, so no overflow). */
  static int compareVersions(String a, String b) {
    String[] x = a.split("\\.");
    String[] y = b.split("\\.");
    for (int i = 0; i < 3; i++) {
      int c = Integer.compare(Integer.parseInt(x[i]), Integer.parseInt(y[i]));
      if (c != 0) {
        return c;
      }
    }
    return 0;
  }

  /**
   * The optional {@code confidence} object (FORMAT.md section 1): every key of
   * FormatRules.CONFIDENCE_KEYS, a score of FormatRules.CONFIDENCE_SCORES, a threshold in [0, 1],
   * a target_false_reject in [0, 1), on a 1-D primary output of kind probabilities; anything else
   * is INVALID_MANIFEST (extra keys ignored).
   *
   * @return the threshold, or null when the manifest has none
   */
  private ModelMetadata.Confidence confidence(
      Map<String, Object> top, String primaryKind, int[] primaryShape) {
    String key = FormatRules.CONFIDENCE_KEY;
    if (!top.containsKey(key)) {
      return null;
    }
    Object raw = top.get(key);
    if (!(raw instanceof Map)) {
      throw bad("'" + key + "' must be an object");
    }
    Map<String, Object> m = Model.asMap(raw);
    for (String k : FormatRules.CONFIDENCE_KEYS) {
      if (!m.containsKey(k)) {
        throw bad("missing key '" + key + "." + k + "'");
      }
    }
    String score = string(m, "score", key + ".score");
    if (!FormatRules.CONFIDENCE_SCORES.contains(score)) {
      throw bad("'" + key + ".score' is " + quote(score) + ", expected one of "
          + FormatRules.CONFIDENCE_SCORES);
    }
    double threshold = number(m, "threshold", key + ".threshold");
    if (!(threshold >= 0 && threshold <= 1)) {
      throw bad("'" + key + ".threshold' must be a number in [0, 1], got " + threshold);
    }
    double target = number(m, "target_false_reject", key + ".target_false_reject");
    if (!(target >= 0 && target < 1)) {
      throw bad("'" + key + ".target_false_reject' must be a number in [0, 1), got " + target);
    }
    if (!primaryKind.equals(FormatRules.CONFIDENCE_OUTPUT_KIND) || primaryShape.length != 1) {
      throw bad("'" + key + "' needs a 1-D primary output of kind "
          + FormatRules.CONFIDENCE_OUTPUT_KIND + "; this one is " + primaryKind + " of shape "
          + Arrays.toString(primaryShape));
    }
    return new ModelMetadata.Confidence(score, threshold, target);
  }

  /**
   * {@code input.image_convention}: null, or the PRPD convention record with every key of
   * FormatRules.IMAGE_CONVENTION_KEYS (shape: two sizes; the rest strings; extra keys ignored).
   */
  private ImageConvention imageConvention(Object conv) {
    if (conv == Json.NULL) {
      return null;
    }
    if (!(conv instanceof Map)) {
      throw bad("'input.image_convention' must be an object or null");
    }
    Map<String, Object> m = Model.asMap(conv);
    Map<String, String> text = new HashMap<>();
    int[] shape = null;
    for (String key : FormatRules.IMAGE_CONVENTION_KEYS) {
      String path = "input.image_convention." + key;
      if (key.equals("shape")) {
        shape = shape(m, key, path);
        if (shape.length != 2) {
          throw bad("'" + path + "' must hold two sizes, got " + Arrays.toString(shape));
        }
      } else {
        text.put(key, string(m, key, path));
      }
    }
    return new ImageConvention(Arrays.stream(shape).boxed().toList(), text.get("axis0"),
        text.get("axis1"), text.get("value"), text.get("png_rows"));
  }

  /** The elements of a shape, or MAX_VALUE_ELEMENTS when more (no overflow). */
  private static long elements(int[] shape) {
    long p = 1;
    for (int d : shape) {
      p = Math.min(p * d, FormatRules.MAX_VALUE_ELEMENTS); // d < 2^31: p * d cannot overflow
    }
    return p;
  }

  /** The elements of a value per sample, refused above MAX_VALUE_ELEMENTS. */
  private int checkSize(int[] shape, String node, String what) {
    long p = 1;
    for (int d : shape) {
      p *= d;
      if (p > FormatRules.MAX_VALUE_ELEMENTS) {
        throw new Pd2JavaException(
            ErrorCode.LIMIT_EXCEEDED, file, node,
            what + " shape " + Arrays.toString(shape) + " exceeds the limit of "
                + FormatRules.MAX_VALUE_ELEMENTS + " elements per sample (MAX_VALUE_ELEMENTS)");
      }
    }
    return (int) p;
  }

  /** The value rules of a parameter slot, from the op table (e.g. a non-negative variance). */
  private void checkValues(RawNode n, String slot, WeightTensor t) {
    for (ParamSpec p : n.op().params()) {
      if (p.name().equals(slot) && p.nonnegative()) {
        for (int i = 0; i < t.size(); i++) {
          float d = t.get(i);
          if (d < 0) {
            throw new Pd2JavaException(
                ErrorCode.INVALID_PARAMETER, file, n.name(),
                n.op().key() + ": parameter '" + slot + "' (tensor '" + t.name + "') holds "
                    + d + " at flat index " + i + "; it must be >= 0");
          }
        }
      }
    }
  }

  /**
   * The top-level {@code quantization} object of a version 3 file, structurally (FORMAT.md,
   * "Compressed weights"): an object whose every entry is an object with a string {@code scale};
   * INVALID_MANIFEST otherwise. Its meaning (each names a referenced int8 tensor, scales of the
   * right shape and > 0) is checked with the weights, by {@link #readParams}.
   *
   * @return int8 tensor name to scale tensor name, in document order
   */
  private Map<String, String> quantization(Object raw) {
    if (!(raw instanceof Map)) {
      throw bad("'quantization' must be an object (int8 tensor name -> {\"scale\": tensor name})");
    }
    Map<String, String> out = new LinkedHashMap<>();
    for (Map.Entry<String, Object> e : Model.asMap(raw).entrySet()) {
      String path = "quantization/" + e.getKey();
      if (!(e.getValue() instanceof Map)) {
        throw bad("'" + path + "' must be an object");
      }
      Map<String, Object> entry = Model.asMap(e.getValue());
      for (String k : FormatRules.QUANT_KEYS) {
        if (!entry.containsKey(k)) {
          throw bad("missing key '" + path + "/" + k + "'");
        }
      }
      out.put(e.getKey(), string(entry, "scale", path + "/scale"));
    }
    return out;
  }

  /**
   * Every tensor the nodes reference, in its stored form (FORMAT.md, "Compressed weights"), in
   * the Python reader's order: per node and slot, the tensor's dtype must be one the slot takes
   * (its {@link ParamSpec#dtypes} in version 3, F32 before; a tensor shared by several slots must
   * suit each) and its values finite; then every int8 tensor needs a quantization entry; then, in
   * document order, each entry must name a referenced int8 tensor and its scale must be an F32
   * tensor of finite values, one per output channel (shape [weight.shape[0]]), all > 0.
   *
   * @return tensor name to tensor, int8 ones with their scales
   */
  private Map<String, WeightTensor> readParams(
      List<RawNode> nodes, SafeTensors st, long version, Map<String, String> quantization) {
    Map<String, WeightTensor> tensors = new LinkedHashMap<>();
    for (RawNode n : nodes) {
      for (ParamSpec slot : n.op().params()) {
        String t = n.params().get(slot.name());
        if (t == null) {
          continue;
        }
        List<String> allowed = version >= 3 ? slot.dtypes() : FormatRules.FP32_WEIGHT_DTYPES;
        String what = "parameter '" + slot.name() + "':";
        WeightTensor seen = tensors.get(t);
        if (seen == null) {
          tensors.put(t, st.weight(t, n.name(), what, allowed));
        } else if (!allowed.contains(seen.dtype())) {
          throw new Pd2JavaException(
              ErrorCode.UNSUPPORTED_DTYPE, file, n.name(),
              what + " tensor '" + t + "' has dtype " + seen.dtype() + "; this slot takes "
                  + String.join(" or ", allowed));
        }
      }
    }
    for (WeightTensor t : tensors.values()) {
      if (t instanceof WeightTensor.I8 && !quantization.containsKey(t.name)) {
        throw new Pd2JavaException(
            ErrorCode.INVALID_PARAMETER, file, null,
            "int8 tensor '" + t.name + "' has no 'quantization' entry (its scale)");
      }
    }
    for (Map.Entry<String, String> e : quantization.entrySet()) {
      String t = e.getKey();
      if (!(tensors.get(t) instanceof WeightTensor.I8 q)) {
        throw new Pd2JavaException(
            ErrorCode.INVALID_PARAMETER, file, null,
            "quantization entry '" + t + "' names no int8 tensor a node references");
      }
      String what = "quantization entry '" + t + "' scale";
      Tensor scale = st.floats(e.getValue(), null, what);
      if (q.shape.length == 0 || !Arrays.equals(scale.shape, new int[] {q.shape[0]})) {
        throw new Pd2JavaException(
            ErrorCode.INVALID_PARAMETER, file, null,
            what + " '" + e.getValue() + "' has shape " + scale.shapeString() + ", expected "
                + (q.shape.length == 0 ? "one per output channel, but int8 tensor '" + t
                    + "' has rank 0 (no output-channel axis)"
                    : "[" + q.shape[0] + "] (one per output channel)"));
      }
      for (int i = 0; i < scale.data.length; i++) {
        if (!(scale.data[i] > 0)) {
          throw new Pd2JavaException(
              ErrorCode.INVALID_PARAMETER, file, null,
              what + " '" + e.getValue() + "' holds " + scale.data[i] + " at index " + i
                  + "; scales must be > 0");
        }
      }
      tensors.put(t, new WeightTensor.I8(t, q.shape, q.q, scale.data));
    }
    return tensors;
  }

  private void nonEmpty(String name, String node, String what) {
    if (name.isEmpty()) {
      throw new Pd2JavaException(
          ErrorCode.INVALID_GRAPH, file, node, what + " is empty; names must be non-empty");
    }
  }

  private Map<String, Object> readManifest() {
    if (manifest == null) {
      return parseManifest(manifestBytes);
    }
    // A regular file (never a FIFO or device, which could block or never end), within the size
    // limit: both known from its attributes before it is opened.
    BasicFileAttributes attrs;
    try {
      attrs = Files.readAttributes(manifest, BasicFileAttributes.class);
    } catch (IOException e) {
      throw new Pd2JavaException(
          ErrorCode.IO_ERROR, String.valueOf(manifest), null,
          "cannot read the manifest: " + e, e);
    }
    if (!attrs.isRegularFile()) {
      throw new Pd2JavaException(
          ErrorCode.UNSAFE_PATH, String.valueOf(manifest), null,
          "the manifest is not a regular file (" + kind(attrs) + ")");
    }
    long max = FormatRules.MAX_MANIFEST_BYTES;
    if (attrs.size() > max) {
      throw new Pd2JavaException(
          ErrorCode.LIMIT_EXCEEDED, file, null,
          "manifest is " + attrs.size() + " bytes; the limit is " + max
              + " (MAX_MANIFEST_BYTES)");
    }
    byte[] bytes = readAtMost(manifest, file, "the manifest", attrs.size());
    if (bytes.length != attrs.size()) {
      throw new Pd2JavaException(
          ErrorCode.IO_ERROR, file, null, "the manifest changed size while being read");
    }
    return parseManifest(bytes);
  }

  private Map<String, Object> parseManifest(byte[] bytes) {
    long max = FormatRules.MAX_MANIFEST_BYTES;
    if (bytes.length > max) {
      throw new Pd2JavaException(
          ErrorCode.LIMIT_EXCEEDED, file, null,
          "manifest is " + (bytes.length > max + 1 ? "over " + max : bytes.length)
              + " bytes; the limit is " + max + " (MAX_MANIFEST_BYTES)");
    }
    Object top = Json.parse(bytes, file, Json.Limits.MANIFEST);
    if (!(top instanceof Map)) {
      throw bad("the manifest is not a JSON object");
    }
    return Model.asMap(top);
  }

  /**
   * Reads a file whose size {@code max} was checked: into one array of that size (no growing
   * copies of a large weights file), plus one byte to notice a file that grew meanwhile.
   */
  private static byte[] readAtMost(Path path, String name, String what, long max) {
    try (InputStream in = Files.newInputStream(path)) {
      byte[] buf = new byte[(int) max];
      int n = in.readNBytes(buf, 0, buf.length);
      if (n < buf.length) {
        return Arrays.copyOf(buf, n);
      }
      return in.read() < 0 ? buf : Arrays.copyOf(buf, buf.length + 1);
    } catch (IOException e) {
      throw new Pd2JavaException(ErrorCode.IO_ERROR, name, null, "cannot read " + what + ": " + e,
          e);
    }
  }

  private static String kind(BasicFileAttributes a) {
    if (a.isDirectory()) {
      return "a directory";
    }
    if (a.isSymbolicLink()) {
      return "a symbolic link";
    }
    return "a FIFO, socket or device";
  }

  /**
   * Refuses a load the Java heap cannot hold, before the weights file is read: LIMIT_EXCEEDED
   * when what the load will hold at once is more than the heap still free ({@code
   * Runtime.maxMemory()} minus the heap in use). That is the file's bytes (read whole, to be
   * hashed and parsed), the tensors decoded from them (the weights as the model holds them and
   * the golden vectors: at most as many bytes as the file, since float32, half and int8 are held
   * at their stored width) and, when the self-test runs, one workspace (every value of one
   * sample). An OutOfMemoryError despite the estimate is turned into the same error by {@link
   * #load}.
   *
   * <p>The heap in use counts garbage not yet collected; so before refusing, one {@code
   * System.gc()} is asked for and the free heap measured again. A load that fits never pays it.
   */
  private void checkHeap(String wf, long fileBytes, long workspace) {
    Runtime rt = Runtime.getRuntime();
    long max = rt.maxMemory();
    if (max == Long.MAX_VALUE) {
      return; // no heap limit
    }
    long need = 2 * fileBytes + workspace;
    long free = max - (rt.totalMemory() - rt.freeMemory());
    if (need <= free) {
      return;
    }
    System.gc();
    long used = rt.totalMemory() - rt.freeMemory();
    free = max - used;
    if (need <= free) {
      return;
    }
    long suggest = (used + need + need / 4 + (64L << 20) - 1) / (64L << 20) * 64; // MB
    throw new Pd2JavaException(
        ErrorCode.LIMIT_EXCEEDED, wf, null,
        "loading this model needs about " + mb(need) + " of Java heap (the " + mb(fileBytes)
            + " weights file read whole, up to " + mb(fileBytes) + " of tensors decoded from it"
            + (workspace > 0 ? ", " + mb(workspace) + " for the self-test's workspace" : "")
            + ") but only " + mb(Math.max(free, 0)) + " is free (max heap " + mb(max) + ", "
            + mb(used) + " in use); start the JVM with a larger heap, e.g. -Xmx" + suggest + "m");
  }

  /** Bytes as megabytes with one decimal, for messages. */
  private static String mb(long bytes) {
    return String.format(java.util.Locale.ROOT, "%.1f MB", bytes / 1048576.0);
  }

  private SafeTensors readWeights(
      String weightsFile, long expectedBytes, String sha, long workspace) {
    if (weightsFile.isEmpty()
        || weightsFile.contains("/")
        || weightsFile.contains("\\")
        || weightsFile.contains(":")
        || weightsFile.equals(".")
        || weightsFile.equals("..")
        || weightsFile.indexOf('\0') >= 0) {
      throw new Pd2JavaException(
          ErrorCode.UNSAFE_PATH, file, null,
          "weights.file " + quote(weightsFile)
              + " must be a bare file name in the manifest's folder (no '/', '\\', '..', drive or"
              + " absolute path)");
    }
    String wf = weightsFile;
    if (manifest == null) {
      return readWeightsFromMemory(wf, expectedBytes, sha);
    }
    // The export folder is the manifest's real folder; the weights file's real path (symbolic
    // links followed) must lie directly in it, and be a regular file: never a link leaving the
    // folder, a FIFO or a device, which are refused before they are opened.
    Path dir;
    Path real;
    BasicFileAttributes attrs;
    try {
      dir = manifest.toRealPath().getParent();
      real = dir.resolve(weightsFile).toRealPath();
      attrs = Files.readAttributes(real, BasicFileAttributes.class);
    } catch (NoSuchFileException e) {
      throw new Pd2JavaException(
          ErrorCode.IO_ERROR, wf, null,
          "the weights file named by " + file + " does not exist (or is a dangling link): " + e,
          e);
    } catch (IOException e) {
      throw new Pd2JavaException(
          ErrorCode.IO_ERROR, wf, null,
          "cannot read the weights file named by " + file + ": " + e, e);
    }
    if (!dir.equals(real.getParent())) {
      throw new Pd2JavaException(
          ErrorCode.UNSAFE_PATH, wf, null,
          "the weights file named by " + file + " resolves to " + real
              + ", outside the export folder " + dir);
    }
    if (!attrs.isRegularFile()) {
      throw new Pd2JavaException(
          ErrorCode.UNSAFE_PATH, wf, null,
          "the weights file named by " + file + " is not a regular file (" + kind(attrs) + ")");
    }
    long size = attrs.size();
    if (size > FormatRules.MAX_WEIGHTS_BYTES) {
      throw new Pd2JavaException(
          ErrorCode.LIMIT_EXCEEDED, wf, null,
          "file is " + size + " bytes; the limit is " + FormatRules.MAX_WEIGHTS_BYTES
              + " (MAX_WEIGHTS_BYTES)");
    }
    if (size != expectedBytes) {
      throw new Pd2JavaException(
          ErrorCode.WEIGHTS_SIZE_MISMATCH, wf, null,
          "file is " + size + " bytes but the manifest " + file + " says weights.bytes = "
              + expectedBytes);
    }
    checkHeap(wf, size, workspace);
    byte[] bytes = readAtMost(real, wf, "the weights file named by " + file, size);
    if (bytes.length != expectedBytes) {
      throw new Pd2JavaException(
          ErrorCode.IO_ERROR, wf, null, "file changed size while being read");
    }
    return checkAndParseWeights(wf, bytes, sha);
  }

  /** The weights of a load from memory: same size, checksum and format checks as a file's. */
  private SafeTensors readWeightsFromMemory(String wf, long expectedBytes, String sha) {
    byte[] bytes;
    try {
      bytes = weightsSource.read(wf, FormatRules.MAX_WEIGHTS_BYTES);
    } catch (IOException e) {
      throw new Pd2JavaException(
          ErrorCode.IO_ERROR, wf, null, "cannot read the weights named by " + file + ": " + e, e);
    }
    if (bytes == null) {
      throw new Pd2JavaException(
          ErrorCode.IO_ERROR, wf, null, "the weights named by " + file + " were not found");
    }
    if (bytes.length > FormatRules.MAX_WEIGHTS_BYTES) {
      throw new Pd2JavaException(
          ErrorCode.LIMIT_EXCEEDED, wf, null,
          "weights are over " + FormatRules.MAX_WEIGHTS_BYTES + " bytes (MAX_WEIGHTS_BYTES)");
    }
    if (bytes.length != expectedBytes) {
      throw new Pd2JavaException(
          ErrorCode.WEIGHTS_SIZE_MISMATCH, wf, null,
          "weights are " + bytes.length + " bytes but the manifest " + file
              + " says weights.bytes = " + expectedBytes);
    }
    return checkAndParseWeights(wf, bytes, sha);
  }

  private SafeTensors checkAndParseWeights(String wf, byte[] bytes, String sha) {
    String got = sha256(bytes);
    if (!got.equals(sha)) {
      throw new Pd2JavaException(
          ErrorCode.WEIGHTS_CHECKSUM_MISMATCH, wf, null,
          "SHA-256 is " + got + " but the manifest " + file + " says " + sha
              + " (file corrupted or replaced)");
    }
    return SafeTensors.parse(wf, bytes);
  }

  static String sha256(byte[] bytes) {
    try {
      byte[] d = MessageDigest.getInstance("SHA-256").digest(bytes);
      StringBuilder sb = new StringBuilder(64);
      for (byte b : d) {
        sb.append(Character.forDigit((b >> 4) & 0xf, 16)).append(Character.forDigit(b & 0xf, 16));
      }
      return sb.toString();
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is missing from this JVM", e);
    }
  }

  private RawNode node(Object o, int index) {
    if (!(o instanceof Map)) {
      throw bad("nodes[" + index + "] is not an object");
    }
    Map<String, Object> m = Model.asMap(o);
    String where = "nodes[" + index + "]";
    Object nm = m.get("name");
    if (!(nm instanceof String)) {
      throw bad(where + ".name is missing or not a string");
    }
    String name = (String) nm;
    for (String k : FormatRules.NODE_KEYS) {
      if (!m.containsKey(k)) {
        throw new Pd2JavaException(
            ErrorCode.INVALID_MANIFEST, file, name.isEmpty() ? null : name,
            where + ": missing key '" + k + "'");
      }
    }
    nonEmpty(name, null, where + ".name");
    String opName = nodeString(m, "op", name);
    Object ver = m.get("version");
    if (!(ver instanceof Long)) {
      throw new Pd2JavaException(
          ErrorCode.INVALID_MANIFEST, file, name, "'version' must be an integer");
    }
    long version = (Long) ver;
    OpSpec op =
        version >= Integer.MIN_VALUE && version <= Integer.MAX_VALUE
            ? OpRegistry.lookup(opName, (int) version)
            : null;
    if (op == null) {
      throw new Pd2JavaException(
          ErrorCode.UNKNOWN_OP, file, name,
          "unknown op '" + opName + "@" + version + "'; known: " + OpRegistry.supported());
    }
    List<String> inputs = nodeStrings(m, "inputs", name);
    for (String v : inputs) {
      nonEmpty(v, name, "an input value name");
    }
    if (inputs.size() != op.numInputs()) {
      throw new Pd2JavaException(
          ErrorCode.INVALID_GRAPH, file, name,
          op.key() + " takes " + op.numInputs() + " input(s), got " + inputs.size());
    }
    List<String> outputs = nodeStrings(m, "outputs", name);
    if (outputs.size() != 1) {
      throw new Pd2JavaException(
          ErrorCode.INVALID_GRAPH, file, name, "'outputs' must hold exactly one value name");
    }
    nonEmpty(outputs.get(0), name, "the output value name");
    // Attributes: exactly the op's, of the right kinds; nothing defaulted.
    if (!(m.get("attrs") instanceof Map)) {
      throw new Pd2JavaException(
          ErrorCode.INVALID_MANIFEST, file, name, "'attrs' must be an object");
    }
    Map<String, Object> rawAttrs = Model.asMap(m.get("attrs"));
    Map<String, Object> attrs = new LinkedHashMap<>();
    Set<String> known = new HashSet<>();
    for (AttrSpec a : op.attrs()) {
      known.add(a.name());
      if (!rawAttrs.containsKey(a.name())) {
        throw new Pd2JavaException(
            ErrorCode.INVALID_ATTRIBUTE, file, name,
            op.key() + ": missing attribute '" + a.name() + "' (" + a.kind().jsonName()
                + "); readers assume no defaults");
      }
      attrs.put(a.name(), attrValue(op, a, rawAttrs.get(a.name()), name));
    }
    for (String k : rawAttrs.keySet()) {
      if (!known.contains(k)) {
        throw new Pd2JavaException(
            ErrorCode.INVALID_ATTRIBUTE, file, name,
            op.key() + ": unknown attribute '" + k + "'; expected exactly "
                + op.attrs().stream().map(AttrSpec::name).toList());
      }
    }
    // Parameter slots: exactly the op's; null only for optional ones.
    if (!(m.get("params") instanceof Map)) {
      throw new Pd2JavaException(
          ErrorCode.INVALID_MANIFEST, file, name, "'params' must be an object");
    }
    Map<String, Object> rawParams = Model.asMap(m.get("params"));
    Map<String, String> params = new LinkedHashMap<>();
    Set<String> slots = new HashSet<>();
    for (ParamSpec p : op.params()) {
      slots.add(p.name());
      if (!rawParams.containsKey(p.name())) {
        throw new Pd2JavaException(
            ErrorCode.INVALID_PARAMETER, file, name,
            op.key() + ": missing parameter slot '" + p.name() + "'"
                + (p.optional() ? " (optional: give null when absent)" : ""));
      }
      Object t = rawParams.get(p.name());
      if (t == Json.NULL) {
        if (!p.optional()) {
          throw new Pd2JavaException(
              ErrorCode.INVALID_PARAMETER, file, name,
              op.key() + ": parameter '" + p.name() + "' is required but null");
        }
        params.put(p.name(), null);
      } else if (t instanceof String) {
        params.put(p.name(), (String) t);
      } else {
        throw new Pd2JavaException(
            ErrorCode.INVALID_PARAMETER, file, name,
            op.key() + ": parameter '" + p.name() + "' must be a tensor name or null");
      }
    }
    for (String k : rawParams.keySet()) {
      if (!slots.contains(k)) {
        throw new Pd2JavaException(
            ErrorCode.INVALID_PARAMETER, file, name,
            op.key() + ": unknown parameter slot '" + k + "'; expected exactly "
                + op.params().stream().map(ParamSpec::name).toList());
      }
    }
    int[] outShape = nodeShape(m.get("output_shape"), name);
    return new RawNode(name, op, inputs, outputs.get(0), attrs, params, outShape);
  }

  private Object attrValue(OpSpec op, AttrSpec a, Object v, String node) {
    String rule = null;
    Object out = null;
    switch (a.kind()) {
      case INT -> {
        if (v instanceof Long l && l >= Integer.MIN_VALUE && l <= Integer.MAX_VALUE) {
          out = (int) (long) l;
        } else {
          rule = "a JSON integer in the 32-bit range";
        }
      }
      case FLOAT -> {
        if (v instanceof Long l) {
          out = (double) l;
        } else if (v instanceof Double d) {
          out = d;
        } else {
          rule = "a JSON number";
        }
      }
      case BOOL -> {
        if (v instanceof Boolean b) {
          out = b;
        } else {
          rule = "true or false";
        }
      }
      case INT2 -> {
        if (v instanceof List<?> l
            && l.size() == 2
            && l.get(0) instanceof Long a0
            && l.get(1) instanceof Long a1
            && a0 >= Integer.MIN_VALUE && a0 <= Integer.MAX_VALUE
            && a1 >= Integer.MIN_VALUE && a1 <= Integer.MAX_VALUE) {
          out = new int[] {(int) (long) a0, (int) (long) a1};
        } else {
          rule = "an array of exactly two integers [h, w]";
        }
      }
      case INTS -> {
        int[] ints = intsValue(v);
        if (ints != null) {
          out = ints;
        } else {
          rule = "an array of 1.." + FormatRules.MAX_INTS_LENGTH
              + " integers in the 32-bit range: " + intsProblem(v);
        }
      }
    }
    if (rule != null) {
      throw new Pd2JavaException(
          ErrorCode.INVALID_ATTRIBUTE, file, node,
          op.key() + ": attribute '" + a.name() + "' is " + describe(v) + ", expected "
              + a.kind().jsonName() + " (" + rule + ")");
    }
    return out;
  }

  /** An {@code ints} attribute's value, or null when {@code v} is not one. */
  private static int[] intsValue(Object v) {
    if (intsProblem(v) != null) {
      return null;
    }
    List<?> l = (List<?>) v;
    int[] out = new int[l.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = (int) (long) (Long) l.get(i);
    }
    return out;
  }

  /** Why {@code v} is not an {@code ints} value, or null when it is. */
  private static String intsProblem(Object v) {
    if (!(v instanceof List<?> l)) {
      return "not an array";
    }
    if (l.isEmpty()) {
      return "an empty array";
    }
    if (l.size() > FormatRules.MAX_INTS_LENGTH) {
      return l.size() + " entries, more than " + FormatRules.MAX_INTS_LENGTH;
    }
    for (int i = 0; i < l.size(); i++) {
      Object e = l.get(i);
      if (!(e instanceof Long x)) {
        return "entry " + i + " (" + describe(e) + ") is not an integer";
      }
      if (x < Integer.MIN_VALUE || x > Integer.MAX_VALUE) {
        return "entry " + i + " (" + x + ") is outside the 32-bit integer range";
      }
    }
    return null;
  }

  private static String describe(Object v) {
    if (v instanceof String s) {
      return "the string " + quote(s);
    }
    if (v instanceof List) {
      return "the array " + v;
    }
    if (v instanceof Map) {
      return "an object";
    }
    return String.valueOf(v);
  }

  private void golden(
      Map<String, Object> g, SafeTensors st, Model model, boolean v1, boolean run) {
    for (String k : v1 ? FormatRules.GOLDEN_KEYS_V1 : FormatRules.GOLDEN_KEYS) {
      if (!g.containsKey(k)) {
        throw bad("missing key 'golden." + k + "'");
      }
    }
    String in = string(g, "input", "golden.input");
    List<String> outs;
    if (v1) {
      outs = List.of(string(g, "output", "golden.output"));
    } else {
      outs = stringList(g, "outputs", "golden.outputs");
      if (outs.size() != model.outputCount()) {
        throw bad("'golden.outputs' names " + outs.size() + " tensor(s); the model has "
            + model.outputCount() + " output(s)");
      }
    }
    long count = integer(g, "count", "golden.count");
    double atol = number(g, "atol", "golden.atol");
    double rtol = number(g, "rtol", "golden.rtol");
    if (count < 1 || count > FormatRules.MAX_GOLDEN_COUNT) {
      throw bad("golden.count is " + count + ", must be 1.." + FormatRules.MAX_GOLDEN_COUNT
          + " (MAX_GOLDEN_COUNT)");
    }
    if (!(atol >= 0) || !(rtol >= 0) || Double.isInfinite(atol) || Double.isInfinite(rtol)) {
      throw bad("golden.atol " + atol + " and golden.rtol " + rtol + " must be finite and >= 0");
    }
    Tensor x = st.floats(in, null, "golden.input");
    Tensor[] ys = new Tensor[outs.size()];
    for (int k = 0; k < ys.length; k++) {
      ys[k] = st.floats(outs.get(k), null, "golden output " + k + ":");
    }
    int[] xs = withCount((int) count, model.inputShape());
    if (!Arrays.equals(x.shape, xs)) {
      throw new Pd2JavaException(
          ErrorCode.SHAPE_MISMATCH, file, null,
          "golden input has shape " + x.shapeString() + ", expected " + Arrays.toString(xs)
              + " (count, then the input shape)");
    }
    for (int k = 0; k < ys.length; k++) {
      int[] want = withCount((int) count, model.outputShape(k));
      if (!Arrays.equals(ys[k].shape, want)) {
        throw new Pd2JavaException(
            ErrorCode.SHAPE_MISMATCH, file, null,
            "golden output " + k + " has shape " + ys[k].shapeString() + ", expected "
                + Arrays.toString(want) + " (count, then the shape of output " + k + ")");
      }
    }
    if (!run) {
      return;
    }
    // The golden inputs are finite (checked with the tensor) and of the right length; the
    // outputs are judged here, so a non-finite one is a failed self-test, not NON_FINITE_OUTPUT.
    float[][] got = model.runBatchAll(x.data, (int) count);
    for (int k = 0; k < ys.length; k++) {
      int size = ys[k].data.length / (int) count;
      for (int i = 0; i < got[k].length; i++) {
        float e = ys[k].data[i];
        if (!Float.isFinite(got[k][i]) || !(Math.abs(got[k][i] - e) <= atol + rtol * Math.abs(e))) {
          throw new Pd2JavaException(
              ErrorCode.SELF_TEST_FAILED, file, null,
              "golden sample " + i / size + ", output " + k + " (" + quote(model.outputName(k))
                  + ") element " + i % size + ": got " + got[k][i] + ", expected " + e
                  + " (tolerance " + atol + " + " + rtol + " * |expected|)");
        }
      }
    }
  }

  private static int[] withCount(int count, int[] shape) {
    int[] out = new int[shape.length + 1];
    out[0] = count;
    System.arraycopy(shape, 0, out, 1, shape.length);
    return out;
  }

  // ---- typed access helpers; every message names the key path ----

  private Map<String, Object> objectAt(Map<String, Object> m, String key, String path) {
    Object v = m.get(key);
    if (!(v instanceof Map)) {
      throw bad(v == null ? "missing key '" + path + "'" : "'" + path + "' must be an object");
    }
    return Model.asMap(v);
  }

  private String string(Map<String, Object> m, String key, String path) {
    Object v = m.get(key);
    if (!(v instanceof String)) {
      throw bad(v == null ? "missing key '" + path + "'" : "'" + path + "' must be a string");
    }
    return (String) v;
  }

  private void expectString(Map<String, Object> m, String key, String path, String expected) {
    String s = string(m, key, path);
    if (!s.equals(expected)) {
      throw bad("'" + path + "' is " + quote(s) + ", expected " + quote(expected));
    }
  }

  private long integer(Map<String, Object> m, String key, String path) {
    Object v = m.get(key);
    if (!(v instanceof Long)) {
      throw bad(v == null ? "missing key '" + path + "'" : "'" + path + "' must be an integer");
    }
    return (Long) v;
  }

  private double number(Map<String, Object> m, String key, String path) {
    Object v = m.get(key);
    if (v instanceof Long l) {
      return l;
    }
    if (v instanceof Double d) {
      return d;
    }
    throw bad(v == null ? "missing key '" + path + "'" : "'" + path + "' must be a number");
  }

  private List<String> stringList(Map<String, Object> m, String key, String path) {
    Object v = m.get(key);
    if (!(v instanceof List)) {
      throw bad(v == null ? "missing key '" + path + "'" : "'" + path + "' must be an array");
    }
    List<String> out = new ArrayList<>();
    for (Object o : (List<?>) v) {
      if (!(o instanceof String)) {
        throw bad("'" + path + "' must hold only strings");
      }
      out.add((String) o);
    }
    return out;
  }

  private int[] shape(Map<String, Object> m, String key, String path) {
    Object v = m.get(key);
    if (!(v instanceof List)) {
      throw bad(v == null ? "missing key '" + path + "'" : "'" + path + "' must be an array");
    }
    int[] s = dims((List<?>) v);
    if (s == null) {
      throw bad("'" + path + "' must hold positive integers, got " + v);
    }
    return s;
  }

  private static int[] dims(List<?> l) {
    int[] s = new int[l.size()];
    for (int i = 0; i < s.length; i++) {
      if (!(l.get(i) instanceof Long d) || d < 1 || d > Integer.MAX_VALUE) {
        return null;
      }
      s[i] = (int) (long) d;
    }
    return s;
  }

  private String nodeString(Map<String, Object> m, String key, String node) {
    Object v = m.get(key);
    if (!(v instanceof String)) {
      throw new Pd2JavaException(
          ErrorCode.INVALID_MANIFEST, file, node, "'" + key + "' must be a string");
    }
    return (String) v;
  }

  private List<String> nodeStrings(Map<String, Object> m, String key, String node) {
    Object v = m.get(key);
    List<String> out = new ArrayList<>();
    if (v instanceof List) {
      for (Object o : (List<?>) v) {
        if (!(o instanceof String)) {
          out = null;
          break;
        }
        out.add((String) o);
      }
    } else {
      out = null;
    }
    if (out == null) {
      throw new Pd2JavaException(
          ErrorCode.INVALID_MANIFEST, file, node, "'" + key + "' must be an array of strings");
    }
    return out;
  }

  private int[] nodeShape(Object v, String node) {
    int[] s = v instanceof List ? dims((List<?>) v) : null;
    if (s == null) {
      throw new Pd2JavaException(
          ErrorCode.INVALID_MANIFEST, file, node,
          "'output_shape' must be an array of positive integers, got " + v);
    }
    return s;
  }

  private static String quote(String s) {
    return "'" + s + "'";
  }
}
