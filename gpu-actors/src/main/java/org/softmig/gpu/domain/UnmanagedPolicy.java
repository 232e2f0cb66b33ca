package org.softmig.gpu.domain;

import java.util.Locale;

/**
 * What the node does with a process that uses a sliced GPU without a session, or with a job whose
 * processes use more than its limit in NVML's eyes.
 */
public enum UnmanagedPolicy {
  /** List it in status, log it and count it in metrics. */
  REPORT,
  /** As REPORT, and SIGKILL the process. */
  KILL;

  /** Parses the config value {@code report} or {@code kill} (any case). */
  public static UnmanagedPolicy parse(String value) {
    if (value != null) {
      switch (value.strip().toLowerCase(Locale.ROOT)) {
        case "report":
          return REPORT;
        case "kill":
          return KILL;
        default:
          break;
      }
    }
    throw new IllegalArgumentException(
        "unmanaged-process policy must be 'report' or 'kill', got [" + value + "]");
  }

  /** The config spelling. */
  public String configValue() {
    return name().toLowerCase(Locale.ROOT);
  }
}
