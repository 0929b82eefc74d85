package org.pd2java.runtime;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

/**
 * Command line of the runtime jar ({@code java -jar pd2java-runtime.jar ...}):
 *
 * <ul>
 *   <li>{@code version}: the runtime's version.
 *   <li>{@code ops [--json]}: the ops this runtime runs, one {@code name@version} a line, or the
 *       op table (slots and attributes) as JSON, which the Python tests hold to the Python table.
 *   <li>{@code check MANIFEST [--no-self-test]}: load, validate and self-test; print a summary.
 *   <li>{@code --reference} (either command): use only the reference kernels.
 *   <li>{@code bench MANIFEST [--warmup N] [--iters N]}: single-thread latency per image on
 *       seeded uniform [0, 1) inputs (median and 99th percentile, milliseconds) and load time,
 *       for {@code predict} and for {@code predictInto} in one {@link Workspace}, each with the
 *       bytes a call allocates; {@code --per-node} also prints the mean time of every node.
 * </ul>
 *
 * Exit status: 0 ok, 1 a {@link Pd2JavaException} (its message on stderr), 64 usage error.
 */
public final class Cli {
  private Cli() {}

  /**
   * Bytes this thread has allocated so far ({@code com.sun.management.ThreadMXBean}), or -1 when
   * the JVM does not measure it.
   */
  static long allocatedBytes() {
    try {
      if (java.lang.management.ManagementFactory.getThreadMXBean()
          instanceof com.sun.management.ThreadMXBean t && t.isThreadAllocatedMemorySupported()
          && t.isThreadAllocatedMemoryEnabled()) {
        return t.getThreadAllocatedBytes(Thread.currentThread().getId());
      }
    } catch (LinkageError e) {
      // a runtime image without the jdk.management module
    }
    return -1;
  }

  /**
   * Entry point.
   *
   * @param args command-line arguments
   */
  public static void main(String[] args) {
    System.exit(run(args));
  }

  /**
   * Runs a command and returns its exit status (for tests and embedding).
   *
   * @param args command-line arguments
   * @return exit status
   */
  public static int run(String[] args) {
    if (args.length == 1 && args[0].equals("version")) {
      System.out.println("pd2java-runtime " + Model.runtimeVersion());
      return 0;
    }
    if (args.length >= 1 && args[0].equals("ops")) {
      if (args.length == 2 && args[1].equals("--json")) {
        System.out.println(OpRegistry.toJson());
      } else if (args.length == 1) {
        OpRegistry.all().keySet().forEach(System.out::println);
      } else {
        System.err.println("usage: ops [--json]");
        return 64;
      }
      return 0;
    }
    if (args.length < 2 || !(args[0].equals("check") || args[0].equals("bench"))) {
      System.err.println(
          "usage: version | ops [--json] | check MANIFEST [--no-self-test] [--reference]"
              + " | bench MANIFEST [--warmup N] [--iters N] [--reference] [--per-node]");
      return 64;
    }
    boolean selfTest = true;
    boolean reference = false;
    boolean perNode = false;
    int warmup = 200;
    int iters = 500;
    for (int i = 2; i < args.length; i++) {
      switch (args[i]) {
        case "--no-self-test" -> selfTest = false;
        case "--reference" -> reference = true;
        case "--per-node" -> perNode = true;
        case "--warmup" -> warmup = Integer.parseInt(args[++i]);
        case "--iters" -> iters = Integer.parseInt(args[++i]);
        default -> {
          System.err.println("unknown option " + args[i]);
          return 64;
        }
      }
    }
    try {
      long t0 = System.nanoTime();
      LoadOptions options =
          LoadOptions.defaults().withSelfTest(selfTest).withReferenceKernels(reference);
      Model m = Model.load(Path.of(args[1]), options);
      double loadMs = (System.nanoTime() - t0) / 1e6;
      if (args[0].equals("check")) {
        System.out.println("ok " + m);
        System.out.println("runtime: " + Model.runtimeVersion());
        System.out.println("kernels: " + m.kernelInfo());
        System.out.println("classes: " + m.classes());
        System.out.println("nodes: " + String.join(" ", m.nodeNames()));
        System.out.printf("weights in memory: %.2f MB%n", m.weightBytes() / 1e6);
        System.out.printf("scratch per call: %.2f MB (values; workspace with kernel scratch: "
            + "%.2f MB)%n", m.scratchFloats() * 4 / 1e6, m.newWorkspace().floats() * 4 / 1e6);
        System.out.printf(
            "self-test: %s; load: %.1f ms%n", selfTest ? "passed" : "skipped", loadMs);
        return 0;
      }
      float[] x = new float[Model.product(m.inputShape())];
      Random r = new Random(0);
      for (int i = 0; i < x.length; i++) {
        x[i] = r.nextFloat();
      }
      Workspace ws = m.newWorkspace();
      float[] out = new float[Model.product(m.outputShape())];
      for (int i = 0; i < warmup; i++) {
        m.predict(x);
        m.predictInto(x, out, ws);
      }
      double[] ms = new double[iters];
      long bytes = allocatedBytes();
      for (int i = 0; i < iters; i++) {
        long s = System.nanoTime();
        m.predict(x);
        ms[i] = (System.nanoTime() - s) / 1e6;
      }
      long predictBytes = allocatedBytes() - bytes;
      double[] msInto = new double[iters];
      bytes = allocatedBytes();
      for (int i = 0; i < iters; i++) {
        long s = System.nanoTime();
        m.predictInto(x, out, ws);
        msInto[i] = (System.nanoTime() - s) / 1e6;
      }
      long intoBytes = allocatedBytes() - bytes;
      Arrays.sort(ms);
      Arrays.sort(msInto);
      if (perNode) {
        for (var e : m.profile(x, iters).entrySet()) {
          System.out.printf("%10.4f ms  %s%n", e.getValue() / 1e6 / iters, e.getKey());
        }
      }
      // Bytes per call include the timing loop's own (none: ms is preallocated); -1 when the
      // JVM cannot measure thread allocation.
      System.out.printf(
          "{\"model\": \"%s\", \"kernels\": \"%s\", \"load_ms\": %.3f,"
              + " \"median_ms\": %.4f, \"p99_ms\": %.4f,"
              + " \"into_median_ms\": %.4f, \"into_p99_ms\": %.4f,"
              + " \"bytes_per_call\": %d, \"into_bytes_per_call\": %d,"
              + " \"iters\": %d, \"warmup\": %d}%n",
          m.name(),
          reference ? "reference" : "default",
          loadMs,
          ms[iters / 2],
          ms[Math.min(iters - 1, (int) Math.ceil(iters * 0.99) - 1)],
          msInto[iters / 2],
          msInto[Math.min(iters - 1, (int) Math.ceil(iters * 0.99) - 1)],
          bytes < 0 ? -1 : predictBytes / iters,
          bytes < 0 ? -1 : intoBytes / iters,
          iters, warmup);
      return 0;
    } catch (Pd2JavaException e) {
      System.err.println(e.getMessage());
      return 1;
    }
  }
}
