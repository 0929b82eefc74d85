package org.pd2java.runtime;

/**
 * Options for {@link Model#load(java.nio.file.Path, LoadOptions)}. Immutable: each {@code with}
 * method returns a new instance.
 */
public final class LoadOptions {
  private static final LoadOptions DEFAULTS = new LoadOptions(true, false, true);

  private final boolean selfTest;
  private final boolean referenceKernels;
  private final boolean vectorKernels;

  private LoadOptions(boolean selfTest, boolean referenceKernels, boolean vectorKernels) {
    this.selfTest = selfTest;
    this.referenceKernels = referenceKernels;
    this.vectorKernels = vectorKernels;
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
    return new LoadOptions(on, referenceKernels, vectorKernels);
  }

  /**
   * Uses only the clear reference kernels, never a fast path (for debugging a parity problem).
   *
   * @param on whether to force the reference kernels
   * @return new options
   */
  public LoadOptions withReferenceKernels(boolean on) {
    return new LoadOptions(selfTest, on, vectorKernels);
  }

  /**
   * Allows or forbids the Vector API kernels. They run only when the JVM was started with {@code
   * --add-modules jdk.incubator.vector} (see {@link Model#kernelInfo()}); this option can only
   * switch them off, e.g. to compare both paths in one JVM. On by default.
   *
   * @param on whether the Vector API kernels may be used
   * @return new options
   */
  public LoadOptions withVectorKernels(boolean on) {
    return new LoadOptions(selfTest, referenceKernels, on);
  }

  /** @return whether the Vector API kernels may be used (when the JVM has the module) */
  public boolean vectorKernels() {
    return vectorKernels;
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
