package org.softmig.coordinator.it;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.HdrHistogram.Histogram;
import org.softmig.coordinator.nvml.GpuInfo;
import org.softmig.coordinator.nvml.SimulatedGpus;
import org.softmig.proto.v1.ClientFrame;
import org.softmig.proto.v1.Device;
import org.softmig.proto.v1.GpuStatus;
import org.softmig.proto.v1.Hello;
import org.softmig.proto.v1.JobStatus;
import org.softmig.proto.v1.RequestedLimits;
import org.softmig.proto.v1.ServerFrame;
import org.softmig.proto.v1.StatusReply;
import org.softmig.proto.v1.StatusRequest;

/**
 * A flood of invalid {@code Hello}s from one user against a real coordinator process (simulated
 * GPUs, the JVM options of {@code bin/softmig coordinator}): while a {@link RawClient} (run as an
 * unprivileged user when this runs as root) sends them, this process asks for status every 10 ms
 * and samples the coordinator's VmRSS every 50 ms. Prints status latency p50/p99/max, peak RSS,
 * the jobs status shows afterwards and the machine's load; exits 1 if a job was left behind, RSS
 * went over 256 MiB or status p99 over 100 ms. Run by {@code scripts/bench-flood.sh}.
 *
 * <pre>
 *   HelloFloodBench [--hellos 10000] [--concurrency 32]
 * </pre>
 */
public final class HelloFloodBench {

  private static final String SPEC = "FLOOD:48G,FLOOD:48G";
  private static final String JVM_OPTS =
      "-Xms16m -Xmx128m -Xss512k -XX:+UseSerialGC -XX:ReservedCodeCacheSize=64m";
  private static final long RSS_LIMIT_KIB = 256 * 1024;
  private static final long STATUS_P99_LIMIT_MICROS = 100_000;

  private HelloFloodBench() {}

  public static void main(String[] args) throws Exception {
    int hellos = 10_000;
    int concurrency = 32;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--hellos" -> hellos = Integer.parseInt(args[++i]);
        case "--concurrency" -> concurrency = Integer.parseInt(args[++i]);
        default -> throw new IllegalArgumentException("unknown argument " + args[i]);
      }
    }
    Users users = Users.prepare();
    Path dir = Files.createTempDirectory("softmig-flood");
    Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
    Path socket = dir.resolve("c.sock");
    Process coordinator = startCoordinator(dir, socket);
    try {
      run(users, socket, coordinator, hellos, concurrency);
    } finally {
      coordinator.destroy();
      coordinator.waitFor(10, TimeUnit.SECONDS);
      coordinator.destroyForcibly();
    }
  }

  private static void run(Users users, Path socket, Process coordinator, int hellos, int concurrency)
      throws Exception {
    String uuid = SimulatedGpus.fromSpec(SPEC).gpus().stream().map(GpuInfo::uuid).findFirst().orElseThrow();
    for (int i = 0; i < 200; i++) {
      status(socket); // warm both sides up: the figures are of the flood, not of a cold JIT
    }
    Thread.sleep(3000);
    long rssBefore = rssKib(coordinator.pid());

    AtomicBoolean flooding = new AtomicBoolean(true);
    AtomicLong rssPeak = new AtomicLong(rssBefore);
    Thread sampler =
        new Thread(
            () -> {
              while (flooding.get()) {
                rssPeak.accumulateAndGet(rssKib(coordinator.pid()), Math::max);
                sleep(50);
              }
            });
    Histogram latency = new Histogram(60_000_000L, 3);
    AtomicLong statusFailures = new AtomicLong();
    Thread asker =
        new Thread(
            () -> {
              while (flooding.get()) {
                long t0 = System.nanoTime();
                try {
                  status(socket);
                  latency.recordValue((System.nanoTime() - t0) / 1000);
                } catch (IOException e) {
                  statusFailures.incrementAndGet();
                }
                sleep(10);
              }
            });

    Users.User attacker = users.root() ? users.attacker() : null;
    Process client = users.rawClient(attacker, socket).start();
    Writer in = new OutputStreamWriter(client.getOutputStream(), StandardCharsets.UTF_8);
    BufferedReader out =
        new BufferedReader(new InputStreamReader(client.getInputStream(), StandardCharsets.UTF_8));
    sampler.start();
    asker.start();
    long t0 = System.nanoTime();
    in.write("flood " + hellos + " " + concurrency + " " + String.join(",", invalidHellos(uuid)) + "\n");
    in.flush();
    String result = out.readLine();
    double floodSeconds = (System.nanoTime() - t0) / 1e9;
    flooding.set(false);
    sampler.join();
    asker.join();
    in.close();
    client.waitFor(10, TimeUnit.SECONDS);
    String load = Files.readString(Path.of("/proc/loadavg")).trim();

    StatusReply after = status(socket);
    List<String> jobs = new ArrayList<>();
    for (GpuStatus g : after.getNodes(0).getGpusList()) {
      for (JobStatus j : g.getJobsList()) {
        jobs.add(j.getJobId());
      }
    }
    boolean alive = coordinator.isAlive();
    long p99 = latency.getValueAtPercentile(99);
    System.out.printf(
        "flood: %d invalid Hellos, %d at a time, from %s in %.1f s (%.0f/s): %s%n",
        hellos,
        concurrency,
        attacker == null ? "this user" : "user " + attacker.name(),
        floodSeconds,
        hellos / floodSeconds,
        result);
    System.out.printf(
        "status during the flood: %d answers, %d failed, p50 %.1f ms, p99 %.1f ms, max %.1f ms%n",
        latency.getTotalCount(),
        statusFailures.get(),
        latency.getValueAtPercentile(50) / 1000.0,
        p99 / 1000.0,
        latency.getMaxValue() / 1000.0);
    System.out.printf(
        "coordinator VmRSS: %d MiB before, %d MiB peak; alive: %s%n",
        rssBefore / 1024, rssPeak.get() / 1024, alive);
    System.out.printf("jobs in status afterwards: %s%n", jobs);
    System.out.printf(
        "machine: %d CPUs, load average (1/5/15 min, runnable/threads) %s%n",
        Runtime.getRuntime().availableProcessors(), load);
    boolean ok =
        alive
            && jobs.isEmpty()
            && rssPeak.get() < RSS_LIMIT_KIB
            && p99 <= STATUS_P99_LIMIT_MICROS
            && statusFailures.get() == 0;
    System.out.println(ok ? "PASS" : "FAIL");
    if (!ok) {
      System.exit(1);
    }
  }

  /** Hellos asking for limits that are not limits (-1, NaN, 1e308, 2^64-1), each a new job. */
  private static List<String> invalidHellos(String uuid) throws IOException {
    List<RequestedLimits.Builder> bad =
        List.of(
            RequestedLimits.newBuilder().setJobId("flood-a").setSmLimitPercent(-1),
            RequestedLimits.newBuilder().setJobId("flood-b").setSmLimitPercent(Double.NaN),
            RequestedLimits.newBuilder().setJobId("flood-c").setSmLimitPercent(1e308),
            RequestedLimits.newBuilder().setJobId("flood-d").setMemoryLimitBytes(-1L));
    List<String> hex = new ArrayList<>();
    for (RequestedLimits.Builder r : bad) {
      hex.add(
          AttackSuiteIT.hex(
              ClientFrame.newBuilder()
                  .setHello(
                      Hello.newBuilder()
                          .setProtocolVersion(2)
                          .addDevices(Device.newBuilder().setUuid(uuid))
                          .setRequested(r))
                  .build()));
    }
    return hex;
  }

  private static Process startCoordinator(Path dir, Path socket) throws Exception {
    Path java = Path.of(System.getProperty("java.home"), "bin", "java");
    List<String> cmd = new ArrayList<>();
    cmd.add(java.toString());
    cmd.addAll(List.of(JVM_OPTS.split(" ")));
    cmd.addAll(
        List.of(
            "-cp",
            System.getProperty("java.class.path"),
            "org.softmig.coordinator.Main",
            "coordinator",
            "--socket",
            socket.toString(),
            "--simulate",
            SPEC,
            "--node-name",
            "flood",
            "--config-dir",
            Files.createDirectories(dir.resolve("conf")).toString()));
    Process p =
        new ProcessBuilder(cmd)
            .redirectErrorStream(true)
            .redirectOutput(dir.resolve("coordinator.log").toFile())
            .start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (System.nanoTime() < deadline) {
      try {
        status(socket);
        return p;
      } catch (IOException e) {
        if (!p.isAlive()) {
          throw new IllegalStateException("coordinator exited: " + Files.readString(dir.resolve("coordinator.log")));
        }
        Thread.sleep(100);
      }
    }
    throw new IllegalStateException("coordinator did not answer within 60 s");
  }

  private static StatusReply status(Path socket) throws IOException {
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

  private static long rssKib(long pid) {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
        if (line.startsWith("VmRSS:")) {
          return Long.parseLong(line.replaceAll("[^0-9]", ""));
        }
      }
    } catch (IOException | RuntimeException e) {
      // the process is gone
    }
    return 0;
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
