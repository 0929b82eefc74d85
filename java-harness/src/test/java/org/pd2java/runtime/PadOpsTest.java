package org.pd2java.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.pd2java.runtime.Fixture.map;
import static org.pd2java.runtime.KernelTesting.s;
import static org.pd2java.runtime.KernelTesting.seq;

import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hand-checked small cases for the padding ops (circular, constant, reflection, replication),
 * run through the real loader. The input of most cases is one 2 x 3 plane
 *
 * <pre>
 *   1 2 3
 *   4 5 6
 * </pre>
 */
class PadOpsTest {
  @TempDir Path dir;

  private float[] run(Fixture f, float[] x, String node) throws IOException {
    return KernelTesting.run(dir, f, x, node, 0f);
  }

  private static Fixture pad(int[] in, String op, int[] ph, int[] pw, int[] out) {
    return new Fixture(in).node("p", op, map("pad_h", ph, "pad_w", pw), out);
  }

  @Test
  void circularWrapsBothAxesPerChannel() throws IOException {
    // top 1 row = the last row; left 1 column = the last column; right 2 = the first two.
    Fixture f = pad(s(2, 2, 3), "circular_pad2d", s(1, 0), s(1, 2), s(2, 3, 6));
    float[] plane0 = {6, 4, 5, 6, 4, 5, 3, 1, 2, 3, 1, 2, 6, 4, 5, 6, 4, 5};
    float[] want = new float[36];
    for (int i = 0; i < 18; i++) {
      want[i] = plane0[i];
      want[18 + i] = plane0[i] + 6; // channel 1 holds 7..12
    }
    assertArrayEquals(want, run(f, seq(12, 1), "p"), 0f);
  }

  @Test
  void circularPadEqualToTheExtentIsAccepted() throws IOException {
    Fixture f = pad(s(1, 2, 3), "circular_pad2d", s(2, 2), s(0, 0), s(1, 6, 3));
    float[] want = {1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6};
    assertArrayEquals(want, run(f, seq(6, 1), "p"), 0f);
  }

  @Test
  void constantFillsWithValue() throws IOException {
    Fixture f = new Fixture(1, 2, 3).node("p", "constant_pad2d",
        map("pad_h", s(0, 1), "pad_w", s(2, 0), "value", -1.5), s(1, 3, 5));
    float[] want = {-1.5f, -1.5f, 1, 2, 3, -1.5f, -1.5f, 4, 5, 6, -1.5f, -1.5f, -1.5f, -1.5f,
        -1.5f};
    assertArrayEquals(want, run(f, seq(6, 1), "p"), 0f);
  }

  @Test
  void reflectionMirrorsWithoutRepeatingTheEdge() throws IOException {
    Fixture f = pad(s(1, 2, 3), "reflection_pad2d", s(1, 1), s(2, 1), s(1, 4, 6));
    float[] want = {6, 5, 4, 5, 6, 5, 3, 2, 1, 2, 3, 2, 6, 5, 4, 5, 6, 5, 3, 2, 1, 2, 3, 2};
    assertArrayEquals(want, run(f, seq(6, 1), "p"), 0f);
  }

  @Test
  void replicationRepeatsTheEdge() throws IOException {
    Fixture f = pad(s(1, 2, 3), "replication_pad2d", s(2, 0), s(0, 1), s(1, 4, 4));
    float[] want = {1, 2, 3, 3, 1, 2, 3, 3, 1, 2, 3, 3, 4, 5, 6, 6};
    assertArrayEquals(want, run(f, seq(6, 1), "p"), 0f);
  }

  @Test
  void replicationOfAOneByOneMap() throws IOException {
    Fixture f = pad(s(1, 1, 1), "replication_pad2d", s(1, 1), s(1, 0), s(1, 3, 2));
    assertArrayEquals(new float[] {7, 7, 7, 7, 7, 7}, run(f, new float[] {7}, "p"), 0f);
  }

  private void refused(Fixture f, ErrorCode code, String text) {
    Pd2JavaException e = assertThrows(Pd2JavaException.class, () -> run(f, seq(6, 1), "p"));
    assertEquals(code, e.code(), e.getMessage());
    assertEquals("p", e.node());
    assertTrue(e.getMessage().contains(text), e.getMessage());
  }

  @Test
  void refusesNegativePadsAsInvalidAttribute() {
    for (String op : new String[] {"circular_pad2d", "reflection_pad2d", "replication_pad2d"}) {
      refused(pad(s(1, 2, 3), op, s(0, 0), s(-1, 0), s(1, 2, 2)), ErrorCode.INVALID_ATTRIBUTE,
          "pad_w");
    }
    Fixture c = new Fixture(1, 2, 3).node("p", "constant_pad2d",
        map("pad_h", s(0, -1), "pad_w", s(0, 0), "value", 0.0), s(1, 1, 3));
    refused(c, ErrorCode.INVALID_ATTRIBUTE, "pad_h");
  }

  @Test
  void refusesAValueThatOverflowsAFloat() {
    Fixture f = new Fixture(1, 2, 3).node("p", "constant_pad2d",
        map("pad_h", s(1, 0), "pad_w", s(0, 0), "value", 1e39), s(1, 3, 3));
    refused(f, ErrorCode.INVALID_ATTRIBUTE, "'value'");
  }

  @Test
  void refusesPadsBeyondWhatPyTorchAllowsAsShapeMismatch() {
    // circular: pad <= extent (H is 2); reflection: pad < extent (W is 3)
    refused(pad(s(1, 2, 3), "circular_pad2d", s(3, 0), s(0, 0), s(1, 5, 3)),
        ErrorCode.SHAPE_MISMATCH, "circular padding [3, 0] exceeds the input height 2");
    refused(pad(s(1, 2, 3), "reflection_pad2d", s(0, 0), s(0, 3), s(1, 2, 6)),
        ErrorCode.SHAPE_MISMATCH, "reflection padding [0, 3] is not below the input width 3");
  }
}
