package org.softmig.coordinator.shim;

import java.time.Duration;

/**
 * What one peer may cost the coordinator: open connections (per uid and in total), how long a new
 * connection may stay silent before its first frame, how many frames may wait while its session
 * opens, and how often its refusals are logged.
 *
 * @param connections shared by every connection of the server
 * @param helloDeadline a connection that has sent no frame after this long is closed
 * @param maxEarlyFrames frames queued while a session is being opened; more close the connection
 * @param refusals decides which refusals are logged (one line per uid per interval); guarded by
 *     its own monitor
 */
public record ShimBounds(
    ConnectionLimits connections,
    Duration helloDeadline,
    int maxEarlyFrames,
    RateLimitedLog refusals) {

  public static final Duration DEFAULT_HELLO_DEADLINE = Duration.ofSeconds(10);
  public static final Duration DEFAULT_LOG_INTERVAL = Duration.ofSeconds(10);

  public static ShimBounds defaults() {
    return new ShimBounds(
        ConnectionLimits.defaults(),
        DEFAULT_HELLO_DEADLINE,
        1024,
        new RateLimitedLog(DEFAULT_LOG_INTERVAL.toNanos(), 4096));
  }

  /** The line to log for a refusal of {@code uid} now, or null to stay quiet. */
  public RateLimitedLog.Line refusal(int uid) {
    synchronized (refusals) {
      return refusals.refusal(uid, System.nanoTime());
    }
  }
}
