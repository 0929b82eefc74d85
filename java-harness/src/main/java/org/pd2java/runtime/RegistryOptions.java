package org.pd2java.runtime;

import java.util.Objects;

/**
 * Options for {@link ModelRegistry#open(java.nio.file.Path, RegistryOptions)}. Immutable: each
 * {@code with} method returns a new instance.
 *
 * <p>Defaults: {@link LoadOptions#defaults()} for every load (so the golden self-test runs), no
 * memory budget, no watcher, a 500 ms quiet period for the watcher, a no-op listener, and as
 * many loading threads at {@code open} as the JVM has processors.
 */
public final class RegistryOptions {
  private static final RegistryOptions DEFAULTS = new RegistryOptions(
      LoadOptions.defaults(), 0, false, 500, RegistryListener.NONE,
      Runtime.getRuntime().availableProcessors());

  private final LoadOptions loadOptions;
  private final long memoryBudgetBytes;
  private final boolean watch;
  private final long debounceMillis;
  private final RegistryListener listener;
  private final int loadThreads;

  private RegistryOptions(LoadOptions loadOptions, long memoryBudgetBytes, boolean watch,
      long debounceMillis, RegistryListener listener, int loadThreads) {
    this.loadOptions = loadOptions;
    this.memoryBudgetBytes = memoryBudgetBytes;
    this.watch = watch;
    this.debounceMillis = debounceMillis;
    this.listener = listener;
    this.loadThreads = loadThreads;
  }

  /** @return the defaults (see the class comment) */
  public static RegistryOptions defaults() {
    return DEFAULTS;
  }

  /**
   * The options every load and reload uses ({@link Model#load(java.nio.file.Path, LoadOptions)}).
   *
   * @param options load options
   * @return new options
   */
  public RegistryOptions withLoadOptions(LoadOptions options) {
    Objects.requireNonNull(options, "options");
    return new RegistryOptions(options, memoryBudgetBytes, watch, debounceMillis, listener,
        loadThreads);
  }

  /**
   * Caps the registry's resident weight bytes (the sum of {@link Model#weightBytes()} of the
   * models serving). A load or reload that would take the total past the budget is refused with
   * {@link ErrorCode#LIMIT_EXCEEDED} and the version already serving (if any) keeps serving.
   * During a reload the old and the new version are both in memory for a moment; the budget
   * counts the versions serving, not that transient.
   *
   * @param bytes the budget in bytes, or 0 for none (the default)
   * @return new options
   * @throws IllegalArgumentException if {@code bytes} is negative
   */
  public RegistryOptions withMemoryBudget(long bytes) {
    if (bytes < 0) {
      throw new IllegalArgumentException("memory budget is " + bytes + " bytes; must be >= 0");
    }
    return new RegistryOptions(loadOptions, bytes, watch, debounceMillis, listener, loadThreads);
  }

  /**
   * Starts a daemon thread that watches the root folder and every model folder ({@link
   * java.nio.file.WatchService}) and reloads a model once its folder has been quiet for {@link
   * #debounceMillis()} (see {@link ModelRegistry} for what it does and does not do).
   *
   * @param on whether to watch
   * @return new options
   */
  public RegistryOptions withWatch(boolean on) {
    return new RegistryOptions(loadOptions, memoryBudgetBytes, on, debounceMillis, listener,
        loadThreads);
  }

  /**
   * How long a model folder must see no change before the watcher reloads it.
   *
   * @param millis quiet period, >= 0 (default 500)
   * @return new options
   * @throws IllegalArgumentException if {@code millis} is negative
   */
  public RegistryOptions withDebounceMillis(long millis) {
    if (millis < 0) {
      throw new IllegalArgumentException("debounce is " + millis + " ms; must be >= 0");
    }
    return new RegistryOptions(loadOptions, memoryBudgetBytes, watch, millis, listener,
        loadThreads);
  }

  /**
   * Who hears about loads, reloads, removals and failures (the registry itself never logs).
   *
   * @param listener the listener
   * @return new options
   */
  public RegistryOptions withListener(RegistryListener listener) {
    Objects.requireNonNull(listener, "listener");
    return new RegistryOptions(loadOptions, memoryBudgetBytes, watch, debounceMillis, listener,
        loadThreads);
  }

  /**
   * How many threads {@link ModelRegistry#open} loads the models with (they are committed in id
   * order whatever order they finish in). Reloads run on the thread that asks for them.
   *
   * @param threads at least 1 (default: the number of processors)
   * @return new options
   * @throws IllegalArgumentException if {@code threads < 1}
   */
  public RegistryOptions withLoadThreads(int threads) {
    if (threads < 1) {
      throw new IllegalArgumentException("load threads is " + threads + "; must be >= 1");
    }
    return new RegistryOptions(loadOptions, memoryBudgetBytes, watch, debounceMillis, listener,
        threads);
  }

  /** @return the options of every load */
  public LoadOptions loadOptions() {
    return loadOptions;
  }

  /** @return the memory budget in bytes, 0 when there is none */
  public long memoryBudget() {
    return memoryBudgetBytes;
  }

  /** @return whether the watcher runs */
  public boolean watch() {
    return watch;
  }

  /** @return the watcher's quiet period in milliseconds */
  public long debounceMillis() {
    return debounceMillis;
  }

  /** @return the listener */
  public RegistryListener listener() {
    return listener;
  }

  /** @return threads used to load the models at open */
  public int loadThreads() {
    return loadThreads;
  }
}
