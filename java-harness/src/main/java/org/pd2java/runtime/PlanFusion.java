package org.pd2java.runtime;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The load-time plan compiler's fusion pass: folds the work of a following node into a kernel
 * that can do it on its way out ({@link Epilogue.Fusable}), so the value between them is never
 * written to memory and read back.
 *
 * <ul>
 *   <li><b>conv + activation</b>: a convolution or linear whose output is read only by a relu,
 *       relu6, leaky_relu (slope in [0, 1]) or clamp node;
 *   <li><b>conv + residual add</b>: a convolution whose output is read only by an {@code add}
 *       whose other operand is already computed when the convolution runs (the residual
 *       connection of a ResNet or MobileNetV2 block), optionally followed by an activation.
 * </ul>
 *
 * <p>A value that is a model output is never fused away. The fused step takes the name {@code
 * "conv+act"} and the output of the last node it absorbed. Only kernels that implement {@link
 * Epilogue.Fusable} take part (the Vector API kernels); with the scalar kernels the plan is
 * unchanged. {@link Model#runLayers} runs the unfused steps, so every node's value stays
 * visible for debugging.
 */
final class PlanFusion {
  private PlanFusion() {}

  /**
   * @param steps the compiled steps in execution order
   * @param valueCount value slots (slot 0 is the model input)
   * @param outputSlots the model outputs' slots
   * @return the fused steps (the same list when nothing fuses)
   */
  static List<Model.Step> fuse(List<Model.Step> steps, int valueCount, int[] outputSlots) {
    int[] readers = new int[valueCount];
    int[] producer = new int[valueCount];
    Arrays.fill(producer, -1);
    for (int i = 0; i < steps.size(); i++) {
      for (int in : steps.get(i).inputSlots()) {
        readers[in]++;
      }
      producer[steps.get(i).outputSlot()] = i;
    }
    for (int s : outputSlots) {
      readers[s] = Integer.MAX_VALUE; // an output is never fused away
    }
    boolean[] gone = new boolean[steps.size()];
    Model.Step[] result = steps.toArray(new Model.Step[0]);
    boolean any = false;
    for (int i = 0; i < result.length; i++) {
      if (gone[i] || !(result[i].kernel() instanceof Epilogue.Fusable)) {
        continue;
      }
      Model.Step cur = result[i];
      while (true) {
        Model.Step next = fuseNext(cur, steps, readers, producer, i);
        if (next == null) {
          break;
        }
        gone[producer[next.outputSlot()]] = true;
        cur = next;
        any = true;
      }
      result[i] = cur;
    }
    if (!any) {
      return steps;
    }
    List<Model.Step> out = new ArrayList<>();
    for (int i = 0; i < result.length; i++) {
      if (!gone[i]) {
        out.add(result[i]);
      }
    }
    return out;
  }

  /** {@code cur} with its single reader folded in, or null when that reader does not fuse. */
  private static Model.Step fuseNext(
      Model.Step cur, List<Model.Step> steps, int[] readers, int[] producer, int at) {
    if (!(cur.kernel() instanceof Epilogue.Fusable f) || readers[cur.outputSlot()] != 1) {
      return null;
    }
    int r = reader(steps, cur.outputSlot(), at);
    Model.Step next = steps.get(r);
    Epilogue e = f.epilogue();
    Kernel fused = null;
    int[] inputs = cur.inputSlots();
    if (next.kernel() instanceof Epilogue.Activation a && a.act().fusable()
        && !e.activation()) {
      fused = f.fused(e.withActivation(a.act()));
    } else if (next.kernel() instanceof AddKernel && !e.residual() && !e.activation()
        && inputs.length == 1) {
      int[] in = next.inputSlots();
      int other = in[0] == cur.outputSlot() ? in[1] : in[0];
      // the residual must exist before this step runs, and be another value
      if (other != cur.outputSlot() && producer[other] < at) {
        fused = f.fused(e.withResidual());
        inputs = new int[] {inputs[0], other};
      }
    }
    if (fused == null) {
      return null;
    }
    return new Model.Step(cur.node() + "+" + next.node(), fused, inputs, next.outputSlot(),
        next.size());
  }

  /** The index of the one step after {@code at} that reads {@code slot}. */
  private static int reader(List<Model.Step> steps, int slot, int at) {
    for (int i = at + 1; i < steps.size(); i++) {
      for (int in : steps.get(i).inputSlots()) {
        if (in == slot) {
          return i;
        }
      }
    }
    throw new IllegalStateException("value slot " + slot + " has a reader but none follows");
  }
}
