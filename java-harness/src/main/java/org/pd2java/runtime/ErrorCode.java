package org.pd2java.runtime;

/**
 * What kind of rule a {@link Pd2JavaException} reports. Callers can branch on the code; the
 * message carries the details (file, node, rule).
 */
public enum ErrorCode {
  /** A file could not be read (missing, unreadable, too large for this runtime). */
  IO_ERROR,
  /** A JSON document (manifest or safetensors header) is not strictly valid JSON. */
  INVALID_JSON,
  /** A JSON document exceeds a reader limit (size, nesting depth, number or string length). */
  JSON_LIMIT_EXCEEDED,
  /** The manifest's {@code format} is not {@code "pd2java.manifest"}. */
  UNSUPPORTED_FORMAT,
  /** The manifest's {@code format_version} is unknown (for example written by a newer pd2java). */
  UNSUPPORTED_FORMAT_VERSION,
  /** A manifest key is missing, has the wrong type or an invalid value. */
  INVALID_MANIFEST,
  /** {@code weights.file} is not a bare file name in the manifest's folder. */
  UNSAFE_WEIGHTS_PATH,
  /** The weights file's byte size differs from {@code weights.bytes}. */
  WEIGHTS_SIZE_MISMATCH,
  /** The weights file's SHA-256 differs from {@code weights.sha256}. */
  WEIGHTS_CHECKSUM_MISMATCH,
  /** The weights file breaks a safetensors rule (header, offsets, shapes, trailing bytes). */
  INVALID_SAFETENSORS,
  /** A referenced tensor has a dtype this runtime does not support. */
  UNSUPPORTED_DTYPE,
  /** A weight (or golden vector) holds NaN or infinity. */
  NON_FINITE_WEIGHT,
  /** A tensor named by the manifest is not in the weights file. */
  MISSING_TENSOR,
  /** A node's {@code op@version} is not in the registry. */
  UNKNOWN_OP,
  /** A node attribute is missing, extra, of the wrong kind or has an invalid value. */
  INVALID_ATTRIBUTE,
  /** A node parameter slot is missing, extra, or its tensor has the wrong shape. */
  INVALID_PARAMETER,
  /** A declared shape disagrees with the shape recomputed from inputs and attributes. */
  SHAPE_MISMATCH,
  /** The graph wiring is wrong (unknown input value, duplicate names, missing output). */
  INVALID_GRAPH,
  /** The embedded golden vectors were not reproduced within their tolerance. */
  SELF_TEST_FAILED,
  /** An inference input has the wrong length or holds NaN or infinity. */
  INVALID_INPUT
}
