package org.pd2java.runtime;

import java.util.Arrays;

/**
 * constant@1: a node with no inputs whose output, the same for every sample, is its {@code value}
 * parameter. The output shape is the tensor's own shape, which must have rank >= 1 and no empty
 * dim (INVALID_PARAMETER otherwise; a number is stored as shape [1]).
 */
final class ConstantKernel implements Kernel {
  private final int[] shape;
  private final float[] value;

  static Kernel compile(NodeDef n, int[][] in) {
    WeightTensor t = n.params.get("value");
    boolean empty = t.shape.length < 1;
    for (int d : t.shape) {
      empty |= d < 1;
    }
    if (empty) {
      throw n.error(
          ErrorCode.INVALID_PARAMETER,
          "parameter 'value' (tensor '" + t.name + "') has shape " + Arrays.toString(t.shape)
              + "; it must have rank >= 1 and no empty dim (store a number as shape [1])");
    }
    return new ConstantKernel(t.shape.clone(), n.param("value", t.shape));
  }

  private ConstantKernel(int[] shape, float[] value) {
    this.shape = shape;
    this.value = value;
  }

  @Override
  public int[] outputShape() {
    return shape.clone();
  }

  @Override
  public void run(float[][] inputs, float[] out) {
    System.arraycopy(value, 0, out, 0, value.length);
  }
}
