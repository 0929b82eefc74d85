package org.pd2java.runtime;

import java.util.List;

/**
 * One parameter slot of an op, as listed by the generated {@link OpTable}.
 *
 * @param name slot name ({@code weight}, {@code bias}, ...)
 * @param optional whether the manifest may give {@code null} for it
 * @param nonnegative whether every element must be {@code >= 0} (a batch norm's running variance)
 * @param dtypes the safetensors dtypes its tensor may have in format version 3 (F32 only before)
 */
record ParamSpec(String name, boolean optional, boolean nonnegative, List<String> dtypes) {
  /** @param dtypes the slot's dtypes (copied) */
  public ParamSpec {
    dtypes = List.copyOf(dtypes);
  }
}
