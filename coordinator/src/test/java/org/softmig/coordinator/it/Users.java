package org.softmig.coordinator.it;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Other local users for the attack suite. When the tests run as root, two unprivileged users are
 * created once (useradd) and processes run as them through {@code setpriv}; their programs, the
 * shim and the fake driver are copied into a world-readable folder first, since the build tree
 * may sit under a home that only root can enter. Without root, every process runs as the current
 * user and the tests that need two users are skipped.
 */
final class Users {

  /** A local user: its name, uid and gid. */
  record User(String name, int uid, int gid) {}

  static final String ATTACKER = "softmig-attacker";
  static final String VICTIM = "softmig-victim";

  private final boolean root;
  private final Path stage;
  private final User attacker;
  private final User victim;

  private Users(boolean root, Path stage, User attacker, User victim) {
    this.root = root;
    this.stage = stage;
    this.attacker = attacker;
    this.victim = victim;
  }

  static boolean runningAsRoot() {
    return "root".equals(System.getProperty("user.name")) || uidOfSelf() == 0;
  }

  private static int uidOfSelf() {
    try {
      return ((Number) Files.getAttribute(Path.of("/proc/self"), "unix:uid")).intValue();
    } catch (IOException | RuntimeException e) {
      return -1;
    }
  }

  /** Creates the users when root (once per machine) and stages what they run. */
  static Users prepare() throws Exception {
    boolean root = runningAsRoot();
    Path stage = Files.createTempDirectory("softmig-attack");
    Files.setPosixFilePermissions(stage, PosixFilePermissions.fromString("rwxr-xr-x"));
    copyTree(ShimRig.SHIM.getParent(), stage.resolve("shim"), List.of("libsoftmig.so"));
    copyTree(ShimRig.FAKE_CUDA, stage.resolve("fake-cuda"), List.of("libcuda.so.1", "libnvidia-ml.so.1"));
    copyTree(ShimRig.PROGRAMS, stage.resolve("test"), List.of("mem_shell", "alloc_probe"));
    Path classes = stage.resolve("classes/org/softmig/coordinator/it");
    Files.createDirectories(classes);
    try (InputStream in = RawClient.class.getResourceAsStream("RawClient.class")) {
      Files.copy(in, classes.resolve("RawClient.class"));
    }
    Path logs = Files.createDirectories(stage.resolve("logs"));
    Files.setPosixFilePermissions(logs, PosixFilePermissions.fromString("rwxrwxrwx"));
    try (Stream<Path> all = Files.walk(stage)) {
      for (Path p : (Iterable<Path>) all::iterator) {
        if (!p.equals(logs)) {
          Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
        }
      }
    }
    if (!root) {
      return new Users(false, stage, null, null);
    }
    return new Users(true, stage, ensure(ATTACKER), ensure(VICTIM));
  }

  private static void copyTree(Path from, Path to, List<String> names) throws IOException {
    Files.createDirectories(to);
    for (String n : names) {
      Path f = from.resolve(n);
      if (Files.exists(f)) {
        Files.copy(f, to.resolve(n), StandardCopyOption.REPLACE_EXISTING);
      }
    }
  }

  private static User ensure(String name) throws Exception {
    if (exec("id", "-u", name).isEmpty()) {
      exec("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name);
    }
    int uid = Integer.parseInt(exec("id", "-u", name).trim());
    int gid = Integer.parseInt(exec("id", "-g", name).trim());
    return new User(name, uid, gid);
  }

  /** stdout of a command, or "" when it fails. */
  private static String exec(String... cmd) throws Exception {
    Process p = new ProcessBuilder(cmd).redirectErrorStream(false).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    p.getErrorStream().readAllBytes();
    if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
      return "";
    }
    return out;
  }

  boolean root() {
    return root;
  }

  /** The attacker: an unprivileged user when root, else the current user. */
  User attacker() {
    return attacker != null ? attacker : new User(System.getProperty("user.name"), uidOfSelf(), -1);
  }

  /** A second unprivileged user; only when root. */
  User victim() {
    return victim;
  }

  Path logs() {
    return stage.resolve("logs");
  }

  /**
   * A rig program (shim preloaded, fake driver) run as {@code user} (null: as this process), from
   * the staged copies.
   */
  ProcessBuilder program(ShimRig rig, User user, String name, Map<String, String> env, String... args) {
    ProcessBuilder pb = rig.program(name, env, args);
    Map<String, String> e = pb.environment();
    e.put("LD_PRELOAD", stage.resolve("shim/libsoftmig.so").toString());
    e.put("LD_LIBRARY_PATH", stage.resolve("fake-cuda").toString());
    if (!env.containsKey("SOFTMIG_LOG_FILE")) {
      e.put("SOFTMIG_LOG_FILE", logs().resolve(name + "-" + (user == null ? "self" : user.name()) + ".log").toString());
    }
    List<String> cmd = new ArrayList<>(pb.command());
    cmd.set(0, stage.resolve("test").resolve(name).toString());
    pb.command(as(user, cmd));
    return pb;
  }

  /** A {@link RawClient} on {@code socket}, run as {@code user} (null: as this process). */
  ProcessBuilder rawClient(User user, Path socket) {
    Path java = Path.of(System.getProperty("java.home"), "bin", "java");
    List<String> cmd =
        List.of(
            java.toString(),
            "-Xmx64m",
            "-XX:TieredStopAtLevel=1",
            "-cp",
            stage.resolve("classes").toString(),
            RawClient.class.getName(),
            socket.toString());
    ProcessBuilder pb = new ProcessBuilder(as(user, cmd));
    pb.redirectError(ProcessBuilder.Redirect.appendTo(logs().resolve("raw-client.err").toFile()));
    pb.environment().put("HOME", "/tmp");
    return pb;
  }

  private List<String> as(User user, List<String> cmd) {
    if (user == null || !root) {
      return cmd;
    }
    List<String> all = new ArrayList<>(
        List.of(
            "setpriv",
            "--reuid=" + user.uid(),
            "--regid=" + user.gid(),
            "--clear-groups",
            "--"));
    all.addAll(cmd);
    return all;
  }
}
