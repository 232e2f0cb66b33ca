package org.softmig.gpu.actor;

/**
 * What a session may do on one of its devices.
 *
 * @param deviceIndex the position of the device in the session's Hello
 * @param memoryLimitBytes 0 = no limit
 * @param smLimitPercent 0 or 100 = no limit
 * @param gated true: launches on the device need a lease
 * @param deniedReason "" when the session may use the device; else why it gets none of it (no
 *     memory, no context)
 */
public record DeviceLimit(
    int deviceIndex,
    long memoryLimitBytes,
    double smLimitPercent,
    boolean gated,
    String deniedReason) {

  public DeviceLimit(int deviceIndex, long memoryLimitBytes, double smLimitPercent, boolean gated) {
    this(deviceIndex, memoryLimitBytes, smLimitPercent, gated, "");
  }

  public static DeviceLimit unmanaged(int deviceIndex) {
    return new DeviceLimit(deviceIndex, 0, 0, false);
  }

  /** None of the device for the session. */
  public static DeviceLimit denied(int deviceIndex, String reason) {
    return new DeviceLimit(deviceIndex, 0, 0, false, reason);
  }

  public boolean denied() {
    return !deniedReason.isEmpty();
  }
}
