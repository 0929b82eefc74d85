package org.pd2java.runtime;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalDouble;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;

/**
 * A loaded pd2java model ready for inference.
 *
 * <p>{@link #load(Path)} validates everything (format version, manifest keys and types, ops and
 * attributes, weights file per safetensors' rules plus size and SHA-256, parameter and output
 * shapes, graph wiring) and then runs the golden self-test; nothing but the input is checked at
 * each call.
 *
 * <p><b>Threads.</b> A {@code Model} is immutable after load and safe to call from any number of
 * threads at once. Weights are read-only arrays shared by all calls. <b>Scratch
 * memory is per call</b>: each call allocates its own buffers and lets the garbage collector
 * reclaim them, so calls share nothing mutable. The buffers follow a plan made at load: a value
 * whose last reader has run hands its buffer to a later value of the same size, so a call
 * allocates {@link #scratchFloats()} floats (plus, per call, the fast kernels' own scratch: a
 * dense convolution's im2col tile and four 256-float accumulators, a depthwise convolution's tap
 * planes or padded plane, a compressed convolution's weights for a block of output channels),
 * and {@link #predictBatch} reuses one set of buffers for all its samples. {@link #runLayers}
 * keeps every value and so allocates one array per node. {@link #predictInto} and {@link
 * #predictAllInto} run in a caller-owned {@link Workspace} (one per thread) instead, which holds
 * the buffer plan, the per-step input arrays and the kernels' declared scratch: with the Vector
 * API kernels ({@link #kernelInfo()}) a steady-state call there allocates nothing. The scalar
 * kernels still allocate their own scratch per call (the dense convolution's im2col tiles and
 * accumulators: HotSpot 17 vectorises its loops only over arrays allocated inside the call).
 *
 * <p><b>Plan.</b> At load the nodes are compiled into steps, and with the Vector API kernels a
 * fusion pass folds activations and residual adds into the convolution or linear step before
 * them ({@code PlanFusion}); a value that is a model output is never fused away. {@link
 * #runLayers} runs the unfused nodes, so every node's value stays visible.
 *
 * <p><b>Shapes.</b> A model has one input and one or more outputs, each of any rank; shapes are
 * per sample (the batch axis is implicit): {@link #inputShape()}, {@link #outputShape(int)}. A
 * sample is passed and returned as a flat row-major {@code float[]} (for a (C, H, W) image, C x H
 * x W values in CHW order). Output 0 is the primary output: {@link #predict}, {@link
 * #predictBatch} and {@link #classify} give it, {@link #predictAll} gives every output.
 *
 * <p><b>Inputs.</b> A wrong length or an empty batch throws {@link ErrorCode#INVALID_INPUT}. NaN or infinite inputs are
 * <b>refused</b> with {@link ErrorCode#INVALID_INPUT} naming the first bad index, because a PRPD
 * image never legitimately holds them and a NaN would otherwise silently turn into an arbitrary
 * class. <b>Outputs</b> of {@link #predict}, {@link #predictBatch} and {@link #classify} are
 * checked too: finite but extreme inputs (near 1e38) can overflow inside the model, and a NaN or
 * infinite output throws {@link ErrorCode#NON_FINITE_OUTPUT} instead of becoming a class. {@link
 * #runLayers} returns values as computed (it is for debugging).
 */
public final class Model {
  /** One compiled node of the plan. */
  record Step(String node, Kernel kernel, int[] inputSlots, int outputSlot, int size) {}

  private final ModelMetadata metadata;
  private final String name;
  // The primary output's class names; empty when the manifest has none.
  private final List<String> classes;
  private final String inputName;
  private final int[] inputShape;
  private final int inputSize;
  private final String[] outputNames;
  private final int[][] outputShapes;
  private final int[] outputSizes;
  private final String[] outputKinds;
  private final int[] outputSlots;
  // The plan predict* runs (after PlanFusion), and every node unfused (for runLayers).
  private final Step[] steps;
  private final Step[] layerSteps;
  private final int valueCount;
  // Buffer plan for predict: value slot -> buffer, and each buffer's size (see planBuffers).
  private final int[] bufferOf;
  private final int[] bufferSizes;
  // Scratch rows for the kernels: row r is the longest any step asks for (Kernel.scratchRows).
  private final int[] scratchRows;
  // Per step: buffer index of each input, and of the output (the plan, resolved).
  private final int[][] stepInputBuffers;
  private final int[] stepOutputBuffers;
  // Bytes of the parameter tensors as held (compressed ones compressed): see weightBytes().
  private final long weightBytes;
  // Which kernel family the steps were compiled for (Kernels.info).
  private final String kernelInfo;

  Model(
      ModelMetadata metadata,
      List<Step> steps,
      int valueCount,
      int[] outputSlots,
      long weightBytes,
      String kernelInfo) {
    this.metadata = metadata;
    this.weightBytes = weightBytes;
    this.kernelInfo = kernelInfo;
    this.name = metadata.name();
    this.classes = metadata.classes();
    this.inputName = metadata.inputName();
    this.inputShape = ints(metadata.inputShape());
    this.inputSize = product(inputShape);
    int outputCount = metadata.outputs().size();
    this.outputNames = new String[outputCount];
    this.outputShapes = new int[outputCount][];
    this.outputSizes = new int[outputCount];
    this.outputKinds = new String[outputCount];
    for (int k = 0; k < outputCount; k++) {
      ModelMetadata.Output o = metadata.outputs().get(k);
      this.outputNames[k] = o.name();
      this.outputShapes[k] = ints(o.shape());
      this.outputSizes[k] = product(outputShapes[k]);
      this.outputKinds[k] = o.kind();
    }
    this.outputSlots = outputSlots.clone();
    this.layerSteps = steps.toArray(new Step[0]);
    this.steps = PlanFusion.fuse(steps, valueCount, outputSlots).toArray(new Step[0]);
    this.valueCount = valueCount;
    int[] slotSizes = new int[valueCount];
    slotSizes[0] = inputSize;
    for (Step st : this.steps) {
      slotSizes[st.outputSlot()] = st.size();
    }
    this.bufferOf = new int[valueCount];
    this.bufferSizes = planBuffers(this.steps, slotSizes, this.outputSlots, bufferOf);
    int rows = 0;
    for (Step st : this.steps) {
      rows = Math.max(rows, st.kernel().scratchRows().length);
    }
    this.scratchRows = new int[rows];
    this.stepInputBuffers = new int[this.steps.length][];
    this.stepOutputBuffers = new int[this.steps.length];
    for (int s = 0; s < this.steps.length; s++) {
      Step st = this.steps[s];
      int[] need = st.kernel().scratchRows();
      for (int r = 0; r < need.length; r++) {
        scratchRows[r] = Math.max(scratchRows[r], need[r]);
      }
      int[] slots = st.inputSlots();
      stepInputBuffers[s] = new int[slots.length];
      for (int i = 0; i < slots.length; i++) {
        stepInputBuffers[s][i] = bufferOf[slots[i]];
      }
      stepOutputBuffers[s] = bufferOf[st.outputSlot()];
    }
  }

  /**
   * A new workspace for this model: its value buffers and the kernels' scratch ({@link
   * #scratchFloats()} floats). Not thread-safe: one per thread (see {@link Workspace}).
   *
   * @return a workspace for {@link #predictInto} and {@link #predictAllInto}
   */
  public Workspace newWorkspace() {
    return new Workspace(this, bufferSizes, scratchRows, stepInputBuffers, stepOutputBuffers);
  }

  static int product(int[] shape) {
    long p = 1;
    for (int d : shape) {
      p *= d;
    }
    return (int) p;
  }

  @SuppressWarnings("unchecked")
  static Map<String, Object> asMap(Object o) {
    return (Map<String, Object>) o;
  }

  /**
   * Loads, validates and self-tests a model.
   *
   * @param manifest path of {@code <name>.manifest.json}; the weights file is looked up beside it
   * @return the model
   * @throws Pd2JavaException if anything is invalid or the golden self-test fails
   */
  public static Model load(Path manifest) {
    return load(manifest, LoadOptions.defaults());
  }

  /**
   * Loads and validates a model with options (e.g. the self-test switched off).
   *
   * @param manifest path of {@code <name>.manifest.json}
   * @param options load options
   * @return the model
   * @throws Pd2JavaException if anything is invalid or the golden self-test fails
   */
  public static Model load(Path manifest, LoadOptions options) {
    return ManifestLoader.load(manifest, options);
  }

  /**
   * Loads a model from memory: the manifest's JSON and the weights file's bytes (for a model
   * kept in a database, received over the network or unpacked from an archive). Every check of
   * {@link #load(Path, LoadOptions)} applies (the weights' size and SHA-256 against the
   * manifest, the self-test, ...) except those about files.
   *
   * @param manifest the manifest's bytes (UTF-8 JSON)
   * @param weights the bytes of the weights file the manifest names
   * @param options load options
   * @return the model
   * @throws Pd2JavaException if anything is invalid or the golden self-test fails
   */
  public static Model load(byte[] manifest, byte[] weights, LoadOptions options) {
    Objects.requireNonNull(manifest, "manifest");
    Objects.requireNonNull(weights, "weights");
    return ManifestLoader.load("manifest", manifest, (name, max) -> weights, options);
  }

  /**
   * Loads a model from two streams, the manifest's and the weights file's, read to their end
   * (at most the format's size limits plus one byte, so an oversized one is refused without
   * being read whole). The caller closes them.
   *
   * @param manifest the manifest's JSON
   * @param weights the weights file the manifest names
   * @param options load options
   * @return the model
   * @throws Pd2JavaException IO_ERROR if a stream fails, else as {@link #load(byte[], byte[],
   *     LoadOptions)}
   */
  public static Model load(InputStream manifest, InputStream weights, LoadOptions options) {
    Objects.requireNonNull(manifest, "manifest");
    Objects.requireNonNull(weights, "weights");
    return ManifestLoader.load("manifest", manifest,
        (name, max) -> ManifestLoader.readStream(weights, max), options);
  }

  /**
   * Loads a model packaged as classpath resources (e.g. inside the application's jar): {@code
   * manifestResource} names the manifest ({@code "models/gis_light/gis_light.manifest.json"},
   * as for {@link ClassLoader#getResourceAsStream}), and the weights file it names is looked up
   * beside it.
   *
   * @param loader the class loader holding the resources
   * @param manifestResource the manifest's resource name
   * @param options load options
   * @return the model
   * @throws Pd2JavaException IO_ERROR if a resource is missing or unreadable, else as {@link
   *     #load(byte[], byte[], LoadOptions)}
   */
  public static Model loadResource(
      ClassLoader loader, String manifestResource, LoadOptions options) {
    Objects.requireNonNull(loader, "loader");
    Objects.requireNonNull(manifestResource, "manifestResource");
    String dir = manifestResource.substring(0, manifestResource.lastIndexOf('/') + 1);
    try (InputStream in = loader.getResourceAsStream(manifestResource)) {
      if (in == null) {
        throw new Pd2JavaException(ErrorCode.IO_ERROR, manifestResource, null,
            "no such classpath resource");
      }
      return ManifestLoader.load(manifestResource.substring(dir.length()), in,
          (weights, max) -> {
            try (InputStream w = loader.getResourceAsStream(dir + weights)) {
              return w == null ? null : ManifestLoader.readStream(w, max);
            }
          }, options);
    } catch (IOException e) { // closing the manifest resource
      throw new Pd2JavaException(ErrorCode.IO_ERROR, manifestResource, null,
          "cannot read the classpath resource: " + e, e);
    }
  }

  /**
   * The memory the model's parameter tensors take: the bytes of the arrays holding every tensor
   * the nodes reference, each counted once however many nodes share it. A float32 tensor counts
   * 4 bytes an element; compressed weights stay compressed in memory (conv2d, conv1d and linear
   * weights of a format version 3 file): F16 2 bytes an element, I8 1 byte an element plus its
   * float32 scales. Tensors are counted as decoded from the file: object headers and kernels'
   * per-call scratch are not counted, and a kernel that derives its own constants at load (a
   * batch norm folds its four tensors into a scale and a shift) may keep fewer bytes.
   *
   * @return bytes of weight storage
   */
  public long weightBytes() {
    return weightBytes;
  }

  /**
   * Which kernels this model runs and why: {@code "vector: ..."} when it was loaded in a JVM
   * started with {@code --add-modules jdk.incubator.vector} (the Vector API kernels, with the
   * vector width), else {@code "scalar: ..."} with the reason. The answer is fixed at load.
   *
   * @return a one-line description of the active kernel family
   */
  public String kernelInfo() {
    return kernelInfo;
  }

  /**
   * The runtime's version: the pd2java release this jar was built from (also the jar's {@code
   * Implementation-Version} and its Maven version).
   *
   * @return e.g. {@code "0.2.0"}
   */
  public static String runtimeVersion() {
    return FormatRules.RUNTIME_VERSION;
  }

  /** @return the model name from the manifest */
  public String name() {
    return name;
  }

  /** @return class names in output order; empty (never null) when the manifest has none */
  public List<String> classes() {
    return classes;
  }

  /**
   * What the manifest says about the model: producer, classes, input convention, input and
   * output shapes and kinds, the weights file's SHA-256 (see {@link ModelMetadata}).
   *
   * @return the model's metadata (immutable)
   */
  public ModelMetadata metadata() {
    return metadata;
  }

  private static int[] ints(List<Integer> l) {
    return l.stream().mapToInt(Integer::intValue).toArray();
  }

  /** @return the input's value name */
  public String inputName() {
    return inputName;
  }

  /** @return the per-sample input shape, e.g. [C, H, W] (a copy) */
  public int[] inputShape() {
    return inputShape.clone();
  }

  /** @return the number of outputs (at least 1) */
  public int outputCount() {
    return outputNames.length;
  }

  /**
   * @param index output index, 0 for the primary output
   * @return that output's value name
   */
  public String outputName(int index) {
    return outputNames[checkIndex(index)];
  }

  /** @return the primary output's per-sample shape, e.g. [K] (a copy) */
  public int[] outputShape() {
    return outputShape(0);
  }

  /**
   * @param index output index, 0 for the primary output
   * @return that output's per-sample shape (a copy)
   */
  public int[] outputShape(int index) {
    return outputShapes[checkIndex(index)].clone();
  }

  /** @return the primary output's kind: {@code "probabilities"} or {@code "logits"} */
  public String outputKind() {
    return outputKinds[0];
  }

  /**
   * @param index output index, 0 for the primary output
   * @return that output's kind: {@code "probabilities"} (softmax or sigmoid applied) or
   *     {@code "logits"} (raw values: scores, a feature map, an embedding)
   */
  public String outputKind(int index) {
    return outputKinds[checkIndex(index)];
  }

  private int checkIndex(int index) {
    if (index < 0 || index >= outputNames.length) {
      throw new IndexOutOfBoundsException(
          "output " + index + " of model '" + name + "', which has " + outputNames.length
              + " output(s)");
    }
    return index;
  }

  /**
   * Runs one sample and returns its primary output.
   *
   * @param x one sample: the input shape's element count, row-major
   * @return the primary output (a new array)
   * @throws Pd2JavaException INVALID_INPUT on a wrong length or a NaN/infinite value;
   *     NON_FINITE_OUTPUT when the model produces NaN or infinity (e.g. from extreme inputs)
   */
  public float[] predict(float[] x) {
    return predictAll(x)[0];
  }

  /**
   * Runs one sample and returns every output.
   *
   * @param x one sample: the input shape's element count, row-major
   * @return one new array per output, in output order (primary first)
   * @throws Pd2JavaException as {@link #predict}
   */
  public float[][] predictAll(float[] x) {
    checkInput(x, 1);
    return runChecked(x);
  }

  /** {@link #predictAll} of an input already through {@link #checkInput}. */
  private float[][] runChecked(float[] x) {
    Workspace ws = newWorkspace();
    executePlanned(x, 0, ws);
    float[][] out = new float[outputSlots.length][];
    for (int k = 0; k < out.length; k++) {
      out[k] = ws.buffers[bufferOf[outputSlots[k]]]; // outputs never share a buffer
      checkOutput(out[k], k, outputSizes[k]);
    }
    return out;
  }

  /**
   * Runs one sample in {@code ws} and writes its primary output into {@code out}: the same
   * values as {@link #predict}, bit for bit, and no allocation once the JIT has warmed up.
   *
   * @param x one sample: the input shape's element count, row-major
   * @param out receives the primary output ({@code outputShape()}'s element count)
   * @param ws a workspace of this model ({@link #newWorkspace()}), used by one thread at a time
   * @throws Pd2JavaException as {@link #predict}; INVALID_INPUT also when {@code out} has the
   *     wrong length (on NON_FINITE_OUTPUT, {@code out} holds the values as computed)
   * @throws IllegalArgumentException when {@code ws} belongs to another model
   */
  public void predictInto(float[] x, float[] out, Workspace ws) {
    checkInput(x, 1);
    checkWorkspace(ws);
    checkOutArray(out, 0);
    executePlanned(x, 0, ws);
    System.arraycopy(ws.buffers[bufferOf[outputSlots[0]]], 0, out, 0, outputSizes[0]);
    checkOutput(out, 0, outputSizes[0]);
  }

  /**
   * Runs one sample in {@code ws} and writes every output into {@code outs}, as {@link
   * #predictInto} does the primary one.
   *
   * @param x one sample, row-major
   * @param outs one array per output ({@link #outputCount()}), each of that output's size
   * @param ws a workspace of this model, used by one thread at a time
   * @throws Pd2JavaException as {@link #predictInto}
   * @throws IllegalArgumentException when {@code ws} belongs to another model
   */
  public void predictAllInto(float[] x, float[][] outs, Workspace ws) {
    checkInput(x, 1);
    checkWorkspace(ws);
    if (outs == null || outs.length != outputSlots.length) {
      throw new Pd2JavaException(
          ErrorCode.INVALID_INPUT, null, null,
          "model '" + name + "' has " + outputSlots.length + " output(s) but got "
              + (outs == null ? "null" : outs.length + " output arrays"));
    }
    for (int k = 0; k < outs.length; k++) {
      checkOutArray(outs[k], k);
    }
    executePlanned(x, 0, ws);
    for (int k = 0; k < outs.length; k++) {
      System.arraycopy(ws.buffers[bufferOf[outputSlots[k]]], 0, outs[k], 0, outputSizes[k]);
    }
    for (int k = 0; k < outs.length; k++) {
      checkOutput(outs[k], k, outputSizes[k]);
    }
  }

  private void checkWorkspace(Workspace ws) {
    if (ws == null || ws.model != this) {
      throw new IllegalArgumentException(
          "model '" + name + "': " + (ws == null ? "workspace is null" : "the workspace belongs to "
              + "model '" + ws.model.name + "' (use this model's newWorkspace())"));
    }
  }

  private void checkOutArray(float[] out, int k) {
    if (out == null || out.length != outputSizes[k]) {
      throw new Pd2JavaException(
          ErrorCode.INVALID_INPUT, null, null,
          "model '" + name + "': output " + k + " (" + outputNames[k] + ") needs an array of "
              + outputSizes[k] + " floats " + Arrays.toString(outputShapes[k]) + " but got "
              + (out == null ? "null" : out.length));
    }
  }

  /**
   * Runs a batch of {@code n} samples, one after the other, and returns the primary output.
   *
   * @param xs n consecutive samples
   * @param n number of samples, at least 1
   * @return n consecutive primary outputs
   * @throws Pd2JavaException INVALID_INPUT on an empty batch, a wrong length or a NaN/infinite
   *     value; NON_FINITE_OUTPUT when the model produces NaN or infinity for any sample
   */
  public float[] predictBatch(float[] xs, int n) {
    return predictBatchAll(xs, n)[0];
  }

  /**
   * Runs a batch of {@code n} samples, one after the other, and returns every output.
   *
   * @param xs n consecutive samples
   * @param n number of samples, at least 1
   * @return one array per output (primary first), each n consecutive per-sample values
   * @throws Pd2JavaException as {@link #predictBatch}
   */
  public float[][] predictBatchAll(float[] xs, int n) {
    if (n < 1) {
      throw new Pd2JavaException(
          ErrorCode.INVALID_INPUT, null, null,
          "batch size " + n + ": a batch holds at least one sample");
    }
    checkInput(xs, n);
    float[][] out = runBatchAll(xs, n);
    for (int k = 0; k < out.length; k++) {
      checkOutput(out[k], k, outputSizes[k]);
    }
    return out;
  }

  /**
   * Runs a batch of {@code n} samples spread over {@code executor} and returns the primary
   * output: the samples are cut into {@code parts} contiguous chunks (at most n), each run by one
   * task with its own {@link Workspace}, each writing its own part of the result. Every sample is
   * computed exactly as by {@link #predict} (the same kernels, the same order within a sample),
   * so the result is bit-identical to {@link #predictBatch} whatever the number of threads. The
   * caller owns the executor (its threads, their number, shutting it down); this call waits for
   * its tasks.
   *
   * @param xs n consecutive samples
   * @param n number of samples, at least 1
   * @param executor runs the chunks, e.g. a fixed pool of as many threads as cores to use
   * @param parts number of chunks, at least 1 (typically the executor's thread count)
   * @return n consecutive primary outputs
   * @throws Pd2JavaException as {@link #predictBatch}
   * @throws IllegalArgumentException if parts is below 1
   */
  public float[] predictBatch(float[] xs, int n, Executor executor, int parts) {
    if (n < 1) {
      throw new Pd2JavaException(
          ErrorCode.INVALID_INPUT, null, null,
          "batch size " + n + ": a batch holds at least one sample");
    }
    if (parts < 1) {
      throw new IllegalArgumentException("parts must be at least 1, got " + parts);
    }
    checkInput(xs, n);
    int size = outputSizes[0];
    if ((long) n * size > Integer.MAX_VALUE - 8) {
      throw new Pd2JavaException(
          ErrorCode.INVALID_INPUT, null, null, "batch of " + n + " gives too large an output");
    }
    float[] out = new float[n * size];
    int chunks = Math.min(parts, n);
    List<CompletableFuture<Void>> tasks = new ArrayList<>(chunks);
    for (int c = 0; c < chunks; c++) {
      int from = (int) ((long) n * c / chunks);
      int to = (int) ((long) n * (c + 1) / chunks);
      tasks.add(CompletableFuture.runAsync(() -> {
        Workspace ws = newWorkspace();
        for (int s = from; s < to; s++) {
          executePlanned(xs, s * inputSize, ws);
          System.arraycopy(ws.buffers[bufferOf[outputSlots[0]]], 0, out, s * size, size);
        }
      }, executor));
    }
    try {
      CompletableFuture.allOf(tasks.toArray(new CompletableFuture<?>[0])).join();
    } catch (CompletionException e) {
      Throwable cause = e.getCause();
      if (cause instanceof RuntimeException r) {
        throw r;
      }
      if (cause instanceof Error err) {
        throw err;
      }
      throw e;
    }
    checkOutput(out, 0, size);
    return out;
  }

  /**
   * Runs {@code n} checked samples without looking at the outputs (the golden self-test judges
   * them itself); one array per output, each n consecutive per-sample values.
   */
  float[][] runBatchAll(float[] xs, int n) {
    float[][] out = new float[outputSlots.length][];
    for (int k = 0; k < out.length; k++) {
      if ((long) n * outputSizes[k] > Integer.MAX_VALUE - 8) {
        throw new Pd2JavaException(
            ErrorCode.INVALID_INPUT, null, null, "batch of " + n + " gives too large an output");
      }
      out[k] = new float[n * outputSizes[k]];
    }
    Workspace ws = newWorkspace(); // reused by every sample of this call
    for (int s = 0; s < n; s++) {
      executePlanned(xs, s * inputSize, ws);
      for (int k = 0; k < out.length; k++) {
        System.arraycopy(
            ws.buffers[bufferOf[outputSlots[k]]], 0, out[k], s * outputSizes[k], outputSizes[k]);
      }
    }
    return out;
  }

  /**
   * Refuses a NaN or infinite output: one pass over the output only. A finite input can still
   * overflow float32 inside the model (values near 1e38), and a NaN must never become a class.
   */
  private void checkOutput(float[] out, int index, int size) {
    for (int i = 0; i < out.length; i++) {
      if (!Float.isFinite(out[i])) {
        throw new Pd2JavaException(
            ErrorCode.NON_FINITE_OUTPUT,
            null,
            null,
            "model '" + name + "' produced " + out[i] + " at element " + i % size + " of output "
                + index + " (" + outputNames[index] + "), sample " + i / size
                + " (the input overflows float32 inside the model); no result is given");
      }
    }
  }

  /**
   * Runs one sample and picks the top class of the primary output.
   *
   * <p>Input checks of a PRPD model (one whose manifest states an {@link ImageConvention}):
   * every value must lie in [0, 1], as the convention normalises them (else INVALID_INPUT naming
   * the first value outside); an image with every value zero has no PD activity and gets {@link
   * Prediction#noActivity}, not a class, because a model asked about an empty image still
   * answers with confidence. {@link Prpd} builds such images, and maps acquisitions below its
   * pulse floor to the all-zero image.
   *
   * <p>When the manifest has a confidence threshold, {@link Prediction#confident()} says whether
   * the top score reaches it (docs/JAVA.md, "Confident or unsure").
   *
   * @param x one sample, row-major
   * @return the top class with every value of the primary output, or a no-activity result
   * @throws Pd2JavaException as {@link #predict}: a non-finite output is NON_FINITE_OUTPUT, never
   *     a class; INVALID_INPUT for a PRPD value outside [0, 1]
   * @throws UnsupportedOperationException when the primary output is not a 1-D score vector
   */
  public Prediction classify(float[] x) {
    requireScoreVector();
    checkInput(x, 1);
    if (metadata.imageConvention().isPresent()) {
      boolean active = false;
      for (int i = 0; i < x.length; i++) {
        if (!(x[i] >= 0f && x[i] <= 1f)) {
          throw new Pd2JavaException(
              ErrorCode.INVALID_INPUT,
              null,
              null,
              "model '" + name + "' takes PRPD images valued in [0, 1] (log1p(count) / max); "
                  + "value " + x[i] + " at index " + i + " (position "
                  + Arrays.toString(unravel(i, inputShape)) + ") is outside: normalise the "
                  + "counts first, e.g. with Prpd.fromCounts");
        }
        active |= x[i] != 0f;
      }
      if (!active) {
        return Prediction.noActivity(outputKinds[0]);
      }
    }
    float[] p = runChecked(x)[0];
    int best = 0;
    for (int i = 1; i < p.length; i++) {
      if (p[i] > p[best]) {
        best = i;
      }
    }
    String label = classes.isEmpty() ? String.valueOf(best) : classes.get(best);
    // The manifest's confidence threshold, when it has one (checked at load: max_probability on
    // a probabilities output); at or above it is confident.
    OptionalDouble threshold = metadata.confidenceThreshold();
    boolean confident = threshold.isEmpty() || p[best] >= threshold.getAsDouble();
    return new Prediction(label, best, p, outputKinds[0], confident);
  }

  /** Refuses {@code classify} on a model whose primary output is not a 1-D score vector. */
  private void requireScoreVector() {
    if (outputShapes[0].length != 1) {
      throw new UnsupportedOperationException(
          "model '" + name + "': classify needs a 1-D primary output of class scores; this "
              + "one has per-sample shape " + Arrays.toString(outputShapes[0])
              + " (use predict or predictAll)");
    }
  }

  /**
   * Classifies a PRPD image built by {@link Prpd}. An acquisition with fewer pulses than the
   * floor ({@link Prpd#hasActivity()} false) is a no-activity result without running the model:
   * its few pulses, normalised, would fill the image's full scale and get a confident class.
   *
   * @param image the image
   * @return as {@link #classify(float[])}
   * @throws Pd2JavaException INVALID_INPUT when the model's input is not one PRPD image (its
   *     size is not {@link Prpd#SIZE})
   * @throws UnsupportedOperationException when the primary output is not a 1-D score vector
   */
  public Prediction classify(Prpd image) {
    if (inputSize != Prpd.SIZE) {
      throw new Pd2JavaException(
          ErrorCode.INVALID_INPUT,
          null,
          null,
          "model '" + name + "' takes input shape " + Arrays.toString(inputShape) + ", not a "
              + Prpd.AMPLITUDE_BINS + " x " + Prpd.PHASE_BINS + " PRPD image");
    }
    if (!image.hasActivity()) {
      requireScoreVector();
      return Prediction.noActivity(outputKinds[0]);
    }
    return classify(image.image());
  }

  /**
   * Runs one sample and returns every node's output, for per-layer debugging and parity.
   *
   * @param x one sample, row-major
   * @return node name to its flat per-sample output, in topological (manifest) order
   */
  public LinkedHashMap<String, float[]> runLayers(float[] x) {
    checkInput(x, 1);
    LinkedHashMap<String, float[]> layers = new LinkedHashMap<>();
    execute(x, 0, layers);
    return layers;
  }

  /** @return node names in execution order */
  public List<String> nodeNames() {
    return Arrays.stream(layerSteps).map(Step::node).toList();
  }

  /** @return the steps predict runs, after fusion ({@code "conv+act"} names a fused step) */
  List<String> planNodes() {
    return Arrays.stream(steps).map(Step::node).toList();
  }

  /**
   * Assigns each value slot a buffer so that a value whose last reader has run hands its buffer
   * to a later value of the same size. A step's output never shares a buffer with its inputs
   * (the output is assigned before the inputs are released). Returns the buffer sizes.
   */
  private static int[] planBuffers(
      Step[] steps, int[] slotSizes, int[] outSlots, int[] bufferOf) {
    int[] lastUse = new int[slotSizes.length];
    Arrays.fill(lastUse, -1);
    for (int i = 0; i < steps.length; i++) {
      for (int in : steps[i].inputSlots()) {
        lastUse[in] = i;
      }
    }
    for (int outSlot : outSlots) {
      lastUse[outSlot] = Integer.MAX_VALUE; // outputs live to the end: never shared
    }
    List<Integer> sizes = new ArrayList<>();
    Map<Integer, ArrayDeque<Integer>> free = new HashMap<>();
    bufferOf[0] = 0;
    sizes.add(slotSizes[0]);
    for (int i = 0; i < steps.length; i++) {
      int slot = steps[i].outputSlot();
      ArrayDeque<Integer> pool = free.get(slotSizes[slot]);
      if (pool != null && !pool.isEmpty()) {
        bufferOf[slot] = pool.pop();
      } else {
        bufferOf[slot] = sizes.size();
        sizes.add(slotSizes[slot]);
      }
      for (int in : steps[i].inputSlots()) {
        if (lastUse[in] == i) {
          lastUse[in] = -2; // released once, even when a step reads the same value twice
          free.computeIfAbsent(slotSizes[in], k -> new ArrayDeque<>()).push(bufferOf[in]);
        }
      }
      if (lastUse[slot] == -1) { // an output nobody reads
        free.computeIfAbsent(slotSizes[slot], k -> new ArrayDeque<>()).push(bufferOf[slot]);
      }
    }
    return sizes.stream().mapToInt(Integer::intValue).toArray();
  }

  /** Runs one sample in the workspace's buffers (the outputs are left in their buffers). */
  private void executePlanned(float[] src, int offset, Workspace ws) {
    System.arraycopy(src, offset, ws.buffers[bufferOf[0]], 0, inputSize);
    final Step[] steps = this.steps;
    final float[][][] ins = ws.ins;
    final float[][] outs = ws.outs;
    final float[][] scratch = ws.scratch;
    for (int s = 0; s < steps.length; s++) {
      steps[s].kernel().run(ins[s], outs[s], scratch);
    }
  }

  /**
   * Times every node over {@code iters} runs of one sample on the calling thread, in a workspace
   * of its own, for the CLI's {@code bench --per-node} and the benchmark's per-node table. Call it
   * after a warm-up (the JIT compiles the kernels during the first calls); divide a value by
   * {@code iters} for the mean time of one call.
   *
   * @param x one sample, row-major
   * @param iters runs to time, >= 1
   * @return {@code "node (KernelClass)"} (the node's name and the simple name of the kernel class
   *     that runs it) to total nanoseconds over the runs, in execution order
   * @throws Pd2JavaException if {@code x} is not one valid sample
   */
  public LinkedHashMap<String, Long> profile(float[] x, int iters) {
    checkInput(x, 1);
    LinkedHashMap<String, Long> ns = new LinkedHashMap<>();
    for (Step step : steps) {
      ns.put(step.node() + " (" + step.kernel().getClass().getSimpleName() + ")", 0L);
    }
    Workspace ws = newWorkspace();
    for (int it = 0; it < iters; it++) {
      System.arraycopy(x, 0, ws.buffers[bufferOf[0]], 0, inputSize);
      for (int s = 0; s < steps.length; s++) {
        Step step = steps[s];
        long t0 = System.nanoTime();
        step.kernel().run(ws.ins[s], ws.outs[s], ws.scratch);
        ns.merge(step.node() + " (" + step.kernel().getClass().getSimpleName() + ")",
            System.nanoTime() - t0, Long::sum);
      }
    }
    return ns;
  }

  /**
   * @return floats of the buffer plan (the values of one call); a {@link Workspace} holds these
   *     plus the kernels' scratch rows ({@link Workspace#floats()})
   */
  public long scratchFloats() {
    long total = 0;
    for (int n : bufferSizes) {
      total += n;
    }
    return total;
  }

  /** Runs one sample keeping every value (for {@link #runLayers}). */
  private float[][] execute(float[] src, int offset, Map<String, float[]> layers) {
    float[][] values = new float[valueCount][];
    values[0] = Arrays.copyOfRange(src, offset, offset + inputSize);
    for (Step step : layerSteps) {
      float[][] ins = new float[step.inputSlots().length][];
      for (int i = 0; i < ins.length; i++) {
        ins[i] = values[step.inputSlots()[i]];
      }
      float[] out = new float[step.size()];
      step.kernel().run(ins, out);
      values[step.outputSlot()] = out;
      if (layers != null) {
        layers.put(step.node(), out);
      }
    }
    return values;
  }

  private void checkInput(float[] x, int n) {
    if (x == null) {
      throw new Pd2JavaException(ErrorCode.INVALID_INPUT, null, null, "input is null");
    }
    long expected = (long) n * inputSize;
    if (x.length != expected) {
      throw new Pd2JavaException(
          ErrorCode.INVALID_INPUT,
          null,
          null,
          "model '" + name + "' expects " + expected + " floats (" + n + " x "
              + Arrays.toString(inputShape) + ") but got " + x.length);
    }
    for (int i = 0; i < x.length; i++) {
      if (!Float.isFinite(x[i])) {
        throw new Pd2JavaException(
            ErrorCode.INVALID_INPUT,
            null,
            null,
            "input value " + x[i] + " at index " + i + " (sample " + i / inputSize + ", position "
                + Arrays.toString(unravel(i % inputSize, inputShape))
                + "): NaN and infinite inputs are refused");
      }
    }
  }

  /** The multi-index of flat row-major position {@code flat} in {@code shape}. */
  static int[] unravel(int flat, int[] shape) {
    int[] idx = new int[shape.length];
    for (int d = shape.length - 1; d >= 0; d--) {
      idx[d] = flat % shape[d];
      flat /= shape[d];
    }
    return idx;
  }

  @Override
  public String toString() {
    StringBuilder outs = new StringBuilder();
    for (int k = 0; k < outputNames.length; k++) {
      outs.append(k == 0 ? "" : ", ").append(Arrays.toString(outputShapes[k])).append(' ')
          .append(outputKinds[k]);
    }
    return "Model[" + name + ", input " + Arrays.toString(inputShape) + ", output"
        + (outputNames.length == 1 ? " " : "s ") + outs + ", " + layerSteps.length + " nodes]";
  }
}
