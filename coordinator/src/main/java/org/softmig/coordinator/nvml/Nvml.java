package org.softmig.coordinator.nvml;

import com.sun.jna.Library;
import com.sun.jna.Pointer;
import com.sun.jna.Structure;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.PointerByReference;

/**
 * The parts of NVML (libnvidia-ml.so.1) that softmig uses, with the C names and layouts of
 * nvml.h. Every function returns an nvmlReturn_t; {@link NvmlLibrary} turns those into values
 * and {@link NvmlException}s. Nothing outside {@link NvmlLibrary} calls this interface.
 *
 * <p>Handles ({@code nvmlDevice_t}) are opaque pointers. Output strings are caller-owned byte
 * buffers of the sizes below, NUL-terminated by NVML.
 */
public interface Nvml extends Library {

  // nvmlReturn_t values used by name in softmig; the rest are reported by number and text.
  int NVML_SUCCESS = 0;
  int NVML_ERROR_UNINITIALIZED = 1;
  int NVML_ERROR_INVALID_ARGUMENT = 2;
  int NVML_ERROR_NOT_SUPPORTED = 3;
  int NVML_ERROR_NO_PERMISSION = 4;
  int NVML_ERROR_NOT_FOUND = 6;
  int NVML_ERROR_INSUFFICIENT_SIZE = 7;
  int NVML_ERROR_DRIVER_NOT_LOADED = 9;
  int NVML_ERROR_LIBRARY_NOT_FOUND = 12;
  int NVML_ERROR_FUNCTION_NOT_FOUND = 13;
  int NVML_ERROR_GPU_IS_LOST = 15;
  int NVML_ERROR_NO_DATA = 21;
  int NVML_ERROR_UNKNOWN = 999;

  int NVML_DEVICE_UUID_V2_BUFFER_SIZE = 96;
  int NVML_DEVICE_NAME_V2_BUFFER_SIZE = 96;
  int NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE = 32;
  int NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE = 16;

  /** nvmlDeviceGetMigMode: MIG is enabled. */
  int NVML_DEVICE_MIG_ENABLE = 1;

  /** usedGpuMemory when NVML cannot tell (NVML_VALUE_NOT_AVAILABLE, all bits set). */
  long NVML_VALUE_NOT_AVAILABLE = -1L;

  int nvmlInit_v2();

  int nvmlShutdown();

  String nvmlErrorString(int result);

  int nvmlDeviceGetCount_v2(IntByReference deviceCount);

  int nvmlDeviceGetHandleByIndex_v2(int index, PointerByReference device);

  int nvmlDeviceGetIndex(Pointer device, IntByReference index);

  int nvmlDeviceGetUUID(Pointer device, byte[] uuid, int length);

  int nvmlDeviceGetName(Pointer device, byte[] name, int length);

  int nvmlDeviceGetPciInfo_v3(Pointer device, nvmlPciInfo_t pci);

  int nvmlDeviceGetMemoryInfo(Pointer device, nvmlMemory_t memory);

  int nvmlDeviceGetMigMode(Pointer device, IntByReference currentMode, IntByReference pendingMode);

  /** {@code infos} points at {@code *infoCount} contiguous {@link nvmlProcessInfo_t}. */
  int nvmlDeviceGetComputeRunningProcesses_v3(
      Pointer device, IntByReference infoCount, Pointer infos);

  /** Same layout as _v3 (nvmlProcessInfo_v2_t); drivers older than R510 have only this one. */
  int nvmlDeviceGetComputeRunningProcesses_v2(
      Pointer device, IntByReference infoCount, Pointer infos);

  int nvmlDeviceGetGraphicsRunningProcesses_v3(
      Pointer device, IntByReference infoCount, Pointer infos);

  int nvmlDeviceGetGraphicsRunningProcesses_v2(
      Pointer device, IntByReference infoCount, Pointer infos);

  int nvmlDeviceGetUtilizationRates(Pointer device, nvmlUtilization_t utilization);

  /** nvmlPciInfo_t. */
  @Structure.FieldOrder({
    "busIdLegacy",
    "domain",
    "bus",
    "device",
    "pciDeviceId",
    "pciSubSystemId",
    "busId"
  })
  class nvmlPciInfo_t extends Structure {
    public byte[] busIdLegacy = new byte[NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE];
    public int domain;
    public int bus;
    public int device;
    public int pciDeviceId;
    public int pciSubSystemId;
    public byte[] busId = new byte[NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE];
  }

  /** nvmlMemory_t (v1: {@code used} includes memory the driver reserves). */
  @Structure.FieldOrder({"total", "free", "used"})
  class nvmlMemory_t extends Structure {
    public long total;
    public long free;
    public long used;
  }

  /** nvmlProcessInfo_t, identical to nvmlProcessInfo_v2_t: 24 bytes on LP64. */
  @Structure.FieldOrder({"pid", "usedGpuMemory", "gpuInstanceId", "computeInstanceId"})
  class nvmlProcessInfo_t extends Structure {
    public int pid;
    public long usedGpuMemory;
    public int gpuInstanceId;
    public int computeInstanceId;

    public nvmlProcessInfo_t() {
      super();
    }

    /** Reads the element at {@code p}. */
    public nvmlProcessInfo_t(Pointer p) {
      super(p);
      read();
    }
  }

  /** nvmlUtilization_t: percent of the last sample period. */
  @Structure.FieldOrder({"gpu", "memory"})
  class nvmlUtilization_t extends Structure {
    public int gpu;
    public int memory;
  }
}
