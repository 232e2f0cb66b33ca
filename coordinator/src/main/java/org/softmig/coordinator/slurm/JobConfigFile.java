package org.softmig.coordinator.slurm;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.softmig.coordinator.config.Sizes;

/**
 * An admin config file {@code <config-dir>/<jobid>[_<arrayid>].conf}: {@code KEY=VALUE} lines,
 * {@code #} comments. It counts only if it is a regular file (not a symlink), owned by the expected
 * owner (root), and not writable by group or others.
 */
public final class JobConfigFile {

  public static final String MEMORY_KEY = "CUDA_DEVICE_MEMORY_LIMIT";
  public static final String SM_KEY = "CUDA_DEVICE_SM_LIMIT";

  private static final Pattern PER_DEVICE = Pattern.compile("(" + MEMORY_KEY + "|" + SM_KEY + ")_([0-9]{1,3})");

  private JobConfigFile() {}

  /** Why a file was not used. */
  public static final class UnsafeFileException extends IOException {
    public UnsafeFileException(String message) {
      super(message);
    }
  }

  /** A value in a file that is not what its key needs. */
  public static final class MalformedException extends IllegalArgumentException {
    public MalformedException(String message) {
      super(message);
    }
  }

  /**
   * Checks that a file may be trusted.
   *
   * @throws UnsafeFileException saying why not
   */
  public static void checkSafe(Path file, int expectedOwnerUid) throws IOException {
    PosixFileAttributes attrs =
        Files.readAttributes(file, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
    if (attrs.isSymbolicLink()) {
      throw new UnsafeFileException(file + " is a symbolic link");
    }
    if (!attrs.isRegularFile()) {
      throw new UnsafeFileException(file + " is not a regular file");
    }
    int owner = (Integer) Files.getAttribute(file, "unix:uid", LinkOption.NOFOLLOW_LINKS);
    if (owner != expectedOwnerUid) {
      throw new UnsafeFileException(
          file + " is owned by uid " + owner + ", not uid " + expectedOwnerUid);
    }
    Set<PosixFilePermission> perms = attrs.permissions();
    if (perms.contains(PosixFilePermission.GROUP_WRITE)
        || perms.contains(PosixFilePermission.OTHERS_WRITE)) {
      throw new UnsafeFileException(file + " is writable by group or others");
    }
  }

  /** Reads and parses a file (after {@link #checkSafe}). */
  public static JobLimits read(Path file) throws IOException {
    return parse(file.toString(), Files.readString(file, StandardCharsets.UTF_8));
  }

  /**
   * Parses the text of a config file; unknown keys are ignored.
   *
   * @param name how errors name the file
   * @throws MalformedException naming the file, key and value
   */
  public static JobLimits parse(String name, String text) {
    long memory = 0;
    double sm = 0;
    Map<Integer, Long> memoryByOrdinal = new HashMap<>();
    Map<Integer, Double> smByOrdinal = new HashMap<>();
    int lineNo = 0;
    for (String raw : text.split("\n")) {
      lineNo++;
      String line = raw.strip();
      if (line.isEmpty() || line.startsWith("#")) {
        continue;
      }
      if (line.startsWith("export ")) {
        line = line.substring("export ".length()).strip();
      }
      int eq = line.indexOf('=');
      if (eq <= 0) {
        throw new MalformedException(name + ":" + lineNo + ": expected KEY=VALUE, got '" + raw + "'");
      }
      String key = line.substring(0, eq).strip();
      String value = unquote(line.substring(eq + 1).strip());
      if (key.equals(MEMORY_KEY)) {
        memory = size(name, key, value);
      } else if (key.equals(SM_KEY)) {
        sm = percent(name, key, value);
      } else {
        Matcher m = PER_DEVICE.matcher(key);
        if (m.matches()) {
          int ordinal = Integer.parseInt(m.group(2));
          if (m.group(1).equals(MEMORY_KEY)) {
            memoryByOrdinal.put(ordinal, size(name, key, value));
          } else {
            smByOrdinal.put(ordinal, percent(name, key, value));
          }
        }
      }
    }
    return new JobLimits(memory, sm, memoryByOrdinal, smByOrdinal);
  }

  private static String unquote(String value) {
    if (value.length() >= 2
        && (value.startsWith("\"") && value.endsWith("\"")
            || value.startsWith("'") && value.endsWith("'"))) {
      return value.substring(1, value.length() - 1);
    }
    return value;
  }

  private static long size(String name, String key, String value) {
    try {
      return Sizes.parse(value);
    } catch (IllegalArgumentException e) {
      throw new MalformedException(
          name + ": " + key + "='" + value + "' is not a size (e.g. 24G, 1.5G, 12288M)");
    }
  }

  private static double percent(String name, String key, String value) {
    double p;
    try {
      p = Double.parseDouble(value.endsWith("%") ? value.substring(0, value.length() - 1) : value);
    } catch (NumberFormatException e) {
      p = Double.NaN;
    }
    if (!(p >= 0 && p <= 100)) {
      throw new MalformedException(
          name + ": " + key + "='" + value + "' is not a percentage between 0 and 100");
    }
    return p;
  }
}
