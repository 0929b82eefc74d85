package org.pd2java.gateway;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.pd2java.runtime.LoadOptions;
import org.pd2java.runtime.Model;
import org.pd2java.runtime.Pd2JavaException;

/**
 * The py4j entry point for parity tests: loads models with the pd2java runtime and runs them on
 * tensors passed as little-endian float32 {@code byte[]}.
 *
 * <p>Loaded models are cached by absolute manifest path and self-test flag, and reused while the
 * manifest's modification time and size (and those of the conventional weights file beside it,
 * {@code <name>.safetensors}) are unchanged, so a re-export at the same path is picked up and an
 * unchanged model is loaded once per JVM. This class lives beside the runtime, never inside its jar: the
 * runtime has no py4j dependency.
 */
public final class Gateway {
  private record Key(String path, boolean selfTest) {}

  private record Entry(String stamp, Model model) {}

  private final ConcurrentHashMap<Key, Entry> cache = new ConcurrentHashMap<>();

  /** Creates a gateway with an empty model cache. */
  public Gateway() {}

  /**
   * Loads (or reuses) the model for a manifest.
   *
   * @param manifest path of the {@code .manifest.json}
   * @param selfTest whether the load-time golden-vector self-test runs
   * @return the model
   * @throws Pd2JavaException if the runtime refuses the model
   * @throws IOException if the manifest cannot be inspected
   */
  public Model model(String manifest, boolean selfTest) throws IOException {
    Path path = Paths.get(manifest).toAbsolutePath().normalize();
    LoadOptions options = LoadOptions.defaults().withSelfTest(selfTest);
    String stamp;
    try {
      stamp = stamp(path);
    } catch (IOException e) {
      return Model.load(path, options); // not cacheable: the runtime's typed error says why
    }
    String file = path.getFileName().toString();
    if (file.endsWith(".manifest.json")) {
      Path weights =
          path.resolveSibling(file.substring(0, file.length() - ".manifest.json".length())
              + ".safetensors");
      if (Files.isRegularFile(weights)) {
        stamp += "|" + stamp(weights);
      }
    }
    Key key = new Key(path.toString(), selfTest);
    Entry hit = cache.get(key);
    if (hit != null && hit.stamp().equals(stamp)) {
      return hit.model();
    }
    Model model = Model.load(path, options);
    cache.put(key, new Entry(stamp, model));
    return model;
  }

  private static String stamp(Path file) throws IOException {
    BasicFileAttributes attrs = Files.readAttributes(file, BasicFileAttributes.class);
    return attrs.lastModifiedTime().to(TimeUnit.NANOSECONDS) + ":" + attrs.size();
  }

  /**
   * Describes a model as a small JSON object: name, classes, input shape, outputs, and the bytes
   * its weights take in memory ({@link Model#weightBytes()}, compressed weights compressed).
   *
   * @param manifest path of the manifest
   * @param selfTest whether the load-time self-test runs
   * @return JSON text
   * @throws IOException if the manifest cannot be inspected
   */
  public String info(String manifest, boolean selfTest) throws IOException {
    Model m = model(manifest, selfTest);
    StringBuilder sb = new StringBuilder("{\"name\":");
    quote(sb, m.name());
    sb.append(",\"classes\":");
    List<String> classes = m.classes();
    if (classes.isEmpty()) {
      sb.append("null");
    } else {
      sb.append('[');
      for (int i = 0; i < classes.size(); i++) {
        if (i > 0) {
          sb.append(',');
        }
        quote(sb, classes.get(i));
      }
      sb.append(']');
    }
    sb.append(",\"input_shape\":");
    ints(sb, m.inputShape());
    sb.append(",\"outputs\":[");
    for (int k = 0; k < m.outputCount(); k++) {
      sb.append(k == 0 ? "{\"name\":" : ",{\"name\":");
      quote(sb, m.outputName(k));
      sb.append(",\"shape\":");
      ints(sb, m.outputShape(k));
      sb.append(",\"kind\":");
      quote(sb, m.outputKind(k));
      sb.append('}');
    }
    sb.append("],\"weight_bytes\":").append(m.weightBytes());
    sb.append(",\"kernels\":");
    quote(sb, m.kernelInfo());
    return sb.append('}').toString();
  }

  /**
   * Runs a batch.
   *
   * @param manifest path of the manifest
   * @param xs {@code n} consecutive samples as little-endian float32
   * @param n the batch size
   * @param selfTest whether the load-time self-test runs (on first load only)
   * @return every output in turn (output 0's {@code n} consecutive values, then output 1's, ...)
   *     as little-endian float32
   * @throws IOException if the manifest cannot be inspected
   */
  public byte[] predict(String manifest, byte[] xs, int n, boolean selfTest) throws IOException {
    Model m = model(manifest, selfTest);
    float[][] outs = m.predictBatchAll(Floats.fromBytes(xs), n);
    int total = 0;
    for (float[] o : outs) {
      total += o.length;
    }
    float[] all = new float[total];
    int at = 0;
    for (float[] o : outs) {
      System.arraycopy(o, 0, all, at, o.length);
      at += o.length;
    }
    return Floats.toBytes(all);
  }

  /**
   * Runs one sample and returns every node's output.
   *
   * @param manifest path of the manifest
   * @param chw one sample as little-endian float32
   * @param selfTest whether the load-time self-test runs (on first load only)
   * @return the node outputs
   * @throws IOException if the manifest cannot be inspected
   */
  public LayerOutputs layerOutputs(String manifest, byte[] chw, boolean selfTest)
      throws IOException {
    Model m = model(manifest, selfTest);
    return new LayerOutputs(m.runLayers(Floats.fromBytes(chw)));
  }

  /**
   * Forgets every cached model.
   */
  public void clear() {
    cache.clear();
  }

  /**
   * The runtime error code of a throwable raised through py4j, so Python can raise a typed error.
   *
   * @param t any throwable
   * @return the code's name for a {@link Pd2JavaException} (also when it is the cause), else null
   */
  public static String errorCode(Throwable t) {
    // Bounded walk: a cause chain can, in principle, be cyclic.
    Throwable c = t;
    for (int depth = 0; c != null && depth < 32; depth++, c = c.getCause()) {
      if (c instanceof Pd2JavaException p) {
        return String.valueOf(p.code());
      }
    }
    return null;
  }

  /**
   * A throwable's message, falling back to its class name when it has none.
   *
   * @param t any throwable
   * @return the text
   */
  public static String describe(Throwable t) {
    String msg = t.getMessage();
    return msg == null ? t.getClass().getName() : msg;
  }

  static void quote(StringBuilder sb, String s) {
    sb.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> sb.append("\\\"");
        case '\\' -> sb.append("\\\\");
        case '\n' -> sb.append("\\n");
        case '\r' -> sb.append("\\r");
        case '\t' -> sb.append("\\t");
        default -> {
          if (c < 0x20) {
            sb.append(String.format("\\u%04x", (int) c));
          } else {
            sb.append(c);
          }
        }
      }
    }
    sb.append('"');
  }

  static void ints(StringBuilder sb, int[] values) {
    sb.append('[');
    for (int i = 0; i < values.length; i++) {
      if (i > 0) {
        sb.append(',');
      }
      sb.append(values[i]);
    }
    sb.append(']');
  }
}
