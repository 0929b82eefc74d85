import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.management.ManagementFactory;
import java.lang.ref.WeakReference;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.pd2java.runtime.Model;
import org.pd2java.runtime.ModelRegistry;
import org.pd2java.runtime.Pd2JavaException;
import org.pd2java.runtime.RegistryListener;
import org.pd2java.runtime.RegistryOptions;

/**
 * The load test of benchmarks/bench_registry.py (not part of the runtime jar): opens a
 * ModelRegistry on a folder of exports, classifies against random ids from several threads while
 * the main thread publishes a new version of one model at a fixed period (one in N of them
 * corrupt or half-written) and reloads it, then prints one JSON object of measurements.
 *
 * <p>Usage: {@code java -cp runtime.jar:classes RegistryLoadTest --root DIR --source DIR
 * --seconds S --threads T --reload-every-ms MS --corrupt-every N --warmup-seconds W --seed S}.
 * {@code root} holds one folder per model id and is modified (versions are published into it);
 * {@code source} holds the pristine export of every id, copied from at each publish.
 */
public final class RegistryLoadTest {
  private static final String[] CORRUPTIONS = {"flip_weights_byte", "truncate_weights",
      "manifest_cut_in_half"};

  private RegistryLoadTest() {}

  public static void main(String[] args) throws Exception {
    Map<String, String> a = new LinkedHashMap<>();
    for (int i = 0; i + 1 < args.length; i += 2) {
      a.put(args[i].replaceFirst("^--", ""), args[i + 1]);
    }
    Path root = Path.of(a.get("root"));
    Path source = Path.of(a.get("source"));
    double seconds = Double.parseDouble(a.getOrDefault("seconds", "60"));
    double warmup = Double.parseDouble(a.getOrDefault("warmup-seconds", "5"));
    int threads = Integer.parseInt(a.getOrDefault("threads", "2"));
    long reloadEveryMs = Long.parseLong(a.getOrDefault("reload-every-ms", "1000"));
    int corruptEvery = Integer.parseInt(a.getOrDefault("corrupt-every", "10"));
    long seed = Long.parseLong(a.getOrDefault("seed", "2024"));

    Map<String, Object> out = new LinkedHashMap<>();
    out.put("java_version", System.getProperty("java.version"));
    out.put("max_heap_bytes", Runtime.getRuntime().maxMemory());
    out.put("jvm_args", ManagementFactory.getRuntimeMXBean().getInputArguments());

    long heapEmpty = usedHeapAfterGc();
    // Replaced versions, held weakly: they must all be collected once no call runs on them.
    ConcurrentLinkedQueue<WeakReference<Model>> replaced = new ConcurrentLinkedQueue<>();
    AtomicLong listenerFailures = new AtomicLong();
    RegistryListener listener = new RegistryListener() {
      @Override
      public void onReload(String id, Model previous, Model current) {
        replaced.add(new WeakReference<>(previous));
      }

      @Override
      public void onFailure(String id, Pd2JavaException error, Model serving) {
        listenerFailures.incrementAndGet();
      }
    };
    long t0 = System.nanoTime();
    ModelRegistry reg = ModelRegistry.open(root, RegistryOptions.defaults().withListener(listener));
    double startupS = (System.nanoTime() - t0) / 1e9;
    List<String> ids = reg.ids();
    out.put("models", ids.size());
    out.put("open_failures", new ArrayList<>(reg.failures().keySet()));
    out.put("startup_seconds", startupS);
    out.put("load_threads", reg.options().loadThreads());
    out.put("kernel_info", reg.get(ids.get(0)).kernelInfo());
    out.put("resident_bytes", reg.residentBytes());
    double loadMsSum = 0;
    for (ModelRegistry.ModelStats s : reg.stats().values()) {
      loadMsSum += s.loadMillis();
    }
    out.put("mean_load_ms", loadMsSum / ids.size());
    Map<String, Integer> archCount = new TreeMap<>();
    Map<String, Long> archBytes = new TreeMap<>();
    for (String id : ids) {
      String arch = id.substring(0, id.indexOf('-'));
      archCount.merge(arch, 1, Integer::sum);
      archBytes.put(arch, reg.residentBytes(id));
    }
    out.put("models_by_arch", archCount);
    out.put("weight_bytes_by_arch", archBytes);
    long heapOpen = usedHeapAfterGc();
    out.put("heap_empty_bytes", heapEmpty);
    out.put("heap_after_open_bytes", heapOpen);

    int inputSize = 1;
    for (int d : reg.get(ids.get(0)).inputShape()) {
      inputSize *= d;
    }
    SplittableRandom rnd = new SplittableRandom(seed);
    float[][] images = new float[16][inputSize];
    for (float[] img : images) {
      for (int i = 0; i < img.length; i++) {
        img[i] = rnd.nextInt(8) == 0 ? (float) rnd.nextDouble() : 0f; // sparse, like a PRPD
      }
    }
    String[] idArray = ids.toArray(new String[0]);

    // Warm-up: every model once, then the load without timing.
    for (String id : idArray) {
      reg.classify(id, images[0]);
    }
    Load warm = new Load(reg, idArray, images, threads, seed + 1);
    warm.start();
    Thread.sleep((long) (warmup * 1000));
    warm.stop();

    Load load = new Load(reg, idArray, images, threads, seed + 2);
    SplittableRandom reloadRnd = new SplittableRandom(seed + 3);
    int reloads = 0;
    int goodReloads = 0;
    int goodRefused = 0;
    int corrupt = 0;
    int corruptRejected = 0;
    int corruptAccepted = 0;
    int keptOld = 0;
    Map<String, Integer> rejectedCodes = new TreeMap<>();
    Map<String, Integer> corruptKinds = new TreeMap<>();
    List<String> unexpected = new ArrayList<>();
    List<Double> reloadMs = new ArrayList<>();
    long runStart = System.nanoTime();
    long runEnd = runStart + (long) (seconds * 1e9);
    load.start();
    long next = runStart + reloadEveryMs * 1_000_000L;
    while (true) {
      long now = System.nanoTime();
      if (next > runEnd) {
        Thread.sleep(Math.max(0, (runEnd - now) / 1_000_000L));
        break;
      }
      if (next > now) {
        Thread.sleep((next - now) / 1_000_000L, (int) ((next - now) % 1_000_000L));
      }
      next += reloadEveryMs * 1_000_000L;
      reloads++;
      String id = idArray[reloadRnd.nextInt(idArray.length)];
      boolean bad = reloads % corruptEvery == 0;
      String kind = bad ? CORRUPTIONS[(reloads / corruptEvery - 1) % CORRUPTIONS.length] : null;
      publish(root, source.resolve(id), id, kind, reloads);
      Model before = reg.get(id);
      long r0 = System.nanoTime();
      try {
        reg.reload(id);
        reloadMs.add((System.nanoTime() - r0) / 1e6);
        if (bad) {
          corruptAccepted++;
          unexpected.add("corrupt export (" + kind + ") of " + id + " was accepted");
        } else {
          goodReloads++;
        }
      } catch (Pd2JavaException e) {
        if (bad) {
          corruptRejected++;
          rejectedCodes.merge(e.code().name(), 1, Integer::sum);
          if (reg.get(id) == before) {
            keptOld++;
          }
        } else {
          goodRefused++;
          unexpected.add("good reload of " + id + " refused: " + e.getMessage());
        }
      }
      if (bad) {
        corrupt++;
        corruptKinds.merge(kind, 1, Integer::sum);
      }
      before = null;
    }
    load.stop();
    double elapsed = (System.nanoTime() - runStart) / 1e9;

    long[] lat = load.latencies();
    Arrays.sort(lat);
    out.put("seconds", elapsed);
    out.put("threads", threads);
    out.put("calls", lat.length);
    out.put("calls_per_second", lat.length / elapsed);
    out.put("latency_p50_ms", percentile(lat, 50) / 1e6);
    out.put("latency_p99_ms", percentile(lat, 99) / 1e6);
    out.put("latency_max_ms", lat.length == 0 ? 0 : lat[lat.length - 1] / 1e6);
    out.put("failed_calls", load.failures.get() + warm.failures.get());
    List<String> callErrors = new ArrayList<>(load.errors);
    callErrors.addAll(warm.errors);
    out.put("failed_call_examples", callErrors);
    out.put("reloads", reloads);
    out.put("good_reloads", goodReloads);
    out.put("good_reloads_refused", goodRefused);
    out.put("corrupt_reloads", corrupt);
    out.put("corrupt_rejected", corruptRejected);
    out.put("corrupt_accepted", corruptAccepted);
    out.put("corrupt_kept_old_version", keptOld);
    out.put("corrupt_kinds", corruptKinds);
    out.put("rejected_codes", rejectedCodes);
    out.put("unexpected", unexpected);
    double[] rms = reloadMs.stream().mapToDouble(Double::doubleValue).sorted().toArray();
    out.put("reload_p50_ms", rms.length == 0 ? 0 : rms[(rms.length - 1) / 2]);
    out.put("reload_max_ms", rms.length == 0 ? 0 : rms[rms.length - 1]);
    out.put("listener_failures", listenerFailures.get());
    out.put("listener_errors", reg.listenerErrors());
    long statCalls = 0;
    long statReloads = 0;
    long statFailures = 0;
    for (ModelRegistry.ModelStats s : reg.stats().values()) {
      statCalls += s.calls();
      statReloads += s.reloads();
      statFailures += s.failures();
    }
    out.put("stats_calls", statCalls);
    out.put("stats_expected_calls",
        (long) idArray.length + warm.calls.get() + load.calls.get());
    out.put("stats_reloads", statReloads);
    out.put("stats_failures", statFailures);
    out.put("models_serving_after", reg.ids().size());
    out.put("resident_bytes_after", reg.residentBytes());

    load.clear();
    warm.clear();
    lat = null;
    long heapAfter = usedHeapAfterGc();
    int cleared = 0;
    int total = 0;
    for (WeakReference<Model> w : replaced) {
      total++;
      if (w.get() == null) {
        cleared++;
      }
    }
    out.put("heap_after_run_bytes", heapAfter);
    out.put("replaced_versions", total);
    out.put("replaced_versions_collected", cleared);
    reg.close();
    System.out.println(json(out));
  }

  /** Writes a version of {@code id} into a dot-folder, then renames it into place. */
  static void publish(Path root, Path src, String id, String corruption, int n)
      throws IOException {
    Path tmp = root.resolve("." + id + "-tmp-" + n);
    Files.createDirectory(tmp);
    Path manifest = null;
    Path weights = null;
    try (Stream<Path> files = Files.list(src)) {
      for (Path f : files.toList()) {
        Path dst = tmp.resolve(f.getFileName());
        Files.copy(f, dst);
        String name = f.getFileName().toString();
        if (name.endsWith(".manifest.json")) {
          manifest = dst;
        } else if (name.endsWith(".safetensors")) {
          weights = dst;
        }
      }
    }
    if (manifest == null || weights == null) {
      throw new IOException(src + " holds no manifest + safetensors pair");
    }
    if ("flip_weights_byte".equals(corruption)) {
      try (RandomAccessFile f = new RandomAccessFile(weights.toFile(), "rw")) {
        long at = f.length() / 2;
        f.seek(at);
        int b = f.read();
        f.seek(at);
        f.write(b ^ 0x01);
      }
    } else if ("truncate_weights".equals(corruption)) {
      try (RandomAccessFile f = new RandomAccessFile(weights.toFile(), "rw")) {
        f.setLength(f.length() / 2);
      }
    } else if ("manifest_cut_in_half".equals(corruption)) {
      byte[] m = Files.readAllBytes(manifest);
      Files.write(manifest, Arrays.copyOf(m, m.length / 2));
    }
    Path dir = root.resolve(id);
    Path old = root.resolve("." + id + "-old-" + n);
    Files.move(dir, old, StandardCopyOption.ATOMIC_MOVE);
    Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
    try (Stream<Path> s = Files.walk(old)) {
      for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    }
  }

  /** Threads classifying random samples against random ids until stopped. */
  static final class Load {
    final ModelRegistry reg;
    final String[] ids;
    final float[][] images;
    final Thread[] threads;
    final long[][] latencies;
    final int[] counts;
    final AtomicBoolean stop = new AtomicBoolean();
    final AtomicLong failures = new AtomicLong();
    final AtomicLong calls = new AtomicLong();
    final ConcurrentLinkedQueue<String> errors = new ConcurrentLinkedQueue<>();

    Load(ModelRegistry reg, String[] ids, float[][] images, int n, long seed) {
      this.reg = reg;
      this.ids = ids;
      this.images = images;
      this.threads = new Thread[n];
      this.latencies = new long[n][];
      this.counts = new int[n];
      for (int t = 0; t < n; t++) {
        int me = t;
        SplittableRandom rnd = new SplittableRandom(seed * 31 + t);
        threads[t] = new Thread(() -> run(me, rnd), "classify-" + t);
      }
    }

    void run(int me, SplittableRandom rnd) {
      long[] lat = new long[1 << 16];
      int n = 0;
      while (!stop.get()) {
        String id = ids[rnd.nextInt(ids.length)];
        float[] x = images[rnd.nextInt(images.length)];
        long t0 = System.nanoTime();
        try {
          reg.classify(id, x);
        } catch (RuntimeException e) {
          if (failures.incrementAndGet() <= 5) {
            errors.add(id + ": " + e);
          }
          continue;
        } finally {
          calls.incrementAndGet();
        }
        long dt = System.nanoTime() - t0;
        if (n == lat.length) {
          lat = Arrays.copyOf(lat, lat.length * 2);
        }
        lat[n++] = dt;
      }
      latencies[me] = lat;
      counts[me] = n;
    }

    void start() {
      for (Thread t : threads) {
        t.start();
      }
    }

    void stop() throws InterruptedException {
      stop.set(true);
      for (Thread t : threads) {
        t.join();
      }
    }

    long[] latencies() {
      int total = 0;
      for (int c : counts) {
        total += c;
      }
      long[] all = new long[total];
      int p = 0;
      for (int t = 0; t < threads.length; t++) {
        System.arraycopy(latencies[t], 0, all, p, counts[t]);
        p += counts[t];
      }
      return all;
    }

    void clear() {
      Arrays.fill(latencies, null);
    }
  }

  static long percentile(long[] sorted, double p) {
    if (sorted.length == 0) {
      return 0;
    }
    int rank = (int) Math.ceil(p / 100.0 * sorted.length);
    return sorted[Math.max(0, Math.min(sorted.length - 1, rank - 1))];
  }

  static long usedHeapAfterGc() throws InterruptedException {
    Runtime rt = Runtime.getRuntime();
    long used = Long.MAX_VALUE;
    for (int i = 0; i < 4; i++) {
      System.gc();
      Thread.sleep(50);
      used = Math.min(used, rt.totalMemory() - rt.freeMemory());
    }
    return used;
  }

  static String json(Object v) {
    if (v == null) {
      return "null";
    }
    if (v instanceof String s) {
      StringBuilder sb = new StringBuilder("\"");
      for (char c : s.toCharArray()) {
        if (c == '"' || c == '\\') {
          sb.append('\\').append(c);
        } else if (c < 0x20) {
          sb.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
        } else {
          sb.append(c);
        }
      }
      return sb.append('"').toString();
    }
    if (v instanceof Map<?, ?> m) {
      StringBuilder sb = new StringBuilder("{");
      for (Map.Entry<?, ?> e : m.entrySet()) {
        if (sb.length() > 1) {
          sb.append(", ");
        }
        sb.append(json(String.valueOf(e.getKey()))).append(": ").append(json(e.getValue()));
      }
      return sb.append('}').toString();
    }
    if (v instanceof List<?> l) {
      StringBuilder sb = new StringBuilder("[");
      for (Object o : l) {
        if (sb.length() > 1) {
          sb.append(", ");
        }
        sb.append(json(o));
      }
      return sb.append(']').toString();
    }
    if (v instanceof Double d) {
      return Double.isFinite(d) ? String.valueOf(d) : "null";
    }
    return String.valueOf(v);
  }
}
