package org.pd2java.runtime;

/**
 * Hears what a {@link ModelRegistry} does, so the application can log it with its own framework
 * (the runtime never prints). Every method has a no-op default: override the ones you need.
 *
 * <p>Calls for one id come one at a time and in order (they are made while that id's load lock
 * is held), on the thread that did the work: the caller of {@code open} (which commits what its
 * loading threads loaded), the caller of {@code reload}, {@code scan} or {@code remove}, or the
 * watcher thread. Keep them short; never call {@code reload} or {@code remove} of the same id
 * from inside one. An exception thrown by a listener is caught and counted ({@link
 * ModelRegistry#listenerErrors()}); it changes nothing in the registry.
 *
 * <p>The models passed are the registry's own: hold an old version only through a {@link
 * java.lang.ref.WeakReference} if you want it to be garbage collected.
 */
public interface RegistryListener {
  /** A listener that ignores everything. */
  RegistryListener NONE = new RegistryListener() {};

  /**
   * A model was loaded for an id that had no version serving (at open, or a new folder).
   *
   * @param id the model id (its folder's name)
   * @param model the model now serving
   */
  default void onLoad(String id, Model model) {}

  /**
   * A new version replaced the one serving; calls already running finish on {@code previous}.
   *
   * @param id the model id
   * @param previous the version replaced
   * @param current the version now serving
   */
  default void onReload(String id, Model previous, Model current) {}

  /**
   * A load or reload was refused (invalid or half-written files, checksum mismatch, failed
   * self-test, memory budget, vanished folder). Nothing changed: {@code serving} is the version
   * that keeps serving, or null when the id has none.
   *
   * @param id the model id
   * @param error why, with its {@link ErrorCode}
   * @param serving the version still serving, or null
   */
  default void onFailure(String id, Pd2JavaException error, Model serving) {}

  /**
   * {@link ModelRegistry#remove(String)} unloaded a model.
   *
   * @param id the model id
   * @param removed the version that stopped serving
   */
  default void onRemove(String id, Model removed) {}
}
