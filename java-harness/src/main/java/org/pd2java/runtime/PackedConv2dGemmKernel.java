package org.pd2java.runtime;

import java.util.Arrays;

/**
 * conv2d@1 (and conv1d@1), dense, with a compressed weight (F16, or I8 with per-output-channel
 * scales), which stays compressed in memory. Each call runs {@link Conv2dGemmKernel} block by
 * block of output channels: a block's weights are dequantised into per-call scratch, the float32
 * kernel computes that block's channels, and they are copied into place. The blocks hold a
 * multiple of 4 channels, as the float32 kernel's own register blocks do, so every channel is
 * computed with the same operations in the same order: the result is bit-identical to {@link
 * Conv2dGemmKernel} on the dequantised weights (JUnit checks it).
 *
 * <p>Block size: about {@code out_h * out_w} channels (at least {@link #MIN_BLOCK}, at most all
 * of them), so a block's dequantised weights ({@code block x in_channels*kh*kw} floats) are no
 * larger than the im2col scratch the float32 kernel allocates per call anyway ({@code
 * in_channels*kh*kw x out_h*out_w}), while the im2col, repeated once per block, costs at most
 * {@code 1 / block} of the multiply-adds. Large feature maps run as one block.
 *
 * <p>Why not a dtype test inside the float32 kernel, dequantising per tile: HotSpot 17 stopped
 * vectorising that kernel's inner loop (about three times slower, measured on the PRPD LeNet)
 * with any change to its {@code run} method, even one extra branch or the body moved into a
 * method taking the weight array. Reusing the kernel unchanged keeps its compiled code.
 */
final class PackedConv2dGemmKernel implements Kernel {
  /** Fewest output channels in a block (unless the layer has fewer): bounds the im2col repeats. */
  static final int MIN_BLOCK = 64;

  private final Window2d g;
  private final WeightTensor weight;
  private final float[] bias;
  /** Output channels per block: a multiple of 4, or all of them. */
  private final int block;
  /** Each block's window (its output channel count) and bias (null without bias). */
  private final Window2d[] blockWindow;
  private final float[][] blockBias;

  PackedConv2dGemmKernel(Window2d g, WeightTensor weight, float[] bias) {
    this.g = g;
    this.weight = weight;
    this.bias = bias;
    int n = g.ho * g.wo;
    int want = Math.max(MIN_BLOCK, (n + 3) / 4 * 4);
    this.block = want >= g.cout ? g.cout : want;
    int blocks = (g.cout + block - 1) / block;
    this.blockWindow = new Window2d[blocks];
    this.blockBias = new float[blocks][];
    for (int b = 0; b < blocks; b++) {
      int c0 = b * block;
      int cb = Math.min(block, g.cout - c0);
      blockWindow[b] = g.withOutputChannels(cb);
      blockBias[b] = bias == null ? null : Arrays.copyOfRange(bias, c0, c0 + cb);
    }
  }

  @Override
  public int[] outputShape() {
    return g.outputShape();
  }

  @Override
  public void run(float[][] inputs, float[] out) {
    if (blockWindow.length == 1) {
      new Conv2dGemmKernel(g, weight.toFloats(), bias).run(inputs, out);
      return;
    }
    int n = g.ho * g.wo;
    float[] w = new float[block * weight.rowLength];
    float[] y = new float[block * n];
    for (int b = 0; b < blockWindow.length; b++) {
      int c0 = b * block;
      int cb = blockWindow[b].cout;
      weight.rows(c0, cb, w);
      new Conv2dGemmKernel(blockWindow[b], w, blockBias[b]).run(inputs, y);
      System.arraycopy(y, 0, out, c0 * n, cb * n);
    }
  }
}
