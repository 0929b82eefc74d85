package org.pd2java.runtime;

import java.util.List;

/**
 * One op of the runtime: an entry of pd2java's op table (name, version, number of inputs,
 * parameter slots and attributes, from the generated {@link OpTable}) joined by {@link OpRegistry}
 * with the factory that compiles a node of this op into a {@link Kernel}.
 */
final class OpSpec {
  private final String name;
  private final int version;
  private final int numInputs;
  private final List<ParamSpec> params;
  private final List<AttrSpec> attrs;
  private final KernelFactory factory;

  OpSpec(
      String name,
      int version,
      int numInputs,
      List<ParamSpec> params,
      List<AttrSpec> attrs,
      KernelFactory factory) {
    this.name = name;
    this.version = version;
    this.numInputs = numInputs;
    this.params = List.copyOf(params);
    this.attrs = List.copyOf(attrs);
    this.factory = factory;
  }

  /** @return op name, e.g. {@code conv2d} */
  public String name() {
    return name;
  }

  /** @return op version */
  public int version() {
    return version;
  }

  /** @return {@code name@version} */
  public String key() {
    return name + "@" + version;
  }

  /** @return number of value inputs */
  public int numInputs() {
    return numInputs;
  }

  /** @return parameter slots, in table order */
  public List<ParamSpec> params() {
    return params;
  }

  /** @return attributes, in table order */
  public List<AttrSpec> attrs() {
    return attrs;
  }

  KernelFactory factory() {
    return factory;
  }
}
