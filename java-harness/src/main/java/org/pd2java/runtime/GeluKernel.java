package org.pd2java.runtime;

/**
 * gelu@1: {@code x * Phi(x)}, Phi the standard normal CDF. With {@code tanh_approximation} false
 * (PyTorch's approximate='none') {@code x * erfc(-x / sqrt(2)) / 2}, the exact form ({@code
 * erfc(-u) = 1 + erf(u)}, but accurate also where it is tiny); with it true PyTorch's tanh formula
 * {@code x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 x^3))) / 2}, computed as {@code x * sigmoid(2
 * z)}, the same value without cancellation. Evaluated in double, rounded to float.
 */
final class GeluKernel extends ElementwiseKernel {
  private static final double SQRT_2_OVER_PI = Math.sqrt(2.0 / Math.PI);
  private static final double RSQRT_2 = 1.0 / Math.sqrt(2.0);
  private static final double TWO_OVER_SQRT_PI = 2.0 / Math.sqrt(Math.PI);
  private static final double RSQRT_PI = 1.0 / Math.sqrt(Math.PI);

  private final boolean tanh;

  static Kernel compile(NodeDef n, int[][] in) {
    return new GeluKernel(in[0], n.boolAttr("tanh_approximation"));
  }

  private GeluKernel(int[] shape, boolean tanh) {
    super(shape);
    this.tanh = tanh;
  }

  /**
   * The complementary error function {@code erfc(x) = 1 - erf(x)}, to about 1e-15 relative
   * (Java has no Math.erf). For {@code |x| < 2} from the series {@code erf(x) = 2/sqrt(pi)
   * exp(-x^2) sum_n 2^n x^(2n+1) / (1 * 3 * ... * (2n+1))}, whose terms all have one sign (no
   * cancellation; at most ~35 terms); for {@code x >= 2} from the continued fraction {@code
   * erfc(x) = exp(-x^2) / sqrt(pi) / (x + (1/2) / (x + 1 / (x + (3/2) / (x + ...))))}, evaluated
   * bottom-up over 60 levels (converged to double precision for x >= 2); {@code erfc(x) = 2 -
   * erfc(-x)} for {@code x <= -2}.
   */
  static double erfc(double x) {
    if (Double.isNaN(x)) {
      return x;
    }
    if (x <= -2) {
      return 2.0 - erfc(-x);
    }
    if (x < 2) {
      double x2 = x * x;
      double term = x;
      double sum = x;
      for (int n = 1; n < 100; n++) {
        term *= 2.0 * x2 / (2 * n + 1);
        sum += term;
        if (Math.abs(term) <= 1e-17 * Math.abs(sum)) {
          break;
        }
      }
      return 1.0 - TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
    }
    if (x > 27) {
      return 0.0; // exp(-x^2) underflows a double
    }
    double f = x;
    for (int k = 60; k >= 1; k--) {
      f = x + (k * 0.5) / f;
    }
    return Math.exp(-x * x) * RSQRT_PI / f;
  }

  /** {@code erf(x) = 1 - erfc(x)}; for |x| < 2 the series directly (small x keeps precision). */
  static double erf(double x) {
    if (Math.abs(x) < 2) {
      double x2 = x * x;
      double term = x;
      double sum = x;
      for (int n = 1; n < 100; n++) {
        term *= 2.0 * x2 / (2 * n + 1);
        sum += term;
        if (Math.abs(term) <= 1e-17 * Math.abs(sum)) {
          break;
        }
      }
      return TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
    }
    return x > 0 ? 1.0 - erfc(x) : erfc(-x) - 1.0;
  }

  @Override
  public void run(float[][] inputs, float[] out) {
    float[] in = inputs[0];
    if (tanh) {
      for (int i = 0; i < out.length; i++) {
        double x = in[i];
        double inner = SQRT_2_OVER_PI * (x + 0.044715 * x * x * x);
        // (1 + tanh(z)) / 2 == 1 / (1 + exp(-2z)), without the cancellation of 1 + tanh(z).
        out[i] = (float) (x / (1.0 + Math.exp(-2.0 * inner)));
      }
    } else {
      for (int i = 0; i < out.length; i++) {
        double x = in[i];
        out[i] = (float) (0.5 * x * erfc(-x * RSQRT_2));
      }
    }
  }
}
