package org.pd2java.runtime;

/**
 * A family of fast kernels for the hot ops, chosen once per JVM ({@link Kernels#vector()}). Each
 * method returns a kernel for the given geometry and weights, or {@code null} when this provider
 * has none for it; the caller then uses the scalar kernels. A provider's kernels must give the
 * scalar reference's results within the parity tolerance (1e-5 absolute plus 1e-4 relative),
 * keep the weight compressed when it is, take all working memory from {@link
 * Kernel#scratchRows()}, and be immutable like every kernel.
 */
interface KernelProvider {
  /** @return a one-line description for {@link Model#kernelInfo()} */
  String info();

  /** A dense convolution ({@code groups == 1}), or null. */
  Kernel denseConv(Window2d g, WeightTensor weight, float[] bias);

  /** A depthwise convolution ({@code groups == in_channels > 1}), or null. */
  Kernel depthwiseConv(Window2d g, WeightTensor weight, float[] bias);

  /** {@code y = W x + b} on a 1-D value, or null. */
  Kernel linear(int in, int out, WeightTensor weight, float[] bias);
}
