package org.pd2java.runtime;

import java.util.List;

/**
 * The PRPD image convention a model's input follows, as the manifest states it ({@code
 * input.image_convention}; docs/PRPD.md section 1): the image shape and what each axis and value
 * mean. pd2java's own convention is 60 amplitude bins by 120 phase bins of 3 degrees from the
 * positive-going zero crossing, valued {@code log1p(count) / max(log1p(count))}; {@link Prpd}
 * builds such images from counts, pulses or PRPS.
 *
 * @param shape the image's size, [amplitude bins, phase bins]
 * @param axis0 what axis 0 (rows) is
 * @param axis1 what axis 1 (columns) is
 * @param value what a value is
 * @param pngRows how a PNG file of the image is oriented
 */
public record ImageConvention(
    List<Integer> shape, String axis0, String axis1, String value, String pngRows) {
  /** Copies {@code shape}, so the record is immutable. */
  public ImageConvention {
    shape = List.copyOf(shape);
  }
}
