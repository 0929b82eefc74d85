package org.pd2java.runtime;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The Vector API kernels ({@code jdk.incubator.vector}). Loaded by name from {@link Kernels} and
 * only in a JVM started with {@code --add-modules jdk.incubator.vector}; nothing else in the jar
 * refers to this class or to the module.
 */
final class VectorKernels implements KernelProvider {
  static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

  /** Refuses to start where the preferred float vector has fewer than 4 lanes (no real SIMD). */
  VectorKernels() {
    if (S.length() < 4) {
      throw new UnsupportedOperationException(
          "preferred float vector is " + S.vectorBitSize() + " bits");
    }
  }

  @Override
  public String info() {
    return "jdk.incubator.vector, " + S.vectorBitSize() + "-bit float x" + S.length();
  }

  @Override
  public Kernel denseConv(Window2d g, WeightTensor weight, float[] bias) {
    // im2col must stay one Java array (as the scalar GEMM's rule)
    long b = (long) g.c * g.kh * g.kw * g.ho * g.wo;
    return b > FormatRules.MAX_VALUE_ELEMENTS ? null : VectorConvKernel.of(g, weight, bias);
  }

  @Override
  public Kernel depthwiseConv(Window2d g, WeightTensor weight, float[] bias) {
    long wp = g.pw + g.w + g.pwEnd;
    long hq = (g.ph + g.h + g.phEnd + g.sh - 1) / g.sh;
    long plane = VectorDepthwiseKernel.planeLen(g, hq, wp);
    long sweep = g.ho * wp + S.length();
    return Math.max(plane, sweep) > FormatRules.MAX_VALUE_ELEMENTS ? null
        : new VectorDepthwiseKernel(g, weight, bias, Epilogue.NONE);
  }

  @Override
  public Kernel linear(int in, int out, WeightTensor weight, float[] bias) {
    return new VectorLinearKernel(in, out, weight, bias, Epilogue.NONE);
  }
}
