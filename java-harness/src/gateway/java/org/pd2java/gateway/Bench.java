package org.pd2java.gateway;

import java.io.IOException;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.pd2java.runtime.LoadOptions;
import org.pd2java.runtime.Model;
import org.pd2java.runtime.Workspace;

/**
 * Speed and memory benchmark of one model, measured inside the JVM (no py4j on the timed path).
 *
 * <p>Usage: {@code Bench MANIFEST INPUTS.f32 N [WARMUP] [ITERS] [LOADS] [--batch B]
 * [--node-iters K]}, where INPUTS.f32 holds N samples as raw little-endian float32. In order:
 *
 * <ol>
 *   <li>load time: one untimed load of each kind, then the median of LOADS {@code Model.load}
 *       calls with the golden self-test and LOADS without (a warm JVM);
 *   <li>WARMUP untimed calls of {@code predict} and of {@code predictInto}, cycling over the
 *       inputs, so the JIT has compiled the kernels;
 *   <li>ITERS timed calls of {@code predictInto(x, out, ws)} (one caller-owned {@link Workspace}),
 *       then ITERS of {@code predict(x)}: for each, median, p99 and mean latency, bytes the
 *       thread allocated per call ({@code com.sun.management.ThreadMXBean}) and the garbage
 *       collections during the loop (sum of every {@link GarbageCollectorMXBean}'s count);
 *   <li>throughput: {@code predictBatch} of B images (default ITERS) over a pool of 1 and of 2
 *       threads, one untimed batch first, best of 3 timed batches;
 *   <li>with K &gt; 0: {@link Model#profile} over K calls, every node's mean time.
 * </ol>
 *
 * <p>It prints one JSON object on stdout, with the JVM's version and the model's {@link
 * Model#kernelInfo()}, so a reader sees which kernel family really ran.
 */
public final class Bench {
  private Bench() {}

  /** One timed loop's results. */
  private record Loop(double[] sortedMicros, long bytes, long gcs) {}

  /**
   * Runs the benchmark.
   *
   * @param args see the class comment
   * @throws IOException if a file cannot be read
   */
  public static void main(String[] args) throws IOException {
    List<String> positional = new ArrayList<>();
    int batchSize = -1;
    int nodeIters = 0;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--batch" -> batchSize = Integer.parseInt(args[++i]);
        case "--node-iters" -> nodeIters = Integer.parseInt(args[++i]);
        default -> positional.add(args[i]);
      }
    }
    if (positional.size() < 3 || positional.size() > 6) {
      System.err.println("usage: Bench MANIFEST INPUTS.f32 N [WARMUP] [ITERS] [LOADS]"
          + " [--batch B] [--node-iters K]");
      System.exit(1);
    }
    Path manifest = Paths.get(positional.get(0));
    float[] all = Floats.fromBytes(Files.readAllBytes(Paths.get(positional.get(1))));
    int n = Integer.parseInt(positional.get(2));
    int warmup = positional.size() > 3 ? Integer.parseInt(positional.get(3)) : 200;
    int iters = positional.size() > 4 ? Integer.parseInt(positional.get(4)) : 1000;
    int loads = positional.size() > 5 ? Integer.parseInt(positional.get(5)) : 5;
    if (batchSize < 0) {
      batchSize = iters;
    }
    if (n <= 0 || all.length % n != 0) {
      throw new IllegalArgumentException(
          "inputs: " + all.length + " floats do not split into " + n + " samples");
    }
    if (iters < 1 || loads < 1 || warmup < 0 || batchSize < 1 || nodeIters < 0) {
      throw new IllegalArgumentException("ITERS, LOADS and --batch must be >= 1, WARMUP and "
          + "--node-iters >= 0");
    }
    int per = all.length / n;

    LoadOptions noSelfTest = LoadOptions.defaults().withSelfTest(false);
    Model.load(manifest); // classes loaded: the timed loads are a warm JVM's
    Model.load(manifest, noSelfTest);
    double[] loadSelfTest = new double[loads];
    double[] loadPlain = new double[loads];
    Model model = null;
    for (int i = 0; i < loads; i++) {
      long t0 = System.nanoTime();
      model = Model.load(manifest);
      loadSelfTest[i] = (System.nanoTime() - t0) / 1e6;
      t0 = System.nanoTime();
      model = Model.load(manifest, noSelfTest);
      loadPlain[i] = (System.nanoTime() - t0) / 1e6;
    }

    float[][] samples = new float[n][];
    for (int i = 0; i < n; i++) {
      samples[i] = Arrays.copyOfRange(all, i * per, (i + 1) * per);
    }
    Workspace ws = model.newWorkspace();
    float[] out = new float[Arrays.stream(model.outputShape()).reduce(1, (a, b) -> a * b)];
    double sink = 0;
    for (int i = 0; i < warmup; i++) {
      sink += model.predict(samples[i % n])[0];
      model.predictInto(samples[i % n], out, ws);
      sink += out[0];
    }

    // predictInto: nothing in this loop allocates but the call itself (times are preallocated).
    double[] micros = new double[iters];
    long bytes0 = allocatedBytes();
    long gc0 = collections();
    for (int i = 0; i < iters; i++) {
      float[] x = samples[i % n];
      long t0 = System.nanoTime();
      model.predictInto(x, out, ws);
      micros[i] = (System.nanoTime() - t0) / 1e3;
      sink += out[0];
    }
    long gc1 = collections();
    long bytes1 = allocatedBytes();
    Arrays.sort(micros);
    Loop into = new Loop(micros, bytes0 < 0 ? -1 : bytes1 - bytes0, gc1 - gc0);

    micros = new double[iters];
    bytes0 = allocatedBytes();
    gc0 = collections();
    for (int i = 0; i < iters; i++) {
      float[] x = samples[i % n];
      long t0 = System.nanoTime();
      float[] y = model.predict(x);
      micros[i] = (System.nanoTime() - t0) / 1e3;
      sink += y[0];
    }
    gc1 = collections();
    bytes1 = allocatedBytes();
    Arrays.sort(micros);
    Loop plain = new Loop(micros, bytes0 < 0 ? -1 : bytes1 - bytes0, gc1 - gc0);

    // Throughput: one batch of `batchSize` images, on 1 and 2 threads (predictBatch over a pool).
    float[] batch = new float[batchSize * per];
    for (int i = 0; i < batchSize; i++) {
      System.arraycopy(samples[i % n], 0, batch, i * per, per);
    }
    double[] imagesPerSecond = new double[3];
    for (int threads = 1; threads <= 2; threads++) {
      ExecutorService pool = Executors.newFixedThreadPool(threads);
      try {
        sink += model.predictBatch(batch, batchSize, pool, threads)[0]; // warm the threads
        for (int rep = 0; rep < 3; rep++) { // best of 3: the machine is shared
          long t0 = System.nanoTime();
          sink += model.predictBatch(batch, batchSize, pool, threads)[0];
          imagesPerSecond[threads] =
              Math.max(imagesPerSecond[threads], batchSize / ((System.nanoTime() - t0) / 1e9));
        }
      } finally {
        pool.shutdown();
      }
    }

    Map<String, Long> nodeNanos = nodeIters > 0 ? model.profile(samples[0], nodeIters) : Map.of();

    Arrays.sort(loadSelfTest);
    Arrays.sort(loadPlain);
    StringBuilder sb = new StringBuilder("{");
    sb.append("\"iters\":").append(iters);
    sb.append(",\"warmup\":").append(warmup);
    sb.append(",\"loads\":").append(loads);
    // predict (kept under the original keys) and predictInto ("into_").
    appendLoop(sb, "", plain, iters);
    appendLoop(sb, "into_", into, iters);
    sb.append(",\"load_ms_selftest\":").append(percentile(loadSelfTest, 50));
    sb.append(",\"load_ms_no_selftest\":").append(percentile(loadPlain, 50));
    sb.append(",\"batch\":").append(batchSize);
    sb.append(",\"images_per_s_1_thread\":").append(imagesPerSecond[1]);
    sb.append(",\"images_per_s_2_threads\":").append(imagesPerSecond[2]);
    sb.append(",\"weight_bytes\":").append(model.weightBytes());
    sb.append(",\"kernel_info\":");
    Gateway.quote(sb, model.kernelInfo());
    sb.append(",\"node_iters\":").append(nodeIters);
    sb.append(",\"nodes\":[");
    boolean first = true;
    for (Map.Entry<String, Long> e : nodeNanos.entrySet()) {
      // Model.profile's keys are "node (KernelClass)".
      String key = e.getKey();
      int cut = key.lastIndexOf(" (");
      sb.append(first ? "" : ",").append("{\"node\":");
      Gateway.quote(sb, cut < 0 ? key : key.substring(0, cut));
      sb.append(",\"kernel\":");
      Gateway.quote(sb, cut < 0 ? "" : key.substring(cut + 2, key.length() - 1));
      sb.append(",\"ms\":").append(e.getValue() / 1e6 / nodeIters).append('}');
      first = false;
    }
    sb.append("],\"gc\":[");
    first = true;
    for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
      sb.append(first ? "" : ",");
      Gateway.quote(sb, gc.getName());
      first = false;
    }
    sb.append("],\"java\":");
    Gateway.quote(sb, System.getProperty("java.version"));
    sb.append(",\"vm\":");
    Gateway.quote(sb, System.getProperty("java.vm.name") + " " + System.getProperty(
        "java.vm.version"));
    sb.append(",\"max_heap_bytes\":").append(Runtime.getRuntime().maxMemory());
    sb.append(",\"checksum\":").append(sink);
    System.out.println(sb.append('}'));
  }

  private static void appendLoop(StringBuilder sb, String prefix, Loop loop, int iters) {
    double[] s = loop.sortedMicros();
    sb.append(",\"").append(prefix).append("median_us\":").append(percentile(s, 50));
    sb.append(",\"").append(prefix).append("p99_us\":").append(percentile(s, 99));
    sb.append(",\"").append(prefix).append("mean_us\":")
        .append(Arrays.stream(s).average().orElse(0));
    sb.append(",\"").append(prefix).append("bytes_per_call\":")
        .append(loop.bytes() < 0 ? -1 : loop.bytes() / (double) iters);
    sb.append(",\"").append(prefix).append("gc_count\":").append(loop.gcs());
  }

  /** Bytes allocated so far by this thread, or -1 where the JVM cannot measure it. */
  static long allocatedBytes() {
    try {
      if (ManagementFactory.getThreadMXBean() instanceof com.sun.management.ThreadMXBean t
          && t.isThreadAllocatedMemorySupported() && t.isThreadAllocatedMemoryEnabled()) {
        return t.getThreadAllocatedBytes(Thread.currentThread().getId());
      }
    } catch (LinkageError e) {
      // a runtime image without the jdk.management module
    }
    return -1;
  }

  /** Collections so far, summed over every collector (a collector that cannot say counts 0). */
  static long collections() {
    long total = 0;
    for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
      total += Math.max(0, gc.getCollectionCount());
    }
    return total;
  }

  /** Nearest-rank percentile of sorted values. */
  static double percentile(double[] sorted, double p) {
    int rank = (int) Math.ceil(p / 100.0 * sorted.length);
    return sorted[Math.max(0, Math.min(sorted.length - 1, rank - 1))];
  }
}
