package org.pd2java.runtime;

/**
 * relu@1, fast path: {@code Math.max(x, 0)}, which HotSpot vectorises (the reference's
 * {@code x > 0 ? x : 0} is a data-dependent branch, mispredicted about half the time on
 * convolution outputs). Same value as {@link ReluKernel} for every non-NaN input, signed zeros
 * included; a NaN stays NaN here (as in PyTorch) where the reference gives 0. Model inputs are
 * never NaN (refused), so a NaN can only come from an overflow inside the network.
 */
final class FastReluKernel extends ElementwiseKernel implements Epilogue.Activation {
  FastReluKernel(int[] shape) {
    super(shape);
  }

  @Override
  public void run(float[][] inputs, float[] out) {
    float[] in = inputs[0];
    for (int i = 0; i < out.length; i++) {
      out[i] = Math.max(in[i], 0f);
    }
  }

  @Override
  public Epilogue.Act act() {
    return Epilogue.Act.RELU;
  }
}
