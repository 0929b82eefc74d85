package org.pd2java.runtime;

/**
 * Options for {@link Model#load(java.nio.file.Path, LoadOptions)}. Immutable: each {@code with}
 * method returns a new instance.
 */
public final class LoadOptions {
  private static final LoadOptions DEFAULTS = new LoadOptions(true);

  private final boolean selfTest;

  private LoadOptions(boolean selfTest) {
    this.selfTest = selfTest;
  }

  /** @return the defaults: golden self-test on */
  public static LoadOptions defaults() {
    return DEFAULTS;
  }

  /**
   * Switches the load-time golden self-test on or off. Off skips only running the model on the
   * golden vectors; their tensors are still validated.
   *
   * @param on whether to run the self-test
   * @return new options
   */
  public LoadOptions withSelfTest(boolean on) {
    return new LoadOptions(on);
  }

  /** @return whether the golden self-test runs at load */
  public boolean selfTest() {
    return selfTest;
  }
}
