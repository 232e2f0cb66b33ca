package org.softmig.gpu.actor;

/**
 * A physical GPU as the actors know it.
 *
 * @param mps shared through NVIDIA MPS: jobs co-run, placement puts only MPS slices on it
 */
public record GpuDescriptor(String uuid, int index, String name, long memoryTotalBytes, boolean mps) {
  public GpuDescriptor(String uuid, int index, String name, long memoryTotalBytes) {
    this(uuid, index, name, memoryTotalBytes, false);
  }
}
