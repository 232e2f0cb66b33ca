package org.softmig.coordinator.nvml;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** An {@link NvmlApi} with scripted devices and failures, counting calls. */
final class FakeNvml implements NvmlApi {

  static final class Device {
    String uuid;
    String name = "NVIDIA H100 80GB HBM3";
    String pciBusId;
    long totalBytes = 80L << 30;
    long usedBytes = 0;
    Integer migMode = null; // null: NOT_SUPPORTED
    List<ProcessInfo> compute = new ArrayList<>();
    List<ProcessInfo> graphics = new ArrayList<>();
    Utilization utilization = new Utilization(0, 0);

    Device(int index) {
      uuid = String.format("GPU-%08x-0000-0000-0000-000000000000", index);
      pciBusId = String.format("00000000:%02X:00.0", 0x10 + index);
    }
  }

  final List<Device> devices = new ArrayList<>();
  /** Calls (by method name, optionally "name@index") that fail with the given nvmlReturn_t. */
  final Map<String, Integer> failures = new HashMap<>();
  final Map<String, Integer> calls = new HashMap<>();
  int closes;

  FakeNvml(int gpus) {
    for (int i = 0; i < gpus; i++) {
      devices.add(new Device(i));
    }
  }

  FakeNvml fail(String call, int code) {
    failures.put(call, code);
    return this;
  }

  int callCount(String call) {
    return calls.getOrDefault(call, 0);
  }

  private Device enter(String call, int index) {
    calls.merge(call, 1, Integer::sum);
    Integer code = failures.getOrDefault(call + "@" + index, failures.get(call));
    if (code != null) {
      throw new NvmlException(call, code, "scripted failure " + code);
    }
    if (index < 0 || index >= devices.size()) {
      throw new NvmlException(call, Nvml.NVML_ERROR_INVALID_ARGUMENT, "Invalid Argument");
    }
    return devices.get(index);
  }

  @Override
  public int deviceCount() {
    calls.merge("deviceCount", 1, Integer::sum);
    Integer code = failures.get("deviceCount");
    if (code != null) {
      throw new NvmlException("deviceCount", code, "scripted failure " + code);
    }
    return devices.size();
  }

  @Override
  public String uuid(int index) {
    return enter("uuid", index).uuid;
  }

  @Override
  public String name(int index) {
    return enter("name", index).name;
  }

  @Override
  public String pciBusId(int index) {
    return enter("pciBusId", index).pciBusId;
  }

  @Override
  public Memory memory(int index) {
    Device d = enter("memory", index);
    return new Memory(d.totalBytes, d.totalBytes - d.usedBytes, d.usedBytes);
  }

  @Override
  public boolean migEnabled(int index) {
    Device d = enter("migEnabled", index);
    if (d.migMode == null) {
      throw new NvmlException("migEnabled", Nvml.NVML_ERROR_NOT_SUPPORTED, "Not Supported");
    }
    return d.migMode == Nvml.NVML_DEVICE_MIG_ENABLE;
  }

  @Override
  public List<ProcessInfo> computeProcessesV3(int index) {
    return List.copyOf(enter("computeProcessesV3", index).compute);
  }

  @Override
  public List<ProcessInfo> computeProcessesV2(int index) {
    return List.copyOf(enter("computeProcessesV2", index).compute);
  }

  @Override
  public List<ProcessInfo> graphicsProcessesV3(int index) {
    return List.copyOf(enter("graphicsProcessesV3", index).graphics);
  }

  @Override
  public List<ProcessInfo> graphicsProcessesV2(int index) {
    return List.copyOf(enter("graphicsProcessesV2", index).graphics);
  }

  @Override
  public Utilization utilization(int index) {
    return enter("utilization", index).utilization;
  }

  @Override
  public void close() {
    closes++;
  }
}
