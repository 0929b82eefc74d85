package org.pd2java.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Model.load from bytes and streams, and Model.loadResource from the classpath. */
class LoadFromMemoryTest {
  @TempDir Path dir;

  private Path export() throws IOException {
    return ModelTest.cnn().write(Files.createDirectories(dir.resolve("models/cnn")));
  }

  private static byte[] weightsOf(Path manifest) throws IOException {
    return Files.readAllBytes(manifest.resolveSibling("m.safetensors"));
  }

  @Test
  void bytesStreamsAndClasspathGiveTheFileLoadsModel() throws IOException {
    Path manifest = export();
    LoadOptions o = LoadOptions.defaults();
    Model file = Model.load(manifest);
    byte[] json = Files.readAllBytes(manifest);
    byte[] weights = weightsOf(manifest);
    Model bytes = Model.load(json, weights, o);
    Model streams = Model.load(new ByteArrayInputStream(json), new ByteArrayInputStream(weights),
        o);
    Model resource;
    try (URLClassLoader cl = new URLClassLoader(new URL[] {dir.toUri().toURL()}, null)) {
      resource = Model.loadResource(cl, "models/cnn/m.manifest.json", o);
    }
    float[] x = HotOps.random(new Random(3), 80);
    for (Model m : new Model[] {bytes, streams, resource}) {
      assertEquals(file.toString(), m.toString());
      assertArrayEquals(file.predict(x), m.predict(x), 0f);
    }
  }

  @Test
  void wrongOrMissingWeightsAreTypedErrors() throws IOException {
    Path manifest = export();
    byte[] json = Files.readAllBytes(manifest);
    byte[] weights = weightsOf(manifest);
    LoadOptions o = LoadOptions.defaults();
    byte[] corrupt = weights.clone();
    corrupt[corrupt.length - 1] ^= 1;
    Pd2JavaException e = assertThrows(Pd2JavaException.class, () -> Model.load(json, corrupt, o));
    assertEquals(ErrorCode.WEIGHTS_CHECKSUM_MISMATCH, e.code());
    byte[] shorter = java.util.Arrays.copyOf(weights, weights.length - 1);
    e = assertThrows(Pd2JavaException.class, () -> Model.load(json, shorter, o));
    assertEquals(ErrorCode.WEIGHTS_SIZE_MISMATCH, e.code());
    e = assertThrows(Pd2JavaException.class,
        () -> Model.load("{".getBytes(java.nio.charset.StandardCharsets.UTF_8), weights, o));
    assertEquals(ErrorCode.INVALID_JSON, e.code());
    InputStream failing = new InputStream() {
      @Override
      public int read() throws IOException {
        throw new IOException("disk gone");
      }
    };
    e = assertThrows(Pd2JavaException.class,
        () -> Model.load(new ByteArrayInputStream(json), failing, o));
    assertEquals(ErrorCode.IO_ERROR, e.code());
    assertTrue(e.getMessage().contains("disk gone"), e.getMessage());
    try (URLClassLoader cl = new URLClassLoader(new URL[] {dir.toUri().toURL()}, null)) {
      e = assertThrows(Pd2JavaException.class,
          () -> Model.loadResource(cl, "models/none/m.manifest.json", o));
      assertEquals(ErrorCode.IO_ERROR, e.code());
      Files.delete(manifest.resolveSibling("m.safetensors"));
      e = assertThrows(Pd2JavaException.class,
          () -> Model.loadResource(cl, "models/cnn/m.manifest.json", o));
      assertEquals(ErrorCode.IO_ERROR, e.code());
      assertTrue(e.getMessage().contains("not found"), e.getMessage());
    }
  }
}
