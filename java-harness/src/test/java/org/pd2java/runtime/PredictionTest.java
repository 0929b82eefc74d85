package org.pd2java.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** Prediction's scores and ranking. */
class PredictionTest {
  @Test
  void scoresAreACopyOfTheOutput() {
    float[] out = {0.1f, 2f, -1f};
    Prediction p = new Prediction("b", 1, out, "logits");
    assertArrayEquals(out, p.scores(), 0f);
    assertNotSame(p.scores(), p.scores());
    p.scores()[0] = 9f;
    assertEquals(0.1f, p.scores()[0]);
  }

  @Test
  void topKRanksHighestFirstWithTiesInClassOrder() {
    Prediction p = new Prediction("c", 2, new float[] {0.5f, 0.2f, 0.9f, 0.5f, -3f}, "logits");
    assertArrayEquals(new int[] {2}, p.topK(1));
    assertEquals(p.index(), p.topK(1)[0]);
    assertArrayEquals(new int[] {2, 0, 3}, p.topK(3));
    assertArrayEquals(new int[] {2, 0, 3, 1, 4}, p.topK(5));
    assertArrayEquals(new int[] {2, 0, 3, 1, 4}, p.topK(50));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> p.topK(0));
    assertEquals("topK: k is 0, must be at least 1", e.getMessage());
  }
}
