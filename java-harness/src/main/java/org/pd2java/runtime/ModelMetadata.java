package org.pd2java.runtime;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalDouble;

/**
 * What a model's manifest says about it, beyond its nodes: who wrote it, its classes, the
 * convention its input follows, its input and output shapes and kinds, and the weights file's
 * SHA-256. Immutable; from {@link Model#metadata()}.
 */
public final class ModelMetadata {
  /**
   * One model output.
   *
   * @param name the output's value name
   * @param shape its per-sample shape
   * @param kind {@code "probabilities"} or {@code "logits"} (FORMAT.md section 1)
   */
  public record Output(String name, List<Integer> shape, String kind) {
    /** Copies {@code shape}, so the record is immutable. */
    public Output {
      shape = List.copyOf(shape);
    }
  }

  /**
   * The manifest's optional {@code confidence} object: a prediction whose score is below {@code
   * threshold} is unsure ({@link Prediction#confident()} false). Checked at load: the score is
   * {@code "max_probability"} (the primary output's highest probability), the threshold lies in
   * [0, 1] and the primary output is a probabilities vector (FORMAT.md section 1).
   *
   * @param score what is compared with the threshold: {@code "max_probability"}
   * @param threshold the lowest score of a confident prediction
   * @param targetFalseReject the share of in-distribution images the threshold was chosen to
   *     reject (on the training run's validation split), for information
   */
  public record Confidence(String score, double threshold, double targetFalseReject) {}

  private final String name;
  private final int formatVersion;
  private final String minRuntimeVersion;
  private final Map<String, String> producer;
  private final List<String> classes;
  private final String inputName;
  private final List<Integer> inputShape;
  private final ImageConvention imageConvention;
  private final List<Output> outputs;
  private final Confidence confidence;
  private final List<String> transforms;
  private final String weightsFile;
  private final long weightsFileBytes;
  private final String weightsSha256;

  ModelMetadata(
      String name,
      int formatVersion,
      String minRuntimeVersion,
      Map<String, String> producer,
      List<String> classes,
      String inputName,
      int[] inputShape,
      ImageConvention imageConvention,
      List<Output> outputs,
      Confidence confidence,
      List<String> transforms,
      String weightsFile,
      long weightsFileBytes,
      String weightsSha256) {
    this.name = name;
    this.formatVersion = formatVersion;
    this.minRuntimeVersion = minRuntimeVersion;
    this.producer = Map.copyOf(producer);
    this.classes = classes == null ? List.of() : List.copyOf(classes);
    this.inputName = inputName;
    this.inputShape = Arrays.stream(inputShape).boxed().toList();
    this.imageConvention = imageConvention;
    this.outputs = List.copyOf(outputs);
    this.confidence = confidence;
    this.transforms = List.copyOf(transforms);
    this.weightsFile = weightsFile;
    this.weightsFileBytes = weightsFileBytes;
    this.weightsSha256 = weightsSha256;
  }

  /** @return the model's name */
  public String name() {
    return name;
  }

  /** @return the manifest's {@code format_version} */
  public int formatVersion() {
    return formatVersion;
  }

  /**
   * The lowest runtime version the manifest says it needs; a runtime older than that refuses
   * the file at load, so a loaded model's is never above {@link Model#runtimeVersion()}.
   *
   * @return {@code "MAJOR.MINOR.PATCH"}, or empty when the manifest does not say
   */
  public Optional<String> minRuntimeVersion() {
    return Optional.ofNullable(minRuntimeVersion);
  }

  /**
   * Who wrote the file: the manifest's {@code producer} object, each value as a string (a number
   * or boolean as its JSON text, a nested value as JSON). pd2java writes {@code name}, {@code
   * version}, {@code torch}, {@code numpy} and {@code source}.
   *
   * @return key to value, unmodifiable
   */
  public Map<String, String> producer() {
    return producer;
  }

  /** @return the class names of the primary output, in output order; empty when unnamed */
  public List<String> classes() {
    return classes;
  }

  /** @return the input's value name */
  public String inputName() {
    return inputName;
  }

  /** @return the per-sample input shape */
  public List<Integer> inputShape() {
    return inputShape;
  }

  /**
   * The image convention the input follows; models trained by pd2java on PRPD images state it,
   * models imported from elsewhere may not.
   *
   * @return the convention, or empty when the manifest has none
   */
  public Optional<ImageConvention> imageConvention() {
    return Optional.ofNullable(imageConvention);
  }

  /** @return the outputs, the primary one first */
  public List<Output> outputs() {
    return outputs;
  }

  /**
   * The confidence threshold of a classifier whose training run calibrated it (docs/JAVA.md,
   * "Confident or unsure").
   *
   * @return the manifest's {@code confidence} object, or empty when it has none
   */
  public Optional<Confidence> confidence() {
    return Optional.ofNullable(confidence);
  }

  /**
   * @return the lowest score of a confident prediction, or empty when the manifest has no
   *     threshold (then every prediction with activity is confident)
   */
  public OptionalDouble confidenceThreshold() {
    return confidence == null ? OptionalDouble.empty() : OptionalDouble.of(confidence.threshold());
  }

  /** @return the graph transforms the exporter applied (e.g. {@code fold_bn}) */
  public List<String> transforms() {
    return transforms;
  }

  /** @return the weights file's name, as the manifest gives it */
  public String weightsFile() {
    return weightsFile;
  }

  /** @return the weights file's size in bytes (checked at load) */
  public long weightsFileBytes() {
    return weightsFileBytes;
  }

  /** @return the weights file's SHA-256, 64 lowercase hex digits (checked at load) */
  public String weightsSha256() {
    return weightsSha256;
  }

  @Override
  public String toString() {
    return "ModelMetadata[" + name + ", format " + formatVersion + ", classes " + classes
        + ", input " + inputName + " " + inputShape + ", outputs " + outputs
        + (confidence == null ? "" : ", " + confidence) + ", weights "
        + weightsFile + " sha256 " + weightsSha256 + ", producer " + producer + "]";
  }
}
