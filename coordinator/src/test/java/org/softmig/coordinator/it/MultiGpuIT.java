package org.softmig.coordinator.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import akka.actor.typed.javadsl.AskPattern;
import com.fasterxml.jackson.databind.JsonNode;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.softmig.coordinator.ReconcileLoop;
import org.softmig.coordinator.nvml.GpuInfo;
import org.softmig.coordinator.nvml.GpuInventory;
import org.softmig.coordinator.nvml.ProcessKiller;
import org.softmig.coordinator.nvml.ProcessUsage;
import org.softmig.coordinator.nvml.SimulatedGpus;
import org.softmig.gpu.actor.NodeGuardian;
import org.softmig.gpu.domain.Placement;
import org.softmig.gpu.domain.UnmanagedPolicy;
import org.softmig.proto.v1.GpuStatus;
import org.softmig.proto.v1.JobReport;
import org.softmig.proto.v1.JobStatus;
import org.softmig.proto.v1.NodeStatus;
import org.softmig.proto.v1.UnmanagedProcess;

/**
 * A node of several GPUs: the real coordinator (in this JVM) and the shim on the fake driver with
 * three simulated 8 GiB GPUs. Slices pack onto the fullest GPU that fits; a placed job's process
 * that sees only its GPU gets the slice as its limit; one process with a limit per CUDA ordinal is
 * held to each; SM limits per ordinal hold at once and a busy GPU does not slow another; status,
 * metrics and reports are per GPU; unmanaged processes are found on the GPU NVML lists them on.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class MultiGpuIT {

  private static final long GIB = ShimRig.GIB;
  private static final long MIB = ShimRig.MIB;
  /** Three GPUs whose names are this JVM's own (the fake driver's timelines are per UUID). */
  private static final String SPEC = tripled("MG" + ProcessHandle.current().pid() + ":8G");

  private ShimRig rig;
  private List<String> uuids;

  private static String tripled(String entry) {
    return entry + "," + entry + "," + entry;
  }

  @BeforeAll
  void start() throws Exception {
    assumeTrue(ShimRig.nativeBuilt(), "native-shim/build is not built");
    rig = new ShimRig(SPEC);
    SimulatedGpus gpus = SimulatedGpus.fromSpec(SPEC);
    uuids = gpus.gpus().stream().map(GpuInfo::uuid).toList();
    rig.startCoordinator(
        gpus,
        Map.of("simulate", SPEC, "metrics-port", freePort()),
        ProcessKiller.sigkill(),
        ReconcileLoop.Settings.defaults());
  }

  @AfterAll
  void stop() {
    if (rig != null) {
      rig.close();
    }
  }

  @Test
  void slicesPackOntoTheFullestGpuThatFitsAndStatusAndMetricsShowEachGpu() throws Exception {
    try {
      assertThat(place(rig, "pack-a", 6 * GIB, 50)).isEqualTo(uuids.get(0));
      // 2 GiB left on GPU 0: 4 GiB goes to the next one
      assertThat(place(rig, "pack-b", 4 * GIB, 30)).isEqualTo(uuids.get(1));
      // fits both GPU 0 (2 GiB left) and GPU 1 (4 GiB left): the fuller one
      assertThat(place(rig, "pack-c", 2 * GIB, 40)).isEqualTo(uuids.get(0));
      assertThat(place(rig, "pack-d", 1 * GIB, 20)).isEqualTo(uuids.get(1));
      // GPU 0 is full; on GPU 1 the SM share no longer fits (50 + 60 > 100): the empty GPU
      assertThat(place(rig, "pack-e", 1 * GIB, 60)).isEqualTo(uuids.get(2));
      // no GPU has 8 GiB left
      assertThat(placeDecision(rig, "pack-f", 8 * GIB, 10)).isInstanceOf(Placement.Refused.class);

      NodeStatus node = rig.status().getNodes(0);
      assertThat(gpu(node, 0).getMemoryCommittedBytes()).isEqualTo(8 * GIB);
      assertThat(gpu(node, 0).getSmCommittedPercent()).isEqualTo(90.0);
      assertThat(jobIds(gpu(node, 0))).containsExactlyInAnyOrder("pack-a", "pack-c");
      assertThat(gpu(node, 1).getMemoryCommittedBytes()).isEqualTo(5 * GIB);
      assertThat(jobIds(gpu(node, 1))).containsExactlyInAnyOrder("pack-b", "pack-d");
      assertThat(gpu(node, 2).getMemoryCommittedBytes()).isEqualTo(1 * GIB);
      assertThat(jobIds(gpu(node, 2))).containsExactly("pack-e");

      // the metrics endpoint has each GPU's committed memory under its own label
      await()
          .atMost(Duration.ofSeconds(10))
          .untilAsserted(
              () -> {
                String metrics = scrape();
                assertThat(metric(metrics, "softmig_gpu_memory_committed_bytes", uuids.get(0)))
                    .isEqualTo(8.0 * GIB);
                assertThat(metric(metrics, "softmig_gpu_memory_committed_bytes", uuids.get(1)))
                    .isEqualTo(5.0 * GIB);
                assertThat(metric(metrics, "softmig_gpu_memory_committed_bytes", uuids.get(2)))
                    .isEqualTo(1.0 * GIB);
              });
    } finally {
      for (String job : List.of("pack-a", "pack-b", "pack-c", "pack-d", "pack-e")) {
        release(rig, job);
      }
    }
  }

  @Test
  void aPlacedJobsProcessThatSeesOnlyItsGpuGetsTheSliceAsItsLimit() throws Exception {
    try {
      // GPU 0 with 4 GiB left, GPU 1 with 3 GiB: the 3 GiB slice packs onto GPU 1
      assertThat(place(rig, "seen-other0", 4 * GIB, 10)).isEqualTo(uuids.get(0));
      assertThat(place(rig, "seen-other1", 5 * GIB, 10)).isEqualTo(uuids.get(1));
      String uuid = place(rig, "seen", 3 * GIB, 25);
      int index = uuids.indexOf(uuid);
      assertThat(index).isEqualTo(1);
      ShimRig.Shell shell =
          rig.shell(Map.of("SOFTMIG_JOB_ID", "seen", "CUDA_VISIBLE_DEVICES", uuid));
      JsonNode info = shell.send("info");
      assertThat(info.path("devices").asInt()).isEqualTo(1);
      assertThat(info.path("uuid").asText()).isEqualTo(uuid);
      assertThat(info.path("total").asLong()).as(rig.shimLog()).isEqualTo(3 * GIB);
      assertThat(shell.alloc("alloc", 2 * GIB)).isZero();
      assertThat(shell.alloc("alloc", 2 * GIB)).isEqualTo(2); // CUDA_ERROR_OUT_OF_MEMORY
      assertThat(shell.alloc("vmm", GIB)).isZero();

      NodeStatus node = rig.status().getNodes(0);
      JobStatus job = job(gpu(node, index), "seen");
      assertThat(job.getMemoryLimitBytes()).isEqualTo(3 * GIB);
      assertThat(job.getSmLimitPercent()).isEqualTo(25.0);
      assertThat(job.getProcessesList()).contains((int) shell.pid());
      for (int i : List.of(0, 2)) {
        assertThat(jobIds(gpu(node, i))).doesNotContain("seen");
      }
      shell.exit();
    } finally {
      for (String job : List.of("seen", "seen-other0", "seen-other1")) {
        release(rig, job);
      }
    }
  }

  /**
   * The placement's limits; with a config file the shim talks to the node's own socket only
   * (admin first), so that case is in CoordinatorSocketTest, over the wire protocol.
   */
  @Test
  void aPlacedJobGetsNothingOnAnotherGpuWhateverItSees() throws Exception {
    ShimRig.Shell shell = null;
    try {
      String uuid = place(rig, "held", 2 * GIB, 20);
      int index = uuids.indexOf(uuid);
      int other = index == 0 ? 1 : 0;
      // no CUDA_VISIBLE_DEVICES: the process sees all three GPUs
      shell = rig.shell(Map.of("SOFTMIG_JOB_ID", "held", "PROBE_DEVICE", Integer.toString(index)));
      assertThat(shell.send("info").path("total").asLong()).as(rig.shimLog()).isEqualTo(2 * GIB);
      assertThat(shell.alloc("alloc", GIB)).isZero();

      JsonNode total = shell.send("total " + other);
      assertThat(total.path("rc").asInt()).isZero();
      assertThat(total.path("bytes").asLong()).as("another GPU's total").isZero();
      // no context on another GPU: CUDA_ERROR_NOT_PERMITTED
      assertThat(shell.send("device " + other).path("rc").asInt()).isEqualTo(800);
      // no memory there either, even from a context on its own GPU
      assertThat(shell.send("vmmon " + other + " " + 2 * MIB).path("rc").asInt()).isEqualTo(2);
      // its own GPU still works
      assertThat(shell.send("vmmon " + index + " " + 2 * MIB).path("rc").asInt()).isZero();

      NodeStatus node = rig.status().getNodes(0);
      for (int i = 0; i < 3; i++) {
        if (i != index) {
          assertThat(jobIds(gpu(node, i))).doesNotContain("held");
        }
      }
      assertThat(job(gpu(node, index), "held").getMemoryLimitBytes()).isEqualTo(2 * GIB);
    } finally {
      if (shell != null) {
        shell.exit();
      }
      release(rig, "held");
    }
  }

  @Test
  void aProcessWithALimitPerOrdinalIsHeldToEachAndReportedPerGpu() throws Exception {
    Map<String, String> env = new HashMap<>();
    env.put("SOFTMIG_JOB_ID", "per-ordinal");
    env.put("CUDA_DEVICE_MEMORY_LIMIT_0", "1G");
    env.put("CUDA_DEVICE_MEMORY_LIMIT_1", "3G");
    ShimRig.Shell shell = rig.shell(env);

    assertThat(shell.send("info").path("total").asLong()).as(rig.shimLog()).isEqualTo(GIB);
    assertThat(shell.alloc("alloc", 1536 * MIB)).isEqualTo(2);
    assertThat(shell.alloc("alloc", 512 * MIB)).isZero();

    assertThat(shell.send("device 1").path("rc").asInt()).isZero();
    assertThat(shell.send("info").path("total").asLong()).isEqualTo(3 * GIB);
    assertThat(shell.alloc("alloc", 2 * GIB)).isZero();
    // GPU 1's limit, not GPU 0's leftover, decides
    assertThat(shell.alloc("managed", 1536 * MIB)).isEqualTo(2);
    assertThat(shell.alloc("async", 768 * MIB)).isZero();

    // no limit for ordinal 2: the whole GPU
    assertThat(shell.send("device 2").path("rc").asInt()).isZero();
    assertThat(shell.send("info").path("total").asLong()).isEqualTo(8 * GIB);

    NodeStatus node = rig.status().getNodes(0);
    long pid = shell.pid();
    JobStatus on0 = job(gpu(node, 0), "per-ordinal");
    JobStatus on1 = job(gpu(node, 1), "per-ordinal");
    assertThat(on0.getMemoryLimitBytes()).isEqualTo(GIB);
    assertThat(on1.getMemoryLimitBytes()).isEqualTo(3 * GIB);

    shell.exit();
    // one report per GPU the job used, each with its own limit
    await()
        .atMost(Duration.ofSeconds(10))
        .untilAsserted(
            () -> {
              Map<String, JobReport> byGpu = new HashMap<>();
              for (JobReport r : rig.report("per-ordinal").getReportsList()) {
                byGpu.put(r.getGpuUuid(), r);
              }
              assertThat(byGpu.get(uuids.get(0)).getMemoryLimitBytes()).isEqualTo(GIB);
              assertThat(byGpu.get(uuids.get(1)).getMemoryLimitBytes()).isEqualTo(3 * GIB);
              assertThat(byGpu.get(uuids.get(0)).getProcessesList()).contains((int) pid);
            });
  }

  @Test
  void smLimitsPerOrdinalHoldAtOnceAndABusyGpuDoesNotSlowAnother() throws Exception {
    // warm up, then GPU 1 alone without a limit: the reference
    rate("lease-warm", 1, Map.of(), "0.5");
    double alone =
        Math.max(rate("lease-alone", 1, Map.of(), "3"), rate("lease-alone", 1, Map.of(), "3"));

    // one job, two processes: capped at 25 % on GPU 0 and 75 % on GPU 1, at the same time
    Map<String, String> limits = Map.of("CUDA_DEVICE_SM_LIMIT_0", "25", "CUDA_DEVICE_SM_LIMIT_1", "75");
    List<Double> capped = together(List.of(spec("lease-two", 0, limits), spec("lease-two", 1, limits)));
    // a busy uncapped job on GPU 0 next to an uncapped job on GPU 1
    List<Double> side =
        together(List.of(spec("lease-busy", 0, Map.of()), spec("lease-side", 1, Map.of())));
    System.out.printf(
        "GPU 1 alone %.1f/s; one job 25 %% / 75 %%: %.1f, %.1f; busy GPU 0 %.1f, GPU 1 %.1f%n",
        alone, capped.get(0), capped.get(1), side.get(0), side.get(1));

    assertThat(alone).isGreaterThan(300);
    assertThat(capped.get(0) / alone).as("GPU 0 at 25 %").isBetween(0.21, 0.29);
    assertThat(capped.get(1) / alone).as("GPU 1 at 75 %").isBetween(0.69, 0.81);
    assertThat(side.get(1) / alone).as("GPU 1 beside a busy GPU 0").isGreaterThan(0.9);
    assertThat(side.get(0) / alone).as("the busy GPU 0").isGreaterThan(0.9);
  }

  @Test
  void unmanagedProcessesAreFoundOnTheGpuNvmlListsThemOn() throws Exception {
    // a coordinator of its own over GPUs that "NVML" reports (the fake driver's UUIDs, not
    // simulated), with the kill policy; only the sleep process started here is really killed
    String spec = tripled("MU" + ProcessHandle.current().pid() + ":8G");
    Process sleeper = new ProcessBuilder("sleep", "120").start();
    List<Integer> killed = new ArrayList<>();
    ProcessKiller killer =
        pid -> {
          synchronized (killed) {
            killed.add(pid);
          }
          return pid == sleeper.pid() && ProcessKiller.sigkill().kill(pid);
        };
    ListedGpus nvml = new ListedGpus(spec);
    try (ShimRig own = new ShimRig(spec)) {
      own.startCoordinator(
          nvml,
          Map.of("unmanaged-policy", UnmanagedPolicy.KILL.configValue()),
          killer,
          new ReconcileLoop.Settings(
              Duration.ofMillis(300), TimeUnit.MILLISECONDS.toNanos(300), Duration.ZERO, 64 * MIB));
      ShimRig.Shell managed =
          own.shell(Map.of("SOFTMIG_JOB_ID", "managed", "CUDA_DEVICE_MEMORY_LIMIT", "2G"));
      assertThat(managed.alloc("alloc", 256 * MIB)).isZero();
      nvml.list(0, (int) managed.pid(), 256 * MIB + 300 * MIB); // its allocation and context
      nvml.list(1, (int) sleeper.pid(), 300 * MIB);

      await()
          .atMost(Duration.ofSeconds(10))
          .untilAsserted(
              () -> {
                List<UnmanagedProcess> listed = own.status().getNodes(0).getUnmanagedProcessesList();
                assertThat(listed)
                    .singleElement()
                    .satisfies(
                        p -> {
                          assertThat(p.getPid()).isEqualTo((int) sleeper.pid());
                          assertThat(p.getGpuUuid()).isEqualTo(nvml.uuid(1));
                          assertThat(p.getReason()).isEqualTo("no session");
                          assertThat(p.getKilled()).isTrue();
                        });
              });
      assertThat(sleeper.waitFor(10, TimeUnit.SECONDS)).isTrue();
      assertThat(managed.process.isAlive()).isTrue();
      synchronized (killed) {
        assertThat(killed).containsOnly((int) sleeper.pid());
      }
      managed.exit();
    } finally {
      sleeper.destroyForcibly();
    }
  }

  // ------------------------------------------------------------------ helpers

  private record Spec(String job, int device, Map<String, String> env) {}

  private static Spec spec(String job, int device, Map<String, String> env) {
    return new Spec(job, device, env);
  }

  private Map<String, String> launchEnv(String job, int device, Map<String, String> extra) {
    Map<String, String> env = new HashMap<>(extra);
    env.put("SOFTMIG_JOB_ID", job);
    env.put("SOFTMIG_FAKE_KERNEL_US", "1000");
    env.put("PROBE_DEVICE", Integer.toString(device));
    return env;
  }

  /** Kernels per second of launch_probe on one CUDA ordinal. */
  private double rate(String job, int device, Map<String, String> extra, String seconds)
      throws Exception {
    ShimRig.Run run =
        rig.run("launch_probe", launchEnv(job, device, extra), "kernel", seconds, "--sync-every", "8");
    assertThat(run.exit()).as(run.lines() + "\n" + rig.shimLog()).isZero();
    return run.line(0).path("rate").asDouble();
  }

  /** Runs launch_probe for each spec at once (3 s); their kernel rates in order. */
  private List<Double> together(List<Spec> specs) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(specs.size());
    try {
      List<Future<Double>> runs = new ArrayList<>();
      for (Spec s : specs) {
        runs.add(pool.submit(() -> rate(s.job(), s.device(), s.env(), "3")));
      }
      List<Double> rates = new ArrayList<>();
      for (Future<Double> r : runs) {
        rates.add(r.get(60, TimeUnit.SECONDS));
      }
      return rates;
    } finally {
      pool.shutdownNow();
    }
  }

  private static GpuStatus gpu(NodeStatus node, int index) {
    return node.getGpusList().stream()
        .filter(g -> g.getIndex() == index)
        .findFirst()
        .orElseThrow(() -> new AssertionError("no GPU " + index + " in " + node));
  }

  private static List<String> jobIds(GpuStatus gpu) {
    return gpu.getJobsList().stream().map(JobStatus::getJobId).toList();
  }

  private static JobStatus job(GpuStatus gpu, String jobId) {
    return gpu.getJobsList().stream()
        .filter(j -> j.getJobId().equals(jobId))
        .findFirst()
        .orElseThrow(() -> new AssertionError("no job " + jobId + " on " + gpu.getUuid()));
  }

  private static Placement.Decision placeDecision(ShimRig rig, String job, long bytes, double sm)
      throws Exception {
    var system = rig.coordinator().system();
    return AskPattern.<NodeGuardian.Command, Placement.Decision>ask(
            system,
            replyTo -> new NodeGuardian.Place(job, "alice", bytes, sm, replyTo),
            Duration.ofSeconds(5),
            system.scheduler())
        .toCompletableFuture()
        .get(5, TimeUnit.SECONDS);
  }

  private static String place(ShimRig rig, String job, long bytes, double sm) throws Exception {
    Placement.Decision d = placeDecision(rig, job, bytes, sm);
    assertThat(d).isInstanceOf(Placement.Placed.class);
    return ((Placement.Placed) d).uuid();
  }

  private static void release(ShimRig rig, String job) throws Exception {
    var system = rig.coordinator().system();
    AskPattern.<NodeGuardian.Command, Boolean>ask(
            system,
            replyTo -> new NodeGuardian.Release(job, replyTo),
            Duration.ofSeconds(5),
            system.scheduler())
        .toCompletableFuture()
        .get(5, TimeUnit.SECONDS);
  }

  private String scrape() throws Exception {
    HttpResponse<String> r =
        HttpClient.newHttpClient()
            .send(
                HttpRequest.newBuilder(
                        URI.create(
                            "http://127.0.0.1:" + rig.coordinator().metricsPort() + "/metrics"))
                    .build(),
                HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).isEqualTo(200);
    return r.body();
  }

  /** The value of metric {@code name} for GPU {@code uuid} in a Prometheus text page. */
  private static double metric(String page, String name, String uuid) {
    for (String line : page.split("\n")) {
      if (line.startsWith(name + "{") && line.contains("gpu=\"" + uuid + "\"")) {
        return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
      }
    }
    throw new AssertionError("no " + name + " for " + uuid);
  }

  private static int freePort() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  /**
   * The NVML edge for the unmanaged test: the GPUs of a spec, with the fake driver's UUIDs, as
   * NVML would list them (not simulated), and the compute processes the test lists on each.
   */
  private static final class ListedGpus implements GpuInventory {
    private final List<GpuInfo> gpus;
    private final Map<String, List<ProcessUsage>> processes = new ConcurrentHashMap<>();

    ListedGpus(String spec) {
      List<GpuInfo> real = new ArrayList<>();
      for (GpuInfo g : SimulatedGpus.fromSpec(spec).gpus()) {
        real.add(
            new GpuInfo(g.uuid(), g.index(), g.name(), g.memoryTotalBytes(), g.pciBusId(), false, false));
      }
      this.gpus = List.copyOf(real);
    }

    String uuid(int index) {
      return gpus.get(index).uuid();
    }

    void list(int index, int pid, long bytes) {
      processes.merge(
          uuid(index),
          List.of(new ProcessUsage(pid, bytes)),
          (a, b) -> {
            List<ProcessUsage> all = new ArrayList<>(a);
            all.addAll(b);
            return List.copyOf(all);
          });
    }

    @Override
    public List<GpuInfo> gpus() {
      return gpus;
    }

    @Override
    public List<ProcessUsage> processes(String uuid) {
      return processes.getOrDefault(uuid, List.of());
    }

    @Override
    public int utilizationPercent(String uuid) {
      return -1;
    }

    @Override
    public void close() {}
  }
}
