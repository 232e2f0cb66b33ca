package org.softmig.coordinator.config;

import java.util.regex.Pattern;

/**
 * Percentages as the job config file writes them: {@code 25}, {@code 12.5}, {@code 50%}, from 0
 * to 100. Digits with at most one point and an optional {@code %}; no sign, exponent, hexadecimal,
 * {@code nan} or {@code inf}; at most 32 characters; spaces, tabs and CRs around it are ignored.
 * The grammar of docs/ARCHITECTURE.md ("Percentages"), the same as the shim's {@code
 * cfg_parse_percent}; both are tested against {@code test-data/config-cases.txt}.
 */
public final class Percentages {

  private static final Pattern PERCENT = Pattern.compile("[0-9]+(?:\\.[0-9]+)?%?");
  private static final int MAX_CHARS = 32;

  private Percentages() {}

  /**
   * Parses a percentage.
   *
   * @throws IllegalArgumentException naming the value when it is not one
   */
  public static double parse(String text) {
    String t = text == null ? "" : Sizes.strip(text);
    if (t.length() > MAX_CHARS || !PERCENT.matcher(t).matches()) {
      throw new IllegalArgumentException("not a percentage: '" + text + "'");
    }
    // digits and at most one point: parseDouble reads exactly these, correctly rounded
    double p = Double.parseDouble(t.endsWith("%") ? t.substring(0, t.length() - 1) : t);
    if (!(p >= 0 && p <= 100)) {
      throw new IllegalArgumentException("not a percentage between 0 and 100: '" + text + "'");
    }
    return p;
  }
}
