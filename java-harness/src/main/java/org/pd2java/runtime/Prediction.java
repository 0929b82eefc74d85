package org.pd2java.runtime;

import java.util.Arrays;

/**
 * The result of {@link Model#classify(float[])}: the top class and every probability.
 * Immutable; {@link #probabilities()} returns a copy.
 */
public final class Prediction {
  private final String label;
  private final int index;
  private final float[] probabilities;

  Prediction(String label, int index, float[] probabilities) {
    this.label = label;
    this.index = index;
    this.probabilities = probabilities.clone();
  }

  /**
   * @return the top class's name from the manifest's {@code classes}, or its index as a string
   *     when the manifest has no class names
   */
  public String label() {
    return label;
  }

  /** @return index of the top class (the first one on ties) */
  public int index() {
    return index;
  }

  /** @return the model's output for the sample (a copy) */
  public float[] probabilities() {
    return probabilities.clone();
  }

  /**
   * The model's primary output for the sample, whatever its kind (probabilities or logits).
   *
   * @return one score per class (a copy)
   */
  public float[] scores() {
    return probabilities.clone();
  }

  /**
   * The indices of the {@code k} highest scores, highest first; equal scores keep class order
   * (the lower index first), so {@code topK(1)[0] == index()}. A NaN never occurs here: a
   * non-finite output is refused before a prediction is made.
   *
   * @param k how many, at least 1; more than the number of classes gives them all
   * @return class indices, best first
   * @throws IllegalArgumentException if {@code k < 1}
   */
  public int[] topK(int k) {
    if (k < 1) {
      throw new IllegalArgumentException("topK: k is " + k + ", must be at least 1");
    }
    int n = Math.min(k, probabilities.length);
    int[] order = new int[n];
    boolean[] taken = new boolean[probabilities.length];
    for (int r = 0; r < n; r++) {
      int best = -1;
      for (int i = 0; i < probabilities.length; i++) {
        if (!taken[i] && (best < 0 || probabilities[i] > probabilities[best])) {
          best = i;
        }
      }
      taken[best] = true;
      order[r] = best;
    }
    return order;
  }

  /** @return the top class's output value */
  public float probability() {
    return probabilities[index];
  }

  @Override
  public String toString() {
    return "Prediction[" + label + " (" + index + "), " + Arrays.toString(probabilities) + "]";
  }
}
