package org.pd2java.runtime;

/**
 * conv2d@1 (and conv1d@1) with a compressed weight (F16, or I8 with per-output-channel scales),
 * which stays compressed in memory, for the geometries {@link Conv2dKernel} (the reference) runs:
 * grouped convolutions, and every convolution with {@link LoadOptions#withReferenceKernels}. The
 * reference's loops, each output channel's weights ({@code in_channels/groups x kh x kw}) first
 * dequantised into a per-call scratch row: the result is bit-identical to {@link Conv2dKernel} on
 * the dequantised weights (JUnit checks it).
 */
final class PackedConv2dKernel implements Kernel {
  private final Window2d g;
  private final WeightTensor weight;
  private final float[] bias;
  // Per kernel column kx: the range [owLo, owHi) of output columns whose input column is inside.
  private final int[] owLo, owHi;

  PackedConv2dKernel(Window2d g, WeightTensor weight, float[] bias) {
    this.g = g;
    this.weight = weight;
    this.bias = bias;
    int[][] range = g.validOutputColumns();
    this.owLo = range[0];
    this.owHi = range[1];
  }

  @Override
  public int[] outputShape() {
    return g.outputShape();
  }

  @Override
  public void run(float[][] inputs, float[] out) {
    float[] row = new float[g.c / g.groups * g.kh * g.kw]; // channel oc's weights, dequantised
    for (int oc = 0; oc < g.cout; oc++) {
      weight.row(oc, row, 0);
      Conv2dKernel.outputChannel(g, owLo, owHi, inputs[0], out, oc, row, 0, bias);
    }
  }
}
