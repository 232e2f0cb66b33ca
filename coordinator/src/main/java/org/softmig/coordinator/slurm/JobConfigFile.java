package org.softmig.coordinator.slurm;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.softmig.coordinator.config.Percentages;
import org.softmig.coordinator.config.Sizes;

/**
 * An admin config file {@code <config-dir>/<jobid>[_<arrayid>].conf}: {@code KEY=VALUE} lines,
 * {@code #} comments, optional quotes, sizes with units, percentages with an optional {@code %}. It
 * counts only if it is a regular file (not a symlink), owned by the expected owner (root), and not
 * writable by group or others.
 *
 * <p>The format is defined once, in docs/ARCHITECTURE.md ("Job config files"), and implemented
 * twice: here and in the shim's {@code cfg_parse_job_file}; both are tested against {@code
 * test-data/config-cases.txt}.
 */
public final class JobConfigFile {

  public static final String MEMORY_KEY = "CUDA_DEVICE_MEMORY_LIMIT";
  /** An MPS slice's pipe directory, written by the Prolog; the shim's to use (mps.c). */
  public static final String MPS_PIPE_KEY = "CUDA_MPS_PIPE_DIRECTORY";
  public static final String SM_KEY = "CUDA_DEVICE_SM_LIMIT";

  /** Files larger than this are refused. */
  public static final int MAX_BYTES = 65536;

  private static final int MAX_DEVICES = 64;
  private static final Pattern LINE =
      Pattern.compile("(?:export[ \\t][ \\t\\r]*)?([A-Za-z_][A-Za-z0-9_]*)[ \\t\\r]*=[ \\t\\r]*");

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
    byte[] bytes;
    try (InputStream in = Files.newInputStream(file, LinkOption.NOFOLLOW_LINKS)) {
      bytes = in.readNBytes(MAX_BYTES + 1);
    }
    // byte for byte: the grammar is ASCII, other bytes only ever make a key or value invalid
    return parse(file.toString(), new String(bytes, StandardCharsets.ISO_8859_1));
  }

  /**
   * Parses the text of a job config file, as docs/ARCHITECTURE.md ("Job config files") defines
   * it; unknown keys are ignored, and any error refuses the whole file.
   *
   * @param name how errors name the file
   * @throws MalformedException naming the file, line, key and value
   */
  public static JobLimits parse(String name, String text) {
    if (text.length() > MAX_BYTES) {
      throw new MalformedException(name + ": larger than " + MAX_BYTES + " bytes");
    }
    int lineNo = 1;
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (c == '\n') {
        lineNo++;
      } else if (c < 0x20 && c != '\t' && c != '\r' || c == 0x7f) {
        throw new MalformedException(
            String.format(Locale.ROOT, "%s:%d: control character 0x%02x", name, lineNo, (int) c));
      }
    }
    Limits limits = new Limits();
    String[] lines = text.split("\n", -1);
    for (int i = 0; i < lines.length; i++) {
      parseLine(limits, name + ":" + (i + 1), lines[i]);
    }
    return new JobLimits(limits.memory, limits.sm, limits.memoryByOrdinal, limits.smByOrdinal);
  }

  private static final class Limits {
    long memory;
    double sm;
    final Map<Integer, Long> memoryByOrdinal = new HashMap<>();
    final Map<Integer, Double> smByOrdinal = new HashMap<>();
  }

  private static void parseLine(Limits limits, String where, String raw) {
    String line = Sizes.strip(raw);
    if (line.isEmpty() || line.startsWith("#")) {
      return;
    }
    Matcher m = LINE.matcher(line);
    if (!m.lookingAt()) {
      throw new MalformedException(where + ": expected KEY=VALUE, got '" + printable(line) + "'");
    }
    String key = m.group(1);
    String rest = line.substring(m.end());
    String value;
    if (!rest.isEmpty() && (rest.charAt(0) == '"' || rest.charAt(0) == '\'')) {
      int close = rest.indexOf(rest.charAt(0), 1);
      if (close < 0) {
        throw new MalformedException(where + ": a quote is not closed");
      }
      value = rest.substring(1, close);
      String after = Sizes.strip(rest.substring(close + 1));
      if (!after.isEmpty() && after.charAt(0) != '#') {
        throw new MalformedException(where + ": text after the closing quote");
      }
    } else {
      int hash = rest.indexOf('#');
      value = Sizes.strip(hash < 0 ? rest : rest.substring(0, hash));
    }
    apply(limits, where, key, value);
  }

  private static void apply(Limits limits, String where, String key, String value) {
    if (key.startsWith(MEMORY_KEY)) {
      int ordinal = ordinal(where, key, key.substring(MEMORY_KEY.length()));
      long bytes;
      try {
        bytes = Sizes.parse(value);
      } catch (IllegalArgumentException e) {
        throw new MalformedException(
            where + ": " + key + "='" + printable(value) + "' is not a size (e.g. 24G, 1.5G, 12288M)");
      }
      if (ordinal < 0) {
        limits.memory = bytes;
      } else {
        limits.memoryByOrdinal.put(ordinal, bytes);
      }
    } else if (key.startsWith(SM_KEY)) {
      int ordinal = ordinal(where, key, key.substring(SM_KEY.length()));
      double pct;
      try {
        pct = Percentages.parse(value);
      } catch (IllegalArgumentException e) {
        throw new MalformedException(
            where + ": " + key + "='" + printable(value) + "' is not a percentage between 0 and 100");
      }
      if (ordinal < 0) {
        limits.sm = pct;
      } else {
        limits.smByOrdinal.put(ordinal, pct);
      }
    } else if (key.equals("LIBCUDA_LOG_LEVEL")) {
      // the shim's setting: checked here too, so that both sides refuse the same files
      if (!value.matches("[0-4]")) {
        throw new MalformedException(where + ": " + key + "='" + printable(value) + "' is not a log level 0-4");
      }
    } else if (key.equals(MPS_PIPE_KEY)) {
      // the shim sets it for an MPS slice before the driver starts; checked here too
      if (!validPipeDirectory(value)) {
        throw new MalformedException(
            where + ": " + key + "='" + printable(value) + "' is not an absolute path of letters,"
                + " digits, '.', '_', '-' and '/'");
      }
    } else if (key.equals("SOFTMIG_LOG_FILE")) {
      if (value.isEmpty() || value.length() > 255) {
        throw new MalformedException(where + ": " + key + "='" + printable(value) + "' is not a file name");
      }
    }
  }

  /**
   * The job file's {@code CUDA_MPS_PIPE_DIRECTORY}: an absolute path of at most 200 characters
   * from {@code [A-Za-z0-9._/-]}, without a {@code ..} component.
   */
  static boolean validPipeDirectory(String value) {
    if (!value.matches("/[A-Za-z0-9._/-]{0,199}")) {
      return false;
    }
    for (String part : value.split("/")) {
      if (part.equals("..")) {
        return false;
      }
    }
    return true;
  }

  /** -1 for no suffix (all devices), else the CUDA ordinal of "_N" (one or two digits, 0-63). */
  private static int ordinal(String where, String key, String suffix) {
    if (suffix.isEmpty()) {
      return -1;
    }
    if (suffix.matches("_[0-9]{1,2}")) {
      int ordinal = Integer.parseInt(suffix.substring(1));
      if (ordinal < MAX_DEVICES) {
        return ordinal;
      }
    }
    throw new MalformedException(
        where
            + ": "
            + printable(key)
            + " is not a limit key (per-device keys end in _N, N a CUDA ordinal 0-"
            + (MAX_DEVICES - 1)
            + ")");
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
