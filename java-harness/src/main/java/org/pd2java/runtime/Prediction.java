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

  /** @return the top class's output value */
  public float probability() {
    return probabilities[index];
  }

  @Override
  public String toString() {
    return "Prediction[" + label + " (" + index + "), " + Arrays.toString(probabilities) + "]";
  }
}
