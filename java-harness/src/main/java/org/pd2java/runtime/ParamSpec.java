package org.pd2java.runtime;

/**
 * One parameter slot of an op.
 *
 * @param name slot name ({@code weight}, {@code bias}, ...)
 * @param optional whether the manifest may give {@code null} for it
 */
public record ParamSpec(String name, boolean optional) {}
