package org.softmig.coordinator.mps;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The NVIDIA MPS control daemon of one GPU, driven through its own program: {@code
 * nvidia-cuda-mps-control -d} starts it, {@code nvidia-cuda-mps-control} with a command on stdin
 * talks to it. Every run gets {@code CUDA_MPS_PIPE_DIRECTORY} and {@code CUDA_MPS_LOG_DIRECTORY}
 * of the GPU ({@code <base>/<uuid>/pipe}, {@code <base>/<uuid>/log}) and {@code
 * CUDA_VISIBLE_DEVICES=<uuid>}, so the daemon and its servers see that GPU alone; every command
 * has a timeout, so a wedged daemon cannot block the caller.
 *
 * <p>Liveness comes from {@code /proc} (a zombie is dead), and the daemon's pid from its command
 * line and its environment (the pipe directory), never from {@code /proc/<pid>/comm}, which the
 * kernel cuts at 15 characters. Blocking: call from the supervisor's own threads only.
 */
public final class MpsControl {

  private static final Path PROC = Path.of("/proc");

  private final String uuid;
  private final Path control;
  private final Path pipeDir;
  private final Path logDir;
  private final Duration timeout;

  public MpsControl(String uuid, Path control, Path baseDir, Duration timeout) {
    this.uuid = uuid;
    this.control = control;
    this.pipeDir = baseDir.resolve(uuid).resolve("pipe");
    this.logDir = baseDir.resolve(uuid).resolve("log");
    this.timeout = timeout;
  }

  public Path pipeDir() {
    return pipeDir;
  }

  public Path logDir() {
    return logDir;
  }

  /** The output of a command, or why there is none. */
  public sealed interface Reply {}

  public record Output(String text) implements Reply {}

  public record Failed(String why) implements Reply {}

  /**
   * Starts the daemon, or finds the one already running on this pipe directory (left by a
   * coordinator that stopped); returns its pid.
   *
   * @throws IOException with the reason when no daemon runs afterwards
   */
  public int start() throws IOException, InterruptedException {
    Optional<Integer> running = findDaemon();
    if (running.isPresent()) {
      return running.get();
    }
    makeDirectory(pipeDir.getParent().getParent());
    makeDirectory(pipeDir.getParent());
    makeDirectory(pipeDir);
    makeDirectory(logDir);
    Reply reply = run(List.of("-d"), "");
    if (reply instanceof Failed f) {
      throw new IOException(control + " -d: " + f.why());
    }
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() - deadline < 0) {
      running = findDaemon();
      if (running.isPresent()) {
        return running.get();
      }
      Thread.sleep(20);
    }
    throw new IOException(control + " -d exited but no daemon runs on " + pipeDir);
  }

  /** Sends one command (e.g. {@code get_server_list}) and returns what the daemon printed. */
  public Reply command(String command) throws InterruptedException {
    return run(List.of(), command + "\n");
  }

  /** The daemon's servers, or why the daemon did not say. */
  public MpsDaemonWatch.Finding probe(int controlPid) throws InterruptedException {
    if (!alive(controlPid)) {
      return new MpsDaemonWatch.DaemonGone();
    }
    Reply list = command("get_server_list");
    if (list instanceof Failed f) {
      return alive(controlPid)
          ? new MpsDaemonWatch.NoAnswer(f.why())
          : new MpsDaemonWatch.DaemonGone();
    }
    List<MpsDaemonWatch.Server> servers = new ArrayList<>();
    for (int pid : pids(((Output) list).text())) {
      boolean faulted = !alive(pid);
      if (!faulted) {
        Reply status = command("get_server_status " + pid);
        if (status instanceof Failed f) {
          return new MpsDaemonWatch.NoAnswer("get_server_status: " + f.why());
        }
        faulted = isFault(((Output) status).text());
      }
      servers.add(new MpsDaemonWatch.Server(pid, faulted));
    }
    return new MpsDaemonWatch.Answered(servers);
  }

  /** The pids in {@code get_server_list}'s output: one per line, other lines ignored. */
  static List<Integer> pids(String text) {
    List<Integer> pids = new ArrayList<>();
    for (String line : text.split("\n")) {
      String l = line.strip();
      if (l.matches("[0-9]{1,9}")) {
        int pid = Integer.parseInt(l);
        if (pid > 0) {
          pids.add(pid);
        }
      }
    }
    return pids;
  }

  /** {@code get_server_status} says FAULT (as a word of its own). */
  static boolean isFault(String text) {
    for (String word : text.split("[^A-Za-z_]+")) {
      if (word.equals("FAULT")) {
        return true;
      }
    }
    return false;
  }

  /** True when the process exists and is not a zombie. */
  public static boolean alive(int pid) {
    if (pid <= 0) {
      return false;
    }
    try {
      String stat = Files.readString(PROC.resolve(Integer.toString(pid)).resolve("stat"));
      int close = stat.lastIndexOf(')');
      char state = close >= 0 && close + 2 < stat.length() ? stat.charAt(close + 2) : '?';
      return state != 'Z' && state != 'X';
    } catch (IOException e) {
      return false;
    }
  }

  /** SIGKILL, if the process still lives. */
  public static void kill(int pid) {
    if (pid > 0) {
      ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
    }
  }

  /**
   * The daemon serving this pipe directory: a process whose command line names the control
   * program with {@code -d} and whose environment has this {@code CUDA_MPS_PIPE_DIRECTORY}.
   */
  public Optional<Integer> findDaemon() {
    String program = control.getFileName().toString();
    byte[] wanted = ("CUDA_MPS_PIPE_DIRECTORY=" + pipeDir).getBytes(StandardCharsets.UTF_8);
    try (Stream<Path> entries = Files.list(PROC)) {
      for (Path p : (Iterable<Path>) entries::iterator) {
        String name = p.getFileName().toString();
        if (!name.matches("[0-9]+")) {
          continue;
        }
        int pid = Integer.parseInt(name);
        try {
          List<String> args = split(Files.readAllBytes(p.resolve("cmdline")));
          boolean named = args.stream().anyMatch(a -> baseName(a).equals(program));
          if (named && args.contains("-d") && hasEntry(Files.readAllBytes(p.resolve("environ")), wanted)
              && alive(pid)) {
            return Optional.of(pid);
          }
        } catch (IOException | SecurityException e) {
          // gone, or not ours to read
        }
      }
    } catch (IOException e) {
      return Optional.empty();
    }
    return Optional.empty();
  }

  /**
   * Runs the control program. Its output goes to a file, not a pipe: the daemon that {@code -d}
   * leaves behind may inherit the descriptors and keep a pipe open for ever.
   */
  private Reply run(List<String> args, String stdin) throws InterruptedException {
    List<String> cmd = new ArrayList<>();
    cmd.add(control.toString());
    cmd.addAll(args);
    Path out;
    try {
      out = Files.createTempFile("softmig-mps", ".out");
    } catch (IOException e) {
      return new Failed("no temporary file: " + e.getMessage());
    }
    ProcessBuilder pb =
        new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out.toFile());
    Map<String, String> env = pb.environment();
    env.put("CUDA_MPS_PIPE_DIRECTORY", pipeDir.toString());
    env.put("CUDA_MPS_LOG_DIRECTORY", logDir.toString());
    env.put("CUDA_VISIBLE_DEVICES", uuid);
    Process p = null;
    try {
      p = pb.start();
      try (OutputStream in = p.getOutputStream()) {
        in.write(stdin.getBytes(StandardCharsets.UTF_8));
      } catch (IOException e) {
        // it exited before reading: its exit status tells
      }
      if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
        p.destroyForcibly();
        return new Failed("no answer within " + timeout.toMillis() + " ms");
      }
      String text = readCapped(out);
      if (p.exitValue() != 0) {
        return new Failed("exit " + p.exitValue() + ": " + text.strip());
      }
      return new Output(text);
    } catch (IOException e) {
      return new Failed("cannot run " + control + ": " + e.getMessage());
    } finally {
      if (p != null) {
        p.destroyForcibly();
      }
      try {
        Files.deleteIfExists(out);
      } catch (IOException e) {
        // a temporary file left behind
      }
    }
  }

  private static String readCapped(Path file) throws IOException {
    try (var in = Files.newInputStream(file)) {
      return new String(in.readNBytes(64 * 1024), StandardCharsets.UTF_8);
    }
  }

  private static void makeDirectory(Path dir) throws IOException {
    if (!Files.isDirectory(dir)) {
      Files.createDirectories(dir);
      Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
    }
  }

  private static List<String> split(byte[] nulSeparated) {
    List<String> out = new ArrayList<>();
    int start = 0;
    for (int i = 0; i <= nulSeparated.length; i++) {
      if (i == nulSeparated.length || nulSeparated[i] == 0) {
        if (i > start) {
          out.add(new String(nulSeparated, start, i - start, StandardCharsets.UTF_8));
        }
        start = i + 1;
      }
    }
    return out;
  }

  private static boolean hasEntry(byte[] environ, byte[] wanted) {
    int start = 0;
    for (int i = 0; i <= environ.length; i++) {
      if (i == environ.length || environ[i] == 0) {
        if (i - start == wanted.length
            && java.util.Arrays.equals(environ, start, i, wanted, 0, wanted.length)) {
          return true;
        }
        start = i + 1;
      }
    }
    return false;
  }

  private static String baseName(String arg) {
    int slash = arg.lastIndexOf('/');
    return slash >= 0 ? arg.substring(slash + 1) : arg;
  }
}
