package org.pd2java.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.pd2java.runtime.Fixture.map;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Model.metadata(), min_runtime_version, what Prediction answers for each output kind, and the
 * input checks of a PRPD model (values in [0, 1], no-activity images).
 */
class MetadataTest {
  @TempDir Path dir;

  /** A PRPD-shaped model: [1, 60, 120] -> global average -> linear 1 -> 3 -> softmax. */
  static Fixture prpd(String kind) {
    Fixture f = new Fixture(1, 60, 120);
    f.classes = List.of("void", "surface", "noise");
    f.imageConvention = Fixture.prpdConvention();
    f.outputKind = kind;
    f.tensor("fc.w", new int[] {3, 1}, 4f, -4f, 0f)
        .tensor("fc.b", new int[] {3}, 0f, 1f, 0.5f)
        .node("pool", "global_avg_pool", map("keepdims", false), new int[] {1})
        .node("fc", "linear", map("in_features", 1, "out_features", 3),
            map("weight", "fc.w", "bias", "fc.b"), new int[] {3});
    if (kind.equals("probabilities")) {
      f.node("prob", "softmax", map("dim", 1), new int[] {3});
    }
    return f;
  }

  private Path sub(String name) throws IOException {
    return Files.createDirectory(dir.resolve(name));
  }

  @Test
  void metadataSaysWhatTheManifestSays() throws IOException {
    Fixture f = prpd("probabilities");
    Path p = f.write(sub("a"));
    Model m = Model.load(p);
    ModelMetadata md = m.metadata();
    assertEquals("m", md.name());
    assertEquals(2, md.formatVersion());
    assertEquals(Optional.empty(), md.minRuntimeVersion());
    assertEquals(Map.of("name", "junit", "version", "0"), md.producer());
    assertEquals(List.of("void", "surface", "noise"), md.classes());
    assertEquals("input", md.inputName());
    assertEquals(List.of(1, 60, 120), md.inputShape());
    ImageConvention c = md.imageConvention().orElseThrow();
    assertEquals(List.of(60, 120), c.shape());
    assertTrue(c.value().startsWith("log1p(count)"), c.value());
    assertTrue(c.axis1().contains("3 degrees"), c.axis1());
    assertEquals(List.of(new ModelMetadata.Output("prob", List.of(3), "probabilities")),
        md.outputs());
    assertEquals("m.safetensors", md.weightsFile());
    byte[] weights = Files.readAllBytes(p.resolveSibling("m.safetensors"));
    assertEquals(weights.length, md.weightsFileBytes());
    assertEquals(ManifestLoader.sha256(weights), md.weightsSha256());
    assertThrows(UnsupportedOperationException.class, () -> md.classes().add("x"));
    assertThrows(UnsupportedOperationException.class, () -> md.producer().put("x", "y"));
  }

  @Test
  void unnamedClassesAndNoConventionAreEmptyNotNull() throws IOException {
    Fixture f = LoaderTest.small();
    f.classes = null;
    Map<String, Object> man = f.manifest();
    LoaderTest.sub(man, "producer").put("nested", map("k", List.of(1, 2.5, true, "s\"q")));
    Model m = Model.load(Fixture.write(sub("b"), man, f.weights()));
    assertEquals(List.of(), m.classes());
    assertEquals(List.of(), m.metadata().classes());
    assertEquals(Optional.empty(), m.metadata().imageConvention());
    assertEquals("{\"k\":[1,2.5,true,\"s\\\"q\"]}", m.metadata().producer().get("nested"));
    assertEquals("0", m.classify(new float[] {1, 1, 1, 1}).label().replaceAll("[12]", "0"));
  }

  @Test
  void minRuntimeVersionGatesTheLoad() throws IOException {
    Fixture f = prpd("probabilities");
    Map<String, Object> man = f.manifest();
    man.put("min_runtime_version", Model.runtimeVersion());
    Model ok = Model.load(Fixture.write(sub("eq"), man, f.weights()));
    assertEquals(Optional.of(Model.runtimeVersion()), ok.metadata().minRuntimeVersion());

    String[] parts = Model.runtimeVersion().split("\\.");
    String next = parts[0] + "." + parts[1] + "." + (Integer.parseInt(parts[2]) + 1);
    man.put("min_runtime_version", next);
    Path p = Fixture.write(sub("newer"), man, f.weights());
    Pd2JavaException e = assertThrows(Pd2JavaException.class, () -> Model.load(p));
    assertEquals(ErrorCode.UNSUPPORTED_FORMAT_VERSION, e.code());
    assertTrue(e.getMessage().contains("needs pd2java runtime " + next), e.getMessage());
    assertTrue(e.getMessage().contains("upgrade"), e.getMessage());

    for (Object bad : new Object[] {"1.2", "1.2.3.4", "01.2.3", "v1.2.3", 3L}) {
      man.put("min_runtime_version", bad);
      Path q = Fixture.write(Files.createTempDirectory(dir, "bad"), man, f.weights());
      Pd2JavaException b = assertThrows(Pd2JavaException.class, () -> Model.load(q));
      assertEquals(ErrorCode.INVALID_MANIFEST, b.code(), b.getMessage());
      assertTrue(b.getMessage().contains("min_runtime_version"), b.getMessage());
    }
    assertTrue(ManifestLoader.compareVersions("0.10.0", "0.9.9") > 0);
    assertTrue(ManifestLoader.compareVersions("1.0.0", "1.0.0") == 0);
    assertTrue(ManifestLoader.compareVersions("0.2.0", "0.2.1") < 0);
  }

  @Test
  void anIncompleteImageConventionIsRefused() throws IOException {
    Fixture f = prpd("probabilities");
    f.imageConvention.remove("axis0");
    Path p = f.write(sub("c"));
    Pd2JavaException e = assertThrows(Pd2JavaException.class, () -> Model.load(p));
    assertEquals(ErrorCode.INVALID_MANIFEST, e.code());
    assertTrue(e.getMessage().contains("input.image_convention.axis0"), e.getMessage());
  }

  @Test
  void probabilitiesAreRefusedForLogits() throws IOException {
    Model logits = prpd("logits").load(sub("l"));
    float[] x = new float[7200];
    x[5] = 1f;
    Prediction p = logits.classify(x);
    assertEquals("logits", p.kind());
    assertEquals(3, p.scores().length);
    assertEquals(p.scores()[p.index()], p.score());
    IllegalStateException e = assertThrows(IllegalStateException.class, p::probabilities);
    assertTrue(e.getMessage().contains("logits"), e.getMessage());
    assertTrue(e.getMessage().contains("scores()"), e.getMessage());
    assertThrows(IllegalStateException.class, p::probability);

    Model probs = prpd("probabilities").load(sub("p"));
    Prediction q = probs.classify(x);
    assertEquals("probabilities", q.kind());
    assertArrayEquals(q.scores(), q.probabilities(), 0f);
    assertEquals(q.score(), q.probability());
  }

  @Test
  void prpdInputOutsideZeroOneIsRefusedAndEmptyImagesHaveNoActivity() throws IOException {
    Model m = prpd("probabilities").load(sub("r"));
    float[] x = new float[7200];
    Prediction none = m.classify(x);
    assertFalse(none.hasActivity());
    assertEquals(Prediction.NO_ACTIVITY, none.label());
    assertEquals(-1, none.index());
    assertEquals(0, none.scores().length);
    assertEquals(0, none.topK(3).length);
    assertTrue(Float.isNaN(none.score()));
    // predict stays a plain function of its input: it still runs the model on zeros.
    assertEquals(3, m.predict(x).length);

    x[121] = 1.5f;
    Pd2JavaException e = assertThrows(Pd2JavaException.class, () -> m.classify(x));
    assertEquals(ErrorCode.INVALID_INPUT, e.code());
    assertTrue(e.getMessage().contains("1.5 at index 121 (position [0, 1, 1])"), e.getMessage());
    x[121] = -0.0f; // negative zero is zero: still no activity
    assertFalse(m.classify(x).hasActivity());
    x[121] = -1e-7f;
    assertEquals(ErrorCode.INVALID_INPUT,
        assertThrows(Pd2JavaException.class, () -> m.classify(x)).code());
    x[121] = 1f;
    Prediction p = m.classify(x);
    assertTrue(p.hasActivity());
    assertEquals(3, p.scores().length);
    assertEquals(m.classes().get(p.index()), p.label());
  }

  @Test
  void modelsWithoutAConventionTakeAnyFiniteInput() throws IOException {
    Fixture f = prpd("probabilities");
    f.imageConvention = null;
    Model m = f.load(sub("n"));
    float[] x = new float[7200];
    assertTrue(m.classify(x).hasActivity());
    x[0] = 7f;
    assertTrue(m.classify(x).hasActivity());
  }

  @Test
  void aPrpdBelowThePulseFloorHasNoActivityWithoutRunningTheModel() throws IOException {
    Model m = prpd("probabilities").load(sub("f"));
    int[] counts = new int[Prpd.SIZE];
    counts[5 * 120 + 30] = 3; // three stray pulses: a full-scale dot once normalised
    Prpd quiet = Prpd.fromCounts(counts);
    assertFalse(quiet.hasActivity());
    assertTrue(m.classify(quiet.image()).hasActivity(), "the image alone looks active");
    Prediction p = m.classify(quiet);
    assertFalse(p.hasActivity());
    assertEquals(Prediction.NO_ACTIVITY, p.label());
    counts[5 * 120 + 30] = Prpd.MIN_PULSES;
    Prpd active = Prpd.fromCounts(counts);
    assertTrue(active.hasActivity());
    assertArrayEquals(m.classify(active.image()).scores(), m.classify(active).scores(), 0f);
    // A model whose input is not one PRPD image refuses a Prpd, active or not.
    Model small = LoaderTest.small().load(sub("s"));
    Pd2JavaException e = assertThrows(Pd2JavaException.class, () -> small.classify(quiet));
    assertEquals(ErrorCode.INVALID_INPUT, e.code());
    assertTrue(e.getMessage().contains("not a 60 x 120 PRPD image"), e.getMessage());
  }
}
