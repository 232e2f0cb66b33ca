package org.softmig.coordinator.shim;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Decides which refusals are logged: at most one line per offender (a uid) per interval, and that
 * line says how many were left out since the previous one. A flood of bad frames from one user
 * therefore costs a line per interval, not a line per frame. At most {@code maxOffenders} are
 * remembered (the longest quiet are forgotten first). Not thread-safe; time is passed in.
 */
public final class RateLimitedLog {

  /** Log now, after {@code suppressed} refusals of the same offender that were not logged. */
  public record Line(long suppressed) {}

  private static final class Offender {
    long lastLoggedAt;
    long suppressed;
  }

  private final long intervalNanos;
  private final Map<Integer, Offender> offenders;

  public RateLimitedLog(long intervalNanos, int maxOffenders) {
    if (intervalNanos <= 0 || maxOffenders <= 0) {
      throw new IllegalArgumentException("interval and offenders must be positive");
    }
    this.intervalNanos = intervalNanos;
    this.offenders =
        new LinkedHashMap<>(16, 0.75f, true) {
          @Override
          protected boolean removeEldestEntry(Map.Entry<Integer, Offender> eldest) {
            return size() > maxOffenders;
          }
        };
  }

  /** Records one refusal of {@code uid}; returns the line to log, or null to stay quiet. */
  public Line refusal(int uid, long nowNanos) {
    Offender o = offenders.get(uid);
    if (o == null) {
      o = new Offender();
      o.lastLoggedAt = nowNanos;
      offenders.put(uid, o);
      return new Line(0);
    }
    if (nowNanos - o.lastLoggedAt >= intervalNanos) {
      Line line = new Line(o.suppressed);
      o.lastLoggedAt = nowNanos;
      o.suppressed = 0;
      return line;
    }
    o.suppressed++;
    return null;
  }
}
