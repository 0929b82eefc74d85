package org.pd2java.runtime;

/**
 * The one exception type of the runtime. {@link #code()} says which rule was broken; the message
 * names the file and, where there is one, the node, then the rule, e.g. {@code [UNKNOWN_OP]
 * m.manifest.json: node 'conv1': unknown op 'conv3d@1'; known: ...}.
 */
public final class Pd2JavaException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final ErrorCode code;
  private final String file;
  private final String node;

  /**
   * Creates an exception.
   *
   * @param code the kind of rule broken
   * @param file the file concerned, or null
   * @param node the node concerned, or null
   * @param rule what was wrong, in words
   */
  public Pd2JavaException(ErrorCode code, String file, String node, String rule) {
    this(code, file, node, rule, null);
  }

  /**
   * Creates an exception with a cause.
   *
   * @param code the kind of rule broken
   * @param file the file concerned, or null
   * @param node the node concerned, or null
   * @param rule what was wrong, in words
   * @param cause the underlying exception, or null
   */
  public Pd2JavaException(ErrorCode code, String file, String node, String rule, Throwable cause) {
    super(format(code, file, node, rule), cause);
    this.code = code;
    this.file = file;
    this.node = node;
  }

  private static String format(ErrorCode code, String file, String node, String rule) {
    StringBuilder sb = new StringBuilder();
    sb.append('[').append(code).append("] ");
    if (file != null) {
      sb.append(file).append(": ");
    }
    if (node != null) {
      sb.append("node '").append(node).append("': ");
    }
    return sb.append(rule).toString();
  }

  /** @return the kind of rule that was broken */
  public ErrorCode code() {
    return code;
  }

  /** @return the file concerned, or null */
  public String file() {
    return file;
  }

  /** @return the node concerned, or null */
  public String node() {
    return node;
  }
}
