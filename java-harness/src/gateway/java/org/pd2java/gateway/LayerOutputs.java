package org.pd2java.gateway;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Every node's output for one sample, packed for a single py4j transfer: the node names, the
 * element count of each output, and all outputs concatenated in node order.
 */
public final class LayerOutputs {
  private final String names;
  private final byte[] lengths;
  private final byte[] data;

  LayerOutputs(LinkedHashMap<String, float[]> layers) {
    StringBuilder nameText = new StringBuilder();
    ByteBuffer lens = ByteBuffer.allocate(layers.size() * 4).order(ByteOrder.LITTLE_ENDIAN);
    int total = 0;
    for (Map.Entry<String, float[]> e : layers.entrySet()) {
      if (nameText.length() > 0) {
        nameText.append('\n');
      }
      nameText.append(e.getKey());
      lens.putInt(e.getValue().length);
      total += e.getValue().length;
    }
    ByteBuffer all = ByteBuffer.allocate(total * 4).order(ByteOrder.LITTLE_ENDIAN);
    for (float[] v : layers.values()) {
      all.asFloatBuffer().put(v);
      all.position(all.position() + v.length * 4);
    }
    this.names = nameText.toString();
    this.lengths = lens.array();
    this.data = all.array();
  }

  /**
   * Node names in execution order, joined by {@code '\n'}.
   *
   * @return the names
   */
  public String names() {
    return names;
  }

  /**
   * Element count of each node's output, as little-endian int32, in the order of {@link #names()}.
   *
   * @return the counts
   */
  public byte[] lengths() {
    return lengths;
  }

  /**
   * All outputs concatenated in node order, as little-endian float32.
   *
   * @return the data
   */
  public byte[] data() {
    return data;
  }
}
