package org.pd2java.runtime;

/**
 * elu@1: {@code x if x > 0 else alpha * (exp(x) - 1)}; {@code alpha} is never defaulted and must
 * be a finite float32.
 */
final class EluKernel extends ElementwiseKernel {
  private final double alpha;

  static Kernel compile(NodeDef n, int[][] in) {
    double alpha = n.floatAttr("alpha");
    if (!(Math.abs(alpha) <= Float.MAX_VALUE)) {
      throw n.error(ErrorCode.INVALID_ATTRIBUTE, "attribute 'alpha' is " + alpha
          + ", must be a finite float32 (|alpha| <= " + Float.MAX_VALUE + ")");
    }
    return new EluKernel(in[0], alpha);
  }

  private EluKernel(int[] shape, double alpha) {
    super(shape);
    this.alpha = alpha;
  }

  @Override
  public void run(float[][] inputs, float[] out) {
    float[] in = inputs[0];
    for (int i = 0; i < out.length; i++) {
      float x = in[i];
      out[i] = x > 0f ? x : (float) (alpha * Math.expm1(x));
    }
  }
}
