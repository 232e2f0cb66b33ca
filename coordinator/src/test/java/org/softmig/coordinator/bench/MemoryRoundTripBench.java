package org.softmig.coordinator.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.HdrHistogram.Histogram;
import org.softmig.coordinator.Coordinator;
import org.softmig.coordinator.cli.SocketClient;
import org.softmig.coordinator.config.NodeSettings;
import org.softmig.coordinator.nvml.SimulatedGpus;
import org.softmig.proto.v1.ClientFrame;
import org.softmig.proto.v1.Device;
import org.softmig.proto.v1.Hello;
import org.softmig.proto.v1.MemFree;
import org.softmig.proto.v1.MemReserve;
import org.softmig.proto.v1.ProtocolConstants;
import org.softmig.proto.v1.RequestedLimits;
import org.softmig.proto.v1.ServerFrame;

/**
 * Load generator, not a test: starts a coordinator on simulated GPUs, opens N sessions over the
 * real Unix socket (each a process of its own job, no limit, so every allocation is an exact
 * MemReserve/MemReply round trip to the one GPU actor), and measures round trips.
 *
 * <p>Usage: {@code MemoryRoundTripBench [--sessions 64] [--seconds 15] [--warmup 5]}
 */
public final class MemoryRoundTripBench {

  public static void main(String[] args) throws Exception {
    int sessions = 64;
    int seconds = 15;
    int warmup = 5;
    for (int i = 0; i + 1 < args.length; i += 2) {
      switch (args[i]) {
        case "--sessions" -> sessions = Integer.parseInt(args[i + 1]);
        case "--seconds" -> seconds = Integer.parseInt(args[i + 1]);
        case "--warmup" -> warmup = Integer.parseInt(args[i + 1]);
        default -> throw new IllegalArgumentException("unknown option " + args[i]);
      }
    }
    Path dir = Files.createTempDirectory(Path.of("/tmp"), "smbench");
    Path socket = dir.resolve("s.sock");
    NodeSettings settings =
        NodeSettings.of(
            Map.of(
                "socket", socket,
                "simulate", "48G,48G",
                "node-name", "bench",
                "proc-root", dir.resolve("proc"),
                "config-dir", dir.resolve("conf"),
                "state-dir", dir.resolve("state")));
    SimulatedGpus gpus = SimulatedGpus.fromSpec("48G,48G");
    String uuid = gpus.gpus().get(0).uuid();
    try (Coordinator coordinator = Coordinator.start(settings, gpus)) {
      AtomicBoolean measuring = new AtomicBoolean();
      AtomicBoolean stop = new AtomicBoolean();
      AtomicReference<Throwable> failure = new AtomicReference<>();
      List<Histogram> histograms = new ArrayList<>();
      List<Thread> threads = new ArrayList<>();
      CountDownLatch connected = new CountDownLatch(sessions);
      for (int s = 0; s < sessions; s++) {
        Histogram h = new Histogram(3_600_000_000L, 3);
        histograms.add(h);
        String job = "bench-" + s;
        Thread t =
            new Thread(
                () -> {
                  try (SocketClient c = SocketClient.connect(socket)) {
                    ServerFrame welcome =
                        c.call(
                            ClientFrame.newBuilder()
                                .setHello(
                                    Hello.newBuilder()
                                        .setProtocolVersion(
                                            ProtocolConstants.CURRENT_PROTOCOL_VERSION_VALUE)
                                        .addDevices(Device.newBuilder().setUuid(uuid))
                                        .setRequested(RequestedLimits.newBuilder().setJobId(job)))
                                .build());
                    if (!welcome.hasWelcome()) {
                      throw new IllegalStateException("no welcome: " + welcome);
                    }
                    connected.countDown();
                    ClientFrame free =
                        ClientFrame.newBuilder()
                            .setMemFree(MemFree.newBuilder().setBytes(4096))
                            .build();
                    long id = 0;
                    while (!stop.get()) {
                      id++;
                      ClientFrame reserve =
                          ClientFrame.newBuilder()
                              .setRequestId(id)
                              .setMemReserve(MemReserve.newBuilder().setBytes(4096))
                              .build();
                      long start = System.nanoTime();
                      ServerFrame reply = c.call(reserve);
                      long took = System.nanoTime() - start;
                      if (!reply.hasMemReply() || !reply.getMemReply().getGranted()) {
                        throw new IllegalStateException("unexpected reply " + reply);
                      }
                      if (measuring.get()) {
                        h.recordValue(took);
                      }
                      c.send(free);
                    }
                  } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                    connected.countDown();
                  }
                },
                "session-" + s);
        t.setDaemon(true);
        threads.add(t);
        t.start();
      }
      connected.await();
      Thread.sleep(warmup * 1000L);
      measuring.set(true);
      long start = System.nanoTime();
      Thread.sleep(seconds * 1000L);
      measuring.set(false);
      long elapsed = System.nanoTime() - start;
      stop.set(true);
      for (Thread t : threads) {
        t.join(5_000);
      }
      if (failure.get() != null) {
        throw new IllegalStateException("a session failed", failure.get());
      }
      Histogram all = new Histogram(3_600_000_000L, 3);
      histograms.forEach(all::add);
      double perSecond = all.getTotalCount() / (elapsed / 1e9);
      System.out.printf(
          Locale.ROOT,
          "sessions=%d seconds=%d cpus=%d round_trips=%d throughput=%.0f/s"
              + " p50=%.1fus p90=%.1fus p99=%.1fus p999=%.1fus max=%.1fus%n",
          sessions,
          seconds,
          Runtime.getRuntime().availableProcessors(),
          all.getTotalCount(),
          perSecond,
          all.getValueAtPercentile(50) / 1e3,
          all.getValueAtPercentile(90) / 1e3,
          all.getValueAtPercentile(99) / 1e3,
          all.getValueAtPercentile(99.9) / 1e3,
          all.getMaxValue() / 1e3);
    } finally {
      Files.deleteIfExists(socket);
      Files.deleteIfExists(dir);
    }
    System.exit(0);
  }
}
