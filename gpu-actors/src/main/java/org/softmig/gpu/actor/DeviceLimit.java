package org.softmig.gpu.actor;

/**
 * What a session may do on one of its devices.
 *
 * @param deviceIndex the position of the device in the session's Hello
 * @param memoryLimitBytes 0 = no limit
 * @param smLimitPercent 0 or 100 = no limit
 * @param gated true: launches on the device need a lease
 */
public record DeviceLimit(
    int deviceIndex, long memoryLimitBytes, double smLimitPercent, boolean gated) {

  public static DeviceLimit unmanaged(int deviceIndex) {
    return new DeviceLimit(deviceIndex, 0, 0, false);
  }
}
