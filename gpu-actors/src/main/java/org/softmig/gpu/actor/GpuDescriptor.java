package org.softmig.gpu.actor;

/**
 * A physical GPU as the actors know it.
 *
 * @param mps shared through NVIDIA MPS: jobs co-run, placement puts only MPS slices on it
 * @param timeSliced the device runs queued work of different processes side by side, switching
 *     between them (a real GPU); false: one after another in launch order (the fake driver's
 *     simulated device). Decides how an overlapped lease hand-off is charged.
 */
public record GpuDescriptor(
    String uuid, int index, String name, long memoryTotalBytes, boolean mps, boolean timeSliced) {
  public GpuDescriptor(String uuid, int index, String name, long memoryTotalBytes) {
    this(uuid, index, name, memoryTotalBytes, false, false);
  }

  public GpuDescriptor(String uuid, int index, String name, long memoryTotalBytes, boolean mps) {
    this(uuid, index, name, memoryTotalBytes, mps, false);
  }
}
