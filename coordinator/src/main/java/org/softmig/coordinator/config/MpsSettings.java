package org.softmig.coordinator.config;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;

/**
 * Which GPUs of the node are shared through NVIDIA MPS, and how the coordinator runs MPS on them.
 * Keys in the node config file: {@code softmig.gpus."<uuid|index>".sharing = mps | time-slicing}
 * (default time-slicing) and {@code softmig.mps.*}; {@code --mps GPU} adds a GPU.
 *
 * @param gpus the GPUs shared through MPS, each a UUID or an index as the config names it
 * @param baseDir per GPU, {@code <baseDir>/<uuid>/pipe} and {@code <baseDir>/<uuid>/log}
 * @param control the {@code nvidia-cuda-mps-control} program
 * @param timeCaps run the lease gate on top of MPS (time caps); off: jobs co-run freely
 * @param probeInterval how often the control daemon is asked for its servers
 * @param commandTimeout how long one command to the control daemon may take
 * @param serverFaultGrace how long a server may stay in fault before it is shut down
 */
public record MpsSettings(
    Set<String> gpus,
    Path baseDir,
    Path control,
    boolean timeCaps,
    Duration probeInterval,
    Duration commandTimeout,
    Duration serverFaultGrace) {

  public static final Path DEFAULT_BASE_DIR = Path.of("/run/softmig/mps");

  public MpsSettings {
    gpus = Set.copyOf(new TreeSet<>(gpus));
    Objects.requireNonNull(baseDir, "baseDir");
    Objects.requireNonNull(control, "control");
    checkPositive("probe-interval", probeInterval);
    checkPositive("command-timeout", commandTimeout);
    checkPositive("server-fault-grace", serverFaultGrace);
  }

  /**
   * {@code softmig.gpus} and {@code softmig.mps} of a layered configuration.
   *
   * @throws IllegalArgumentException naming where the wrong value came from, its key and value
   */
  public static MpsSettings fromConfig(NodeConfig.Reader r) {
    com.typesafe.config.Config config = r.config();
    Set<String> gpus = new TreeSet<>();
    if (config.hasPath("softmig.gpus")) {
      com.typesafe.config.ConfigObject all;
      try {
        all = config.getObject("softmig.gpus");
      } catch (com.typesafe.config.ConfigException e) {
        throw r.bad("softmig.gpus", "expected { \"<uuid|index>\" { sharing = mps } }");
      }
      for (String gpu : all.keySet()) {
        String key = "softmig.gpus." + com.typesafe.config.ConfigUtil.quoteString(gpu);
        try {
          checkGpu(gpu);
        } catch (IllegalArgumentException e) {
          throw r.bad(key, e.getMessage());
        }
        com.typesafe.config.ConfigObject one;
        try {
          one = config.getObject(key);
        } catch (com.typesafe.config.ConfigException e) {
          throw r.bad(key, "expected { sharing = mps | time-slicing }");
        }
        for (String k : one.keySet()) {
          if (!k.equals("sharing")) {
            throw r.bad(key, "unknown key '" + k + "' (only sharing)");
          }
        }
        String sharing = r.string(key + ".sharing");
        try {
          if (sharing != null && parseSharing(sharing)) {
            gpus.add(gpu.strip());
          }
        } catch (IllegalArgumentException e) {
          throw r.bad(key + ".sharing", "expected mps or time-slicing");
        }
      }
    }
    long hour = Duration.ofHours(1).toMillis();
    return new MpsSettings(
        gpus,
        r.path("softmig.mps.base-dir"),
        r.path("softmig.mps.control"),
        r.bool("softmig.mps.time-caps"),
        Duration.ofMillis(r.millis("softmig.mps.probe-interval", 10, hour)),
        Duration.ofMillis(r.millis("softmig.mps.command-timeout", 10, hour)),
        Duration.ofMillis(r.millis("softmig.mps.server-fault-grace", 10, hour)));
  }

  public static MpsSettings defaults() {
    return new MpsSettings(
        Set.of(),
        DEFAULT_BASE_DIR,
        Path.of("nvidia-cuda-mps-control"),
        false,
        Duration.ofSeconds(2),
        Duration.ofSeconds(5),
        Duration.ofSeconds(10));
  }

  /** True when the GPU with this UUID and index is to be shared through MPS. */
  public boolean mps(String uuid, int index) {
    return gpus.contains(uuid) || gpus.contains(Integer.toString(index));
  }

  /** Checks a GPU name (a UUID or an index) as the config and {@code --mps} give it. */
  public static String checkGpu(String gpu) {
    String g = gpu == null ? "" : gpu.strip();
    if (!g.matches("[0-9]{1,3}") && !g.matches("(GPU|MIG)-[0-9A-Za-z-]{1,80}")) {
      throw new IllegalArgumentException(
          "GPU '" + gpu + "' is neither an index nor a UUID (GPU-...)");
    }
    return g;
  }

  /** Parses {@code mps} or {@code time-slicing}: true for MPS. */
  public static boolean parseSharing(String value) {
    String v = value.toLowerCase(Locale.ROOT);
    if (v.equals("mps")) {
      return true;
    }
    if (v.equals("time-slicing")) {
      return false;
    }
    throw new IllegalArgumentException("sharing '" + value + "' is not mps or time-slicing");
  }

  public MpsSettings withGpu(String gpu) {
    Set<String> s = new TreeSet<>(gpus);
    s.add(checkGpu(gpu));
    return new MpsSettings(
        s, baseDir, control, timeCaps, probeInterval, commandTimeout, serverFaultGrace);
  }

  public MpsSettings withoutGpu(String gpu) {
    Set<String> s = new TreeSet<>(gpus);
    s.remove(gpu);
    return new MpsSettings(
        s, baseDir, control, timeCaps, probeInterval, commandTimeout, serverFaultGrace);
  }

  public MpsSettings withBaseDir(Path v) {
    return new MpsSettings(
        gpus, v, control, timeCaps, probeInterval, commandTimeout, serverFaultGrace);
  }

  public MpsSettings withControl(Path v) {
    return new MpsSettings(
        gpus, baseDir, v, timeCaps, probeInterval, commandTimeout, serverFaultGrace);
  }

  public MpsSettings withTimeCaps(boolean v) {
    return new MpsSettings(
        gpus, baseDir, control, v, probeInterval, commandTimeout, serverFaultGrace);
  }

  public MpsSettings withProbeInterval(Duration v) {
    return new MpsSettings(gpus, baseDir, control, timeCaps, v, commandTimeout, serverFaultGrace);
  }

  public MpsSettings withCommandTimeout(Duration v) {
    return new MpsSettings(gpus, baseDir, control, timeCaps, probeInterval, v, serverFaultGrace);
  }

  public MpsSettings withServerFaultGrace(Duration v) {
    return new MpsSettings(gpus, baseDir, control, timeCaps, probeInterval, commandTimeout, v);
  }

  private static void checkPositive(String key, Duration d) {
    if (d == null || d.isNegative() || d.isZero() || d.compareTo(Duration.ofHours(1)) > 0) {
      throw new IllegalArgumentException(
          "mps " + key + " of " + d + " is not between 1 ms and 1 hour");
    }
  }
}
