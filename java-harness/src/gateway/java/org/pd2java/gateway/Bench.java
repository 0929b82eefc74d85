package org.pd2java.gateway;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Arrays;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.pd2java.runtime.LoadOptions;
import org.pd2java.runtime.Model;

/**
 * Single-thread latency benchmark measured inside the JVM (no py4j on the timed path).
 *
 * <p>Usage: {@code Bench MANIFEST INPUTS.f32 N [WARMUP] [ITERS] [LOADS]}, where INPUTS.f32 holds
 * N samples as raw little-endian float32. It times {@code Model.load} (with and without the
 * golden self-test), warms up, then times {@code predict} on one sample at a time, cycling over
 * the inputs, and prints one JSON object on stdout.
 */
public final class Bench {
  private Bench() {}

  /**
   * Runs the benchmark.
   *
   * @param args see the class comment
   * @throws IOException if a file cannot be read
   */
  public static void main(String[] args) throws IOException {
    if (args.length < 3) {
      System.err.println("usage: Bench MANIFEST INPUTS.f32 N [WARMUP] [ITERS] [LOADS]");
      System.exit(1);
    }
    Path manifest = Paths.get(args[0]);
    float[] all = Floats.fromBytes(Files.readAllBytes(Paths.get(args[1])));
    int n = Integer.parseInt(args[2]);
    int warmup = args.length > 3 ? Integer.parseInt(args[3]) : 200;
    int iters = args.length > 4 ? Integer.parseInt(args[4]) : 1000;
    int loads = args.length > 5 ? Integer.parseInt(args[5]) : 5;
    if (n <= 0 || all.length % n != 0) {
      throw new IllegalArgumentException(
          "inputs: " + all.length + " floats do not split into " + n + " samples");
    }
    int per = all.length / n;

    double[] loadSelfTest = new double[loads];
    double[] loadPlain = new double[loads];
    Model model = null;
    for (int i = 0; i < loads; i++) {
      long t0 = System.nanoTime();
      model = Model.load(manifest);
      loadSelfTest[i] = (System.nanoTime() - t0) / 1e6;
      t0 = System.nanoTime();
      model = Model.load(manifest, LoadOptions.defaults().withSelfTest(false));
      loadPlain[i] = (System.nanoTime() - t0) / 1e6;
    }

    float[][] samples = new float[n][];
    for (int i = 0; i < n; i++) {
      samples[i] = Arrays.copyOfRange(all, i * per, (i + 1) * per);
    }
    double sink = 0;
    for (int i = 0; i < warmup; i++) {
      sink += model.predict(samples[i % n])[0];
    }
    double[] micros = new double[iters];
    for (int i = 0; i < iters; i++) {
      float[] x = samples[i % n];
      long t0 = System.nanoTime();
      float[] y = model.predict(x);
      micros[i] = (System.nanoTime() - t0) / 1e3;
      sink += y[0];
    }
    // Throughput: one batch of `iters` images, on 1 and 2 threads (predictBatch over a pool).
    float[] batch = new float[iters * per];
    for (int i = 0; i < iters; i++) {
      System.arraycopy(samples[i % n], 0, batch, i * per, per);
    }
    double[] imagesPerSecond = new double[3];
    for (int threads = 1; threads <= 2; threads++) {
      ExecutorService pool = Executors.newFixedThreadPool(threads);
      try {
        sink += model.predictBatch(batch, iters, pool, threads)[0]; // warm the threads
        long t0 = System.nanoTime();
        sink += model.predictBatch(batch, iters, pool, threads)[0];
        imagesPerSecond[threads] = iters / ((System.nanoTime() - t0) / 1e9);
      } finally {
        pool.shutdown();
      }
    }
    Arrays.sort(micros);
    Arrays.sort(loadSelfTest);
    Arrays.sort(loadPlain);
    StringBuilder sb = new StringBuilder("{");
    sb.append("\"iters\":").append(iters);
    sb.append(",\"warmup\":").append(warmup);
    sb.append(",\"median_us\":").append(percentile(micros, 50));
    sb.append(",\"p99_us\":").append(percentile(micros, 99));
    sb.append(",\"mean_us\":").append(Arrays.stream(micros).average().orElse(0));
    sb.append(",\"load_ms_selftest\":").append(percentile(loadSelfTest, 50));
    sb.append(",\"load_ms_no_selftest\":").append(percentile(loadPlain, 50));
    sb.append(",\"images_per_s_1_thread\":").append(imagesPerSecond[1]);
    sb.append(",\"images_per_s_2_threads\":").append(imagesPerSecond[2]);
    sb.append(",\"java\":");
    Gateway.quote(sb, System.getProperty("java.version"));
    sb.append(",\"checksum\":").append(sink);
    System.out.println(sb.append('}'));
  }

  /** Nearest-rank percentile of sorted values. */
  static double percentile(double[] sorted, double p) {
    int rank = (int) Math.ceil(p / 100.0 * sorted.length);
    return sorted[Math.max(0, Math.min(sorted.length - 1, rank - 1))];
  }
}
