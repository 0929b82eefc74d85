package org.pd2java.runtime;

import java.util.Arrays;

/**
 * conv_transpose2d@1: transposed 2-D convolution, as torch.nn.ConvTranspose2d
 * (padding_mode='zeros'), any groups, stride, padding, output_padding and dilation, optional bias.
 * Weight (in_channels, out_channels / groups, kh, kw); output extent {@code (in - 1) * s - 2p +
 * d * (k - 1) + output_padding + 1} per axis. Rules as PyTorch: groups divide both channel
 * counts, output_padding smaller than the stride or the dilation (INVALID_ATTRIBUTE).
 *
 * <p>Reference scatter loop: every input pixel {@code (iy, ix)} of channel {@code ic} adds {@code
 * x * w[ic][ocg][ky][kx]} at output {@code (iy * sh - ph + ky * dh, ix * sw - pw + kx * dw)} of
 * each output channel of its group, skipping positions outside the output. Accumulation is
 * float32.
 */
final class ConvTranspose2dKernel implements Kernel {
  private final Window2d g;
  private final float[] weight;
  private final float[] bias;

  static Kernel compile(NodeDef n, int[][] in) {
    int cin = n.intAttr("in_channels", 1);
    int cout = n.intAttr("out_channels", 1);
    int groups = n.intAttr("groups", 1);
    int[] k = n.int2Attr("kernel_size", 1);
    int[] s = n.int2Attr("stride", 1);
    int[] p = n.int2Attr("padding", 0);
    int[] op = n.int2Attr("output_padding", 0);
    int[] d = n.int2Attr("dilation", 1);
    Window2d.checkGroups(n, cin, cout, groups);
    for (int i = 0; i < 2; i++) {
      if (op[i] >= Math.max(s[i], d[i])) {
        throw n.error(
            ErrorCode.INVALID_ATTRIBUTE,
            "output_padding " + Arrays.toString(op) + " must be smaller than either stride "
                + Arrays.toString(s) + " or dilation " + Arrays.toString(d));
      }
    }
    int[] x = Window2d.convInput(n, in, cin, 3);
    int ho = outExtent(n, "height", x[1], k[0], s[0], p[0], op[0], d[0]);
    int wo = outExtent(n, "width", x[2], k[1], s[1], p[1], op[1], d[1]);
    float[] weight = n.param("weight", cin, cout / groups, k[0], k[1]);
    float[] bias = n.param("bias", cout);
    return new ConvTranspose2dKernel(
        Window2d.transposed(x, cout, groups, k, s, p, d, ho, wo), weight, bias);
  }

  /** {@code (in - 1) * s - 2p + d * (k - 1) + op + 1}: SHAPE_MISMATCH if not positive. */
  static int outExtent(NodeDef n, String axis, int in, int k, int s, int p, int op, int d) {
    long out = (long) (in - 1) * s - 2L * p + (long) d * (k - 1) + op + 1;
    if (out < 1) {
      throw n.error(
          ErrorCode.SHAPE_MISMATCH,
          axis + " output extent " + out + " of the transposed convolution is not positive"
              + " (input " + in + ", kernel " + k + ", stride " + s + ", padding " + p + ")");
    }
    return Window2d.limitExtent(n, axis, out);
  }

  private ConvTranspose2dKernel(Window2d g, float[] weight, float[] bias) {
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
    float[] x = inputs[0];
    float[] weight = this.weight;
    float[] bias = this.bias;
    int cin = g.c, h = g.h, w = g.w, cout = g.cout, groups = g.groups;
    int kh = g.kh, kw = g.kw, sh = g.sh, sw = g.sw, ph = g.ph, pw = g.pw, dh = g.dh, dw = g.dw;
    int ho = g.ho, wo = g.wo;
    int plane = ho * wo;
    for (int oc = 0; oc < cout; oc++) {
      Arrays.fill(out, oc * plane, (oc + 1) * plane, bias == null ? 0f : bias[oc]);
    }
    int inPerG = cin / groups;
    int outPerG = cout / groups;
    for (int ic = 0; ic < cin; ic++) {
      int grp = ic / inPerG;
      for (int ocg = 0; ocg < outPerG; ocg++) {
        int oc = grp * outPerG + ocg;
        int wbase = (ic * outPerG + ocg) * kh * kw;
        int obase = oc * plane;
        for (int iy = 0; iy < h; iy++) {
          for (int ix = 0; ix < w; ix++) {
            float v = x[(ic * h + iy) * w + ix];
            for (int ky = 0; ky < kh; ky++) {
              int oy = iy * sh - ph + ky * dh;
              if (oy < 0 || oy >= ho) {
                continue;
              }
              for (int kx = 0; kx < kw; kx++) {
                int ox = ix * sw - pw + kx * dw;
                if (ox < 0 || ox >= wo) {
                  continue;
                }
                out[obase + oy * wo + ox] += v * weight[wbase + ky * kw + kx];
              }
            }
          }
        }
      }
    }
  }
}
