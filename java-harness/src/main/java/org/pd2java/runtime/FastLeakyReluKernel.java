package org.pd2java.runtime;

/**
 * leaky_relu@1, fast path: {@code max(x, 0) + slope * min(x, 0)}, branch-free so HotSpot
 * vectorises it (the reference's {@code x >= 0 ? x : slope * x} is a data-dependent branch,
 * mispredicted about half the time on convolution outputs). Each term is exact for its sign of
 * x (one of the two is 0), so the value equals {@link LeakyReluKernel}'s for every input, NaN
 * included; only a -0.0 result (x = -0.0, or slope * x underflowing) comes out as +0.0.
 */
final class FastLeakyReluKernel extends ElementwiseKernel implements Epilogue.Activation {
  private final float slope;

  FastLeakyReluKernel(int[] shape, float slope) {
    super(shape);
    this.slope = slope;
  }

  @Override
  public void run(float[][] inputs, float[] out) {
    float[] in = inputs[0];
    float s = slope;
    for (int i = 0; i < out.length; i++) {
      float x = in[i];
      out[i] = Math.max(x, 0f) + s * Math.min(x, 0f);
    }
  }

  @Override
  public Epilogue.Act act() {
    return Epilogue.Act.leaky(slope);
  }
}
