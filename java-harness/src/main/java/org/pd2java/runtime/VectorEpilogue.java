package org.pd2java.runtime;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link Epilogue} over a run of freshly written, cache-hot output values, for the Vector API
 * kernels. A separate pass over L1-resident data rather than code in the microkernels: a method
 * that takes a vector as an argument and is not inlined makes HotSpot box the vector, which
 * allocates on every call.
 */
final class VectorEpilogue {
  private static final VectorSpecies<Float> S = VectorKernels.S;
  private static final int V = S.length();

  private VectorEpilogue() {}

  /**
   * {@code out[off, off + len)} through {@code e}; the residual, when {@code e} has one, is read
   * at the same indices of {@code res}.
   */
  static void apply(Epilogue e, float[] out, int off, int len, float[] res) {
    if (!e.residual() && !e.activation()) {
      return;
    }
    final float slope = e.slope(), lo = e.lo(), hi = e.hi();
    final boolean add = e.residual();
    final int mode = e.actMode();
    int i = 0;
    for (; i + V <= len; i += V) {
      FloatVector v = FloatVector.fromArray(S, out, off + i);
      if (add) {
        v = v.add(FloatVector.fromArray(S, res, off + i));
      }
      // the operations this activation needs (Epilogue.actMode), inline: see the class comment
      if ((mode & Epilogue.ZERO) != 0) {
        v = v.max(0f);
      } else if ((mode & Epilogue.LEAKY) != 0) {
        v = v.max(v.mul(slope));
      }
      if ((mode & Epilogue.LOWER) != 0) {
        v = v.max(lo);
      }
      if ((mode & Epilogue.UPPER) != 0) {
        v = v.min(hi);
      }
      v.intoArray(out, off + i);
    }
    for (; i < len; i++) {
      out[off + i] = e.apply(out[off + i], res, off + i);
    }
  }
}
