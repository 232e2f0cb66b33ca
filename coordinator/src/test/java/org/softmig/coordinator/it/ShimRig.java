package org.softmig.coordinator.it;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.softmig.coordinator.Coordinator;
import org.softmig.coordinator.ReconcileLoop;
import org.softmig.coordinator.config.NodeSettings;
import org.softmig.coordinator.nvml.GpuInventory;
import org.softmig.coordinator.nvml.ProcessKiller;
import org.softmig.coordinator.nvml.SimulatedGpus;
import org.softmig.proto.v1.ClientFrame;
import org.softmig.proto.v1.JobStatus;
import org.softmig.proto.v1.PlaceRequest;
import org.softmig.proto.v1.ReportReply;
import org.softmig.proto.v1.ReportRequest;
import org.softmig.proto.v1.ServerFrame;
import org.softmig.proto.v1.StatusReply;
import org.softmig.proto.v1.StatusRequest;

/**
 * Runs the native test programs (native-shim/build/test) under LD_PRELOAD=libsoftmig.so against
 * the fake CUDA driver, next to a coordinator started in this JVM on a temporary socket with
 * simulated GPUs. Paths come from the system properties the pom sets: softmig.shim,
 * softmig.fakeCuda, softmig.testPrograms.
 */
final class ShimRig implements AutoCloseable {

  /**
   * One simulated 8 GiB GPU with a name of its own: the fake driver keeps one device timeline per
   * GPU UUID for the whole host, so other runs on the same machine never share this one.
   */
  static final String SPEC = "IT" + ProcessHandle.current().pid() + ":8G";
  static final long MIB = 1L << 20;
  static final long GIB = 1L << 30;

  private static final ObjectMapper JSON = new ObjectMapper();

  static final Path SHIM =
      Path.of(System.getProperty("softmig.shim", "../native-shim/build/libsoftmig.so"));
  static final Path FAKE_CUDA =
      Path.of(System.getProperty("softmig.fakeCuda", "../native-shim/build/fake-cuda"));
  static final Path PROGRAMS =
      Path.of(System.getProperty("softmig.testPrograms", "../native-shim/build/test"));

  private final String spec;
  private final Path dir;
  private final Path socket;
  private final Path configDir;
  private final Path stateDir;
  private final List<Process> processes = new ArrayList<>();
  private Coordinator coordinator;
  private Process coordinatorProcess;

  ShimRig() throws IOException {
    this(SPEC);
  }

  /** A rig whose coordinator and fake driver have the simulated GPUs of {@code spec}. */
  ShimRig(String spec) throws IOException {
    this.spec = spec;
    dir = Files.createTempDirectory("softmig-it");
    socket = dir.resolve("c.sock");
    configDir = Files.createDirectories(dir.resolve("conf"));
    stateDir = dir.resolve("state");
  }

  /** Whether the native side was built (mvn verify builds it before this module). */
  static boolean nativeBuilt() {
    return Files.isRegularFile(SHIM)
        && Files.isRegularFile(FAKE_CUDA.resolve("libcuda.so.1"))
        && Files.isRegularFile(PROGRAMS.resolve("alloc_probe"));
  }

  Path socket() {
    return socket;
  }

  void startCoordinator() throws Exception {
    NodeSettings settings =
        NodeSettings.of(
            Map.of(
                "socket", socket,
                "simulate", spec,
                "node-name", "it",
                "config-dir", configDir,
                "state-dir", stateDir));
    coordinator = Coordinator.start(settings, SimulatedGpus.fromSpec(spec));
  }

  /**
   * A coordinator over {@code inventory} (GPUs with the UUIDs of this rig's spec), with more node
   * settings, the given killer and reconcile rounds.
   */
  void startCoordinator(
      GpuInventory inventory,
      Map<String, Object> settings,
      ProcessKiller killer,
      ReconcileLoop.Settings rounds)
      throws Exception {
    Map<String, Object> all = new HashMap<>(settings);
    all.put("socket", socket);
    all.put("node-name", "it");
    all.put("config-dir", configDir);
    all.put("state-dir", stateDir);
    coordinator = Coordinator.start(NodeSettings.of(all), inventory, killer, rounds);
  }

  Coordinator coordinator() {
    return coordinator;
  }

  void stopCoordinator() {
    if (coordinator != null) {
      coordinator.close();
      coordinator = null;
    }
  }

  /** A coordinator in a process of its own (bin/softmig coordinator), to be killed with SIGKILL. */
  void startCoordinatorProcess() throws Exception {
    Path java = Path.of(System.getProperty("java.home"), "bin", "java");
    ProcessBuilder pb =
        new ProcessBuilder(
            java.toString(),
            "-cp",
            System.getProperty("java.class.path"),
            "org.softmig.coordinator.Main",
            "coordinator",
            "--socket",
            socket.toString(),
            "--simulate",
            spec,
            "--node-name",
            "it",
            "--config-dir",
            configDir.toString(),
            "--state-dir",
            stateDir.toString());
    pb.redirectErrorStream(true);
    pb.redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve("coordinator.log").toFile()));
    coordinatorProcess = pb.start();
    processes.add(coordinatorProcess);
    long deadline = System.nanoTime() + 60_000_000_000L;
    while (System.nanoTime() < deadline) {
      try {
        status();
        return;
      } catch (IOException e) {
        if (!coordinatorProcess.isAlive()) {
          throw new IllegalStateException(
              "coordinator exited: " + Files.readString(dir.resolve("coordinator.log")));
        }
        Thread.sleep(100);
      }
    }
    throw new IllegalStateException("coordinator did not open " + socket + " within 60 s");
  }

  /** Sends a signal (STOP, CONT, ...) to the coordinator process. */
  void signalCoordinatorProcess(String signal) throws Exception {
    Process kill =
        new ProcessBuilder("kill", "-" + signal, "" + coordinatorProcess.pid())
            .redirectErrorStream(true)
            .start();
    if (!kill.waitFor(10, TimeUnit.SECONDS) || kill.exitValue() != 0) {
      throw new IllegalStateException("kill -" + signal + " failed");
    }
  }

  /** The admin job config directory the coordinator and the shim read. */
  Path configDir() {
    return configDir;
  }

  /** SIGKILL to the coordinator process; its socket file stays behind, as after a crash. */
  void killCoordinatorProcess() throws InterruptedException {
    coordinatorProcess.destroyForcibly();
    coordinatorProcess.waitFor(10, TimeUnit.SECONDS);
  }

  /** A test program with the shim preloaded; env adds to (and overrides) the defaults. */
  ProcessBuilder program(String name, Map<String, String> env, String... args) {
    List<String> cmd = new ArrayList<>();
    cmd.add(PROGRAMS.resolve(name).toAbsolutePath().toString());
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd);
    Map<String, String> e = pb.environment();
    e.keySet()
        .removeIf(
            k -> k.startsWith("SLURM_") || k.startsWith("CUDA_") || k.startsWith("SOFTMIG_"));
    e.put("LD_PRELOAD", SHIM.toAbsolutePath().toString());
    e.put("LD_LIBRARY_PATH", FAKE_CUDA.toAbsolutePath().toString());
    e.put("SOFTMIG_FAKE_GPUS", spec);
    e.put("SOFTMIG_SOCKET", socket.toString());
    e.put("SOFTMIG_CONFIG_DIR", configDir.toString());
    e.put("SOFTMIG_LOG_FILE", dir.resolve("shim.log").toString());
    e.put("LIBCUDA_LOG_LEVEL", "3");
    e.putAll(env);
    pb.redirectError(ProcessBuilder.Redirect.appendTo(dir.resolve("stderr.log").toFile()));
    return pb;
  }

  /** Exit code and JSON lines of a program run to completion. */
  record Run(int exit, List<JsonNode> lines) {
    JsonNode line(int i) {
      return lines.get(i);
    }
  }

  Run run(String name, Map<String, String> env, String... args) throws Exception {
    return run(program(name, env, args));
  }

  /** A program built by {@link #program} (and changed, e.g. to run as another user) run to completion. */
  Run run(ProcessBuilder pb) throws Exception {
    String name = String.join(" ", pb.command());
    Process p = start(pb);
    List<JsonNode> lines = new ArrayList<>();
    try (BufferedReader r = reader(p.getInputStream())) {
      String s;
      while ((s = r.readLine()) != null) {
        lines.add(JSON.readTree(s));
      }
    }
    if (!p.waitFor(60, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new IllegalStateException(name + " did not finish within 60 s");
    }
    return new Run(p.exitValue(), lines);
  }

  /**
   * A program that prints one JSON line and then holds what it has until its stdin closes (the
   * GPU probes' --hold): returns the process and that line.
   */
  record Held(Process process, JsonNode line) implements AutoCloseable {
    /** Closes stdin, waits for the exit; returns the exit code. */
    int finish() throws Exception {
      process.getOutputStream().close();
      if (!process.waitFor(60, TimeUnit.SECONDS)) {
        process.destroyForcibly();
        throw new IllegalStateException("did not exit within 60 s");
      }
      return process.exitValue();
    }

    @Override
    public void close() {
      process.destroyForcibly();
    }
  }

  Held hold(String name, Map<String, String> env, String... args) throws Exception {
    return held(launch(name, env, args));
  }

  /** Starts a program with the shim preloaded and returns at once (read its line with held). */
  Process launch(String name, Map<String, String> env, String... args) throws IOException {
    return start(program(name, env, args));
  }

  /** The first JSON line of a program started with launch that then holds until stdin closes. */
  Held held(Process p) throws Exception {
    String name = p.info().command().orElse("program");
    String s = reader(p.getInputStream()).readLine();
    if (s == null) {
      p.waitFor(10, TimeUnit.SECONDS);
      throw new IllegalStateException(name + " printed nothing; shim log: " + shimLog());
    }
    return new Held(p, JSON.readTree(s));
  }

  /** A long-lived mem_shell process driven line by line. */
  Shell shell(Map<String, String> env) throws Exception {
    return shell(program("mem_shell", env));
  }

  /** A mem_shell built by {@link #program} (and changed, e.g. to run as another user). */
  Shell shell(ProcessBuilder pb) throws Exception {
    Shell s = new Shell(start(pb));
    JsonNode ready = s.next();
    if (!"ready".equals(ready.path("op").asText())) {
      throw new IllegalStateException("mem_shell did not start: " + ready);
    }
    return s;
  }

  final class Shell {
    final Process process;
    private final BufferedReader out;
    private final Writer in;

    private Shell(Process process) {
      this.process = process;
      this.out = reader(process.getInputStream());
      this.in = new java.io.OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
    }

    JsonNode send(String command) throws IOException {
      in.write(command + "\n");
      in.flush();
      return next();
    }

    /** Sends a command without waiting for its answer (read it with next()). */
    void ask(String command) throws IOException {
      in.write(command + "\n");
      in.flush();
    }

    /** Tells the shell to leave (it answers nothing) and waits for it to exit. */
    void exit() throws IOException, InterruptedException {
      in.write("exit\n");
      in.flush();
      process.waitFor(10, TimeUnit.SECONDS);
    }

    /** Allocates through path; returns the CUresult. */
    int alloc(String path, long bytes) throws IOException {
      return send("alloc " + path + " " + bytes).path("rc").asInt(-1);
    }

    JsonNode next() throws IOException {
      String s = out.readLine();
      if (s == null) {
        throw new IOException("mem_shell exited");
      }
      return JSON.readTree(s);
    }

    long pid() {
      return process.pid();
    }
  }

  private Process start(ProcessBuilder pb) throws IOException {
    Process p = pb.start();
    processes.add(p);
    return p;
  }

  private static BufferedReader reader(InputStream in) {
    return new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
  }

  /** The node's status, straight over the socket. */
  StatusReply status() throws IOException {
    try (SocketChannel ch = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
      OutputStream out = Channels.newOutputStream(ch);
      InputStream in = Channels.newInputStream(ch);
      ClientFrame.newBuilder()
          .setRequestId(1)
          .setStatus(StatusRequest.getDefaultInstance())
          .build()
          .writeDelimitedTo(out);
      ServerFrame reply = ServerFrame.parseDelimitedFrom(in);
      if (reply == null || !reply.hasStatus()) {
        throw new IOException("no status reply: " + reply);
      }
      return reply.getStatus();
    }
  }

  /** The state directory the rig's coordinators keep their placements in. */
  Path stateDir() {
    return stateDir;
  }

  /** Places a job's slice over the socket, as `softmig place` does; the reply frame. */
  ServerFrame place(String jobId, long bytes, double smPercent) throws IOException {
    try (SocketChannel ch = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
      OutputStream out = Channels.newOutputStream(ch);
      InputStream in = Channels.newInputStream(ch);
      ClientFrame.newBuilder()
          .setRequestId(1)
          .setPlace(
              PlaceRequest.newBuilder()
                  .setJobId(jobId)
                  .setMemoryBytes(bytes)
                  .setSmPercent(smPercent)
                  .setUser("alice"))
          .build()
          .writeDelimitedTo(out);
      ServerFrame reply = ServerFrame.parseDelimitedFrom(in);
      if (reply == null) {
        throw new IOException("no place reply");
      }
      return reply;
    }
  }

  /** A job's reports (one per GPU it used), straight over the socket. */
  ReportReply report(String jobId) throws IOException {
    try (SocketChannel ch = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
      OutputStream out = Channels.newOutputStream(ch);
      InputStream in = Channels.newInputStream(ch);
      ClientFrame.newBuilder()
          .setRequestId(1)
          .setReport(ReportRequest.newBuilder().setJobId(jobId))
          .build()
          .writeDelimitedTo(out);
      ServerFrame reply = ServerFrame.parseDelimitedFrom(in);
      if (reply == null || !reply.hasReport()) {
        throw new IOException("no report reply: " + reply);
      }
      return reply.getReport();
    }
  }

  Optional<JobStatus> job(String jobId) {
    try {
      return status().getNodesList().stream()
          .flatMap(n -> n.getGpusList().stream())
          .flatMap(g -> g.getJobsList().stream())
          .filter(j -> j.getJobId().equals(jobId))
          .findFirst();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The shim's log, for failure messages. */
  String shimLog() {
    try {
      Path log = dir.resolve("shim.log");
      return Files.exists(log) ? Files.readString(log) : "";
    } catch (IOException e) {
      return e.toString();
    }
  }

  @Override
  public void close() {
    for (Process p : processes) {
      p.destroyForcibly();
    }
    for (Process p : processes) {
      try {
        p.waitFor(5, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    stopCoordinator();
  }
}
