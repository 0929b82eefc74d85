import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.pd2java.runtime.ModelRegistry;
import org.pd2java.runtime.Pd2JavaException;
import org.pd2java.runtime.Prediction;
import org.pd2java.runtime.Prpd;
import org.pd2java.runtime.RegistryListener;
import org.pd2java.runtime.RegistryOptions;

/**
 * A partial-discharge monitor in miniature: one resident model per product, several devices
 * whose data arrive as PRPD count histograms, PRPS matrices or pulse lists, and a diagnosis
 * table.
 *
 * <pre>
 * java -cp pd2java-runtime.jar:classes Monitor DIR
 * </pre>
 *
 * DIR holds {@code models/<product>/} (one pd2java export per product, the registry's layout)
 * and {@code devices.csv} (device, product, format, file, full_scale). Formats: {@code prpd}
 * (60 rows of 120 pulse counts), {@code prps} (one row per AC cycle, one column per phase
 * window, 8-bit peak amplitudes, 0 for no pulse) and {@code pulses} (a header, then one
 * {@code phase_deg,amplitude} line per pulse). Exit status 0, or 1 when a device could not be
 * diagnosed.
 */
public final class Monitor {
  private Monitor() {}

  public static void main(String[] args) throws IOException {
    if (args.length != 1) {
      System.err.println("usage: java Monitor DIR (with DIR/models/<product>/ and DIR/devices.csv)");
      System.exit(64);
    }
    Path dir = Path.of(args[0]);
    // The registry never prints: the application logs its events its own way.
    RegistryListener log = new RegistryListener() {
      @Override
      public void onFailure(String id, Pd2JavaException error, org.pd2java.runtime.Model serving) {
        System.err.println("model " + id + " refused: " + error.getMessage());
      }
    };
    int failed = 0;
    try (ModelRegistry registry = ModelRegistry.open(
        dir.resolve("models"), RegistryOptions.defaults().withListener(log))) {
      System.out.printf(Locale.ROOT, "%d models resident (%s), %.2f MB of weights%n",
          registry.ids().size(), String.join(", ", registry.ids()),
          registry.residentBytes() / 1e6);
      System.out.printf(Locale.ROOT, "%-12s %-12s %-7s %9s  %-22s %6s  %s%n",
          "device", "product", "format", "pulses", "diagnosis", "score", "runner-up");
      List<String> lines = Files.readAllLines(dir.resolve("devices.csv"));
      for (String line : lines.subList(1, lines.size())) {
        String[] f = line.split(",");
        String device = f[0];
        String product = f[1];
        String format = f[2];
        Path file = dir.resolve(f[3]);
        double fullScale = Double.parseDouble(f[4]);
        try {
          Prpd image = switch (format) {
            case "prpd" -> Prpd.fromCounts(readCounts(file));
            case "prps" -> Prpd.fromPrps(readMatrix(file), fullScale);
            case "pulses" -> readPulses(file, fullScale);
            default -> throw new IllegalArgumentException("unknown format " + format);
          };
          Prediction p = registry.classify(product, image);
          String diagnosis = p.hasActivity() ? p.label() : "(no PD activity)";
          String score = p.hasActivity() ? String.format(Locale.ROOT, "%.3f", p.score()) : "";
          String second = "";
          if (p.hasActivity() && p.scores().length > 1) {
            int k = p.topK(2)[1];
            second = String.format(Locale.ROOT, "%s %.3f",
                registry.get(product).classes().get(k), p.scores()[k]);
          }
          System.out.printf(Locale.ROOT, "%-12s %-12s %-7s %9.0f  %-22s %6s  %s%n",
              device, product, format, image.pulses(), diagnosis, score, second);
        } catch (RuntimeException | IOException e) {
          failed++;
          System.out.printf(Locale.ROOT, "%-12s %-12s %-7s  cannot diagnose: %s%n",
              device, product, format, e.getMessage());
        }
      }
      registry.stats().forEach((id, s) -> System.out.printf(Locale.ROOT,
          "model %-12s %d calls, loaded in %.0f ms%n", id, s.calls(), s.loadMillis()));
    }
    System.exit(failed == 0 ? 0 : 1);
  }

  /** 60 lines of 120 comma-separated counts, row 0 the lowest amplitude bin. */
  static int[] readCounts(Path file) throws IOException {
    float[][] m = readMatrix(file);
    if (m.length != Prpd.AMPLITUDE_BINS) {
      throw new IOException(file + ": " + m.length + " rows, expected " + Prpd.AMPLITUDE_BINS);
    }
    int[] counts = new int[Prpd.SIZE];
    for (int a = 0; a < m.length; a++) {
      if (m[a].length != Prpd.PHASE_BINS) {
        throw new IOException(file + ": row " + a + " has " + m[a].length + " values");
      }
      for (int p = 0; p < Prpd.PHASE_BINS; p++) {
        counts[a * Prpd.PHASE_BINS + p] = Math.round(m[a][p]);
      }
    }
    return counts;
  }

  /** Comma-separated numbers, one row per line. */
  static float[][] readMatrix(Path file) throws IOException {
    List<float[]> rows = new ArrayList<>();
    for (String line : Files.readAllLines(file)) {
      if (line.isBlank()) {
        continue;
      }
      String[] cells = line.split(",");
      float[] row = new float[cells.length];
      for (int i = 0; i < cells.length; i++) {
        row[i] = Float.parseFloat(cells[i].trim());
      }
      rows.add(row);
    }
    return rows.toArray(new float[0][]);
  }

  /** A header line, then {@code phase_deg,amplitude} per pulse. */
  static Prpd readPulses(Path file, double fullScale) throws IOException {
    List<String> lines = Files.readAllLines(file);
    double[] phase = new double[lines.size() - 1];
    double[] amplitude = new double[lines.size() - 1];
    for (int i = 1; i < lines.size(); i++) {
      String[] f = lines.get(i).split(",");
      phase[i - 1] = Double.parseDouble(f[0]);
      amplitude[i - 1] = Double.parseDouble(f[1]);
    }
    return Prpd.fromPulses(phase, amplitude, fullScale);
  }
}
