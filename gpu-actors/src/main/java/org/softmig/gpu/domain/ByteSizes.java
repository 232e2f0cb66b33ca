package org.softmig.gpu.domain;

import java.util.Locale;

/**
 * Memory sizes as messages show them to people: one decimal in the largest binary unit that
 * keeps the number at or above 1 ({@code 4.0 GiB}, {@code 512.0 MiB}, {@code 10.2 GiB}), plain
 * bytes under 1 KiB ({@code 512 B}). Refusals, placement answers and the command line all use
 * it, so a size reads the same everywhere; exact byte counts stay in the JSON output and the
 * metrics.
 */
public final class ByteSizes {
  private static final String[] UNITS = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};

  private ByteSizes() {}

  /** {@code bytes} in a readable unit, e.g. {@code 12.0 GiB}; negative sizes keep their sign. */
  public static String format(long bytes) {
    if (bytes > -1024 && bytes < 1024) {
      return bytes + " B";
    }
    double value = bytes;
    int unit = 0;
    // 1023.95 and up would print as 1024.0: show it in the next unit instead
    while (Math.abs(value) >= 1023.95 && unit < UNITS.length - 1) {
      value /= 1024;
      unit++;
    }
    return String.format(Locale.ROOT, "%.1f %s", value, UNITS[unit]);
  }
}
