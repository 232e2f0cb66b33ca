package org.softmig.gpu.actor;

/**
 * One device of a new session.
 *
 * @param deviceIndex position in the session's Hello
 * @param uuid the GPU's UUID as the process sees it
 * @param holdingBytes what the process already holds there (a reconnect), else 0
 * @param memoryLimitBytes the job's limit there, 0 = none
 * @param smLimitPercent the job's compute limit there, 0 = none
 * @param deniedReason why the job gets none of this device, "" when it may use it
 */
public record DeviceRequest(
    int deviceIndex,
    String uuid,
    long holdingBytes,
    long memoryLimitBytes,
    double smLimitPercent,
    String deniedReason) {

  public DeviceRequest(
      int deviceIndex, String uuid, long holdingBytes, long memoryLimitBytes, double smLimitPercent) {
    this(deviceIndex, uuid, holdingBytes, memoryLimitBytes, smLimitPercent, "");
  }

  public boolean denied() {
    return !deniedReason.isEmpty();
  }

  /** The same device, none of it for the job. */
  public DeviceRequest deny(String reason) {
    return new DeviceRequest(deviceIndex, uuid, holdingBytes, 0, 0, reason);
  }
}
