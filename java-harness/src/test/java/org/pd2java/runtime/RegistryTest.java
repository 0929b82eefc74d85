package org.pd2java.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.pd2java.runtime.Fixture.map;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.ref.WeakReference;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * ModelRegistry on real export folders: open with a bad model among good ones, reload and its
 * failures (the old version keeps serving), safe publish by rename, the watcher, the memory
 * budget, stats, and calls racing reloads.
 */
class RegistryTest {
  @TempDir Path root;

  private static final float[] X = {0.1f, 0.5f, -0.3f, 0.9f};

  /**
   * A small model (conv 1x1 -> relu -> gap -> linear 2->k -> softmax on 1x2x2) whose linear bias
   * is shifted by {@code shift}, so each version answers differently, with golden vectors.
   */
  private static Fixture model(float shift, int classes) throws IOException {
    Fixture f = new Fixture(1, 2, 2);
    float[] w = new float[2 * classes];
    float[] b = new float[classes];
    for (int k = 0; k < classes; k++) {
      w[2 * k] = 1 + k;
      w[2 * k + 1] = 1 - k;
      b[k] = k * shift;
    }
    f.tensor("conv.w", new int[] {2, 1, 1, 1}, 1f, -2f)
        .tensor("conv.b", new int[] {2}, 0.1f, 0.2f)
        .tensor("fc.w", new int[] {classes, 2}, w)
        .tensor("fc.b", new int[] {classes}, b)
        .node("conv", "conv2d",
            map("in_channels", 1, "out_channels", 2, "kernel_size", new int[] {1, 1},
                "stride", new int[] {1, 1}, "padding", new int[] {0, 0},
                "dilation", new int[] {1, 1}, "groups", 1),
            map("weight", "conv.w", "bias", "conv.b"), new int[] {2, 2, 2})
        .node("act", "relu", map(), new int[] {2, 2, 2})
        .node("pool", "global_avg_pool", map("keepdims", false), new int[] {2})
        .node("fc", "linear", map("in_features", 2, "out_features", classes),
            map("weight", "fc.w", "bias", "fc.b"), new int[] {classes})
        .node("prob", "softmax", map("dim", 1), new int[] {classes});
    Path tmp = Files.createTempDirectory("registry-golden");
    try {
      Model m = Model.load(f.write(tmp), LoadOptions.defaults().withSelfTest(false));
      float[] in = {0.1f, 0.5f, -0.3f, 0.9f, 1, 2, 3, 4};
      f.golden(2, in, m.predictBatch(in, 2), 1e-5, 1e-4);
    } finally {
      deleteTree(tmp);
    }
    return f;
  }

  private static Fixture model(float shift) throws IOException {
    return model(shift, 3);
  }

  /** What version {@code shift} answers on {@link #X}. */
  private static float[] expected(float shift) throws IOException {
    Path tmp = Files.createTempDirectory("registry-expected");
    try {
      return model(shift).load(tmp).predict(X);
    } finally {
      deleteTree(tmp);
    }
  }

  /** Writes a model into {@code root/.<id>-tmp/} and renames it to {@code root/<id>}. */
  private Path publish(String id, Fixture f) throws IOException {
    Path tmp = root.resolve("." + id + "-tmp");
    Files.createDirectories(tmp);
    f.write(tmp);
    return replaceWith(id, tmp);
  }

  /**
   * Puts the complete folder {@code tmp} at {@code root/<id>}: renames an existing one away
   * first (a directory cannot be renamed over a non-empty one), then deletes it.
   */
  private Path replaceWith(String id, Path tmp) throws IOException {
    Path dir = root.resolve(id);
    Path old = root.resolve("." + id + "-old");
    boolean had = Files.exists(dir);
    if (had) {
      Files.move(dir, old, StandardCopyOption.ATOMIC_MOVE);
    }
    Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
    if (had) {
      deleteTree(old);
    }
    return dir;
  }

  static void deleteTree(Path p) throws IOException {
    if (!Files.exists(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    try (Stream<Path> s = Files.walk(p)) {
      for (Path q : s.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(q);
      }
    }
  }

  private static void flipByte(Path file, long at) throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
      long pos = at < 0 ? f.length() + at : at;
      f.seek(pos);
      int b = f.read();
      f.seek(pos);
      f.write(b ^ 0x5a);
    }
  }

  /** Every listener call, as text, in order. */
  static final class Events implements RegistryListener {
    final BlockingQueue<String> queue = new LinkedBlockingQueue<>();
    final ConcurrentLinkedQueue<Pd2JavaException> errors = new ConcurrentLinkedQueue<>();

    @Override
    public void onLoad(String id, Model model) {
      queue.add("load " + id);
    }

    @Override
    public void onReload(String id, Model previous, Model current) {
      assertNotSame(previous, current);
      queue.add("reload " + id);
    }

    @Override
    public void onFailure(String id, Pd2JavaException error, Model serving) {
      errors.add(error);
      queue.add("failure " + id + " " + error.code() + (serving == null ? "" : " serving"));
    }

    @Override
    public void onRemove(String id, Model removed) {
      queue.add("remove " + id);
    }

    List<String> drain() {
      List<String> out = new ArrayList<>();
      queue.drainTo(out);
      return out;
    }

    /** Waits for an event starting with {@code prefix}, skipping others; fails after 10 s. */
    String await(String prefix) throws InterruptedException {
      long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      List<String> seen = new ArrayList<>();
      while (System.nanoTime() < end) {
        String e = queue.poll(50, TimeUnit.MILLISECONDS);
        if (e != null) {
          seen.add(e);
          if (e.startsWith(prefix)) {
            return e;
          }
        }
      }
      throw new AssertionError("no event '" + prefix + "' within 10 s; saw " + seen);
    }
  }

  private static RegistryOptions quiet(Events events) {
    return RegistryOptions.defaults().withListener(events).withLoadThreads(2);
  }

  @Test
  void openServesTheGoodModelsAndReportsTheBadOnes() throws IOException {
    publish("a", model(0));
    publish("b", model(1));
    Path c = publish("c", model(2));
    flipByte(c.resolve("m.safetensors"), -1);
    Path two = Files.createDirectories(root.resolve("two"));
    model(0).write(two);
    Files.copy(two.resolve("m.manifest.json"), two.resolve("n.manifest.json"));
    Files.createDirectories(root.resolve("empty"));
    Files.writeString(root.resolve("empty/notes.txt"), "no model here");
    Path hidden = Files.createDirectories(root.resolve(".d-tmp")); // a publish in progress
    model(0).write(hidden);
    Files.writeString(root.resolve("README.txt"), "a plain file is ignored");

    Events events = new Events();
    try (ModelRegistry reg = ModelRegistry.open(root, quiet(events))) {
      assertEquals(List.of("a", "b"), reg.ids());
      // committed in id order, whatever order the two loading threads finished in
      assertEquals(List.of("load a", "load b", "failure c WEIGHTS_CHECKSUM_MISMATCH",
          "failure empty IO_ERROR", "failure two INVALID_MANIFEST"), events.drain());
      Map<String, Pd2JavaException> failures = reg.failures();
      assertEquals(List.of("c", "empty", "two"), List.copyOf(failures.keySet()));
      assertTrue(failures.get("two").getMessage().contains("m.manifest.json, n.manifest.json"),
          failures.get("two").getMessage());
      assertTrue(failures.get("empty").getMessage().contains("no *.manifest.json"));
      assertEquals(List.of("a", "b", "c", "empty", "two"), List.copyOf(reg.stats().keySet()));
      ModelRegistry.ModelStats sc = reg.stats("c").orElseThrow();
      assertFalse(sc.serving());
      assertEquals(1, sc.failures());
      assertEquals(0, sc.loads());
      assertTrue(sc.lastError().contains("WEIGHTS_CHECKSUM_MISMATCH"), sc.lastError());

      assertArrayEquals(expected(0), reg.classify("a", X).probabilities(), 0f);
      assertArrayEquals(expected(1), reg.predict("b", X), 0f);
      NoSuchElementException failed = assertThrows(NoSuchElementException.class,
          () -> reg.get("c"));
      assertTrue(failed.getMessage().contains("load failed")
          && failed.getMessage().contains("WEIGHTS_CHECKSUM_MISMATCH"), failed.getMessage());
      NoSuchElementException unknown = assertThrows(NoSuchElementException.class,
          () -> reg.classify("zz", X));
      assertTrue(unknown.getMessage().contains("no model 'zz'")
          && unknown.getMessage().contains("2 models serving, e.g. a, b"), unknown.getMessage());
      assertTrue(reg.find("zz").isEmpty());
      assertTrue(reg.stats("d-tmp").isEmpty() && reg.stats(".d-tmp").isEmpty());
      assertEquals(reg.get("a").weightBytes() + reg.get("b").weightBytes(), reg.residentBytes());
      assertEquals(reg.get("a").weightBytes(), reg.residentBytes("a"));
      assertEquals(0, reg.residentBytes("c"));
      // a bad input is the model's typed error, and does not count as anything but a call
      Pd2JavaException bad = assertThrows(Pd2JavaException.class,
          () -> reg.classify("a", new float[3]));
      assertEquals(ErrorCode.INVALID_INPUT, bad.code());
    }
  }

  @Test
  void openRefusesOnlyAnUnreadableRoot() {
    Pd2JavaException e = assertThrows(Pd2JavaException.class,
        () -> ModelRegistry.open(root.resolve("missing")));
    assertEquals(ErrorCode.IO_ERROR, e.code());
    assertTrue(e.getMessage().contains("missing"), e.getMessage());
  }

  @Test
  void reloadSwapsAndRunningHoldersKeepTheirVersion() throws IOException {
    publish("a", model(0));
    Events events = new Events();
    try (ModelRegistry reg = ModelRegistry.open(root, quiet(events))) {
      Model v1 = reg.get("a");
      publish("a", model(5));
      Model v2 = reg.reload("a");
      assertNotSame(v1, v2);
      assertSame(v2, reg.get("a"));
      assertArrayEquals(expected(5), reg.predict("a", X), 0f);
      assertArrayEquals(expected(0), v1.predict(X), 0f); // a call holding v1 finishes on v1
      assertEquals(List.of("load a", "reload a"), events.drain());
      ModelRegistry.ModelStats s = reg.stats("a").orElseThrow();
      assertEquals(1, s.loads());
      assertEquals(1, s.reloads());
      assertEquals(0, s.failures());
      assertNull(s.lastError());
      assertEquals(root.resolve("a").toRealPath().resolve("m.manifest.json"), s.manifest());
      assertNotNull(s.loadedAt());
      assertTrue(s.loadMillis() > 0);
    }
  }

  @Test
  void aFailedReloadKeepsTheOldVersionServing() throws IOException {
    publish("a", model(0));
    Events events = new Events();
    try (ModelRegistry reg = ModelRegistry.open(root, quiet(events))) {
      Model v1 = reg.get("a");
      events.drain();
      Path dir = root.resolve("a");
      Path weights = dir.resolve("m.safetensors");
      Path manifest = dir.resolve("m.manifest.json");
      byte[] goodWeights = Files.readAllBytes(weights);
      byte[] goodManifest = Files.readAllBytes(manifest);

      flipByte(weights, -3); // a corrupted byte
      assertReloadFails(reg, v1, ErrorCode.WEIGHTS_CHECKSUM_MISMATCH);
      Files.write(weights, Arrays.copyOf(goodWeights, goodWeights.length / 2)); // half-copied
      assertReloadFails(reg, v1, ErrorCode.WEIGHTS_SIZE_MISMATCH);
      Files.write(weights, goodWeights);
      Files.write(manifest, Arrays.copyOf(goodManifest, goodManifest.length / 2));
      assertReloadFails(reg, v1, ErrorCode.INVALID_JSON);
      Files.write(manifest, goodManifest);
      Files.delete(weights);
      assertReloadFails(reg, v1, ErrorCode.IO_ERROR);
      // consistent files whose golden vectors the model does not reproduce
      Fixture wrong = model(7);
      Fixture.Raw out = wrong.tensors.get("golden.output");
      byte[] data = out.data().clone();
      java.nio.ByteBuffer.wrap(data).order(java.nio.ByteOrder.LITTLE_ENDIAN).putFloat(0, 0.5f);
      wrong.tensors.put("golden.output", new Fixture.Raw(out.dtype(), out.shape(), data));
      publish("a", wrong);
      assertReloadFails(reg, v1, ErrorCode.SELF_TEST_FAILED);
      deleteTree(dir); // the folder vanished
      Pd2JavaException gone = assertReloadFails(reg, v1, ErrorCode.IO_ERROR);
      assertTrue(gone.getMessage().contains("does not exist"), gone.getMessage());

      assertEquals(List.of("failure a WEIGHTS_CHECKSUM_MISMATCH serving",
          "failure a WEIGHTS_SIZE_MISMATCH serving", "failure a INVALID_JSON serving",
          "failure a IO_ERROR serving", "failure a SELF_TEST_FAILED serving",
          "failure a IO_ERROR serving"), events.drain());
      ModelRegistry.ModelStats s = reg.stats("a").orElseThrow();
      assertEquals(6, s.failures());
      assertEquals(0, s.reloads());
      assertTrue(s.serving());
      assertEquals(List.of("a"), List.copyOf(reg.failures().keySet()));

      publish("a", model(1)); // a good version clears the failure, keeps the last message
      reg.reload("a");
      assertTrue(reg.failures().isEmpty());
      assertTrue(reg.stats("a").orElseThrow().lastError().contains("does not exist"));
      assertArrayEquals(expected(1), reg.predict("a", X), 0f);

      assertTrue(reg.remove("a"));
      assertFalse(reg.remove("a"));
      assertEquals(0, reg.residentBytes());
      NoSuchElementException removed = assertThrows(NoSuchElementException.class,
          () -> reg.get("a"));
      assertTrue(removed.getMessage().contains("removed"), removed.getMessage());
      assertEquals(List.of("reload a", "remove a"), events.drain());
      reg.reload("a"); // the folder is still there: loaded again
      assertEquals(2, reg.stats("a").orElseThrow().loads());
    }
  }

  private static Pd2JavaException assertReloadFails(ModelRegistry reg, Model serving,
      ErrorCode code) {
    Pd2JavaException e = assertThrows(Pd2JavaException.class, () -> reg.reload("a"));
    assertEquals(code, e.code(), e.getMessage());
    assertSame(serving, reg.get("a"));
    assertEquals(code, reg.failures().get("a").code());
    assertArrayEquals(serving.predict(X), reg.predict("a", X), 0f);
    return e;
  }

  @Test
  void aFolderPublishedByRenameIsAddedByReloadOrScan() throws IOException {
    publish("a", model(0));
    Events events = new Events();
    try (ModelRegistry reg = ModelRegistry.open(root, quiet(events))) {
      Path tmp = Files.createDirectories(root.resolve(".b-tmp"));
      model(2).write(tmp);
      assertTrue(reg.scan().isEmpty()); // a dot-folder is never loaded
      assertThrows(IllegalArgumentException.class, () -> reg.reload(".b-tmp"));
      assertThrows(IllegalArgumentException.class, () -> reg.reload("x/../b"));
      assertThrows(IllegalArgumentException.class, () -> reg.reload(""));
      Files.move(tmp, root.resolve("b"), StandardCopyOption.ATOMIC_MOVE);
      reg.reload("b");
      publish("c", model(3));
      publish("d", model(4));
      flipByte(root.resolve("d/m.safetensors"), -1);
      assertEquals(List.of("c"), reg.scan());
      assertEquals(List.of("a", "b", "c"), reg.ids());
      assertArrayEquals(expected(2), reg.predict("b", X), 0f);
      assertEquals(List.of("load a", "load b", "load c", "failure d WEIGHTS_CHECKSUM_MISMATCH"),
          events.drain());
    }
  }

  @Test
  void aSymbolicLinkSwappedAtomicallyIsReloaded() throws IOException {
    Path v1 = Files.createDirectories(root.resolve(".versions/a-1"));
    Path v2 = Files.createDirectories(root.resolve(".versions/a-2"));
    model(0).write(v1);
    model(6).write(v2);
    try {
      Files.createSymbolicLink(root.resolve("a"), v1);
    } catch (UnsupportedOperationException | IOException e) {
      Assumptions.abort("symbolic links unavailable: " + e);
    }
    try (ModelRegistry reg = ModelRegistry.open(root)) {
      assertArrayEquals(expected(0), reg.predict("a", X), 0f);
      Path link = root.resolve(".a-link");
      Files.createSymbolicLink(link, v2);
      Files.move(link, root.resolve("a"), StandardCopyOption.ATOMIC_MOVE); // rename(2) over it
      reg.reload("a");
      assertArrayEquals(expected(6), reg.predict("a", X), 0f);
      assertEquals(v2.toRealPath().resolve("m.manifest.json"),
          reg.stats("a").orElseThrow().manifest());
    }
  }

  @Test
  void theMemoryBudgetRefusesALoadAndKeepsTheOldVersion() throws IOException {
    publish("a", model(0));
    publish("b", model(1));
    publish("c", model(2));
    long each;
    Path tmp = Files.createTempDirectory("registry-size");
    try {
      each = model(0).load(tmp).weightBytes();
    } finally {
      deleteTree(tmp);
    }
    assertEquals((2 + 2 + 2 * 3 + 3) * 4, each);
    Events events = new Events();
    try (ModelRegistry reg = ModelRegistry.open(root,
        quiet(events).withMemoryBudget(2 * each))) {
      assertEquals(List.of("a", "b"), reg.ids()); // committed in id order: c is over
      Pd2JavaException e = reg.failures().get("c");
      assertEquals(ErrorCode.LIMIT_EXCEEDED, e.code());
      assertTrue(e.getMessage().contains("memory budget of " + 2 * each + " bytes")
          && e.getMessage().contains("needs " + each) && e.getMessage().contains(
          "with the " + 2 * each + " bytes resident"), e.getMessage());
      assertEquals(2 * each, reg.residentBytes());

      Model a = reg.get("a");
      publish("a", model(0, 5)); // a bigger version does not fit
      Pd2JavaException bigger = assertThrows(Pd2JavaException.class, () -> reg.reload("a"));
      assertEquals(ErrorCode.LIMIT_EXCEEDED, bigger.code());
      assertTrue(bigger.getMessage().contains("replacing " + each)
          && bigger.getMessage().contains("keeps serving"), bigger.getMessage());
      assertSame(a, reg.get("a"));
      assertEquals(2 * each, reg.residentBytes());

      publish("a", model(3)); // one of the same size replaces it
      reg.reload("a");
      assertEquals(2 * each, reg.residentBytes());
      assertTrue(reg.remove("b")); // room for c now
      reg.reload("c");
      assertEquals(List.of("a", "c"), reg.ids());
      assertEquals(2 * each, reg.residentBytes());
    }
    assertThrows(IllegalArgumentException.class,
        () -> RegistryOptions.defaults().withMemoryBudget(-1));
  }

  @Test
  void statsCountCallsAndAreSnapshots() throws IOException {
    publish("a", model(0));
    publish("b", model(1));
    try (ModelRegistry reg = ModelRegistry.open(root)) {
      for (int i = 0; i < 7; i++) {
        reg.classify("a", X);
      }
      reg.predict("b", X);
      reg.get("b").predict(X); // a direct call on the model is not seen
      Map<String, ModelRegistry.ModelStats> snap = reg.stats();
      reg.classify("a", X);
      assertEquals(7, snap.get("a").calls());
      assertEquals(1, snap.get("b").calls());
      assertEquals(8, reg.stats("a").orElseThrow().calls());
      assertThrows(UnsupportedOperationException.class, () -> snap.remove("a"));
      assertEquals(reg.residentBytes("a"), snap.get("a").residentBytes());
    }
  }

  @Test
  void callsRacingReloadsNeverFail() throws Exception {
    publish("a", model(0));
    publish("b", model(1));
    float[] v0 = expected(0);
    float[] v1 = expected(1);
    try (ModelRegistry reg = ModelRegistry.open(root)) {
      AtomicBoolean stop = new AtomicBoolean();
      AtomicLong calls = new AtomicLong();
      ConcurrentLinkedQueue<Throwable> errors = new ConcurrentLinkedQueue<>();
      List<Thread> threads = new ArrayList<>();
      for (int t = 0; t < 4; t++) {
        Thread th = new Thread(() -> {
          try {
            while (!stop.get()) {
              float[] a = reg.predict("a", X);
              if (!Arrays.equals(a, v0) && !Arrays.equals(a, v1)) {
                throw new AssertionError("a version never published: " + Arrays.toString(a));
              }
              reg.classify("b", X);
              calls.addAndGet(2);
            }
          } catch (Throwable e) {
            errors.add(e);
          }
        });
        th.start();
        threads.add(th);
      }
      int rejected = 0;
      Fixture[] versions = {model(0), model(1)};
      for (int i = 0; i < 60; i++) {
        publish("a", versions[i % 2]);
        if (i % 10 == 9) {
          flipByte(root.resolve("a/m.safetensors"), -1);
          assertThrows(Pd2JavaException.class, () -> reg.reload("a"));
          rejected++;
        } else {
          reg.reload("a");
        }
      }
      stop.set(true);
      for (Thread th : threads) {
        th.join(10_000);
      }
      assertTrue(errors.isEmpty(), () -> "failed calls: " + errors);
      assertTrue(calls.get() > 0);
      ModelRegistry.ModelStats s = reg.stats("a").orElseThrow();
      assertEquals(54, s.reloads());
      assertEquals(rejected, s.failures());
      assertEquals(calls.get() / 2, s.calls());
    }
  }

  @Test
  void theRegistryKeepsNoReferenceToAReplacedVersion() throws Exception {
    publish("a", model(0));
    try (ModelRegistry reg = ModelRegistry.open(root)) {
      WeakReference<Model> old = new WeakReference<>(reg.get("a"));
      publish("a", model(1));
      reg.reload("a");
      for (int i = 0; i < 20 && old.get() != null; i++) {
        System.gc();
        Thread.sleep(10);
      }
      assertNull(old.get(), "the replaced version is still reachable");
    }
  }

  @Test
  void theWatcherPicksUpPublishedAndReplacedFolders() throws Exception {
    publish("a", model(0));
    Events events = new Events();
    ModelRegistry reg = ModelRegistry.open(root,
        quiet(events).withWatch(true).withDebounceMillis(50));
    try {
      assertTrue(reg.watching());
      assertEquals(List.of("load a"), events.drain());

      Path tmp = Files.createDirectories(root.resolve(".b-tmp"));
      model(2).write(tmp); // written in a dot-folder: nothing happens
      Files.move(tmp, root.resolve("b"), StandardCopyOption.ATOMIC_MOVE);
      assertEquals("load b", events.await("load b"));
      assertArrayEquals(expected(2), reg.predict("b", X), 0f);

      Model a1 = reg.get("a");
      publish("a", model(4)); // renamed away, renamed in, old one deleted
      events.await("reload a");
      assertArrayEquals(expected(4), reg.predict("a", X), 0f);
      assertNotSame(a1, reg.get("a"));

      Model a2 = reg.get("a");
      Path bad = Files.createDirectories(root.resolve(".a-tmp"));
      model(9).write(bad);
      flipByte(bad.resolve("m.safetensors"), -1);
      replaceWith("a", bad); // a corrupt export published: refused, a2 keeps serving
      assertEquals("failure a WEIGHTS_CHECKSUM_MISMATCH serving",
          events.await("failure a WEIGHTS_CHECKSUM_MISMATCH"));
      assertSame(a2, reg.get("a"));

      // files changed in place: the reload happens once they are quiet
      Fixture fixed = model(9);
      Fixture.write(root.resolve("a"), fixed.manifest(), fixed.weights());
      events.await("reload a");
      assertArrayEquals(expected(9), reg.predict("a", X), 0f);

      deleteTree(root.resolve("b")); // vanished: reported, still serving
      assertEquals("failure b IO_ERROR serving", events.await("failure b"));
      assertArrayEquals(expected(2), reg.predict("b", X), 0f);
    } finally {
      reg.close();
    }
    assertFalse(reg.watching());
    assertThrows(IllegalStateException.class, () -> reg.get("a"));
    assertThrows(IllegalStateException.class, () -> reg.reload("a"));
    assertEquals(0, reg.residentBytes());
    reg.close(); // idempotent
  }

  @Test
  void aThrowingListenerIsCountedAndChangesNothing() throws IOException {
    publish("a", model(0));
    RegistryListener rude = new RegistryListener() {
      @Override
      public void onLoad(String id, Model model) {
        throw new IllegalStateException("listener bug");
      }
    };
    try (ModelRegistry reg = ModelRegistry.open(root,
        RegistryOptions.defaults().withListener(rude))) {
      assertEquals(List.of("a"), reg.ids());
      assertEquals(1, reg.listenerErrors());
    }
  }

  @Test
  void optionsAreImmutable() {
    RegistryOptions d = RegistryOptions.defaults();
    RegistryOptions w = d.withWatch(true).withDebounceMillis(10).withMemoryBudget(99)
        .withLoadThreads(3).withLoadOptions(LoadOptions.defaults().withSelfTest(false));
    assertFalse(d.watch());
    assertEquals(500, d.debounceMillis());
    assertEquals(0, d.memoryBudget());
    assertTrue(d.loadOptions().selfTest());
    assertTrue(w.watch());
    assertEquals(10, w.debounceMillis());
    assertEquals(99, w.memoryBudget());
    assertEquals(3, w.loadThreads());
    assertFalse(w.loadOptions().selfTest());
    assertSame(RegistryListener.NONE, d.listener());
    assertThrows(IllegalArgumentException.class, () -> d.withLoadThreads(0));
    assertThrows(IllegalArgumentException.class, () -> d.withDebounceMillis(-1));
  }
}
