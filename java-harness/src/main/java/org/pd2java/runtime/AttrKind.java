package org.pd2java.runtime;

/** The kind of a node attribute, as in pd2java.ops.table. */
enum AttrKind {
  /** A JSON integer (fits a Java int). */
  INT("int"),
  /** A JSON number (finite). */
  FLOAT("float"),
  /** JSON true or false. */
  BOOL("bool"),
  /** A JSON array of exactly two integers: [height, width], or [begin, end] of a padding. */
  INT2("int2"),
  /** A JSON array of 1..{@link FormatRules#MAX_INTS_LENGTH} integers (a per-sample shape). */
  INTS("ints");

  private final String jsonName;

  AttrKind(String jsonName) {
    this.jsonName = jsonName;
  }

  /** @return the kind's name in the op table and OPS.md ({@code int}, {@code int2}, ...) */
  public String jsonName() {
    return jsonName;
  }
}
