package org.pd2java.runtime;

/** relu6@1: {@code min(max(x, 0), 6)}. */
final class Relu6Kernel extends ElementwiseKernel implements Epilogue.Activation {
  static Kernel compile(NodeDef n, int[][] in) {
    return new Relu6Kernel(in[0]);
  }

  private Relu6Kernel(int[] shape) {
    super(shape);
  }

  @Override
  public void run(float[][] inputs, float[] out) {
    float[] in = inputs[0];
    for (int i = 0; i < out.length; i++) {
      float x = in[i];
      out[i] = x > 0f ? (x < 6f ? x : 6f) : 0f;
    }
  }

  @Override
  public Epilogue.Act act() {
    return Epilogue.Act.RELU6;
  }
}
