package org.pd2java.runtime;

import java.util.Optional;

/**
 * Which kernel family this JVM runs, decided once at class initialisation.
 *
 * <p>The Vector API kernels ({@code VectorKernels}, built on {@code jdk.incubator.vector}) are
 * used only when the JVM was started with {@code --add-modules jdk.incubator.vector}, the
 * preferred float vector is at least 128 bits wide, and the system property {@code
 * pd2java.vector} is not {@code false}. The class is then loaded by name, so a JVM without the
 * module never links against it: the jar runs everywhere, and without the flag the scalar kernels
 * run exactly as before. (Lucene chooses its Panama vectorization provider the same way.)
 */
final class Kernels {
  private static final String VECTOR_MODULE = "jdk.incubator.vector";
  private static final KernelProvider VECTOR;
  private static final String WHY_SCALAR;

  static {
    KernelProvider provider = null;
    String why;
    Optional<Module> module = ModuleLayer.boot().findModule(VECTOR_MODULE);
    if ("false".equalsIgnoreCase(System.getProperty("pd2java.vector"))) {
      why = "the system property pd2java.vector is false";
    } else if (module.isEmpty()) {
      why = VECTOR_MODULE + " is not enabled (start the JVM with --add-modules "
          + VECTOR_MODULE + " for the Vector API kernels)";
    } else {
      try {
        provider = (KernelProvider) Class.forName("org.pd2java.runtime.VectorKernels")
            .getDeclaredConstructor().newInstance();
        why = null;
      } catch (ReflectiveOperationException | LinkageError | UnsupportedOperationException e) {
        why = "the Vector API kernels could not start: " + e;
      }
    }
    VECTOR = provider;
    WHY_SCALAR = why;
  }

  private Kernels() {}

  /** @return the Vector API provider, or null when this JVM runs the scalar kernels */
  static KernelProvider vector() {
    return VECTOR;
  }

  /** @return the family a model loaded with these options runs, and why ({@link Model#kernelInfo()}) */
  static String info(LoadOptions options) {
    if (options.referenceKernels()) {
      return "reference: LoadOptions.withReferenceKernels(true)";
    }
    if (VECTOR != null && options.vectorKernels()) {
      return "vector: " + VECTOR.info();
    }
    return "scalar: " + (VECTOR != null ? "LoadOptions.withVectorKernels(false)" : WHY_SCALAR);
  }
}
