package org.softmig.coordinator.config;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.softmig.gpu.domain.ByteSizes;

/**
 * Memory sizes as people write them: {@code 24G}, {@code 24GiB}, {@code 24GB}, {@code 1.5G},
 * {@code 12288M}, {@code 512K}, {@code 2T} or plain bytes. Units are binary and case-insensitive;
 * at most 12 digits after the point; fractions round down to a whole byte; spaces, tabs and CRs
 * around the size are ignored, none inside. The grammar of docs/ARCHITECTURE.md ("Sizes"), the
 * same as the shim's {@code cfg_parse_size}; both are tested against {@code
 * test-data/config-cases.txt}.
 */
public final class Sizes {

  private static final Pattern SIZE =
      Pattern.compile("([0-9]+(?:\\.[0-9]{1,12})?)(?:([kmgt])(?:i?b)?|b)?", Pattern.CASE_INSENSITIVE);
  private static final BigDecimal MAX = BigDecimal.valueOf(Long.MAX_VALUE);

  private Sizes() {}

  /**
   * Parses a size.
   *
   * @throws IllegalArgumentException naming the value when it is not a size
   */
  public static long parse(String text) {
    if (text == null) {
      throw new IllegalArgumentException("missing size");
    }
    Matcher m = SIZE.matcher(strip(text));
    if (!m.matches()) {
      throw new IllegalArgumentException(
          "not a size: '" + text + "' (expected e.g. 24G, 1.5GiB, 12288M or bytes)");
    }
    BigDecimal number = new BigDecimal(m.group(1));
    String unit = m.group(2) == null ? "" : m.group(2).toLowerCase(Locale.ROOT);
    int shift =
        switch (unit) {
          case "k" -> 10;
          case "m" -> 20;
          case "g" -> 30;
          case "t" -> 40;
          default -> 0;
        };
    BigDecimal bytes = number.multiply(BigDecimal.valueOf(2).pow(shift)).setScale(0, RoundingMode.DOWN);
    if (bytes.compareTo(MAX) > 0) {
      throw new IllegalArgumentException("size too large: '" + text + "'");
    }
    return bytes.longValueExact();
  }

  /**
   * Parses a size given on a command line, where a bare number is more likely a slip than bytes:
   * it needs a unit ({@code 12G}, {@code 512M}), or {@code B} where bytes are meant.
   *
   * @throws IllegalArgumentException naming the value, and saying so when it has no unit
   */
  public static long parseWithUnit(String text) {
    String t = text == null ? "" : strip(text);
    if (!t.isEmpty() && Character.isDigit(t.charAt(t.length() - 1))) {
      throw new IllegalArgumentException(
          "'" + text + "' has no unit: write " + t + "G or " + t + "M, or " + t + "B for bytes");
    }
    return parse(text);
  }

  /** Drops the blanks of the shared grammar (space, tab, CR) from both ends. */
  public static String strip(String text) {
    int start = 0;
    int end = text.length();
    while (start < end && isBlank(text.charAt(start))) {
      start++;
    }
    while (end > start && isBlank(text.charAt(end - 1))) {
      end--;
    }
    return text.substring(start, end);
  }

  public static boolean isBlank(char c) {
    return c == ' ' || c == '\t' || c == '\r';
  }

  /** A short readable form: {@code 24.0 GiB}, {@code 512 B} (see {@link ByteSizes}). */
  public static String format(long bytes) {
    return ByteSizes.format(bytes);
  }
}
