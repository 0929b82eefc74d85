package org.pd2java.runtime;

/**
 * Options for {@link Model#load(java.nio.file.Path, LoadOptions)}. Immutable: each {@code with}
 * method returns a new instance.
 */
public final class LoadOptions {
  private static final LoadOptions DEFAULTS = new LoadOptions(true, false);

  private final boolean selfTest;
  private final boolean referenceKernels;

  private LoadOptions(boolean selfTest, boolean referenceKernels) {
    this.selfTest = selfTest;
    this.referenceKernels = referenceKernels;
  }

  /** @return the defaults: golden self-test on, fast kernels where they exist */
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
    return new LoadOptions(on, referenceKernels);
  }

  /**
   * Uses only the clear reference kernels, never a fast path (for debugging a parity problem).
   *
   * @param on whether to force the reference kernels
   * @return new options
   */
  public LoadOptions withReferenceKernels(boolean on) {
    return new LoadOptions(selfTest, on);
  }

  /** @return whether the golden self-test runs at load */
  public boolean selfTest() {
    return selfTest;
  }

  /** @return whether only reference kernels are used */
  public boolean referenceKernels() {
    return referenceKernels;
  }
}
