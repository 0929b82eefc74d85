package org.pd2java.gateway;

import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.nio.file.Path;
import java.nio.file.Paths;
import org.pd2java.runtime.LoadOptions;
import org.pd2java.runtime.Model;

/**
 * Resident heap per loaded model, measured: loads COPIES copies of one model (self-test off) and
 * keeps them all alive, and reports the used heap after a full collection, before and after,
 * divided by COPIES. Run in a fresh JVM with a heap large enough for the copies.
 *
 * <p>Usage: {@code HeapProbe MANIFEST COPIES}; prints one JSON object on stdout: {@code
 * bytes_per_model}, {@code copies}, the model's name, {@code weight_bytes} ({@link
 * Model#weightBytes()}, to compare the heap with), its {@link Model#kernelInfo()} (the kernel
 * family may hold weights in another layout) and the JVM's version.
 */
public final class HeapProbe {
  private HeapProbe() {}

  /** Used heap after repeated full collections, until it stops shrinking. */
  static long settledHeap(MemoryMXBean memory) throws InterruptedException {
    long best = Long.MAX_VALUE;
    for (int i = 0; i < 10; i++) {
      System.gc();
      Thread.sleep(20);
      long used = memory.getHeapMemoryUsage().getUsed();
      if (used >= best) {
        break;
      }
      best = used;
    }
    return best;
  }

  /**
   * Runs the probe.
   *
   * @param args MANIFEST COPIES
   * @throws InterruptedException if interrupted while settling the heap
   */
  public static void main(String[] args) throws InterruptedException {
    if (args.length != 2) {
      System.err.println("usage: HeapProbe MANIFEST COPIES");
      System.exit(1);
    }
    Path manifest = Paths.get(args[0]);
    int copies = Integer.parseInt(args[1]);
    if (copies < 1) {
      throw new IllegalArgumentException("COPIES must be >= 1, got " + copies);
    }
    LoadOptions off = LoadOptions.defaults().withSelfTest(false);
    Model.load(manifest, off); // classes loaded and JIT warm before the baseline
    MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
    long before = settledHeap(memory);
    Model[] kept = new Model[copies];
    for (int i = 0; i < copies; i++) {
      kept[i] = Model.load(manifest, off);
    }
    long after = settledHeap(memory);
    double perModel = (after - before) / (double) copies;
    Model last = kept[copies - 1];
    StringBuilder sb = new StringBuilder("{\"bytes_per_model\":").append(perModel);
    sb.append(",\"copies\":").append(copies);
    sb.append(",\"model\":");
    Gateway.quote(sb, last.name());
    sb.append(",\"weight_bytes\":").append(last.weightBytes());
    sb.append(",\"kernel_info\":");
    Gateway.quote(sb, last.kernelInfo());
    sb.append(",\"java\":");
    Gateway.quote(sb, System.getProperty("java.version"));
    sb.append(",\"max_heap_bytes\":").append(Runtime.getRuntime().maxMemory());
    System.out.println(sb.append('}'));
  }
}
