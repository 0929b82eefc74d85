package org.pd2java.runtime;

import static java.nio.file.StandardWatchEventKinds.ENTRY_CREATE;
import static java.nio.file.StandardWatchEventKinds.ENTRY_DELETE;
import static java.nio.file.StandardWatchEventKinds.ENTRY_MODIFY;
import static java.nio.file.StandardWatchEventKinds.OVERFLOW;

import java.io.IOException;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.WatchEvent;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Many resident models, one per sub-folder of a root folder, each replaceable while serving.
 *
 * <p><b>Layout.</b> {@code root/<id>/} holds one export: exactly one {@code *.manifest.json}
 * (names starting with {@code .} are not counted) and the weights file it names (other files are
 * ignored). The folder's name is the model id. Entries of {@code root} whose name starts with
 * {@code .} are ignored, and so are plain files: publish a model by writing it into {@code
 * root/.<id>-tmp/} and renaming that folder to {@code root/<id>} (docs/REGISTRY.md gives the
 * procedure for replacing an id). A folder may be a symbolic link to a folder: it is resolved once
 * per load, so swapping the link reads either the old target or the new one, never both.
 *
 * <p><b>Loading.</b> {@link #open} loads every folder with {@link Model#load(Path, LoadOptions)}
 * (every check, the weights' size and SHA-256, and by default the golden self-test). A model that
 * fails is reported ({@link RegistryListener#onFailure}, {@link #failures()}, {@link #stats()})
 * and the others serve; {@code open} throws only when the root cannot be listed.
 *
 * <p><b>Reload.</b> {@link #reload} loads a folder again and swaps the new version in atomically.
 * Calls already running finish on the version they started with; later calls get the new one.
 * If the load fails for any reason (missing or half-written files, checksum or size mismatch,
 * failed self-test, memory budget, vanished folder) nothing changes: the version serving keeps
 * serving, the listener hears the failure and {@code reload} throws it, a {@link
 * Pd2JavaException} whose {@link Pd2JavaException#code() code} says why. A reload of an id not
 * yet loaded adds it. The registry never unloads a model on its own: {@link #remove} does.
 *
 * <p><b>Threads.</b> Every method is thread-safe. {@link #get}, {@link #classify} and {@link
 * #predict} take no lock: one {@link ConcurrentHashMap} lookup, one volatile read and a {@link
 * LongAdder} increment before the model runs. Loads of one id are serialised (one lock per id);
 * loads of different ids run in parallel, and only the final swap (with the memory accounting)
 * takes a registry-wide lock for a moment.
 *
 * <p><b>Memory.</b> {@link #residentBytes()} is the sum of {@link Model#weightBytes()} of the
 * versions serving; an optional budget ({@link RegistryOptions#withMemoryBudget}) refuses a load
 * that would exceed it with {@link ErrorCode#LIMIT_EXCEEDED}. A replaced version is garbage once
 * its last running call returns (the registry keeps no reference to it).
 *
 * <p><b>Watcher.</b> With {@link RegistryOptions#withWatch} a daemon thread watches the root and
 * every model folder ({@link WatchService}: inotify on Linux; on macOS the JDK polls, so changes
 * show up seconds later) and, once a folder has been quiet for {@link
 * RegistryOptions#debounceMillis()}, reloads it (or loads a new one). Events for names starting
 * with {@code .} in the root are ignored. A folder that vanished is reported as a failure and its
 * model keeps serving. Files copied in place may be picked up half-written: such a load fails
 * its size or checksum check and changes nothing, and the next change triggers another reload;
 * the rename procedure avoids the noise. {@link #close} stops the thread.
 *
 * <p>The registry never prints: it reports through its {@link RegistryListener}.
 */
public final class ModelRegistry implements AutoCloseable {
  /** A version serving: immutable. */
  private record Version(Model model, Path manifest, Instant loadedAt, long loadNanos) {}

  /** The outcome of reading a folder: a model or the error, never both. */
  private record Attempt(Model model, Path manifest, long nanos, Pd2JavaException error) {}

  /** One id: the version serving (or none) and its counters. Never removed before close. */
  private static final class Slot {
    final String id;
    /** Held for a whole load or removal of this id, so they happen one at a time, in order. */
    final ReentrantLock lock = new ReentrantLock();
    volatile Version current;
    final LongAdder calls = new LongAdder();
    // Written only with the lock held.
    volatile long loads;
    volatile long reloads;
    volatile long failures;
    volatile Pd2JavaException failing;
    volatile String lastError;

    Slot(String id) {
      this.id = id;
    }
  }

  /**
   * What the registry knows about one id, at one moment. Immutable.
   *
   * @param id the model id (its folder's name)
   * @param serving whether a version is serving
   * @param loads successful loads into an empty slot (at open, a new folder, after a remove)
   * @param reloads successful replacements of a version serving
   * @param failures refused loads and reloads
   * @param calls {@link ModelRegistry#classify} and {@link ModelRegistry#predict} calls on this
   *     id (calls made on a {@link Model} obtained with {@link ModelRegistry#get} are not seen)
   * @param residentBytes {@link Model#weightBytes()} of the version serving, 0 without one
   * @param loadedAt when the version serving was swapped in, or null
   * @param loadMillis how long loading the version serving took (read, verify, self-test), or 0
   * @param manifest the manifest the version serving was loaded from, or null
   * @param lastError the message of the latest refused load, or null if none ever failed (kept
   *     after a later success; {@link ModelRegistry#failures()} lists only current failures)
   */
  public record ModelStats(
      String id,
      boolean serving,
      long loads,
      long reloads,
      long failures,
      long calls,
      long residentBytes,
      Instant loadedAt,
      double loadMillis,
      Path manifest,
      String lastError) {}

  private final Path root;
  private final RegistryOptions options;
  private final RegistryListener listener;
  private final ConcurrentHashMap<String, Slot> slots = new ConcurrentHashMap<>();
  /** Guards the swap of a version, {@link #resident} and {@link #closed} changes. */
  private final Object commitLock = new Object();
  private volatile long resident;
  private volatile boolean closed;
  private final LongAdder listenerErrors = new LongAdder();
  private final Watcher watcher;

  private ModelRegistry(Path root, RegistryOptions options, Watcher watcher) {
    this.root = root;
    this.options = options;
    this.listener = options.listener();
    this.watcher = watcher;
  }

  /**
   * Opens a registry with the default options.
   *
   * @param root the folder holding one sub-folder per model
   * @return the registry, every loadable model serving
   * @throws Pd2JavaException IO_ERROR if {@code root} is not a readable folder
   */
  public static ModelRegistry open(Path root) {
    return open(root, RegistryOptions.defaults());
  }

  /**
   * Opens a registry: loads every model folder under {@code root} (in parallel, {@link
   * RegistryOptions#loadThreads()}; committed in id order, which decides who is refused if the
   * memory budget runs out), then starts the watcher if asked. A model that fails to load is
   * reported and skipped.
   *
   * @param root the folder holding one sub-folder per model
   * @param options registry options
   * @return the registry
   * @throws Pd2JavaException IO_ERROR if {@code root} is not a readable folder (or the watcher
   *     cannot watch it)
   */
  public static ModelRegistry open(Path root, RegistryOptions options) {
    Objects.requireNonNull(root, "root");
    Objects.requireNonNull(options, "options");
    Path dir = root.toAbsolutePath().normalize();
    if (!Files.isDirectory(dir)) {
      throw new Pd2JavaException(ErrorCode.IO_ERROR, String.valueOf(dir), null,
          "the registry root is not a folder (or does not exist)");
    }
    Watcher watcher = null;
    ModelRegistry registry;
    try {
      // Watch before listing, so that nothing published meanwhile is missed.
      if (options.watch()) {
        watcher = new Watcher(dir, options.debounceMillis());
      }
      registry = new ModelRegistry(dir, options, watcher);
      if (watcher != null) {
        watcher.registry = registry;
      }
      List<String> ids = registry.listFolders();
      if (watcher != null) {
        for (String id : ids) {
          watcher.watchFolder(id);
        }
      }
      registry.loadAll(ids);
    } catch (RuntimeException | Error e) {
      if (watcher != null) {
        watcher.stop();
      }
      throw e;
    }
    if (watcher != null) {
      watcher.start();
    }
    return registry;
  }

  /** Sub-folders of the root that are model folders, sorted. */
  private List<String> listFolders() {
    List<String> ids = new ArrayList<>();
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(root)) {
      for (Path p : ds) {
        String name = p.getFileName().toString();
        if (!name.startsWith(".") && Files.isDirectory(p)) {
          ids.add(name);
        }
      }
    } catch (IOException e) {
      throw new Pd2JavaException(ErrorCode.IO_ERROR, String.valueOf(root), null,
          "cannot list the registry root: " + e, e);
    }
    Collections.sort(ids);
    return ids;
  }

  /** Loads {@code ids} with the configured threads and commits them in order. */
  private void loadAll(List<String> ids) {
    int threads = Math.min(options.loadThreads(), ids.size());
    if (threads <= 1) {
      for (String id : ids) {
        loadAndCommit(id, null);
      }
      return;
    }
    AtomicInteger n = new AtomicInteger();
    ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
      Thread t = new Thread(r, "pd2java-registry-load-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
    try {
      List<Future<Attempt>> pending = new ArrayList<>();
      for (String id : ids) {
        pending.add(pool.submit(() -> attempt(id)));
      }
      for (int i = 0; i < ids.size(); i++) {
        Attempt a;
        try {
          a = pending.get(i).get();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new Pd2JavaException(ErrorCode.IO_ERROR, String.valueOf(root), null,
              "interrupted while loading the models", e);
        } catch (ExecutionException e) {
          throw new IllegalStateException("loading '" + ids.get(i) + "' failed", e.getCause());
        }
        pending.set(i, null); // a refused model is garbage as soon as it is committed
        loadAndCommit(ids.get(i), a);
      }
    } finally {
      pool.shutdownNow();
    }
  }

  /** A load (or the given attempt's result) committed, its failure reported and swallowed. */
  private void loadAndCommit(String id, Attempt done) {
    Slot slot = slots.computeIfAbsent(id, Slot::new);
    slot.lock.lock();
    try {
      commit(slot, done != null ? done : attempt(id));
    } catch (Pd2JavaException e) {
      // reported by commit
    } finally {
      slot.lock.unlock();
    }
  }

  // ---- serving ----------------------------------------------------------------------------

  /**
   * The version serving {@code id}. Keep it only for the call at hand: a later reload does not
   * change the {@code Model} you hold.
   *
   * @param id the model id
   * @return the model
   * @throws NoSuchElementException if no version of {@code id} is serving (the message says
   *     whether it was never seen, failed to load, or was removed)
   * @throws IllegalStateException if the registry is closed
   */
  public Model get(String id) {
    return serving(id, false).model();
  }

  /**
   * The version serving {@code id}, if any.
   *
   * @param id the model id
   * @return the model, or empty
   */
  public Optional<Model> find(String id) {
    Slot s = slots.get(id);
    Version v = s == null ? null : s.current;
    return v == null ? Optional.empty() : Optional.of(v.model());
  }

  /**
   * Classifies one sample with the version serving {@code id} ({@link Model#classify}), counted
   * in {@link ModelStats#calls()}.
   *
   * @param id the model id
   * @param image one sample, row-major
   * @return the prediction
   * @throws NoSuchElementException if no version of {@code id} is serving
   * @throws Pd2JavaException as {@link Model#classify} (INVALID_INPUT, NON_FINITE_OUTPUT)
   * @throws IllegalStateException if the registry is closed
   */
  public Prediction classify(String id, float[] image) {
    return serving(id, true).model().classify(image);
  }

  /**
   * Classifies a PRPD image with the version serving {@code id} ({@link Model#classify(Prpd)}:
   * below the pulse floor, a no-activity result), counted in {@link ModelStats#calls()}.
   *
   * @param id the model id
   * @param image the image, from {@link Prpd}
   * @return the prediction
   * @throws NoSuchElementException if no version of {@code id} is serving
   * @throws Pd2JavaException as {@link Model#classify(Prpd)}
   * @throws IllegalStateException if the registry is closed
   */
  public Prediction classify(String id, Prpd image) {
    return serving(id, true).model().classify(image);
  }

  /**
   * Runs one sample through the version serving {@code id} ({@link Model#predict}), counted in
   * {@link ModelStats#calls()}.
   *
   * @param id the model id
   * @param x one sample, row-major
   * @return the primary output
   * @throws NoSuchElementException if no version of {@code id} is serving
   * @throws Pd2JavaException as {@link Model#predict}
   * @throws IllegalStateException if the registry is closed
   */
  public float[] predict(String id, float[] x) {
    return serving(id, true).model().predict(x);
  }

  /** The version serving {@code id} (one map lookup, one volatile read), or the error for none. */
  private Version serving(String id, boolean countCall) {
    Slot s = slots.get(id);
    Version v;
    if (s == null || (v = s.current) == null) {
      throw missing(id, s);
    }
    if (countCall) {
      s.calls.increment();
    }
    return v;
  }

  private RuntimeException missing(String id, Slot s) {
    if (closed) {
      return new IllegalStateException("the model registry at " + root + " is closed");
    }
    if (s != null && s.failing != null) {
      return new NoSuchElementException("model '" + id + "' is not serving: its load failed: "
          + s.failing.getMessage());
    }
    if (s != null && s.loads > 0) {
      return new NoSuchElementException("model '" + id + "' was removed from the registry at "
          + root);
    }
    List<String> ids = ids();
    return new NoSuchElementException("no model '" + id + "' in the registry at " + root + " ("
        + ids.size() + " models serving" + (ids.isEmpty() ? "" : ", e.g. "
        + String.join(", ", ids.subList(0, Math.min(5, ids.size())))) + ")");
  }

  // ---- changing -------------------------------------------------------------------------

  /**
   * Loads {@code root/<id>/} again and swaps the new version in; an id not serving yet is added.
   * Calls running meanwhile finish on the version they started with. On failure nothing
   * changes: the version serving (if any) keeps serving, the listener's {@link
   * RegistryListener#onFailure} is called and the error is thrown. A folder that vanished is a
   * failure too (IO_ERROR): the model keeps serving until {@link #remove}.
   *
   * @param id the model id (a folder name, not starting with {@code .})
   * @return the version now serving
   * @throws Pd2JavaException why the load was refused (IO_ERROR for a missing folder, file or
   *     manifest, INVALID_MANIFEST for several manifests in the folder, LIMIT_EXCEEDED for the
   *     memory budget, any loader error: WEIGHTS_CHECKSUM_MISMATCH, SELF_TEST_FAILED, ...)
   * @throws IllegalArgumentException if {@code id} cannot be a folder name here
   * @throws IllegalStateException if the registry is closed
   */
  public Model reload(String id) {
    checkId(id);
    ensureOpen();
    Slot slot = slots.computeIfAbsent(id, Slot::new);
    slot.lock.lock();
    try {
      ensureOpen();
      return commit(slot, attempt(id));
    } finally {
      slot.lock.unlock();
    }
  }

  /**
   * Loads every folder of the root that has no version serving (new folders, and those whose
   * load failed before); their failures are reported as usual and skipped.
   *
   * @return the ids loaded, sorted
   * @throws Pd2JavaException IO_ERROR if the root cannot be listed
   * @throws IllegalStateException if the registry is closed
   */
  public List<String> scan() {
    ensureOpen();
    List<String> added = new ArrayList<>();
    for (String id : listFolders()) {
      Slot s = slots.get(id);
      if (s == null || s.current == null) {
        loadAndCommit(id, null);
        if (find(id).isPresent()) {
          added.add(id);
        }
      }
    }
    return List.copyOf(added);
  }

  /**
   * Unloads {@code id}: later calls throw {@link NoSuchElementException}, running calls finish.
   * Its folder is left alone (a reload or the watcher loads it again); its counters are kept.
   *
   * @param id the model id
   * @return whether a version was serving
   * @throws IllegalStateException if the registry is closed
   */
  public boolean remove(String id) {
    ensureOpen();
    Slot slot = slots.get(id);
    if (slot == null) {
      return false;
    }
    slot.lock.lock();
    try {
      Version old;
      synchronized (commitLock) {
        old = slot.current;
        if (old == null) {
          return false;
        }
        slot.current = null;
        resident -= old.model().weightBytes();
      }
      slot.failing = null;
      notifyListener(() -> listener.onRemove(id, old.model()));
      return true;
    } finally {
      slot.lock.unlock();
    }
  }

  /** Reads the folder of {@code id}: the model, or the typed error. Never throws. */
  private Attempt attempt(String id) {
    long t0 = System.nanoTime();
    Path manifest = null;
    try {
      manifest = manifestOf(id);
      Model model = Model.load(manifest, options.loadOptions());
      return new Attempt(model, manifest, System.nanoTime() - t0, null);
    } catch (Pd2JavaException e) {
      return new Attempt(null, manifest, System.nanoTime() - t0, e);
    } catch (RuntimeException e) { // a loader bug: still one model's failure, not the server's
      return new Attempt(null, manifest, System.nanoTime() - t0, new Pd2JavaException(
          ErrorCode.INVALID_MANIFEST, String.valueOf(manifest), null,
          "unexpected " + e + " while loading model '" + id + "'", e));
    }
  }

  /** The one manifest of {@code root/<id>}, its folder resolved (symbolic links followed). */
  private Path manifestOf(String id) {
    Path dir = root.resolve(id);
    Path real;
    try {
      real = dir.toRealPath();
    } catch (NoSuchFileException e) {
      throw new Pd2JavaException(ErrorCode.IO_ERROR, String.valueOf(dir), null,
          "the model folder of '" + id + "' does not exist", e);
    } catch (IOException e) {
      throw new Pd2JavaException(ErrorCode.IO_ERROR, String.valueOf(dir), null,
          "cannot resolve the model folder of '" + id + "': " + e, e);
    }
    if (!Files.isDirectory(real)) {
      throw new Pd2JavaException(ErrorCode.IO_ERROR, String.valueOf(dir), null,
          "the model path of '" + id + "' is not a folder");
    }
    List<String> found = new ArrayList<>();
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(real, "*.manifest.json")) {
      for (Path p : ds) {
        String name = p.getFileName().toString();
        if (!name.startsWith(".")) {
          found.add(name);
        }
      }
    } catch (IOException e) {
      throw new Pd2JavaException(ErrorCode.IO_ERROR, String.valueOf(dir), null,
          "cannot list the model folder of '" + id + "': " + e, e);
    }
    if (found.isEmpty()) {
      throw new Pd2JavaException(ErrorCode.IO_ERROR, String.valueOf(dir), null,
          "no *.manifest.json in the model folder of '" + id + "'");
    }
    if (found.size() > 1) {
      Collections.sort(found);
      throw new Pd2JavaException(ErrorCode.INVALID_MANIFEST, String.valueOf(dir), null,
          found.size() + " manifests (" + String.join(", ", found) + ") in the model folder of '"
              + id + "'; a model folder holds exactly one");
    }
    return real.resolve(found.get(0));
  }

  /**
   * Swaps the attempt's model in (or reports its failure). Called with the slot's lock held.
   *
   * @return the model now serving
   * @throws Pd2JavaException the failure, after reporting it
   */
  private Model commit(Slot slot, Attempt a) {
    if (a.error() != null) {
      throw fail(slot, a.error());
    }
    Model fresh = a.model();
    Version old;
    Pd2JavaException refusal = null;
    synchronized (commitLock) {
      if (closed) {
        throw new IllegalStateException("the model registry at " + root + " is closed");
      }
      old = slot.current;
      long oldBytes = old == null ? 0 : old.model().weightBytes();
      long after = resident - oldBytes + fresh.weightBytes();
      long budget = options.memoryBudget();
      if (budget > 0 && after > budget) {
        refusal = new Pd2JavaException(ErrorCode.LIMIT_EXCEEDED, String.valueOf(a.manifest()),
            null, "model '" + slot.id + "' needs " + fresh.weightBytes() + " weight bytes"
                + (old == null ? "" : " (replacing " + oldBytes + ")") + "; with the "
                + resident + " bytes resident that makes " + after
                + ", over the registry's memory budget of " + budget + " bytes"
                + (old == null ? "" : "; the version serving keeps serving"));
      } else {
        slot.current = new Version(fresh, a.manifest(), Instant.now(), a.nanos());
        resident = after;
      }
    }
    if (refusal != null) {
      throw fail(slot, refusal);
    }
    slot.failing = null;
    if (old == null) {
      slot.loads++;
      notifyListener(() -> listener.onLoad(slot.id, fresh));
    } else {
      slot.reloads++;
      Model previous = old.model();
      notifyListener(() -> listener.onReload(slot.id, previous, fresh));
    }
    return fresh;
  }

  /** Records and reports a refused load; returns the error for the caller to throw. */
  private Pd2JavaException fail(Slot slot, Pd2JavaException e) {
    slot.failures++;
    slot.failing = e;
    slot.lastError = e.getMessage();
    Version v = slot.current;
    Model serving = v == null ? null : v.model();
    notifyListener(() -> listener.onFailure(slot.id, e, serving));
    return e;
  }

  private void notifyListener(Runnable call) {
    try {
      call.run();
    } catch (RuntimeException e) {
      listenerErrors.increment();
    }
  }

  private void checkId(String id) {
    Objects.requireNonNull(id, "id");
    if (id.isEmpty() || id.startsWith(".") || id.indexOf('/') >= 0 || id.indexOf('\\') >= 0
        || id.indexOf('\0') >= 0 || !root.resolve(id).getParent().equals(root)) {
      throw new IllegalArgumentException("model id '" + id + "' is not a folder name of the "
          + "registry (empty, starting with '.', or holding a path separator)");
    }
  }

  private void ensureOpen() {
    if (closed) {
      throw new IllegalStateException("the model registry at " + root + " is closed");
    }
  }

  // ---- looking --------------------------------------------------------------------------

  /** @return the ids with a version serving, sorted */
  public List<String> ids() {
    List<String> ids = new ArrayList<>();
    for (Slot s : slots.values()) {
      if (s.current != null) {
        ids.add(s.id);
      }
    }
    Collections.sort(ids);
    return List.copyOf(ids);
  }

  /** @return the sum of {@link Model#weightBytes()} of the versions serving */
  public long residentBytes() {
    return resident;
  }

  /**
   * @param id the model id
   * @return {@link Model#weightBytes()} of the version serving {@code id}, 0 when none is
   */
  public long residentBytes(String id) {
    Slot s = slots.get(id);
    Version v = s == null ? null : s.current;
    return v == null ? 0 : v.model().weightBytes();
  }

  /**
   * The ids whose latest load or reload was refused, with the error. An id here may still be
   * serving an older version ({@link #find}); a later successful load removes it.
   *
   * @return id to error, sorted by id
   */
  public Map<String, Pd2JavaException> failures() {
    Map<String, Pd2JavaException> out = new TreeMap<>();
    for (Slot s : slots.values()) {
      Pd2JavaException e = s.failing;
      if (e != null) {
        out.put(s.id, e);
      }
    }
    return Collections.unmodifiableMap(out);
  }

  /**
   * A snapshot of every id the registry has seen (serving, failed or removed).
   *
   * @return id to stats, sorted by id
   */
  public Map<String, ModelStats> stats() {
    Map<String, ModelStats> sorted = new TreeMap<>();
    for (Slot s : slots.values()) {
      sorted.put(s.id, snapshot(s));
    }
    return Collections.unmodifiableMap(new LinkedHashMap<>(sorted));
  }

  /**
   * @param id the model id
   * @return a snapshot of its stats, or empty if the registry has never seen it
   */
  public Optional<ModelStats> stats(String id) {
    Slot s = slots.get(id);
    return s == null ? Optional.empty() : Optional.of(snapshot(s));
  }

  private static ModelStats snapshot(Slot s) {
    Version v = s.current;
    return new ModelStats(s.id, v != null, s.loads, s.reloads, s.failures, s.calls.sum(),
        v == null ? 0 : v.model().weightBytes(), v == null ? null : v.loadedAt(),
        v == null ? 0 : v.loadNanos() / 1e6, v == null ? null : v.manifest(), s.lastError);
  }

  /** @return how many listener calls threw (the exceptions are dropped) */
  public long listenerErrors() {
    return listenerErrors.sum();
  }

  /** @return the root folder (absolute) */
  public Path root() {
    return root;
  }

  /** @return the options the registry was opened with */
  public RegistryOptions options() {
    return options;
  }

  /** @return whether the watcher thread is running */
  public boolean watching() {
    return watcher != null && watcher.thread.isAlive();
  }

  /**
   * Stops the watcher (waiting for a reload it is running) and unloads every model; later calls
   * throw {@link IllegalStateException}. Running calls finish. Idempotent.
   */
  @Override
  public void close() {
    synchronized (commitLock) {
      if (closed) {
        return;
      }
      closed = true;
    }
    if (watcher != null) {
      watcher.stop();
    }
    synchronized (commitLock) {
      for (Slot s : slots.values()) {
        s.current = null;
      }
      resident = 0;
    }
    slots.clear();
  }

  @Override
  public String toString() {
    return "ModelRegistry[" + root + ", " + ids().size() + " models, " + resident
        + " weight bytes" + (watcher != null ? ", watching" : "") + (closed ? ", closed" : "")
        + "]";
  }

  // ---- watcher ----------------------------------------------------------------------------

  /**
   * Watches the root and each model folder; reloads a folder once it has been quiet for the
   * debounce period. Only its own thread touches its maps once started.
   */
  private static final class Watcher implements Runnable {
    final Path root;
    final long debounceNanos;
    final WatchService service;
    final WatchKey rootKey;
    final Map<WatchKey, String> idOfKey = new HashMap<>();
    final Map<String, WatchKey> keyOfId = new HashMap<>();
    /** Id to the time of its latest event. */
    final Map<String, Long> pending = new HashMap<>();
    final Thread thread;
    ModelRegistry registry;

    Watcher(Path root, long debounceMillis) {
      this.root = root;
      this.debounceNanos = TimeUnit.MILLISECONDS.toNanos(debounceMillis);
      try {
        this.service = root.getFileSystem().newWatchService();
      } catch (IOException e) {
        throw new Pd2JavaException(ErrorCode.IO_ERROR, String.valueOf(root), null,
            "cannot create a watch service: " + e, e);
      }
      try {
        this.rootKey = root.register(service, ENTRY_CREATE, ENTRY_DELETE, ENTRY_MODIFY);
      } catch (IOException e) {
        stop();
        throw new Pd2JavaException(ErrorCode.IO_ERROR, String.valueOf(root), null,
            "cannot watch the registry root: " + e, e);
      }
      this.thread = new Thread(this, "pd2java-registry-watcher");
      thread.setDaemon(true);
    }

    void start() {
      thread.start();
    }

    /** Closes the watch service (which wakes the thread) and waits for the thread to end. */
    void stop() {
      try {
        service.close();
      } catch (IOException e) {
        // nothing more can be done; the thread still sees the service closed
      }
      if (thread != null && thread.isAlive() && Thread.currentThread() != thread) {
        boolean interrupted = false;
        while (thread.isAlive()) {
          try {
            thread.join();
          } catch (InterruptedException e) {
            interrupted = true;
          }
        }
        if (interrupted) {
          Thread.currentThread().interrupt();
        }
      }
    }

    /** Watches {@code root/<id>} (again: a folder renamed into place is a new one). */
    void watchFolder(String id) {
      try {
        WatchKey key = root.resolve(id).register(service, ENTRY_CREATE, ENTRY_DELETE,
            ENTRY_MODIFY);
        WatchKey old = keyOfId.put(id, key);
        if (old != null && old != key) {
          old.cancel();
          idOfKey.remove(old);
        }
        idOfKey.put(key, id);
      } catch (IOException | ClosedWatchServiceException e) {
        // gone or not a folder: the load reports it
      }
    }

    @Override
    public void run() {
      try {
        while (!registry.closed) {
          long wait = nextDueNanos();
          WatchKey key = wait == Long.MAX_VALUE ? service.take()
              : service.poll(wait, TimeUnit.NANOSECONDS);
          while (key != null) {
            events(key);
            key = service.poll();
          }
          reloadQuiet();
        }
      } catch (ClosedWatchServiceException | InterruptedException e) {
        // closing
      }
    }

    private long nextDueNanos() {
      if (pending.isEmpty()) {
        return Long.MAX_VALUE;
      }
      long now = System.nanoTime();
      long next = Long.MAX_VALUE;
      for (long t : pending.values()) {
        next = Math.min(next, Math.max(0, t + debounceNanos - now));
      }
      return next;
    }

    private void events(WatchKey key) {
      long now = System.nanoTime();
      String id = idOfKey.get(key);
      for (WatchEvent<?> ev : key.pollEvents()) {
        if (ev.kind() == OVERFLOW) { // events were lost: look at everything
          for (String known : registry.slots.keySet()) {
            pending.put(known, now);
          }
          try {
            for (String folder : registry.listFolders()) {
              pending.put(folder, now);
            }
          } catch (Pd2JavaException e) {
            // the root is unreadable now; the known ids are pending anyway
          }
        } else if (key == rootKey) {
          String name = String.valueOf(ev.context());
          if (!name.startsWith(".")) {
            pending.put(name, now);
          }
        } else if (id != null && keyOfId.get(id) == key) {
          pending.put(id, now); // events of a folder renamed away are ignored
        }
      }
      if (!key.reset()) {
        idOfKey.remove(key);
        if (id != null && keyOfId.get(id) == key) {
          keyOfId.remove(id);
        }
      }
    }

    /** Reloads every id quiet for the debounce period, in id order. */
    private void reloadQuiet() {
      long now = System.nanoTime();
      List<String> due = new ArrayList<>();
      for (Iterator<Map.Entry<String, Long>> it = pending.entrySet().iterator(); it.hasNext(); ) {
        Map.Entry<String, Long> e = it.next();
        if (now - e.getValue() >= debounceNanos) {
          due.add(e.getKey());
          it.remove();
        }
      }
      Collections.sort(due);
      for (String id : due) {
        if (registry.closed) {
          return;
        }
        refresh(id);
      }
    }

    private void refresh(String id) {
      Path dir = root.resolve(id);
      if (!Files.isDirectory(dir)) {
        registry.vanished(id, dir);
        return;
      }
      watchFolder(id);
      try {
        registry.reload(id);
      } catch (Pd2JavaException | IllegalStateException | IllegalArgumentException e) {
        // reported to the listener (or the registry is closing)
      }
    }
  }

  /** The watcher saw the folder of a serving id disappear: reported, the model keeps serving. */
  private void vanished(String id, Path dir) {
    Slot slot = slots.get(id);
    if (slot == null || slot.current == null) {
      return;
    }
    slot.lock.lock();
    try {
      Version v = slot.current;
      if (v != null && !closed && !Files.isDirectory(dir)) {
        fail(slot, new Pd2JavaException(ErrorCode.IO_ERROR, String.valueOf(dir), null,
            "the model folder of '" + id + "' is gone; the version loaded at " + v.loadedAt()
                + " keeps serving (ModelRegistry.remove unloads it)"));
      }
    } finally {
      slot.lock.unlock();
    }
  }
}
