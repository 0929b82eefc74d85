package org.pd2java.runtime;

import java.util.Arrays;

/**
 * conv2d@1: 2-D cross-correlation with zero padding, any groups (depthwise included), stride and
 * dilation, optional bias; as torch.nn.Conv2d(padding_mode='zeros'). conv1d@1 ({@link
 * #compile1d}) runs on the same kernels with a {@code (1, k)} window.
 *
 * <p>Loop order: for each output channel, for each input channel of its group, for each kernel
 * tap, add {@code w * input row} to the output row. The innermost loop runs along a row with a
 * fixed weight, which the JIT vectorises when the stride is 1. Accumulation is float32.
 *
 * <p>This is the reference kernel: it runs grouped and depthwise convolutions, and every
 * convolution when {@link LoadOptions#withReferenceKernels(boolean)} is set; otherwise dense
 * convolutions use {@link Conv2dGemmKernel} and depthwise ones (groups == in_channels) {@link
 * DepthwiseConv2dKernel}, which JUnit tests against this one.
 *
 * <p>These three take float32 weights. A compressed weight (F16, or I8 with per-output-channel
 * scales; FORMAT.md, "Compressed weights") runs on their compressed twins, chosen at load ({@link
 * #choose}), which keep it compressed and dequantise it piecewise into per-call scratch.
 */
final class Conv2dKernel implements Kernel {
  private final Window2d g;
  private final float[] weight;
  private final float[] bias;
  // Per kernel column kx: the range [owLo, owHi) of output columns whose input column is inside.
  private final int[] owLo, owHi;

  static Kernel compile(NodeDef n, int[][] in) {
    Window2d g = Window2d.conv(n, in);
    WeightTensor weight = n.weights("weight", g.cout, g.c / g.groups, g.kh, g.kw);
    return choose(n, g, weight, n.param("bias", g.cout));
  }

  /**
   * conv1d@1: this op's kernels on the {@code (c, 1, l)} view ({@link Window2d#conv1d}); the
   * weight {@code (cout, cin / groups, k)} has the layout of {@code (cout, cin / groups, 1, k)}.
   */
  static Kernel compile1d(NodeDef n, int[][] in) {
    Window2d g = Window2d.conv1d(n, in);
    WeightTensor weight = n.weights("weight", g.cout, g.c / g.groups, g.kw);
    return choose(n, g, weight, n.param("bias", g.cout));
  }

  /**
   * The fastest kernel that runs {@code g}: GEMM when dense, depthwise, else this one; for a
   * compressed weight, the same choice among their compressed twins ({@link
   * PackedConv2dGemmKernel}, {@link PackedDepthwiseConv2dKernel}, {@link PackedConv2dKernel}),
   * which keep it compressed. Chosen once, here: the float32 kernels carry no dtype test.
   */
  private static Kernel choose(NodeDef n, Window2d g, WeightTensor w, float[] bias) {
    // The fast path's im2col scratch must stay a reasonable Java array; else use the reference.
    long scratch = (long) g.c * g.kh * g.kw * g.ho * g.wo;
    boolean gemm = g.groups == 1 && !n.referenceKernels
        && scratch <= FormatRules.MAX_VALUE_ELEMENTS;
    // The depthwise path's per-call scratch: tap planes, or one zero-padded input plane.
    long taps = (long) g.kh * g.kw * g.ho * g.wo;
    long padded = (g.h + 2L * g.ph) * (g.w + 2L * g.pw);
    boolean depthwise = g.groups == g.c && g.groups > 1 && !n.referenceKernels
        && Math.max(taps, padded) <= FormatRules.MAX_VALUE_ELEMENTS;
    if (n.vector != null) {
      Kernel k = g.groups == 1 ? n.vector.denseConv(g, w, bias)
          : g.groups == g.c ? n.vector.depthwiseConv(g, w, bias) : null;
      if (k != null) {
        return k;
      }
    }
    float[] weight = w.floats();
    if (weight == null) {
      return gemm ? new PackedConv2dGemmKernel(g, w, bias)
          : depthwise ? new PackedDepthwiseConv2dKernel(g, w, bias)
          : new PackedConv2dKernel(g, w, bias);
    }
    if (gemm) {
      return new Conv2dGemmKernel(g, weight, bias);
    }
    if (depthwise) {
      return new DepthwiseConv2dKernel(g, weight, bias);
    }
    return new Conv2dKernel(g, weight, bias);
  }

  private Conv2dKernel(Window2d g, float[] weight, float[] bias) {
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
    int taps = g.c / g.groups * g.kh * g.kw;
    for (int oc = 0; oc < g.cout; oc++) {
      outputChannel(g, owLo, owHi, inputs[0], out, oc, weight, oc * taps, bias);
    }
  }

  /**
   * Output channel {@code oc} of the convolution, its weights read from {@code weights} at
   * {@code woff} (in_channels/groups x kh x kw values): the reference loops, shared with {@link
   * PackedConv2dKernel}, which passes each channel's dequantised weights.
   */
  static void outputChannel(
      Window2d g, int[] owLo, int[] owHi, float[] x, float[] out, int oc, float[] weights,
      int woff, float[] bias) {
    final int h = g.h, w = g.w, kh = g.kh, kw = g.kw, sh = g.sh, sw = g.sw;
    final int ph = g.ph, pw = g.pw, dh = g.dh, dw = g.dw, ho = g.ho, wo = g.wo;
    int inPerG = g.c / g.groups;
    int grp = oc / (g.cout / g.groups);
    int plane = ho * wo;
    int obase = oc * plane;
    Arrays.fill(out, obase, obase + plane, bias == null ? 0f : bias[oc]);
    for (int icg = 0; icg < inPerG; icg++) {
      int ibase = (grp * inPerG + icg) * h * w;
      int wbase = woff + icg * kh * kw;
      for (int ky = 0; ky < kh; ky++) {
        for (int kx = 0; kx < kw; kx++) {
          float wt = weights[wbase + ky * kw + kx];
          int lo = owLo[kx];
          int hi = owHi[kx];
          int xoff = kx * dw - pw;
          for (int oy = 0; oy < ho; oy++) {
            int iy = oy * sh - ph + ky * dh;
            if (iy < 0 || iy >= h) {
              continue;
            }
            int irow = ibase + iy * w + xoff;
            int orow = obase + oy * wo;
            if (sw == 1) {
              for (int ox = lo; ox < hi; ox++) {
                out[orow + ox] += wt * x[irow + ox];
              }
            } else {
              for (int ox = lo; ox < hi; ox++) {
                out[orow + ox] += wt * x[irow + ox * sw];
              }
            }
          }
        }
      }
    }
  }
}
