package org.pd2java.runtime;

/**
 * The working memory of one {@link Model}'s calls: the value buffers of its buffer plan, the
 * kernels' scratch rows (sized at load for the largest need of any node) and each step's input
 * array, all wired once. {@link Model#predictInto} and {@link Model#predictAllInto} run in it
 * and allocate nothing.
 *
 * <p><b>Not thread-safe</b>: a call writes every buffer, so a workspace serves one call at a
 * time. Give each thread its own (the {@link Model} itself is shared): {@code Workspace ws =
 * model.newWorkspace()} once per thread and model, then {@code model.predictInto(x, out, ws)}
 * for every sample. A workspace belongs to the model that made it; another model refuses it.
 * It holds {@link #floats()} floats and nothing else, so dropping it frees them.
 */
public final class Workspace {
  final Model model;
  /** Value buffers, by the plan's buffer index. */
  final float[][] buffers;
  /** Scratch rows shared by every step (each kernel uses its first rows). */
  final float[][] scratch;
  /** Per step: its inputs' buffers, in node input order, and its output buffer. */
  final float[][][] ins;
  final float[][] outs;

  Workspace(Model model, int[] bufferSizes, int[] scratchRows, int[][] stepInputs,
      int[] stepOutputs) {
    this.model = model;
    this.buffers = Kernel.newScratch(bufferSizes);
    this.scratch = Kernel.newScratch(scratchRows);
    this.ins = new float[stepInputs.length][][];
    this.outs = new float[stepInputs.length][];
    for (int s = 0; s < stepInputs.length; s++) {
      ins[s] = new float[stepInputs[s].length][];
      for (int i = 0; i < stepInputs[s].length; i++) {
        ins[s][i] = buffers[stepInputs[s][i]];
      }
      outs[s] = buffers[stepOutputs[s]];
    }
  }

  /** @return the floats this workspace holds (value buffers plus scratch rows) */
  public long floats() {
    long total = 0;
    for (float[] b : buffers) {
      total += b.length;
    }
    for (float[] r : scratch) {
      total += r.length;
    }
    return total;
  }

  /** @return the model this workspace runs */
  public Model model() {
    return model;
  }
}
