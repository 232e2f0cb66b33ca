package org.softmig.coordinator.config;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigObject;
import com.typesafe.config.ConfigOrigin;
import com.typesafe.config.ConfigParseOptions;
import com.typesafe.config.ConfigValue;
import com.typesafe.config.ConfigValueType;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A node's configuration in three layers, by Typesafe Config: {@code reference.conf} (every key
 * and its default), the site's node file over it, the command-line flags over that. Keys under
 * {@code softmig} that {@code reference.conf} does not list are refused, naming the file, the line
 * and the nearest known key. An empty object in {@code reference.conf} (such as a map keyed by
 * GPU) is open: its own reader checks what is under it.
 */
public final class NodeConfig {

  /** The top-level key of every node setting. */
  public static final String ROOT = "softmig";
  /** How flags are named in error messages. */
  public static final String FLAGS = "command line";

  private NodeConfig() {}

  /** {@code reference.conf} alone: every default. */
  public static Config reference() {
    return ConfigFactory.defaultReference();
  }

  /**
   * The layered configuration, resolved.
   *
   * @param file the node file, or null for none
   * @param flags settings from the command line, keys relative to {@code softmig} (e.g. {@code
   *     sm-policy}); null values are left out
   * @throws IllegalArgumentException naming the file, key and what is wrong
   */
  public static Config load(Path file, Map<String, ?> flags) {
    Config reference = reference();
    Config site = ConfigFactory.empty();
    if (file != null) {
      site = parseFile(file);
      checkKeys(site, reference, "config file " + file);
    }
    Config command = fromFlags(flags);
    checkKeys(command, reference, FLAGS);
    try {
      return command.withFallback(site).withFallback(reference).resolve();
    } catch (ConfigException e) {
      throw new IllegalArgumentException(e.getMessage(), e);
    }
  }

  private static Config parseFile(Path file) {
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException("config file " + file + " does not exist");
    }
    try {
      return ConfigFactory.parseFile(
          new File(file.toString()), ConfigParseOptions.defaults().setAllowMissing(false));
    } catch (ConfigException e) {
      throw new IllegalArgumentException("config file " + file + ": " + e.getMessage(), e);
    }
  }

  private static Config fromFlags(Map<String, ?> flags) {
    Map<String, Object> paths = new java.util.LinkedHashMap<>();
    flags.forEach(
        (key, value) -> {
          if (value != null) {
            paths.put(ROOT + "." + key, value instanceof Path p ? p.toString() : value);
          }
        });
    return ConfigFactory.parseMap(paths, FLAGS);
  }

  /**
   * Refuses keys that {@code reference} does not know: any top-level key but {@code softmig}, and
   * under it any key not in {@code reference.conf}.
   */
  static void checkKeys(Config layer, Config reference, String where) {
    for (Map.Entry<String, ConfigValue> e : layer.root().entrySet()) {
      if (!e.getKey().equals(ROOT)) {
        throw unknown(where, e.getKey(), e.getValue(), List.of(ROOT));
      }
      if (e.getValue() instanceof ConfigObject o) {
        check(o, reference.getObject(ROOT), ROOT, where);
      } else {
        throw new IllegalArgumentException(
            where + line(e.getValue().origin()) + ": " + ROOT + " must be an object { ... }");
      }
    }
  }

  private static void check(ConfigObject layer, ConfigObject known, String path, String where) {
    if (known.isEmpty()) {
      return; // open: a map whose reader checks its own keys
    }
    for (Map.Entry<String, ConfigValue> e : layer.entrySet()) {
      String key = path + "." + e.getKey();
      ConfigValue ref = known.get(e.getKey());
      if (ref == null && !known.containsKey(e.getKey())) {
        List<String> siblings = new ArrayList<>();
        known.keySet().forEach(k -> siblings.add(path + "." + k));
        throw unknown(where, key, e.getValue(), siblings);
      }
      if (ref != null
          && ref.valueType() == ConfigValueType.OBJECT
          && e.getValue() instanceof ConfigObject sub) {
        check(sub, (ConfigObject) ref, key, where);
      }
    }
  }

  private static IllegalArgumentException unknown(
      String where, String key, ConfigValue value, List<String> known) {
    String hint = nearest(key, known);
    return new IllegalArgumentException(
        where
            + line(value.origin())
            + ": unknown key "
            + key
            + (hint == null ? "" : "; did you mean " + hint + "?"));
  }

  private static String line(ConfigOrigin origin) {
    return origin != null && origin.lineNumber() > 0 ? " line " + origin.lineNumber() : "";
  }

  /** The known key nearest to {@code key} by edit distance, if near enough to be a typo. */
  static String nearest(String key, List<String> known) {
    String best = null;
    int bestDistance = Integer.MAX_VALUE;
    for (String k : known) {
      int d = editDistance(key, k);
      if (d < bestDistance) {
        best = k;
        bestDistance = d;
      }
    }
    String last = key.substring(key.lastIndexOf('.') + 1);
    return bestDistance <= Math.max(2, last.length() / 3) ? best : null;
  }

  /** Levenshtein distance: insertions, deletions and substitutions of one character. */
  static int editDistance(String a, String b) {
    int[] prev = new int[b.length() + 1];
    int[] cur = new int[b.length() + 1];
    for (int j = 0; j <= b.length(); j++) {
      prev[j] = j;
    }
    for (int i = 1; i <= a.length(); i++) {
      cur[0] = i;
      for (int j = 1; j <= b.length(); j++) {
        int sub = prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
        cur[j] = Math.min(sub, Math.min(prev[j] + 1, cur[j - 1] + 1));
      }
      int[] t = prev;
      prev = cur;
      cur = t;
    }
    return prev[b.length()];
  }

  /**
   * Reads typed values of a layered configuration, turning every problem into a message naming
   * where the value came from (file and line, or the command line), the key and the value.
   */
  public record Reader(Config config) {

    public IllegalArgumentException bad(String key, String why) {
      ConfigValue value = config.getValue(key);
      ConfigOrigin origin = value.origin();
      String where =
          origin.filename() != null
              ? "config file " + origin.filename() + line(origin)
              : origin.description().startsWith(FLAGS) ? FLAGS : origin.description();
      String shown = key.endsWith("password") ? "(hidden)" : value.render();
      return new IllegalArgumentException(where + ": " + key + " = " + shown + ": " + why);
    }

    /** The string at {@code key}, or null where it is null. */
    public String string(String key) {
      if (!config.hasPath(key)) {
        return null;
      }
      ConfigValue v = config.getValue(key);
      if (v.valueType() == ConfigValueType.OBJECT || v.valueType() == ConfigValueType.LIST) {
        throw bad(key, "expected a string");
      }
      return config.getString(key);
    }

    public Path path(String key) {
      String s = string(key);
      if (s == null) {
        return null;
      }
      if (s.isBlank()) {
        throw bad(key, "expected a path");
      }
      return Path.of(s);
    }

    /** A duration in milliseconds; a plain number is milliseconds. */
    public long millis(String key, long min, long max) {
      long ms;
      try {
        ms = config.getDuration(key).toMillis();
      } catch (ConfigException e) {
        throw bad(key, "expected a duration such as 20ms");
      }
      if (ms < min || ms > max) {
        throw bad(key, "expected between " + min + " ms and " + max + " ms");
      }
      return ms;
    }

    /** A port, 0 to 65535, or null where it is null. */
    public Integer port(String key) {
      if (!config.hasPath(key)) {
        return null;
      }
      try {
        int port = config.getInt(key);
        if (port >= 0 && port <= 65535) {
          return port;
        }
      } catch (ConfigException e) {
        // below
      }
      throw bad(key, "expected a port between 0 and 65535");
    }

    public boolean bool(String key) {
      try {
        return config.getBoolean(key);
      } catch (ConfigException e) {
        throw bad(key, "expected true or false");
      }
    }

    public List<String> strings(String key) {
      try {
        return List.copyOf(config.getStringList(key));
      } catch (ConfigException e) {
        throw bad(key, "expected a list of strings");
      }
    }
  }
}
