package org.pd2java.runtime;

/**
 * A compiled node: shapes resolved, attributes checked, weights held as {@code float[]}. Built
 * once at load by the op's factory (see {@link OpRegistry}) and then only run.
 *
 * <p>Implementations are immutable and thread-safe: {@link #run} writes only to {@code output},
 * which the caller allocates, and never to the inputs or the kernel's own fields.
 */
public interface Kernel {
  /** @return the per-sample output shape */
  int[] outputShape();

  /**
   * Computes the node for one sample.
   *
   * @param inputs the input values, each a flat row-major per-sample array, in node input order
   * @param output where to write the result (length = product of {@link #outputShape()}); its
   *     previous contents are ignored
   */
  void run(float[][] inputs, float[] output);
}
