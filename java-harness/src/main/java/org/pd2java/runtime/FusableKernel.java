package org.pd2java.runtime;

/**
 * What the Vector API kernels share as {@link Epilogue.Fusable}s: the epilogue they apply, and
 * the allocating {@link #run(float[][], float[])}, which runs the workspace form on fresh
 * scratch of the declared rows.
 */
abstract class FusableKernel implements Epilogue.Fusable {
  /** What follows each output value: {@link Epilogue#NONE} until the fusion pass adds to it. */
  final Epilogue ep;

  FusableKernel(Epilogue ep) {
    this.ep = ep;
  }

  @Override
  public final Epilogue epilogue() {
    return ep;
  }

  @Override
  public final void run(float[][] inputs, float[] out) {
    run(inputs, out, Kernel.newScratch(scratchRows()));
  }
}
