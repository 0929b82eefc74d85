package org.pd2java.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.pd2java.runtime.Fixture.map;
import static org.pd2java.runtime.HotOps.conv2d;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/**
 * The NaN policy (JAVA.md) holds for every kernel family, through the hot ops: a NaN or infinite
 * input is refused with INVALID_INPUT before anything runs, and a NaN or infinity the weights
 * produce inside the model from a finite input is NON_FINITE_OUTPUT from predict, predictBatch
 * (sequential and over an executor) and classify, never a class. Checked with the default
 * kernels (the Vector API ones in a JVM with the module), with the Vector API kernels switched
 * off and with the reference kernels.
 */
class NanPolicyTest {
  @TempDir Path dir;

  private static final LoadOptions[] OPTIONS = {
    LoadOptions.defaults(),
    LoadOptions.defaults().withVectorKernels(false),
    LoadOptions.defaults().withReferenceKernels(true),
  };

  /**
   * Input (2, 6, 6): a dense 3x3 conv whose weights are {@code big} (finite), a depthwise 3x3
   * conv with weights +1 and -1 (so infinities cancel into NaN), a global average pool and a
   * linear layer; weights in {@code dtype}.
   */
  private static Fixture model(float big, HotOps.Dtype dtype) {
    Fixture f = new Fixture(2, 6, 6).version(dtype == HotOps.Dtype.F32 ? 2 : 3);
    f.classes = java.util.List.of("a", "b", "c");
    float[] c1 = new float[4 * 2 * 9];
    java.util.Arrays.fill(c1, big);
    f.tensor("c1.w", new int[] {4, 2, 3, 3}, c1);
    float[] dw = new float[4 * 9];
    for (int i = 0; i < dw.length; i++) {
      dw[i] = i % 2 == 0 ? 1f : -1f;
    }
    f.tensor("dw.w", new int[] {4, 1, 3, 3}, dw);
    switch (dtype) {
      case F32 -> f.tensor("fc.w", new int[] {3, 4}, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1);
      case F16 -> f.half("fc.w", new int[] {3, 4}, h(1), h(0), h(0), h(0), h(0), h(1), h(0), h(0),
          h(0), h(0), h(1), h(1));
      case I8 -> f.int8("fc.w", new int[] {3, 4},
          new byte[] {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1}, 1f, 1f, 1f);
    }
    return f
        .node("c1", "conv2d", conv2d(2, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1),
            map("weight", "c1.w", "bias", null), new int[] {4, 6, 6})
        .node("dw", "conv2d", conv2d(4, 4, 3, 3, 1, 1, 1, 1, 1, 1, 4),
            map("weight", "dw.w", "bias", null), new int[] {4, 6, 6})
        .node("gap", "global_avg_pool", map("keepdims", false), new int[] {4})
        .node("fc", "linear", map("in_features", 4, "out_features", 3),
            map("weight", "fc.w", "bias", null), new int[] {3})
        .node("prob", "softmax", map("dim", 1), new int[] {3});
  }

  /** The half bit pattern of 0 or 1. */
  private static short h(int v) {
    return (short) (v == 0 ? 0 : 0x3c00);
  }

  private static void assertCode(ErrorCode code, Executable call, String what) {
    Pd2JavaException e = assertThrows(Pd2JavaException.class, call, what);
    assertEquals(code, e.code(), what + ": " + e.getMessage());
  }

  @Test
  void nonFiniteInputsAreRefusedAndNonFiniteResultsAreErrors() throws IOException {
    ExecutorService pool = Executors.newFixedThreadPool(4);
    try {
      for (HotOps.Dtype d : HotOps.Dtype.values()) {
        Path huge = model(3e38f, d).write(Files.createTempDirectory(dir, "huge"));
        Path fine = model(0.25f, d).write(Files.createTempDirectory(dir, "fine"));
        for (LoadOptions o : OPTIONS) {
          Model bad = Model.load(huge, o);
          Model ok = Model.load(fine, o);
          String what = d + " " + bad.kernelInfo();
          float[] x = new float[72];
          for (int i = 0; i < x.length; i++) {
            x[i] = 1f + i % 5;
          }
          // Finite inputs, finite weights: the conv overflows to infinity, the depthwise conv
          // turns +inf - inf into NaN, and no result is given.
          assertTrue(Float.isNaN(bad.runLayers(x).get("prob")[0]), what);
          assertCode(ErrorCode.NON_FINITE_OUTPUT, () -> bad.predict(x), what + " predict");
          assertCode(ErrorCode.NON_FINITE_OUTPUT, () -> bad.classify(x), what + " classify");
          float[] batch = new float[3 * 72];
          System.arraycopy(x, 0, batch, 72, 72);
          assertCode(ErrorCode.NON_FINITE_OUTPUT, () -> bad.predictBatch(batch, 3),
              what + " predictBatch");
          assertCode(ErrorCode.NON_FINITE_OUTPUT, () -> bad.predictBatch(batch, 3, pool, 3),
              what + " predictBatch over an executor");
          // The same model on an all-zero sample is fine, and the moderate one on x too.
          assertEquals(3, bad.predict(new float[72]).length, what);
          assertFalse(ok.classify(x).label().isEmpty(), what);
          // NaN and infinite inputs are refused before anything runs, on both models.
          for (float v : new float[] {Float.NaN, Float.POSITIVE_INFINITY,
              Float.NEGATIVE_INFINITY}) {
            float[] y = x.clone();
            y[40] = v;
            for (Model m : new Model[] {bad, ok}) {
              assertCode(ErrorCode.INVALID_INPUT, () -> m.predict(y), what + " input " + v);
              assertCode(ErrorCode.INVALID_INPUT, () -> m.classify(y), what + " input " + v);
              float[] ys = new float[2 * 72];
              System.arraycopy(y, 0, ys, 72, 72);
              assertCode(ErrorCode.INVALID_INPUT, () -> m.predictBatch(ys, 2),
                  what + " batch input " + v);
              assertCode(ErrorCode.INVALID_INPUT, () -> m.predictBatch(ys, 2, pool, 2),
                  what + " batch over an executor, input " + v);
            }
          }
        }
      }
    } finally {
      pool.shutdownNow();
    }
  }
}
