package org.pd2java.runtime;

/**
 * A compiled node: shapes resolved, attributes checked, weights held as {@code float[]}. Built
 * once at load by the op's factory (see {@link OpRegistry}) and then only run.
 *
 * <p>Implementations are immutable and thread-safe: {@link #run} writes only to {@code output}
 * (and to the caller's {@code scratch}), never to the inputs or the kernel's own fields.
 *
 * <p><b>Scratch.</b> A kernel that needs working memory beyond its output declares it once, at
 * load, as {@link #scratchRows()}: the lengths of the separate {@code float[]} rows it uses. The
 * caller (a {@link Workspace}) passes rows at least that long to {@link #run(float[][], float[],
 * float[][])}, so a steady-state call allocates nothing. Rows, not one flat array, because the
 * vectorised loops ({@link Conv2dGemmKernel}) need every array they touch indexed by the same
 * expression from 0. Scratch contents are undefined on entry: a kernel zeroes what it relies on.
 */
interface Kernel {
  /** No scratch. */
  int[] NO_SCRATCH = new int[0];

  /** @return the per-sample output shape */
  int[] outputShape();

  /**
   * Computes the node for one sample, allocating whatever scratch it needs.
   *
   * @param inputs the input values, each a flat row-major per-sample array, in node input order
   * @param output where to write the result (length = product of {@link #outputShape()}); its
   *     previous contents are ignored
   */
  void run(float[][] inputs, float[] output);

  /**
   * The scratch rows {@link #run(float[][], float[], float[][])} uses: row {@code r} must hold at
   * least {@code scratchRows()[r]} floats. Fixed at load; the caller must not modify the array.
   *
   * @return row lengths (empty when the kernel needs no scratch)
   */
  default int[] scratchRows() {
    return NO_SCRATCH;
  }

  /**
   * Computes the node for one sample in caller-owned scratch (see {@link #scratchRows()}).
   *
   * @param inputs as {@link #run(float[][], float[])}
   * @param output as {@link #run(float[][], float[])}
   * @param scratch at least {@code scratchRows().length} rows, row r at least {@code
   *     scratchRows()[r]} long; contents undefined on entry and exit
   */
  default void run(float[][] inputs, float[] output, float[][] scratch) {
    run(inputs, output);
  }

  /** Rows shaped as {@code rows} (for a kernel's allocating {@link #run(float[][], float[])}). */
  static float[][] newScratch(int[] rows) {
    float[][] s = new float[rows.length][];
    for (int r = 0; r < rows.length; r++) {
      s[r] = new float[rows[r]];
    }
    return s;
  }
}
