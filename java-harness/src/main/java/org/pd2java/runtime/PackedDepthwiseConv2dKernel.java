package org.pd2java.runtime;

/**
 * conv2d@1 (and conv1d@1), depthwise, with a compressed weight (F16, or I8 with per-output-channel
 * scales), which stays compressed in memory. A depthwise weight is small ({@code out_channels x
 * kh x kw} values, against {@code out_channels x out_h x out_w} outputs), so each call dequantises
 * all of it into per-call scratch and runs {@link DepthwiseConv2dKernel} on it: the same paths
 * and arithmetic, so the result is bit-identical to that kernel on the dequantised weights.
 */
final class PackedDepthwiseConv2dKernel implements Kernel {
  private final Window2d g;
  private final WeightTensor weight;
  private final float[] bias;

  PackedDepthwiseConv2dKernel(Window2d g, WeightTensor weight, float[] bias) {
    this.g = g;
    this.weight = weight;
    this.bias = bias;
  }

  @Override
  public int[] outputShape() {
    return g.outputShape();
  }

  @Override
  public void run(float[][] inputs, float[] out) {
    new DepthwiseConv2dKernel(g, weight.toFloats(), bias).run(inputs, out);
  }
}
