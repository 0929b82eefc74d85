package org.pd2java.runtime;

/**
 * One parameter slot of an op.
 *
 * @param name slot name ({@code weight}, {@code bias}, ...)
 * @param optional whether the manifest may give {@code null} for it
 * @param nonnegative whether every element must be {@code >= 0} (a batch norm's running variance)
 */
public record ParamSpec(String name, boolean optional, boolean nonnegative) {
  /**
   * A slot without a value rule.
   *
   * @param name slot name
   * @param optional whether the manifest may give {@code null} for it
   */
  public ParamSpec(String name, boolean optional) {
    this(name, optional, false);
  }
}
