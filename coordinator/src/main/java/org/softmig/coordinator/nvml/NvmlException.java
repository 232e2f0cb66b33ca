package org.softmig.coordinator.nvml;

/**
 * An NVML call failed. {@link #code()} is the nvmlReturn_t (see the constants in {@link Nvml});
 * the message names the call and carries nvmlErrorString's text.
 */
public final class NvmlException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final int code;

  public NvmlException(String call, int code, String text) {
    super(call + " failed: " + text + " (nvmlReturn_t " + code + ")");
    this.code = code;
  }

  public NvmlException(String call, int code, String text, Throwable cause) {
    super(call + " failed: " + text + " (nvmlReturn_t " + code + ")", cause);
    this.code = code;
  }

  public int code() {
    return code;
  }

  /** The function is not in this driver's libnvidia-ml (an older driver). */
  public boolean isFunctionNotFound() {
    return code == Nvml.NVML_ERROR_FUNCTION_NOT_FOUND;
  }

  /** The device or the driver does not support the query (e.g. utilisation with MIG on). */
  public boolean isNotSupported() {
    return code == Nvml.NVML_ERROR_NOT_SUPPORTED;
  }
}
