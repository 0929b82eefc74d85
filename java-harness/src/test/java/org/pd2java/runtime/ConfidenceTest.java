package org.pd2java.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.pd2java.runtime.Fixture.map;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalDouble;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The manifest's optional confidence threshold: ModelMetadata exposes it, Prediction.confident()
 * applies it (at or above is confident; no threshold means confident; no activity never is), and
 * the loader refuses a malformed one or one on a logits output.
 */
class ConfidenceTest {
  @TempDir Path dir;

  /** MetadataTest's PRPD model (mean pixel m -> logits 4m, 1 - 4m, 0.5 -> softmax). */
  private static Map<String, Object> manifest(String kind, Object confidence) {
    Map<String, Object> man = MetadataTest.prpd(kind).manifest();
    if (confidence != null) {
      man.put("confidence", confidence);
    }
    return man;
  }

  private static Map<String, Object> threshold(double t) {
    return map("score", "max_probability", "threshold", t, "target_false_reject", 0.02);
  }

  private Model load(String kind, Object confidence) throws IOException {
    Path sub = Files.createTempDirectory(dir, "m");
    return Model.load(Fixture.write(sub, manifest(kind, confidence), weights(kind)));
  }

  private static byte[] weights(String kind) {
    return MetadataTest.prpd(kind).weights();
  }

  /** One lit pixel: mean ~ 0, top class "surface" with probability ~ 0.51. */
  private static float[] dot() {
    float[] x = new float[Prpd.SIZE];
    x[121] = 1f;
    return x;
  }

  /** Every pixel lit: mean 1, top class "void" with probability ~ 0.97. */
  private static float[] bright() {
    float[] x = new float[Prpd.SIZE];
    java.util.Arrays.fill(x, 1f);
    return x;
  }

  @Test
  void theThresholdIsExposedAndApplied() throws IOException {
    Model m = load("probabilities", threshold(0.7));
    ModelMetadata md = m.metadata();
    assertEquals(OptionalDouble.of(0.7), md.confidenceThreshold());
    assertEquals(
        Optional.of(new ModelMetadata.Confidence("max_probability", 0.7, 0.02)), md.confidence());
    assertTrue(md.toString().contains("threshold=0.7"), md.toString());

    Prediction unsure = m.classify(dot());
    assertTrue(unsure.hasActivity());
    assertEquals("surface", unsure.label(), "the label stays the top class");
    assertTrue(unsure.score() < 0.7f, "score " + unsure.score());
    assertFalse(unsure.confident());
    assertTrue(unsure.toString().contains("unsure"), unsure.toString());

    Prediction sure = m.classify(bright());
    assertEquals("void", sure.label());
    assertTrue(sure.score() >= 0.7f, "score " + sure.score());
    assertTrue(sure.confident());
    assertFalse(sure.toString().contains("unsure"), sure.toString());

    Prediction none = m.classify(new float[Prpd.SIZE]);
    assertFalse(none.hasActivity());
    assertFalse(none.confident(), "no activity is never confident");
    int[] counts = new int[Prpd.SIZE];
    counts[40] = 3;
    assertFalse(m.classify(Prpd.fromCounts(counts)).confident());
  }

  @Test
  void withoutAThresholdEveryClassIsConfident() throws IOException {
    Model m = load("probabilities", null);
    assertEquals(OptionalDouble.empty(), m.metadata().confidenceThreshold());
    assertEquals(Optional.empty(), m.metadata().confidence());
    assertTrue(m.classify(dot()).confident());
    assertTrue(m.classify(bright()).confident());
    assertFalse(m.classify(new float[Prpd.SIZE]).confident());
    // A logits model has no threshold either: confident whenever there is a class.
    assertTrue(load("logits", null).classify(dot()).confident());
  }

  @Test
  void aScoreEqualToTheThresholdIsConfident() throws IOException {
    float score = load("probabilities", null).classify(dot()).score();
    assertTrue(load("probabilities", threshold(score)).classify(dot()).confident());
    assertFalse(load("probabilities", threshold(Math.nextUp((double) score)))
        .classify(dot()).confident());
    // The bounds of the range: 0 accepts everything, 1 everything but a certainty.
    assertTrue(load("probabilities", threshold(0)).classify(dot()).confident());
    assertFalse(load("probabilities", threshold(1)).classify(bright()).confident());
  }

  @Test
  void extraKeysAreIgnored() throws IOException {
    Map<String, Object> c = threshold(0.5);
    c.put("val_false_reject", 0.01);
    assertEquals(OptionalDouble.of(0.5), load("probabilities", c).metadata().confidenceThreshold());
  }

  @Test
  void malformedThresholdsAreRefused() throws IOException {
    Map<String, Object> noScore = threshold(0.5);
    noScore.remove("score");
    Map<String, Object> noTarget = threshold(0.5);
    noTarget.remove("target_false_reject");
    Map<String, Object> energy = threshold(0.5);
    energy.put("score", "energy");
    Map<String, Object> text = threshold(0.5);
    text.put("threshold", "0.5");
    Map<String, Object> nullThreshold = threshold(0.5);
    nullThreshold.put("threshold", null);
    Map<String, Object> targetOne = threshold(0.5);
    targetOne.put("target_false_reject", 1);
    Map<String, Object> targetBool = threshold(0.5);
    targetBool.put("target_false_reject", true);
    Object[] bad = {
      "max_probability", java.util.List.of(0.5), threshold(1.5), threshold(-0.01), noScore,
      noTarget, energy, text, nullThreshold, targetOne, targetBool
    };
    for (Object c : bad) {
      Pd2JavaException e =
          assertThrows(Pd2JavaException.class, () -> load("probabilities", c), String.valueOf(c));
      assertEquals(ErrorCode.INVALID_MANIFEST, e.code(), e.getMessage());
      assertTrue(e.getMessage().contains("confidence"), e.getMessage());
    }
  }

  @Test
  void aThresholdOnLogitsIsRefused() throws IOException {
    Pd2JavaException e =
        assertThrows(Pd2JavaException.class, () -> load("logits", threshold(0.5)));
    assertEquals(ErrorCode.INVALID_MANIFEST, e.code());
    assertTrue(e.getMessage().contains("kind probabilities"), e.getMessage());
  }
}
