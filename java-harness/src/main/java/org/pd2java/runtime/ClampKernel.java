package org.pd2java.runtime;

/**
 * clamp@1: {@code min(max(x, min), max)}. Both bounds are explicit finite float32 values
 * ({@code |v| <= Float.MAX_VALUE}) with {@code min <= max}; a one-sided clamp is written with the
 * float32 extreme (3.4028234663852886e38) as the missing bound.
 */
final class ClampKernel extends ElementwiseKernel implements Epilogue.Activation {
  private final float low, high;

  static Kernel compile(NodeDef n, int[][] in) {
    double low = n.floatAttr("min");
    double high = n.floatAttr("max");
    for (String attr : new String[] {"min", "max"}) {
      double v = n.floatAttr(attr);
      if (!(Math.abs(v) <= Float.MAX_VALUE)) {
        throw n.error(ErrorCode.INVALID_ATTRIBUTE, "attribute '" + attr + "' is " + v
            + ", must be a finite float32 (|" + attr + "| <= " + Float.MAX_VALUE + ")");
      }
    }
    if (low > high) {
      throw n.error(ErrorCode.INVALID_ATTRIBUTE, "attribute 'min' (" + low
          + ") is greater than 'max' (" + high + ")");
    }
    return new ClampKernel(in[0], (float) low, (float) high);
  }

  private ClampKernel(int[] shape, float low, float high) {
    super(shape);
    this.low = low;
    this.high = high;
  }

  @Override
  public void run(float[][] inputs, float[] out) {
    float[] in = inputs[0];
    for (int i = 0; i < out.length; i++) {
      out[i] = Math.min(Math.max(in[i], low), high);
    }
  }

  @Override
  public Epilogue.Act act() {
    return Epilogue.Act.clamp(low, high);
  }
}
