package org.pd2java.runtime;

/**
 * One parameter slot of an op, as listed by the generated {@link OpTable}.
 *
 * @param name slot name ({@code weight}, {@code bias}, ...)
 * @param optional whether the manifest may give {@code null} for it
 * @param nonnegative whether every element must be {@code >= 0} (a batch norm's running variance)
 */
public record ParamSpec(String name, boolean optional, boolean nonnegative) {}
