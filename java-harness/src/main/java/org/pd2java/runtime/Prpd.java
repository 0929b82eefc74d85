package org.pd2java.runtime;

/**
 * A PRPD image built from a monitor's raw data exactly as the Python package builds it, ready for
 * {@link Model#predict} or {@link Model#classify}. Immutable and thread-safe.
 *
 * <p>The image convention (docs/PRPD.md): {@value #AMPLITUDE_BINS} amplitude bins by {@value
 * #PHASE_BINS} phase bins, row-major {@code [amplitude][phase]}; amplitude bin 0 is the lowest and
 * the top bin holds full scale; phase bin 0 covers the first 3 degrees after the positive-going
 * zero crossing; each value is {@code log1p(count) / max(log1p(count))}, so it lies in [0, 1], and
 * an empty histogram stays all zero. Three sources, each the twin of a Python function:
 *
 * <ul>
 *   <li>{@link #fromCounts(int[])}: a pulse-count histogram ({@code normalize_counts});
 *   <li>{@link #fromPulses}: a list of pulses, phase and amplitude ({@code pulses_to_counts});
 *   <li>{@link #fromPrps}: a PRPS matrix of per-cycle, per-window peak amplitudes ({@code
 *       prps_to_prpd}).
 * </ul>
 *
 * <p><b>Same numbers as Python.</b> Every step repeats the Python computation in the same order
 * in double precision (the same binning, the same phase-window sharing summed in the same order,
 * {@code log1p}, the division by the maximum) and rounds to float only at the end. The one
 * difference is {@code log1p} itself: numpy's and Java's can differ by one double ulp, which after
 * the rounding to float almost never shows; the image is bit-for-bit Python's or, rarely, one float
 * ulp off (docs/PRPD.md, "Preprocessing in Java").
 *
 * <p><b>No activity.</b> Normalisation divides by the image's own maximum, so 3 stray pulses of a
 * quiet device make as bright an image as a burst of millions, and a model classifies it as
 * confidently. {@link #hasActivity()} is false below {@value #MIN_PULSES} pulses; such an
 * acquisition should be reported as "no activity", not classified.
 *
 * <p><b>Bad input</b> (a wrong length, a null or ragged array, a negative, NaN or infinite value,
 * a full scale that is not a positive number) throws {@link Pd2JavaException} with {@link
 * ErrorCode#INVALID_INPUT}, naming the first bad element.
 */
public final class Prpd {
  /** Amplitude bins: the image's rows (axis 0), bin 0 the lowest. */
  public static final int AMPLITUDE_BINS = PrpdConvention.AMPLITUDE_BINS;

  /** Phase bins: the image's columns (axis 1), bin 0 at the positive-going zero crossing. */
  public static final int PHASE_BINS = PrpdConvention.PHASE_BINS;

  /** Degrees of phase per phase bin. */
  public static final double DEGREES_PER_PHASE_BIN = PrpdConvention.DEGREES_PER_PHASE_BIN;

  /** Values in an image, {@code AMPLITUDE_BINS * PHASE_BINS}. */
  public static final int SIZE = AMPLITUDE_BINS * PHASE_BINS;

  /** Fewest pulses in an acquisition for {@link #hasActivity()} (the Python MIN_PULSES). */
  public static final int MIN_PULSES = PrpdConvention.MIN_PULSES;

  private final float[] image;
  private final double pulses;

  private Prpd(float[] image, double pulses) {
    this.image = image;
    this.pulses = pulses;
  }

  /**
   * The image of a pulse-count histogram.
   *
   * @param counts {@value #SIZE} counts, row-major {@code [amplitude bin][phase bin]}, each >= 0
   * @return the image
   * @throws Pd2JavaException INVALID_INPUT on null, a wrong length or a negative count
   */
  public static Prpd fromCounts(int[] counts) {
    String where = "Prpd.fromCounts";
    checkLength(counts == null ? -1 : counts.length, where);
    double[] c = new double[SIZE];
    long total = 0;
    for (int i = 0; i < SIZE; i++) {
      if (counts[i] < 0) {
        throw invalid(where, "counts[" + i + "] " + bins(i) + " is " + counts[i]
            + "; counts must be >= 0");
      }
      c[i] = counts[i];
      total += counts[i];
    }
    return new Prpd(normalize(c), total);
  }

  /**
   * The image of a histogram of counts that may be fractional (e.g. counts shared among phase
   * bins); {@link #pulses()} is their sum, added in index order.
   *
   * @param counts {@value #SIZE} counts, row-major {@code [amplitude bin][phase bin]}, each
   *     finite and >= 0
   * @return the image
   * @throws Pd2JavaException INVALID_INPUT on null, a wrong length or a negative, NaN or infinite
   *     count
   */
  public static Prpd fromCounts(double[] counts) {
    String where = "Prpd.fromCounts";
    checkLength(counts == null ? -1 : counts.length, where);
    double total = 0;
    for (int i = 0; i < SIZE; i++) {
      double v = counts[i];
      if (!Double.isFinite(v) || v < 0) {
        throw invalid(where, "counts[" + i + "] " + bins(i) + " is " + v
            + "; counts must be finite and >= 0");
      }
      total += v;
    }
    return new Prpd(normalize(counts.clone()), total);
  }

  /**
   * The image of a list of pulses (Python: {@code pulses_to_counts}, then the normalisation).
   *
   * <p>A pulse's phase is wrapped modulo 360 degrees (any finite value is allowed); its amplitude
   * is divided by {@code fullScale}, the amplitude of the top bin's upper edge in the same unit.
   * At or above full scale it saturates into the top bin; at or below zero it was never detected
   * and is not counted. {@link #pulses()} is the number of pulses counted.
   *
   * @param phaseDeg each pulse's phase, degrees after the positive-going zero crossing
   * @param amplitude each pulse's amplitude in the monitor's unit (same length as phaseDeg)
   * @param fullScale full scale in that unit, finite and > 0
   * @return the image
   * @throws Pd2JavaException INVALID_INPUT on null or unequal arrays, a NaN or infinite phase or
   *     amplitude, or a full scale that is not a positive number
   */
  public static Prpd fromPulses(double[] phaseDeg, double[] amplitude, double fullScale) {
    return of(pulseCounts(phaseDeg, amplitude, fullScale));
  }

  /** The counts of {@link #fromPulses} before normalisation (Python: pulses_to_counts). */
  static Counts pulseCounts(double[] phaseDeg, double[] amplitude, double fullScale) {
    String where = "Prpd.fromPulses";
    if (phaseDeg == null || amplitude == null) {
      throw invalid(where, (phaseDeg == null ? "phaseDeg" : "amplitude") + " is null");
    }
    if (phaseDeg.length != amplitude.length) {
      throw invalid(where, "phaseDeg has " + phaseDeg.length + " pulses but amplitude has "
          + amplitude.length);
    }
    checkFullScale(fullScale, where);
    int[] counts = new int[SIZE];
    long total = 0;
    for (int i = 0; i < phaseDeg.length; i++) {
      double phase = phaseDeg[i];
      double amp = amplitude[i];
      if (!Double.isFinite(phase)) {
        throw invalid(where, "phaseDeg[" + i + "] is " + phase + "; pulses must be finite");
      }
      if (!Double.isFinite(amp)) {
        throw invalid(where, "amplitude[" + i + "] is " + amp + "; pulses must be finite");
      }
      double frac = amp / fullScale;
      if (!(frac > 0)) {
        continue; // not detected
      }
      // numpy's mod: C fmod (Java's %), moved into [0, 360) when negative; can round to 360.
      double wrapped = phase % 360.0;
      if (wrapped < 0) {
        wrapped += 360.0;
      }
      int phaseBin = Math.min((int) (wrapped / DEGREES_PER_PHASE_BIN), PHASE_BINS - 1);
      counts[ampBin(frac) * PHASE_BINS + phaseBin]++;
      total++;
    }
    double[] c = new double[SIZE];
    for (int i = 0; i < SIZE; i++) {
      c[i] = counts[i];
    }
    return new Counts(c, total);
  }

  /**
   * The image of a PRPS matrix (Python: {@code prps_to_prpd} with {@code amplitude_max =
   * fullScale}).
   *
   * <p>Row {@code c} is AC cycle c, column {@code w} the phase window {@code [w, w + 1) * 360 / W}
   * degrees, and the value the peak amplitude seen there, 0 when nothing was detected. Each
   * non-zero value is one pulse: divided by {@code fullScale}, binned into the 60 amplitude bins
   * (at or above full scale: the top bin) and counted in its window's phase column. With W = 120
   * windows a window is a phase bin; otherwise each window's counts are shared among the 3-degree
   * bins it overlaps, in proportion to the overlap, so counts may be fractional. {@link
   * #pulses()} is the number of non-zero entries (the shared counts add up to it, up to
   * rounding).
   *
   * <p>Full scale is explicit. Python can infer it from the array's type (255 for uint8, 65535
   * for uint16), but a {@code float[][]} has lost that type, and guessing from the largest value
   * would give a quiet 16-bit record the 8-bit scale. 8-bit monitors pass 255, 16-bit ones 65535,
   * data normalised to [0, 1] passes 1.
   *
   * @param prps peak amplitudes, {@code [cycle][window]}, at least one cycle and one window,
   *     every row the same length, each value finite and >= 0
   * @param fullScale full scale in the unit of the values, finite and > 0
   * @return the image
   * @throws Pd2JavaException INVALID_INPUT on an empty, null or ragged matrix, a negative, NaN or
   *     infinite value, or a full scale that is not a positive number
   */
  public static Prpd fromPrps(float[][] prps, double fullScale) {
    return of(prpsCounts(prps, fullScale));
  }

  /** The counts of {@link #fromPrps} before normalisation (Python: prps_counts). */
  static Counts prpsCounts(float[][] prps, double fullScale) {
    String where = "Prpd.fromPrps";
    if (prps == null || prps.length == 0) {
      throw invalid(where, "PRPS needs at least one cycle, got "
          + (prps == null ? "null" : "0 cycles"));
    }
    if (prps[0] == null || prps[0].length == 0) {
      throw invalid(where, "cycle 0 is " + (prps[0] == null ? "null" : "empty")
          + "; PRPS needs at least one phase window");
    }
    checkFullScale(fullScale, where);
    int windows = prps[0].length;
    int[] perWindow = new int[AMPLITUDE_BINS * windows];
    long detected = 0;
    for (int c = 0; c < prps.length; c++) {
      float[] row = prps[c];
      if (row == null || row.length != windows) {
        String has = row == null ? "no row (null)" : row.length + " windows";
        throw invalid(where, "cycle " + c + " has " + has + " but cycle 0 has " + windows
            + "; rows must not be ragged");
      }
      for (int w = 0; w < windows; w++) {
        float v = row[w];
        if (!Float.isFinite(v) || v < 0) {
          throw invalid(where, "(cycle " + c + ", window " + w + ") is " + v
              + "; PRPS holds peak magnitudes, finite and >= 0");
        }
        if (v == 0) {
          continue; // nothing detected
        }
        perWindow[ampBin(v / fullScale) * windows + w]++;
        detected++;
      }
    }
    double[] counts = new double[SIZE];
    if (windows == PHASE_BINS) {
      for (int i = 0; i < SIZE; i++) {
        counts[i] = perWindow[i];
      }
    } else {
      shareWindows(perWindow, windows, counts);
    }
    return new Counts(counts, detected);
  }

  /**
   * The image, row-major {@code [amplitude bin][phase bin]}, values in [0, 1].
   *
   * @return a new array of {@value #SIZE} floats
   */
  public float[] image() {
    return image.clone();
  }

  /**
   * The number of pulses the image was built from, before normalisation: the sum of the counts,
   * the pulses counted by {@link #fromPulses}, the non-zero entries of {@link #fromPrps}.
   *
   * @return the pulse total (a whole number except for fractional counts)
   */
  public double pulses() {
    return pulses;
  }

  /**
   * Whether the acquisition holds PD activity: at least {@value #MIN_PULSES} pulses (compared with
   * {@code MIN_PULSES - 0.5}, as Python's {@code has_activity} does, so shared fractional counts
   * that add up to 9.999999999999998 still count as 10). Without activity the image is noise
   * stretched to full brightness, and a model's answer on it means nothing.
   *
   * @return {@code pulses() >= MIN_PULSES - 0.5}
   */
  public boolean hasActivity() {
    return pulses >= MIN_PULSES - 0.5;
  }

  @Override
  public String toString() {
    return "Prpd[" + AMPLITUDE_BINS + "x" + PHASE_BINS + ", pulses=" + pulses
        + (hasActivity() ? "" : ", no activity") + "]";
  }

  /**
   * A count histogram before normalisation and its pulse total.
   *
   * @param values {@value #SIZE} counts, row-major
   * @param pulses the pulse total
   */
  record Counts(double[] values, double pulses) {}

  /** The image of counts this class owns (normalised in place). */
  private static Prpd of(Counts counts) {
    return new Prpd(normalize(counts.values()), counts.pulses());
  }

  /** The amplitude bin of a value as a fraction of full scale (> 0): Python's binning. */
  private static int ampBin(double frac) {
    // min(frac, 1) first, as Python does: a huge value times 60 would not fit an integer.
    return Math.min((int) (Math.min(frac, 1.0) * AMPLITUDE_BINS), AMPLITUDE_BINS - 1);
  }

  /**
   * Shares per-window counts among the phase bins (Python: {@code share_windows}). Window w covers
   * {@code [w, w + 1) / W} of the cycle and bin b {@code [b, b + 1) / 120}; the share is the
   * overlap times W, computed from the same double edges as {@code phase_overlap}. Each bin's
   * count is summed over its windows in increasing order, one rounding per multiply and add,
   * exactly as Python sums it.
   */
  private static void shareWindows(int[] perWindow, int windows, double[] counts) {
    double[] edgeW = new double[windows + 1];
    for (int i = 0; i <= windows; i++) {
      edgeW[i] = (double) i / windows;
    }
    int[] sources = new int[windows];
    double[] shares = new double[windows];
    for (int b = 0; b < PHASE_BINS; b++) {
      double lo = (double) b / PHASE_BINS;
      double hi = (double) (b + 1) / PHASE_BINS;
      int k = 0;
      for (int w = 0; w < windows; w++) {
        double share = Math.max(Math.min(edgeW[w + 1], hi) - Math.max(edgeW[w], lo), 0.0) * windows;
        if (share > 0) {
          sources[k] = w;
          shares[k++] = share;
        }
      }
      for (int a = 0; a < AMPLITUDE_BINS; a++) {
        double sum = 0.0;
        for (int j = 0; j < k; j++) {
          sum += perWindow[a * windows + sources[j]] * shares[j];
        }
        counts[a * PHASE_BINS + b] = sum;
      }
    }
  }

  /** {@code log1p(c) / max(log1p(c))} in double, then rounded to float; all zero stays zero. */
  private static float[] normalize(double[] counts) {
    double peak = 0;
    for (int i = 0; i < counts.length; i++) {
      // StrictMath: the same bits on every JVM and platform (Math.log1p may differ by an ulp).
      counts[i] = StrictMath.log1p(counts[i]);
      peak = Math.max(peak, counts[i]);
    }
    float[] out = new float[counts.length];
    if (peak <= 0) {
      return out;
    }
    for (int i = 0; i < counts.length; i++) {
      out[i] = (float) (counts[i] / peak);
    }
    return out;
  }

  private static void checkLength(int length, String where) {
    if (length != SIZE) {
      throw invalid(where, "needs " + SIZE + " counts (" + AMPLITUDE_BINS + " amplitude bins x "
          + PHASE_BINS + " phase bins, row-major) but got "
          + (length < 0 ? "null" : String.valueOf(length)));
    }
  }

  private static void checkFullScale(double fullScale, String where) {
    if (!Double.isFinite(fullScale) || fullScale <= 0) {
      throw invalid(where, "fullScale must be a positive number, got " + fullScale);
    }
  }

  private static String bins(int i) {
    return "(amplitude bin " + i / PHASE_BINS + ", phase bin " + i % PHASE_BINS + ")";
  }

  private static Pd2JavaException invalid(String where, String rule) {
    return new Pd2JavaException(ErrorCode.INVALID_INPUT, null, null, where + ": " + rule);
  }
}
