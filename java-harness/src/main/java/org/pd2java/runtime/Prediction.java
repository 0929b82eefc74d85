package org.pd2java.runtime;

import java.util.Arrays;

/**
 * The result of {@link Model#classify(float[])}: the top class and every score of the primary
 * output. Immutable; the arrays it returns are copies.
 *
 * <p>What the scores are depends on the output's kind ({@link #kind()}): probabilities when the
 * model ends in softmax or sigmoid, else logits (raw scores). {@link #scores()} always answers;
 * {@link #probabilities()} and {@link #probability()} answer only for a probabilities output and
 * throw for logits, so a logit is never mistaken for a probability.
 *
 * <p>A model whose input follows the PRPD image convention answers an image with no PD activity
 * (every value zero) with a distinct result instead of a class: {@link #hasActivity()} is false,
 * {@link #label()} is {@link #NO_ACTIVITY}, {@link #index()} is -1 and there are no scores
 * (docs/JAVA.md, "Input checks").
 *
 * <p>{@link #confident()} says whether the top score reaches the manifest's confidence threshold
 * (the {@code confidence} key a calibrated training run writes): false means "unsure", an image
 * unlike those the model was trained on or too ambiguous to alarm on. {@link #label()} stays the
 * top class either way; the caller decides what an unsure answer does.
 */
public final class Prediction {
  /** The label of a no-activity result. */
  public static final String NO_ACTIVITY = "no_activity";

  private static final float[] NONE = new float[0];

  private final String label;
  private final int index;
  private final float[] scores;
  private final String kind;
  private final boolean confident;

  /** A prediction of a model without a confidence threshold: confident when it has a class. */
  Prediction(String label, int index, float[] scores, String kind) {
    this(label, index, scores, kind, index >= 0);
  }

  Prediction(String label, int index, float[] scores, String kind, boolean confident) {
    this.label = label;
    this.index = index;
    this.scores = scores.clone();
    this.kind = kind;
    this.confident = confident && index >= 0;
  }

  /** The answer to an image with no PD activity. */
  static Prediction noActivity(String kind) {
    return new Prediction(NO_ACTIVITY, -1, NONE, kind, false);
  }

  /**
   * @return false for the answer to an image with no PD activity (no class was predicted), true
   *     otherwise
   */
  public boolean hasActivity() {
    return index >= 0;
  }

  /**
   * @return the top class's name from the manifest's {@code classes}, its index as a string when
   *     the manifest has no class names, or {@link #NO_ACTIVITY}
   */
  public String label() {
    return label;
  }

  /**
   * Whether the model is sure enough to act on: the top score ({@link #score()}) is at or above
   * the manifest's confidence threshold ({@link ModelMetadata#confidenceThreshold()}).
   *
   * @return true when the score reaches the threshold, or when the manifest has no threshold;
   *     false below it, and false for a no-activity result (there is no class to be sure of)
   */
  public boolean confident() {
    return confident;
  }

  /** @return index of the top class (the first one on ties), or -1 for no activity */
  public int index() {
    return index;
  }

  /** @return the primary output's kind: {@code "probabilities"} or {@code "logits"} */
  public String kind() {
    return kind;
  }

  /**
   * The model's primary output for the sample, whatever its kind (probabilities or logits).
   *
   * @return one score per class (a copy); empty for no activity
   */
  public float[] scores() {
    return scores.clone();
  }

  /** @return the top class's score; NaN for no activity */
  public float score() {
    return index < 0 ? Float.NaN : scores[index];
  }

  /**
   * The class probabilities, when the model outputs probabilities.
   *
   * @return one probability per class (a copy); empty for no activity
   * @throws IllegalStateException when the output is logits: use {@link #scores()}
   */
  public float[] probabilities() {
    requireProbabilities("probabilities()");
    return scores.clone();
  }

  /**
   * @return the top class's probability; NaN for no activity
   * @throws IllegalStateException when the output is logits: use {@link #score()}
   */
  public float probability() {
    requireProbabilities("probability()");
    return score();
  }

  private void requireProbabilities(String what) {
    if (!kind.equals("probabilities")) {
      throw new IllegalStateException(
          what + ": this model's primary output is " + kind + " (raw scores, not "
              + "probabilities); use scores() or score(), or apply softmax to scores() yourself "
              + "if the model was trained with a softmax cross-entropy loss");
    }
  }

  /**
   * The indices of the {@code k} highest scores, highest first; equal scores keep class order
   * (the lower index first), so {@code topK(1)[0] == index()}. A NaN never occurs here: a
   * non-finite output is refused before a prediction is made.
   *
   * @param k how many, at least 1; more than the number of classes gives them all
   * @return class indices, best first; empty for no activity
   * @throws IllegalArgumentException if {@code k < 1}
   */
  public int[] topK(int k) {
    if (k < 1) {
      throw new IllegalArgumentException("topK: k is " + k + ", must be at least 1");
    }
    int n = Math.min(k, scores.length);
    int[] order = new int[n];
    boolean[] taken = new boolean[scores.length];
    for (int r = 0; r < n; r++) {
      int best = -1;
      for (int i = 0; i < scores.length; i++) {
        if (!taken[i] && (best < 0 || scores[i] > scores[best])) {
          best = i;
        }
      }
      taken[best] = true;
      order[r] = best;
    }
    return order;
  }

  @Override
  public String toString() {
    return hasActivity()
        ? "Prediction[" + label + " (" + index + ")" + (confident ? "" : ", unsure") + ", " + kind
            + " " + Arrays.toString(scores) + "]"
        : "Prediction[" + NO_ACTIVITY + "]";
  }
}
