package org.pd2java.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The generated op table and the hand-written kernel factories pair up one to one, and {@link
 * OpRegistry} serves exactly the table's specs.
 */
class OpTableTest {
  private static Set<String> tableKeys() {
    Set<String> keys = new LinkedHashSet<>();
    for (OpTable.Op op : OpTable.OPS) {
      assertTrue(keys.add(op.key()), "op table lists " + op.key() + " twice");
    }
    return keys;
  }

  @Test
  void everyTableOpHasAKernelFactory() {
    Map<String, KernelFactory> factories = OpRegistry.factories();
    for (OpTable.Op op : OpTable.OPS) {
      assertNotNull(factories.get(op.key()), "no kernel factory for table op " + op.key());
    }
  }

  @Test
  void everyKernelFactoryHasATableOp() {
    Set<String> keys = tableKeys();
    for (String key : OpRegistry.factories().keySet()) {
      assertTrue(keys.contains(key), "kernel factory for " + key + " has no op table entry");
    }
  }

  @Test
  void registryServesTheTableSpecsInTableOrder() {
    Map<String, OpSpec> all = OpRegistry.all();
    assertEquals(new ArrayList<>(tableKeys()), new ArrayList<>(all.keySet()));
    for (OpTable.Op op : OpTable.OPS) {
      OpSpec spec = OpRegistry.lookup(op.name(), op.version());
      assertSame(all.get(op.key()), spec);
      assertEquals(op.key(), spec.key());
      assertEquals(op.numInputs(), spec.numInputs());
      assertEquals(op.params(), spec.params());
      assertEquals(op.attrs(), spec.attrs());
      assertNotNull(spec.factory());
    }
    assertEquals(null, OpRegistry.lookup("no_such_op", 1));
  }

  @Test
  void batchNormRunningVarianceIsTheOnlyNonnegativeSlot() {
    List<String> nonnegative = new ArrayList<>();
    for (OpSpec op : OpRegistry.all().values()) {
      for (ParamSpec p : op.params()) {
        if (p.nonnegative()) {
          nonnegative.add(op.key() + " " + p.name());
        }
      }
    }
    assertEquals(List.of("batch_norm2d@1 running_var", "batch_norm1d@1 running_var"), nonnegative);
  }

  @Test
  void joinRefusesATableOpWithoutFactoryNamingIt() {
    OpTable.Op unknown =
        new OpTable.Op("fake", 1, 1, List.of(), List.of(new AttrSpec("alpha", AttrKind.FLOAT)));
    List<OpTable.Op> table = new ArrayList<>(OpTable.OPS);
    table.add(unknown);
    IllegalStateException e =
        assertThrows(
            IllegalStateException.class, () -> OpRegistry.join(table, OpRegistry.factories()));
    assertTrue(e.getMessage().contains("op fake@1 is in the op table"), e.getMessage());
  }

  @Test
  void joinRefusesAFactoryWithoutTableOpNamingIt() {
    Map<String, KernelFactory> factories = new LinkedHashMap<>(OpRegistry.factories());
    factories.put("fake@1", ReluKernel::compile);
    IllegalStateException e =
        assertThrows(IllegalStateException.class, () -> OpRegistry.join(OpTable.OPS, factories));
    assertTrue(e.getMessage().contains("[fake@1]"), e.getMessage());
  }

  @Test
  void joinRefusesAnOpListedTwice() {
    List<OpTable.Op> table = new ArrayList<>(OpTable.OPS);
    table.add(OpTable.OPS.get(0));
    IllegalStateException e =
        assertThrows(
            IllegalStateException.class, () -> OpRegistry.join(table, OpRegistry.factories()));
    assertTrue(e.getMessage().contains(OpTable.OPS.get(0).key() + " is listed twice"));
  }
}
