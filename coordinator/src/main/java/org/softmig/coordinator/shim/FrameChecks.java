package org.softmig.coordinator.shim;

import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import org.softmig.proto.v1.ClientFrame;
import org.softmig.proto.v1.Device;
import org.softmig.proto.v1.Hello;
import org.softmig.proto.v1.Holding;
import org.softmig.proto.v1.RequestedLimits;

/**
 * Checks every field a process sends, before anything acts on it: the one place where a frame is
 * refused for its content (framing and parsing refuse the rest earlier). Every value here comes
 * from a process and is a request, never a fact (docs/SECURITY.md). A check returns why the frame
 * cannot be used, or null; nothing is changed by a check, so a refused frame changes nothing.
 */
public final class FrameChecks {

  /** Devices in one Hello, and the highest CUDA ordinal + 1 (the shim's CFG_MAX_DEVICES). */
  public static final int MAX_DEVICES = 64;

  /** Holdings in one Hello (several per device: one per allocation kind). */
  public static final int MAX_HOLDINGS = 8 * MAX_DEVICES;

  private static final int MAX_UUID_CHARS = 96;
  private static final int MAX_VERSION_CHARS = 64;
  private static final Pattern UUID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9-]{0,95}");
  private static final Pattern JOB_ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]{0,63}");
  private static final Pattern TASK_ID = Pattern.compile("[0-9]{1,10}");

  private FrameChecks() {}

  /** Why a Hello cannot open a session, or null. The protocol version is checked before. */
  public static String hello(Hello hello) {
    if (hello.getDevicesCount() > MAX_DEVICES) {
      return hello.getDevicesCount() + " devices is over the maximum of " + MAX_DEVICES;
    }
    if (hello.getShimVersion().length() > MAX_VERSION_CHARS) {
      return "shim version is longer than " + MAX_VERSION_CHARS + " characters";
    }
    String why = devices(hello);
    if (why == null) {
      why = holdings(hello);
    }
    if (why == null) {
      why = requested(hello.getRequested());
    }
    return why;
  }

  private static String devices(Hello hello) {
    Set<String> uuids = new HashSet<>();
    Set<Integer> ordinals = new HashSet<>();
    for (Device d : hello.getDevicesList()) {
      if (d.getUuid().isEmpty()) {
        return "a device has no UUID";
      }
      if (d.getUuid().length() > MAX_UUID_CHARS || !UUID.matcher(d.getUuid()).matches()) {
        return "device UUID '" + printable(d.getUuid()) + "' is not a GPU UUID";
      }
      if (!uuids.add(d.getUuid())) {
        return "device " + d.getUuid() + " is listed twice";
      }
      if (d.getOrdinal() < 0 || d.getOrdinal() >= MAX_DEVICES) {
        return "device ordinal " + Integer.toUnsignedString(d.getOrdinal()) + " is not 0-"
            + (MAX_DEVICES - 1);
      }
      if (!ordinals.add(d.getOrdinal())) {
        return "device ordinal " + d.getOrdinal() + " is listed twice";
      }
    }
    return null;
  }

  private static String holdings(Hello hello) {
    if (hello.getHoldingsCount() > MAX_HOLDINGS) {
      return hello.getHoldingsCount() + " holdings is over the maximum of " + MAX_HOLDINGS;
    }
    long[] sums = new long[hello.getDevicesCount()];
    for (Holding h : hello.getHoldingsList()) {
      if (h.getDeviceIndex() < 0 || h.getDeviceIndex() >= sums.length) {
        return "holding for device index " + Integer.toUnsignedString(h.getDeviceIndex())
            + ", which is not in the Hello";
      }
      if (h.getBytes() < 0) {
        return "holding of " + Long.toUnsignedString(h.getBytes()) + " bytes is too large";
      }
      sums[h.getDeviceIndex()] += h.getBytes();
      if (sums[h.getDeviceIndex()] < 0) {
        return "holdings on device index " + h.getDeviceIndex() + " overflow";
      }
    }
    return null;
  }

  /** Why the limits a process asks for are not limits, or null. */
  static String requested(RequestedLimits r) {
    if (!r.getJobId().isEmpty() && !JOB_ID.matcher(r.getJobId()).matches()) {
      return "job id '" + printable(r.getJobId())
          + "' is not usable (1-64 letters, digits, _ . -; starting with a letter or digit)";
    }
    if (!r.getArrayTaskId().isEmpty() && !TASK_ID.matcher(r.getArrayTaskId()).matches()) {
      return "array task id '" + printable(r.getArrayTaskId()) + "' is not a number";
    }
    String why = memory("memory limit", r.getMemoryLimitBytes());
    if (why == null) {
      why = percent("SM limit", r.getSmLimitPercent());
    }
    if (why == null && r.getMemoryLimitBytesByOrdinalCount() > MAX_DEVICES) {
      why = "more than " + MAX_DEVICES + " per-device memory limits";
    }
    if (why == null && r.getSmLimitPercentByOrdinalCount() > MAX_DEVICES) {
      why = "more than " + MAX_DEVICES + " per-device SM limits";
    }
    for (Map.Entry<Integer, Long> e : r.getMemoryLimitBytesByOrdinalMap().entrySet()) {
      if (why == null) {
        why = ordinal(e.getKey());
      }
      if (why == null) {
        why = memory("memory limit of ordinal " + e.getKey(), e.getValue());
      }
    }
    for (Map.Entry<Integer, Double> e : r.getSmLimitPercentByOrdinalMap().entrySet()) {
      if (why == null) {
        why = ordinal(e.getKey());
      }
      if (why == null) {
        why = percent("SM limit of ordinal " + e.getKey(), e.getValue());
      }
    }
    return why;
  }

  private static String ordinal(int ordinal) {
    return ordinal >= 0 && ordinal < MAX_DEVICES
        ? null
        : "ordinal " + Integer.toUnsignedString(ordinal) + " is not 0-" + (MAX_DEVICES - 1);
  }

  private static String memory(String what, long bytes) {
    // uint64 on the wire: anything from 2^63 up reads as negative here
    return bytes >= 0 ? null : what + " of " + Long.toUnsignedString(bytes) + " bytes is too large";
  }

  private static String percent(String what, double pct) {
    return Double.isFinite(pct) && pct >= 0 && pct <= 100
        ? null
        : what + " of " + pct + " % is not a percentage between 0 and 100";
  }

  /**
   * Why a frame of an open session cannot be used, or null. Device indexes are checked against
   * the session by the handler; this checks the numbers.
   */
  public static String sessionFrame(ClientFrame frame) {
    return switch (frame.getBodyCase()) {
      case MEM_RESERVE -> memory("reserve", frame.getMemReserve().getBytes());
      case MEM_FREE -> memory("free", frame.getMemFree().getBytes());
      case MEM_REPORT -> {
        var m = frame.getMemReport();
        String why = memory("report taken", m.getTakenBytes());
        if (why == null) {
          why = memory("report freed", m.getFreedBytes());
        }
        if (why == null) {
          why = memory("report peak", m.getPeakBytes());
        }
        if (why == null && m.getRefusals() < 0) {
          why = "report of " + Long.toUnsignedString(m.getRefusals()) + " refusals";
        }
        yield why;
      }
      case USAGE_REPORT -> {
        var u = frame.getUsageReport();
        String why = memory("usage report", u.getUsedBytes());
        if (why == null) {
          why = memory("usage report peak", u.getPeakBytes());
        }
        if (why == null && u.getRefusals() < 0) {
          why = "usage report of " + Long.toUnsignedString(u.getRefusals()) + " refusals";
        }
        yield why;
      }
      default -> null;
    };
  }

  /** At most 64 characters, anything but printable ASCII as '?', for messages. */
  static String printable(String s) {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < s.length() && i < 64; i++) {
      char c = s.charAt(i);
      b.append(c >= 0x20 && c < 0x7f ? c : '?');
    }
    return s.length() > 64 ? b.append("...").toString() : b.toString();
  }
}
