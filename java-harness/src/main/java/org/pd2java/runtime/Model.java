package org.pd2java.runtime;

import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A loaded pd2java model (manifest format version 1) ready for inference.
 *
 * <p>{@link #load(Path)} validates everything (format version, manifest keys and types, ops and
 * attributes, weights file per safetensors' rules plus size and SHA-256, parameter and output
 * shapes, graph wiring) and then runs the golden self-test; nothing but the input is checked at
 * each call.
 *
 * <p><b>Threads.</b> A {@code Model} is immutable after load and safe to call from any number of
 * threads at once. Weights are read-only {@code float[]}s shared by all calls. <b>Scratch
 * memory is per call</b>: each call allocates its own buffers and lets the garbage collector
 * reclaim them, so calls share nothing mutable. The buffers follow a plan made at load: a value
 * whose last reader has run hands its buffer to a later value of the same size, so a call
 * allocates {@link #scratchFloats()} floats (plus, per call, the fast kernels' own scratch: a
 * dense convolution's im2col tile and four 256-float accumulators, a depthwise convolution's tap
 * planes or padded plane),
 * and {@link #predictBatch} reuses one set of buffers for all its samples. {@link #runLayers}
 * keeps every value and so allocates one array per node.
 *
 * <p><b>Inputs.</b> One sample is C x H x W float32 values, row-major (layout CHW). A wrong length
 * or an empty batch throws {@link ErrorCode#INVALID_INPUT}. NaN or infinite inputs are
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

  private final String name;
  private final List<String> classes;
  private final int[] inputShape;
  private final int[] outputShape;
  private final int inputSize;
  private final int outputSize;
  private final String outputKind;
  private final Step[] steps;
  private final int valueCount;
  private final int outputSlot;
  // Buffer plan for predict: value slot -> buffer, and each buffer's size (see planBuffers).
  private final int[] bufferOf;
  private final int[] bufferSizes;

  Model(
      String name,
      List<String> classes,
      int[] inputShape,
      int[] outputShape,
      String outputKind,
      List<Step> steps,
      int valueCount,
      int outputSlot) {
    this.name = name;
    this.classes = classes == null ? null : List.copyOf(classes);
    this.inputShape = inputShape.clone();
    this.outputShape = outputShape.clone();
    this.inputSize = product(inputShape);
    this.outputSize = product(outputShape);
    this.outputKind = outputKind;
    this.steps = steps.toArray(new Step[0]);
    this.valueCount = valueCount;
    this.outputSlot = outputSlot;
    int[] slotSizes = new int[valueCount];
    slotSizes[0] = inputSize;
    for (Step st : this.steps) {
      slotSizes[st.outputSlot()] = st.size();
    }
    this.bufferOf = new int[valueCount];
    this.bufferSizes = planBuffers(this.steps, slotSizes, outputSlot, bufferOf);
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

  /** @return the model name from the manifest */
  public String name() {
    return name;
  }

  /** @return class names in output order, or null when the manifest has none */
  public List<String> classes() {
    return classes;
  }

  /** @return the per-sample input shape [C, H, W] (a copy) */
  public int[] inputShape() {
    return inputShape.clone();
  }

  /** @return the per-sample output shape [K] (a copy) */
  public int[] outputShape() {
    return outputShape.clone();
  }

  /** @return {@code "probabilities"} or {@code "logits"}, from the manifest */
  public String outputKind() {
    return outputKind;
  }

  /**
   * Runs one sample.
   *
   * @param chw C*H*W floats, row-major
   * @return the K outputs (a new array)
   * @throws Pd2JavaException INVALID_INPUT on a wrong length or a NaN/infinite value;
   *     NON_FINITE_OUTPUT when the model produces NaN or infinity (e.g. from extreme inputs)
   */
  public float[] predict(float[] chw) {
    checkInput(chw, 1);
    float[] out = executePlanned(chw, 0, allocate());
    checkOutput(out);
    return out;
  }

  /**
   * Runs a batch of {@code n} samples, one after the other.
   *
   * @param nchw n*C*H*W floats: n consecutive samples
   * @param n number of samples, at least 1
   * @return n*K floats: n consecutive outputs
   * @throws Pd2JavaException INVALID_INPUT on an empty batch, a wrong length or a NaN/infinite
   *     value; NON_FINITE_OUTPUT when the model produces NaN or infinity for any sample
   */
  public float[] predictBatch(float[] nchw, int n) {
    if (n < 1) {
      throw new Pd2JavaException(
          ErrorCode.INVALID_INPUT, null, null,
          "batch size " + n + ": a batch holds at least one sample");
    }
    checkInput(nchw, n);
    float[] out = runBatch(nchw, n);
    checkOutput(out);
    return out;
  }

  /**
   * Runs {@code n} checked samples without looking at the outputs (the golden self-test judges
   * them itself).
   */
  float[] runBatch(float[] nchw, int n) {
    if ((long) n * outputSize > Integer.MAX_VALUE - 8) {
      throw new Pd2JavaException(
          ErrorCode.INVALID_INPUT, null, null, "batch of " + n + " gives too large an output");
    }
    float[] out = new float[n * outputSize];
    float[][] buffers = allocate(); // reused by every sample of this call
    for (int s = 0; s < n; s++) {
      float[] one = executePlanned(nchw, s * inputSize, buffers);
      System.arraycopy(one, 0, out, s * outputSize, outputSize);
    }
    return out;
  }

  /**
   * Refuses a NaN or infinite output: one pass over the output vector only. A finite input can
   * still overflow float32 inside the model (values near 1e38), and a NaN must never become a
   * class.
   */
  private void checkOutput(float[] out) {
    for (int i = 0; i < out.length; i++) {
      if (!Float.isFinite(out[i])) {
        throw new Pd2JavaException(
            ErrorCode.NON_FINITE_OUTPUT,
            null,
            null,
            "model '" + name + "' produced " + out[i] + " at output " + i % outputSize
                + " of sample " + i / outputSize
                + " (the input overflows float32 inside the model); no label is given");
      }
    }
  }

  /**
   * Runs one sample and picks the top class.
   *
   * @param chw C*H*W floats, row-major
   * @return the top class with every output value
   * @throws Pd2JavaException as {@link #predict}: a non-finite output is NON_FINITE_OUTPUT, never
   *     a class
   */
  public Prediction classify(float[] chw) {
    float[] p = predict(chw);
    int best = 0;
    for (int i = 1; i < p.length; i++) {
      if (p[i] > p[best]) {
        best = i;
      }
    }
    String label = classes == null ? String.valueOf(best) : classes.get(best);
    return new Prediction(label, best, p);
  }

  /**
   * Runs one sample and returns every node's output, for per-layer debugging and parity.
   *
   * @param chw C*H*W floats, row-major
   * @return node name to its flat per-sample output, in topological (manifest) order
   */
  public LinkedHashMap<String, float[]> runLayers(float[] chw) {
    checkInput(chw, 1);
    LinkedHashMap<String, float[]> layers = new LinkedHashMap<>();
    execute(chw, 0, layers);
    return layers;
  }

  /** @return node names in execution order */
  public List<String> nodeNames() {
    return Arrays.stream(steps).map(Step::node).toList();
  }

  /**
   * Assigns each value slot a buffer so that a value whose last reader has run hands its buffer
   * to a later value of the same size. A step's output never shares a buffer with its inputs
   * (the output is assigned before the inputs are released). Returns the buffer sizes.
   */
  private static int[] planBuffers(Step[] steps, int[] slotSizes, int outSlot, int[] bufferOf) {
    int[] lastUse = new int[slotSizes.length];
    Arrays.fill(lastUse, -1);
    for (int i = 0; i < steps.length; i++) {
      for (int in : steps[i].inputSlots()) {
        lastUse[in] = i;
      }
    }
    lastUse[outSlot] = Integer.MAX_VALUE;
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

  private float[][] allocate() {
    float[][] buffers = new float[bufferSizes.length][];
    for (int i = 0; i < buffers.length; i++) {
      buffers[i] = new float[bufferSizes[i]];
    }
    return buffers;
  }

  /** Runs one sample in the planned buffers; returns the output buffer (owned by the caller). */
  private float[] executePlanned(float[] src, int offset, float[][] buffers) {
    System.arraycopy(src, offset, buffers[bufferOf[0]], 0, inputSize);
    for (Step step : steps) {
      int[] slots = step.inputSlots();
      float[][] ins = new float[slots.length][];
      for (int i = 0; i < ins.length; i++) {
        ins[i] = buffers[bufferOf[slots[i]]];
      }
      step.kernel().run(ins, buffers[bufferOf[step.outputSlot()]]);
    }
    return buffers[bufferOf[outputSlot]];
  }

  /**
   * Times every node over {@code iters} runs of one sample (single thread, after the caller's
   * warm-up), for the CLI's {@code bench --per-node}.
   *
   * @return node name to total nanoseconds, in execution order
   */
  LinkedHashMap<String, Long> profile(float[] chw, int iters) {
    checkInput(chw, 1);
    LinkedHashMap<String, Long> ns = new LinkedHashMap<>();
    for (Step step : steps) {
      ns.put(step.node() + " (" + step.kernel().getClass().getSimpleName() + ")", 0L);
    }
    float[][] buffers = allocate();
    for (int it = 0; it < iters; it++) {
      System.arraycopy(chw, 0, buffers[bufferOf[0]], 0, inputSize);
      for (Step step : steps) {
        int[] slots = step.inputSlots();
        float[][] ins = new float[slots.length][];
        for (int i = 0; i < ins.length; i++) {
          ins[i] = buffers[bufferOf[slots[i]]];
        }
        long t0 = System.nanoTime();
        step.kernel().run(ins, buffers[bufferOf[step.outputSlot()]]);
        ns.merge(step.node() + " (" + step.kernel().getClass().getSimpleName() + ")",
            System.nanoTime() - t0, Long::sum);
      }
    }
    return ns;
  }

  /** @return floats of scratch one {@link #predict} call allocates (its buffer plan) */
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
    for (Step step : steps) {
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
        int s = i / inputSize;
        int r = i % inputSize;
        int plane = inputShape[1] * inputShape[2];
        throw new Pd2JavaException(
            ErrorCode.INVALID_INPUT,
            null,
            null,
            "input value " + x[i] + " at index " + i + " (sample " + s + ", c " + r / plane + ", y "
                + (r % plane) / inputShape[2] + ", x " + r % inputShape[2]
                + "): NaN and infinite inputs are refused");
      }
    }
  }

  @Override
  public String toString() {
    return "Model[" + name + ", input " + Arrays.toString(inputShape) + ", output "
        + Arrays.toString(outputShape) + " " + outputKind + ", " + steps.length + " nodes]";
  }
}
