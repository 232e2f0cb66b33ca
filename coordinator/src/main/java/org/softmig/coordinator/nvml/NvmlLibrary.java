package org.softmig.coordinator.nvml;

import com.sun.jna.Native;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.PointerByReference;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * {@link NvmlApi} over the real libnvidia-ml through JNA. {@link #open(String)} loads the library
 * and calls nvmlInit_v2; {@link #close()} calls nvmlShutdown once.
 *
 * <p>Thread-safety: NVML itself is thread-safe; the handle cache is a concurrent map. Still, the
 * coordinator calls this from one dedicated thread so that a slow driver delays only the poll.
 */
public final class NvmlLibrary implements NvmlApi {

  /** The soname the driver installs; the unversioned .so exists only with development files. */
  public static final String DEFAULT_LIBRARY = "libnvidia-ml.so.1";

  /** How many times a process list is re-read when it grew between the size and data calls. */
  private static final int PROCESS_LIST_ATTEMPTS = 4;

  private static final int INITIAL_PROCESS_CAPACITY = 64;

  private final Nvml nvml;
  private final ConcurrentHashMap<Integer, Pointer> handles = new ConcurrentHashMap<>();
  private final AtomicBoolean closed = new AtomicBoolean();

  private NvmlLibrary(Nvml nvml) {
    this.nvml = nvml;
  }

  /**
   * Loads {@code library} (a soname such as {@link #DEFAULT_LIBRARY}, or a path) and initialises
   * NVML.
   *
   * @throws NvmlException with code NVML_ERROR_LIBRARY_NOT_FOUND when the library cannot be
   *     loaded, or the code nvmlInit_v2 returned (e.g. DRIVER_NOT_LOADED)
   */
  public static NvmlLibrary open(String library) {
    Nvml nvml;
    try {
      nvml = Native.load(library, Nvml.class);
    } catch (UnsatisfiedLinkError e) {
      throw new NvmlException(
          "loading " + library,
          Nvml.NVML_ERROR_LIBRARY_NOT_FOUND,
          "cannot load the NVML library: " + e.getMessage(),
          e);
    }
    NvmlLibrary lib = new NvmlLibrary(nvml);
    lib.check("nvmlInit_v2", call(nvml::nvmlInit_v2));
    return lib;
  }

  @Override
  public int deviceCount() {
    IntByReference count = new IntByReference();
    check("nvmlDeviceGetCount_v2", call(() -> nvml.nvmlDeviceGetCount_v2(count)));
    return count.getValue();
  }

  @Override
  public String uuid(int index) {
    byte[] buf = new byte[Nvml.NVML_DEVICE_UUID_V2_BUFFER_SIZE];
    Pointer device = handle(index);
    check("nvmlDeviceGetUUID", call(() -> nvml.nvmlDeviceGetUUID(device, buf, buf.length)));
    return Native.toString(buf, "US-ASCII");
  }

  @Override
  public String name(int index) {
    byte[] buf = new byte[Nvml.NVML_DEVICE_NAME_V2_BUFFER_SIZE];
    Pointer device = handle(index);
    check("nvmlDeviceGetName", call(() -> nvml.nvmlDeviceGetName(device, buf, buf.length)));
    return Native.toString(buf, "UTF-8");
  }

  @Override
  public String pciBusId(int index) {
    Nvml.nvmlPciInfo_t pci = new Nvml.nvmlPciInfo_t();
    Pointer device = handle(index);
    check("nvmlDeviceGetPciInfo_v3", call(() -> nvml.nvmlDeviceGetPciInfo_v3(device, pci)));
    return Native.toString(pci.busId, "US-ASCII");
  }

  @Override
  public Memory memory(int index) {
    Nvml.nvmlMemory_t mem = new Nvml.nvmlMemory_t();
    Pointer device = handle(index);
    check("nvmlDeviceGetMemoryInfo", call(() -> nvml.nvmlDeviceGetMemoryInfo(device, mem)));
    return new Memory(mem.total, mem.free, mem.used);
  }

  @Override
  public boolean migEnabled(int index) {
    IntByReference current = new IntByReference();
    IntByReference pending = new IntByReference();
    Pointer device = handle(index);
    check(
        "nvmlDeviceGetMigMode",
        call(() -> nvml.nvmlDeviceGetMigMode(device, current, pending)));
    return current.getValue() == Nvml.NVML_DEVICE_MIG_ENABLE;
  }

  @Override
  public List<ProcessInfo> computeProcessesV3(int index) {
    return processes(
        "nvmlDeviceGetComputeRunningProcesses_v3",
        index,
        nvml::nvmlDeviceGetComputeRunningProcesses_v3);
  }

  @Override
  public List<ProcessInfo> computeProcessesV2(int index) {
    return processes(
        "nvmlDeviceGetComputeRunningProcesses_v2",
        index,
        nvml::nvmlDeviceGetComputeRunningProcesses_v2);
  }

  @Override
  public List<ProcessInfo> graphicsProcessesV3(int index) {
    return processes(
        "nvmlDeviceGetGraphicsRunningProcesses_v3",
        index,
        nvml::nvmlDeviceGetGraphicsRunningProcesses_v3);
  }

  @Override
  public List<ProcessInfo> graphicsProcessesV2(int index) {
    return processes(
        "nvmlDeviceGetGraphicsRunningProcesses_v2",
        index,
        nvml::nvmlDeviceGetGraphicsRunningProcesses_v2);
  }

  @Override
  public Utilization utilization(int index) {
    Nvml.nvmlUtilization_t util = new Nvml.nvmlUtilization_t();
    Pointer device = handle(index);
    check(
        "nvmlDeviceGetUtilizationRates",
        call(() -> nvml.nvmlDeviceGetUtilizationRates(device, util)));
    return new Utilization(util.gpu, util.memory);
  }

  @Override
  public void close() {
    if (closed.compareAndSet(false, true)) {
      handles.clear();
      check("nvmlShutdown", call(nvml::nvmlShutdown));
    }
  }

  private interface ProcessQuery {
    int query(Pointer device, IntByReference infoCount, Pointer infos);
  }

  /**
   * Reads a running-processes list. NVML answers INSUFFICIENT_SIZE with the count it needs; the
   * list may grow between two calls, so the read is retried a few times with room to spare.
   */
  private List<ProcessInfo> processes(String fn, int index, ProcessQuery query) {
    Pointer device = handle(index);
    int elementSize = new Nvml.nvmlProcessInfo_t().size();
    int capacity = INITIAL_PROCESS_CAPACITY;
    for (int attempt = 0; attempt < PROCESS_LIST_ATTEMPTS; attempt++) {
      com.sun.jna.Memory buf = new com.sun.jna.Memory((long) capacity * elementSize);
      buf.clear();
      IntByReference count = new IntByReference(capacity);
      int rc = call(() -> query.query(device, count, buf));
      if (rc == Nvml.NVML_ERROR_INSUFFICIENT_SIZE) {
        capacity = Math.max(capacity * 2, count.getValue() + 16);
        continue;
      }
      check(fn, rc);
      int n = Math.min(count.getValue(), capacity);
      List<ProcessInfo> out = new ArrayList<>(n);
      for (int i = 0; i < n; i++) {
        Nvml.nvmlProcessInfo_t info = new Nvml.nvmlProcessInfo_t(buf.share((long) i * elementSize));
        out.add(new ProcessInfo(info.pid, info.usedGpuMemory));
      }
      return out;
    }
    throw new NvmlException(
        fn, Nvml.NVML_ERROR_INSUFFICIENT_SIZE, "the process list kept growing while it was read");
  }

  private Pointer handle(int index) {
    if (index < 0) {
      throw new IllegalArgumentException("GPU index must be >= 0, got " + index);
    }
    return handles.computeIfAbsent(
        index,
        i -> {
          PointerByReference ref = new PointerByReference();
          check(
              "nvmlDeviceGetHandleByIndex_v2",
              call(() -> nvml.nvmlDeviceGetHandleByIndex_v2(i, ref)));
          return ref.getValue();
        });
  }

  private interface NativeCall {
    int invoke();
  }

  /** Runs a call; a function missing from an older driver comes back as FUNCTION_NOT_FOUND. */
  private static int call(NativeCall c) {
    try {
      return c.invoke();
    } catch (UnsatisfiedLinkError e) {
      return Nvml.NVML_ERROR_FUNCTION_NOT_FOUND;
    }
  }

  private void check(String fn, int rc) {
    if (rc != Nvml.NVML_SUCCESS) {
      throw new NvmlException(fn, rc, errorString(rc));
    }
  }

  private String errorString(int rc) {
    try {
      String text = nvml.nvmlErrorString(rc);
      return text == null ? "unknown error" : text;
    } catch (UnsatisfiedLinkError e) {
      return "unknown error";
    }
  }
}
