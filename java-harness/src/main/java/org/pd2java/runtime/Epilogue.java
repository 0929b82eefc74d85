package org.pd2java.runtime;

/**
 * What a fused kernel does to each output value after its own sum and bias ({@link
 * PlanFusion}): first add the residual input ({@code inputs[1]}, same shape as the output), then
 * apply a piecewise-linear activation {@code min(max(max(v, slope * v), lo), hi)}.
 *
 * <p>That one form covers relu ({@code slope 0, lo 0}), relu6 ({@code hi 6}), leaky_relu with a
 * slope in [0, 1] and clamp ({@code slope 1}), each exactly as its own kernel computes it
 * for every non-NaN value ({@code max(v, slope * v)} is {@code v} for {@code v >= 0} and {@code
 * slope * v} below when {@code 0 <= slope <= 1}). A NaN stays NaN, as in the fast scalar
 * activation kernels and PyTorch.
 */
record Epilogue(boolean residual, boolean activation, float slope, float lo, float hi) {
  /** Nothing: the kernel's plain output. */
  static final Epilogue NONE = new Epilogue(false, false, 1f, Float.NEGATIVE_INFINITY,
      Float.POSITIVE_INFINITY);

  /** @return this epilogue with the residual add */
  Epilogue withResidual() {
    return new Epilogue(true, activation, slope, lo, hi);
  }

  /** @return this epilogue followed by the activation {@code act} */
  Epilogue withActivation(Act act) {
    return new Epilogue(residual, true, act.slope(), act.lo(), act.hi());
  }

  /** {@link #actMode} bits: max with 0, max with slope * v, the lower bound, the upper bound. */
  static final int ZERO = 1, LEAKY = 2, LOWER = 4, UPPER = 8;

  /**
   * The activation as the few operations it needs (bits {@link #ZERO}, {@link #LEAKY}, {@link
   * #LOWER}, {@link #UPPER}), so a kernel skips the no-ops: relu is one max, leaky_relu a
   * multiply and a max, relu6 two, an unbounded side costs nothing. Same values as {@link #apply}
   * (with slope 0 the {@code max(v, 0 * v)} is {@code max(v, 0)}, and a lower bound of at most 0
   * after it changes nothing).
   */
  int actMode() {
    if (!activation) {
      return 0;
    }
    int mode = slope == 0f ? ZERO : slope != 1f ? LEAKY : 0;
    if (lo > Float.NEGATIVE_INFINITY && !(slope == 0f && lo <= 0f)) {
      mode |= LOWER;
    }
    if (hi < Float.POSITIVE_INFINITY) {
      mode |= UPPER;
    }
    return mode;
  }

  /** The epilogue on one value (for the scalar tails of the vector kernels). */
  float apply(float v, float[] res, int i) {
    if (residual) {
      v += res[i];
    }
    if (activation) {
      v = Math.min(Math.max(Math.max(v, slope * v), lo), hi);
    }
    return v;
  }

  /**
   * An activation as this form's parameters: {@code min(max(max(v, slope * v), lo), hi)}.
   *
   * @param slope the slope below zero; fusable in [0, 1]
   * @param lo the lower bound
   * @param hi the upper bound
   */
  record Act(float slope, float lo, float hi) {
    static final Act RELU = new Act(0f, 0f, Float.POSITIVE_INFINITY);
    static final Act RELU6 = new Act(0f, 0f, 6f);

    static Act leaky(float slope) {
      return new Act(slope, Float.NEGATIVE_INFINITY, Float.POSITIVE_INFINITY);
    }

    static Act clamp(float lo, float hi) {
      return new Act(1f, lo, hi);
    }

    /** @return false when the parameters fall outside the form (no fusion) */
    boolean fusable() {
      return slope >= 0f && slope <= 1f && lo <= hi;
    }
  }

  /** An activation kernel the fusion pass can fold into the kernel before it. */
  interface Activation {
    /** @return what this kernel computes, as {@link Act} parameters */
    Act act();
  }

  /** A kernel that can take an epilogue: the fusion pass asks it for a fused twin. */
  interface Fusable extends Kernel {
    /**
     * @param e the epilogue; its residual, when set, is the second input of the fused kernel
     * @return a kernel computing this one's output followed by {@code e}, sharing this one's
     *     weights, or null when this kernel cannot
     */
    Kernel fused(Epilogue e);

    /** @return the epilogue this kernel already applies */
    Epilogue epilogue();
  }
}
