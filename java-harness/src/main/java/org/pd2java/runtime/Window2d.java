package org.pd2java.runtime;

import java.util.Arrays;

/**
 * The geometry of one 2-D sliding-window node (conv2d, max_pool2d, avg_pool2d, and
 * conv_transpose2d with its own output rule), read and checked
 * once at load: input {@code (c, h, w)}, kernel, stride, padding and dilation per axis, output
 * {@code (cout, ho, wo)}, and for a convolution its groups. Every conv and pool kernel is built
 * from one of these, so the attribute checks, the output-size rule, the pools' padding rule and
 * the padding border ({@link #validOutputColumns}) are written once.
 *
 * <p>The 1-D ops (conv1d, max_pool1d, avg_pool1d; {@link #conv1d}, {@link #pool1d}) are the same
 * windows on their {@code (c, l)} input seen as {@code (c, 1, l)}, which has the same memory
 * layout: {@code h = 1}, a {@code (1, k)} window, no padding along H. Only the declared output
 * shape differs ({@link #outputShape}: {@code (cout, wo)}), so the 2-D kernels run them as they
 * are.
 *
 * <p>Load time only: kernels copy the fields they need into local variables at the top of
 * {@code run}, and the hot loops read only those locals.
 */
final class Window2d {
  /** Input channels, height, width. */
  final int c, h, w;
  /** Output channels (c for a pool) and groups (1 for a pool). */
  final int cout, groups;
  /** Kernel, stride, padding and dilation (1 where the op has none), height then width. */
  final int kh, kw, sh, sw, ph, pw, dh, dw;
  /** Output height and width. */
  final int ho, wo;
  /**
   * Bottom and right padding: {@code ph} and {@code pw} are the top and left padding; equal to
   * them except for max_pool2d@2 / avg_pool2d@2 ({@link #pool2}) with per-side pads.
   */
  final int phEnd, pwEnd;
  /** A 1-D op's window: the input is {@code (c, w)}, the output {@code (cout, wo)}. */
  final boolean seq;

  private Window2d(
      int[] x, int cout, int groups, int[] k, int[] s, int[] p, int[] d, int ho, int wo) {
    this(x, cout, groups, k, s, p, p, d, ho, wo, false);
  }

  private Window2d(
      int[] x,
      int cout,
      int groups,
      int[] k,
      int[] s,
      int[] p,
      int[] pEnd,
      int[] d,
      int ho,
      int wo,
      boolean seq) {
    this.c = x[0];
    this.h = x[1];
    this.w = x[2];
    this.cout = cout;
    this.groups = groups;
    this.kh = k[0];
    this.kw = k[1];
    this.sh = s[0];
    this.sw = s[1];
    this.ph = p[0];
    this.pw = p[1];
    this.dh = d[0];
    this.dw = d[1];
    this.ho = ho;
    this.wo = wo;
    this.phEnd = pEnd[0];
    this.pwEnd = pEnd[1];
    this.seq = seq;
  }

  /**
   * This window with {@code cout} output channels: a dense convolution's block of output
   * channels ({@link PackedConv2dGemmKernel}).
   */
  Window2d withOutputChannels(int cout) {
    return new Window2d(new int[] {c, h, w}, cout, groups, new int[] {kh, kw},
        new int[] {sh, sw}, new int[] {ph, pw}, new int[] {phEnd, pwEnd}, new int[] {dh, dw}, ho,
        wo, seq);
  }

  /** @return the output shape: {@code (cout, ho, wo)}, or {@code (cout, wo)} for a 1-D op */
  int[] outputShape() {
    return seq ? new int[] {cout, wo} : new int[] {cout, ho, wo};
  }

  /**
   * conv2d: in/out channels, kernel, stride, padding, dilation and groups (groups dividing both
   * channel counts), a rank-3 input with in_channels channels, and an output size that fits.
   */
  static Window2d conv(NodeDef n, int[][] in) {
    int[] k = n.int2Attr("kernel_size", 1);
    int[] s = n.int2Attr("stride", 1);
    int[] p = n.int2Attr("padding", 0);
    int[] d = n.int2Attr("dilation", 1);
    return conv(n, in, k, s, p, d, false);
  }

  /**
   * conv1d: the attributes of {@link #conv} as single ints, on a rank-2 {@code (c, l)} input
   * seen as {@code (c, 1, l)} with a {@code (1, k)} window.
   */
  static Window2d conv1d(NodeDef n, int[][] in) {
    int[] k = {1, n.intAttr("kernel_size", 1)};
    int[] s = {1, n.intAttr("stride", 1)};
    int[] p = {0, n.intAttr("padding", 0)};
    int[] d = {1, n.intAttr("dilation", 1)};
    return conv(n, in, k, s, p, d, true);
  }

  /** Both convolutions' channels and groups on their window; {@code seq}: conv1d's input. */
  private static Window2d conv(
      NodeDef n, int[][] in, int[] k, int[] s, int[] p, int[] d, boolean seq) {
    int cin = n.intAttr("in_channels", 1);
    int cout = n.intAttr("out_channels", 1);
    int groups = n.intAttr("groups", 1);
    checkGroups(n, cin, cout, groups);
    int[] x = convInput(n, in, cin, seq ? 2 : 3);
    int[] chw = seq ? new int[] {x[0], 1, x[1]} : x;
    return over(n, chw, cout, groups, k, s, p, d, seq);
  }

  /**
   * conv_transpose2d: the geometry read and checked by {@link ConvTranspose2dKernel#compile},
   * with its own output extents ({@code ho}, {@code wo}); the fields mean what they mean for a
   * convolution (kernel, stride, padding and dilation of the transposed op).
   */
  static Window2d transposed(
      int[] x, int cout, int groups, int[] k, int[] s, int[] p, int[] d, int ho, int wo) {
    return new Window2d(x, cout, groups, k, s, p, d, ho, wo);
  }

  /** A convolution's rule: groups divide both channel counts (INVALID_ATTRIBUTE). */
  static void checkGroups(NodeDef n, int cin, int cout, int groups) {
    if (cin % groups != 0 || cout % groups != 0) {
      throw n.error(
          ErrorCode.INVALID_ATTRIBUTE,
          "groups " + groups + " must divide in_channels " + cin + " and out_channels " + cout);
    }
  }

  /** A convolution's input: of the given rank with in_channels channels (SHAPE_MISMATCH). */
  static int[] convInput(NodeDef n, int[][] in, int cin, int rank) {
    int[] x = n.input(in, 0, rank);
    if (x[0] != cin) {
      throw n.error(
          ErrorCode.SHAPE_MISMATCH,
          "input has " + x[0] + " channels but in_channels is " + cin + " (input shape "
              + Arrays.toString(x) + ")");
    }
    return x;
  }

  /**
   * max_pool2d ({@code dilated}) and avg_pool2d: kernel, stride, padding and, if the op has one,
   * dilation; padding at most half the undilated kernel on each axis ({@code p <= k / 2}), the
   * rule PyTorch and pd2java's Python reader enforce for both pools whatever the dilation; a
   * rank-3 input; an output size that fits.
   */
  static Window2d pool(NodeDef n, int[][] in, boolean dilated) {
    int[] k = n.int2Attr("kernel_size", 1);
    int[] s = n.int2Attr("stride", 1);
    int[] p = n.int2Attr("padding", 0);
    int[] d = dilated ? n.int2Attr("dilation", 1) : new int[] {1, 1};
    for (int i = 0; i < 2; i++) {
      if (p[i] > k[i] / 2) {
        throw n.error(
            ErrorCode.INVALID_ATTRIBUTE,
            "padding " + p[i] + " exceeds half the kernel size " + k[i]);
      }
    }
    int[] x = n.input(in, 0, 3);
    return over(n, x, x[0], 1, k, s, p, d, false);
  }

  /**
   * max_pool2d@2 ({@code dilated}) and avg_pool2d@2: kernel, stride, per-side padding {@code
   * pad_h} [top, bottom] and {@code pad_w} [left, right], each at most half the kernel ({@code p
   * <= k / 2}, INVALID_ATTRIBUTE), dilation if the op has one, and {@code ceil_mode}; the output
   * size by PyTorch's rule ({@link #poolExtent}).
   */
  static Window2d pool2(NodeDef n, int[][] in, boolean dilated) {
    int[] k = n.int2Attr("kernel_size", 1);
    int[] s = n.int2Attr("stride", 1);
    int[] padH = n.int2Attr("pad_h", 0);
    int[] padW = n.int2Attr("pad_w", 0);
    int[] d = dilated ? n.int2Attr("dilation", 1) : new int[] {1, 1};
    boolean ceil = n.boolAttr("ceil_mode");
    checkPoolPads(n, "pad_h", padH, k[0]);
    checkPoolPads(n, "pad_w", padW, k[1]);
    int[] x = n.input(in, 0, 3);
    int ho = poolExtent(n, "height", x[1], k[0], s[0], padH[0], padH[1], d[0], ceil);
    int wo = poolExtent(n, "width", x[2], k[1], s[1], padW[0], padW[1], d[1], ceil);
    int[] begin = {padH[0], padW[0]};
    int[] end = {padH[1], padW[1]};
    return new Window2d(x, x[0], 1, k, s, begin, end, d, ho, wo, false);
  }

  /**
   * max_pool1d ({@code dilated}) and avg_pool1d: {@link #pool2}'s rules with single-int kernel,
   * stride and dilation and per-side {@code padding} [left, right], on a rank-2 {@code (c, l)}
   * input seen as {@code (c, 1, l)} with a {@code (1, k)} window.
   */
  static Window2d pool1d(NodeDef n, int[][] in, boolean dilated) {
    int k = n.intAttr("kernel_size", 1);
    int s = n.intAttr("stride", 1);
    int[] pad = n.int2Attr("padding", 0);
    int d = dilated ? n.intAttr("dilation", 1) : 1;
    boolean ceil = n.boolAttr("ceil_mode");
    checkPoolPads(n, "padding", pad, k);
    int[] x = n.input(in, 0, 2);
    int wo = poolExtent(n, "length", x[1], k, s, pad[0], pad[1], d, ceil);
    return new Window2d(new int[] {x[0], 1, x[1]}, x[0], 1, new int[] {1, k},
        new int[] {1, s}, new int[] {0, pad[0]}, new int[] {0, pad[1]}, new int[] {1, d}, 1, wo,
        true);
  }

  /** The pools' rule: each pad of {@code pads} at most half the kernel (INVALID_ATTRIBUTE). */
  private static void checkPoolPads(NodeDef n, String attr, int[] pads, int k) {
    for (int p : pads) {
      if (p > k / 2) {
        throw n.error(
            ErrorCode.INVALID_ATTRIBUTE,
            attr + " " + Arrays.toString(pads) + " exceeds half the kernel size " + k);
      }
    }
  }

  /**
   * PyTorch's pool output extent with per-side padding: {@code floor} (or, with ceil_mode,
   * {@code ceil}) of {@code (in + begin + end - d(k-1) - 1) / s}, plus 1; with ceil_mode a last
   * window starting beyond the input and its begin padding is dropped. SHAPE_MISMATCH when no
   * window remains.
   */
  static int poolExtent(
      NodeDef n, String axis, int in, int k, int s, int begin, int end, int d, boolean ceil) {
    long span = (long) d * (k - 1) + 1;
    long num = (long) in + begin + end - span;
    long out = Math.floorDiv(num + (ceil ? s - 1 : 0), (long) s) + 1;
    if (out < 1) {
      throw n.error(
          ErrorCode.SHAPE_MISMATCH,
          "window of " + span + " does not fit the " + axis + " extent " + in + " padded by ["
              + begin + ", " + end + "]");
    }
    if (ceil && (out - 1) * s >= (long) in + begin) {
      out--;
    }
    return limitExtent(n, axis, out);
  }

  private static Window2d over(
      NodeDef n, int[] x, int cout, int groups, int[] k, int[] s, int[] p, int[] d, boolean seq) {
    int ho = outExtent(n, "height", x[1], k[0], s[0], p[0], d[0]);
    int wo = outExtent(n, seq ? "length" : "width", x[2], k[1], s[1], p[1], d[1]);
    return new Window2d(x, cout, groups, k, s, p, p, d, ho, wo, seq);
  }

  /**
   * Output extent of a sliding window along one axis, {@code floor((in + 2p - d(k-1) - 1) / s) +
   * 1}, or SHAPE_MISMATCH when the dilated window does not fit the padded input.
   */
  static int outExtent(NodeDef n, String axis, int in, int k, int s, int p, int d) {
    long span = (long) d * (k - 1) + 1;
    long num = (long) in + 2L * p - span;
    if (num < 0) {
      throw n.error(
          ErrorCode.SHAPE_MISMATCH,
          "window of " + span + " does not fit the " + axis + " extent " + in + " padded by " + p);
    }
    return limitExtent(n, axis, num / s + 1);
  }

  /** An output extent, or LIMIT_EXCEEDED when it exceeds MAX_VALUE_ELEMENTS. */
  static int limitExtent(NodeDef n, String axis, long out) {
    if (out > FormatRules.MAX_VALUE_ELEMENTS) {
      throw n.error(
          ErrorCode.LIMIT_EXCEEDED,
          axis + " output extent " + out + " exceeds MAX_VALUE_ELEMENTS ("
              + FormatRules.MAX_VALUE_ELEMENTS + ")");
    }
    return (int) out;
  }

  /** Whether there is any padding. */
  boolean padded() {
    return ph != 0 || pw != 0 || phEnd != 0 || pwEnd != 0;
  }

  /**
   * Whether every window lies inside the input: no padding, and the last window of each axis
   * ends within it. Always so for an unpadded floor-mode window; with ceil_mode ({@link #pool2})
   * only where the ceil gives no more windows than the floor.
   */
  boolean windowsInside() {
    return !padded()
        && (long) (ho - 1) * sh + (long) dh * (kh - 1) < h
        && (long) (wo - 1) * sw + (long) dw * (kw - 1) < w;
  }

  /**
   * For each kernel column {@code kx}, the output columns {@code [lo, hi)} whose input column
   * {@code ox * sw + kx * dw - pw} lies inside {@code [0, w)}: the taps outside are zero padding
   * and are skipped. {@code [0][kx]} is lo, {@code [1][kx]} is hi. Shared by every conv kernel so
   * they agree on the padding border.
   */
  int[][] validOutputColumns() {
    int[] lo = new int[kw];
    int[] hi = new int[kw];
    for (int kx = 0; kx < kw; kx++) {
      int off = kx * dw - pw; // input column = ox * sw + off
      int l = 0;
      while (l < wo && l * sw + off < 0) {
        l++;
      }
      int r = wo;
      while (r > l && (r - 1) * sw + off >= w) {
        r--;
      }
      lo[kx] = l;
      hi[kx] = r;
    }
    return new int[][] {lo, hi};
  }

  @Override
  public String toString() {
    return "Window2d[" + (seq ? "1-D, " : "") + "in=(" + c + ", " + h + ", " + w + "), out=("
        + cout + ", " + ho + ", " + wo
        + "), kernel=" + kh + "x" + kw + ", stride=" + sh + "x" + sw + ", padding=" + ph + "x"
        + pw + ", dilation=" + dh + "x" + dw + ", groups=" + groups + "]";
  }
}
