package org.pd2java.runtime;

import java.util.Arrays;
import java.util.Map;

/**
 * One manifest node after the generic checks (attributes exactly the op's, of the right kinds;
 * parameter tensors decoded). Op factories read it and do the op-specific checks.
 */
final class NodeDef {
  final String file;
  final String name;
  final OpSpec op;
  /**
   * Attribute values: Integer (int), Double (float), Boolean (bool), int[2] (int2), int[] (ints).
   */
  final Map<String, Object> attrs;
  /**
   * Parameter tensors by slot; null for an absent optional slot. Only a slot whose {@link
   * ParamSpec#dtypes} lists F16 or I8 can hold a compressed tensor (read it with {@link
   * #weights}); every other slot's tensor is float32 ({@link #param}).
   */
  final Map<String, WeightTensor> params;
  /** Use only the clear reference kernels (no fast paths). */
  final boolean referenceKernels;
  /** The Vector API kernels, or null for the scalar ones ({@link Kernels#vector()}). */
  final KernelProvider vector;

  NodeDef(
      String file,
      String name,
      OpSpec op,
      Map<String, Object> attrs,
      Map<String, WeightTensor> params,
      boolean referenceKernels,
      KernelProvider vector) {
    this.referenceKernels = referenceKernels;
    this.vector = referenceKernels ? null : vector;
    this.file = file;
    this.name = name;
    this.op = op;
    this.attrs = attrs;
    this.params = params;
  }

  Pd2JavaException error(ErrorCode code, String rule) {
    return new Pd2JavaException(code, file, name, op.key() + ": " + rule);
  }

  int intAttr(String attr, int min) {
    int v = (Integer) attrs.get(attr);
    if (v < min) {
      throw error(
          ErrorCode.INVALID_ATTRIBUTE, "attribute '" + attr + "' is " + v + ", must be >= " + min);
    }
    return v;
  }

  int[] int2Attr(String attr, int min) {
    return intsAttr(attr, min);
  }

  /** An int2 or ints attribute whose entries must all be >= min (INVALID_ATTRIBUTE otherwise). */
  int[] intsAttr(String attr, int min) {
    int[] v = (int[]) attrs.get(attr);
    for (int x : v) {
      if (x < min) {
        throw error(
            ErrorCode.INVALID_ATTRIBUTE,
            "attribute '" + attr + "' is " + Arrays.toString(v) + ", entries must be >= " + min);
      }
    }
    return v;
  }

  double floatAttr(String attr) {
    return (Double) attrs.get(attr);
  }

  /** A float attribute that must be finite and > 0 (as every norm's {@code eps}). */
  double positiveFloatAttr(String attr) {
    double v = floatAttr(attr);
    if (!(v > 0) || Double.isInfinite(v)) {
      throw error(
          ErrorCode.INVALID_ATTRIBUTE,
          "attribute '" + attr + "' is " + v + ", must be finite and > 0");
    }
    return v;
  }

  boolean boolAttr(String attr) {
    return (Boolean) attrs.get(attr);
  }

  /**
   * The float32 tensor in a slot, checked against the expected shape; null if absent (optional).
   * For slots that take float32 only; a kernel whose slot takes compressed weights reads {@link
   * #weights}.
   */
  float[] param(String slot, int... shape) {
    WeightTensor t = weights(slot, shape);
    if (t == null) {
      return null;
    }
    float[] data = t.floats();
    if (data == null) { // the loader let a compressed dtype into a slot whose kernel cannot hold it
      throw new IllegalStateException(
          op.key() + " parameter '" + slot + "' holds a " + t.dtype() + " tensor but its kernel "
              + "reads float32 only: the op table's dtypes and the kernel disagree");
    }
    return data;
  }

  /**
   * The tensor in a slot as stored (float32, F16 or I8: the slot's {@link ParamSpec#dtypes}),
   * checked against the expected shape; null if absent (optional).
   */
  WeightTensor weights(String slot, int... shape) {
    WeightTensor t = params.get(slot);
    if (t == null) {
      return null;
    }
    if (!Arrays.equals(t.shape, shape)) {
      throw error(
          ErrorCode.INVALID_PARAMETER,
          "parameter '" + slot + "' (tensor '" + t.name + "') has shape " + t.shapeString()
              + ", expected " + Arrays.toString(shape));
    }
    return t;
  }

  /** Requires an input of the given rank. */
  int[] input(int[][] shapes, int i, int rank) {
    if (shapes[i].length != rank) {
      throw error(
          ErrorCode.SHAPE_MISMATCH,
          "input " + i + " has shape " + Arrays.toString(shapes[i]) + ", expected rank " + rank);
    }
    return shapes[i];
  }
}
