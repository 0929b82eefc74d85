package org.pd2java.runtime;

import java.util.Arrays;

/** A named float32 tensor decoded from the weights file (read-only after load). */
final class Tensor {
  final String name;
  final int[] shape;
  final float[] data;

  Tensor(String name, int[] shape, float[] data) {
    this.name = name;
    this.shape = shape;
    this.data = data;
  }

  String shapeString() {
    return Arrays.toString(shape);
  }
}
