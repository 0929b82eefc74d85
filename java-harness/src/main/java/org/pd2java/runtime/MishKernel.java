package org.pd2java.runtime;

/**
 * mish@1: {@code x * tanh(softplus(x))} with {@code softplus(x) = log(1 + exp(x))}, evaluated in
 * double (softplus in the form that never overflows) and rounded to float.
 */
final class MishKernel extends ElementwiseKernel {
  static Kernel compile(NodeDef n, int[][] in) {
    return new MishKernel(in[0]);
  }

  private MishKernel(int[] shape) {
    super(shape);
  }

  static double softplus(double x) {
    return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
  }

  @Override
  public void run(float[][] inputs, float[] out) {
    float[] in = inputs[0];
    for (int i = 0; i < out.length; i++) {
      double x = in[i];
      out[i] = (float) (x * Math.tanh(softplus(x)));
    }
  }
}
