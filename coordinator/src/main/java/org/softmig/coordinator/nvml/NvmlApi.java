package org.softmig.coordinator.nvml;

import java.util.List;

/**
 * NVML as plain Java: one method per NVML query, devices by index, results as records, failures
 * as {@link NvmlException}. {@link NvmlLibrary} is the real one (JNA); tests use a fake. Calls
 * block (NVML may take milliseconds) and must not run on an actor or event-loop thread.
 */
public interface NvmlApi extends AutoCloseable {

  /** Memory of a whole GPU, in bytes (nvmlMemory_t). */
  record Memory(long totalBytes, long freeBytes, long usedBytes) {}

  /** One entry of a running-processes list; {@code usedBytes} is -1 when NVML cannot tell. */
  record ProcessInfo(int pid, long usedBytes) {}

  /** nvmlUtilization_t, percent. */
  record Utilization(int gpuPercent, int memoryPercent) {}

  int deviceCount();

  String uuid(int index);

  String name(int index);

  /** "0000:3B:00.0" style, as nvmlPciInfo_t.busId. */
  String pciBusId(int index);

  Memory memory(int index);

  /** The current MIG mode is enabled; NOT_SUPPORTED (a GPU without MIG) is reported as thrown. */
  boolean migEnabled(int index);

  /** nvmlDeviceGetComputeRunningProcesses_v3. */
  List<ProcessInfo> computeProcessesV3(int index);

  /** nvmlDeviceGetComputeRunningProcesses_v2, for drivers without _v3. */
  List<ProcessInfo> computeProcessesV2(int index);

  /** nvmlDeviceGetGraphicsRunningProcesses_v3. */
  List<ProcessInfo> graphicsProcessesV3(int index);

  /** nvmlDeviceGetGraphicsRunningProcesses_v2. */
  List<ProcessInfo> graphicsProcessesV2(int index);

  Utilization utilization(int index);

  /** nvmlShutdown; idempotent. */
  @Override
  void close();
}
