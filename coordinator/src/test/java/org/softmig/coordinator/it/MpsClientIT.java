package org.softmig.coordinator.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.softmig.coordinator.ReconcileLoop;
import org.softmig.coordinator.mps.MpsControl;
import org.softmig.coordinator.nvml.GpuInfo;
import org.softmig.coordinator.nvml.ProcessKiller;
import org.softmig.coordinator.nvml.SimulatedGpus;
import org.softmig.proto.v1.GpuStatus;
import org.softmig.proto.v1.MpsStatus;

/**
 * MPS clients end to end without a GPU: the real coordinator (in this JVM) shares the first of two
 * simulated GPUs through MPS with the stand-in control daemon of the tests
 * (src/test/resources/mps), and test programs run under the shim on the fake driver, which records
 * the MPS variables it saw at cuInit. A process of an MPS slice reaches cuInit with the GPU's pipe
 * directory, its SM limit as its active-thread percentage (its own 100 % does not count) and its
 * memory limit as its pinned memory limit; softmig's memory limit holds as on any GPU; its launches
 * need no lease; a process on the time-slicing GPU is as before. The job file path (the Prolog's)
 * is checked by the shim's ctest and the SLURM tests.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class MpsClientIT {

  private static final long GIB = ShimRig.GIB;
  private static final String SPEC =
      "MC" + ProcessHandle.current().pid() + ":8G," + "MC" + ProcessHandle.current().pid() + ":8G";
  private static final Path STAND_IN =
      Path.of("src/test/resources/mps/nvidia-cuda-mps-control").toAbsolutePath();

  private ShimRig rig;
  private Path base;
  private List<String> uuids;
  private MpsStatus mps;

  @BeforeAll
  void start() throws Exception {
    assumeTrue(ShimRig.nativeBuilt(), "native-shim/build is not built");
    // short: the daemon's pipe directory holds Unix sockets
    base = Files.createTempDirectory(Path.of("/tmp"), "smc");
    rig = new ShimRig(SPEC);
    SimulatedGpus gpus = SimulatedGpus.fromSpec(SPEC);
    uuids = gpus.gpus().stream().map(GpuInfo::uuid).toList();
    Map<String, Object> settings = new HashMap<>();
    settings.put("simulate", SPEC);
    settings.put("gpus.0.sharing", "mps");
    settings.put("mps.base-dir", base);
    settings.put("mps.control", STAND_IN);
    settings.put("mps.probe-interval", "200ms");
    rig.startCoordinator(
        gpus, settings, ProcessKiller.sigkill(), ReconcileLoop.Settings.defaults());
    await()
        .atMost(Duration.ofSeconds(20))
        .until(() -> gpu(uuids.get(0)).getMps().getState().equals("ready"));
    mps = gpu(uuids.get(0)).getMps();
  }

  @AfterAll
  void stop() throws Exception {
    if (rig != null) {
      rig.close();
    }
    // the daemon outlives the coordinator by design; removing its pipe directory ends the
    // stand-in, and its pids are ended here too
    if (mps != null) {
      MpsControl.kill(mps.getControlPid());
      mps.getServerPidsList().forEach(MpsControl::kill);
    }
    if (base != null) {
      try (var files = Files.walk(base)) {
        files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }

  private GpuStatus gpu(String uuid) throws Exception {
    return rig.status().getNodesList().stream()
        .flatMap(n -> n.getGpusList().stream())
        .filter(g -> g.getUuid().equals(uuid))
        .findFirst()
        .orElseThrow();
  }

  /** The fake driver's record of the MPS variables at cuInit, as NAME -> value ("" unset). */
  private static Map<String, String> seenAtInit(Path file) throws Exception {
    Map<String, String> seen = new HashMap<>();
    for (String line : Files.readAllLines(file)) {
      int eq = line.indexOf('=');
      seen.put(eq < 0 ? line : line.substring(0, eq), eq < 0 ? "" : line.substring(eq + 1));
    }
    return seen;
  }

  private Map<String, String> mpsJob(String job, Path initEnv, String gpu) {
    Map<String, String> env = new HashMap<>();
    env.put("SOFTMIG_JOB_ID", job);
    env.put("CUDA_VISIBLE_DEVICES", gpu);
    env.put("CUDA_DEVICE_MEMORY_LIMIT", "1G");
    env.put("CUDA_DEVICE_SM_LIMIT", "25");
    env.put("CUDA_MPS_PIPE_DIRECTORY", mps.getPipeDirectory());
    env.put("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE", "100");
    env.put("SOFTMIG_FAKE_INIT_ENV", initEnv.toString());
    return env;
  }

  @Test
  void anMpsClientReachesCuInitWithItsSliceAsMpsSettings() throws Exception {
    assertThat(mps.getGated()).isFalse();
    assertThat(mps.getPipeDirectory())
        .isEqualTo(base.resolve(uuids.get(0)).resolve("pipe").toString());
    Path initEnv = base.resolve("init-env-1");
    ShimRig.Shell shell = rig.shell(mpsJob("8101", initEnv, uuids.get(0)));
    try {
      Map<String, String> seen = seenAtInit(initEnv);
      assertThat(seen)
          .containsEntry("CUDA_MPS_PIPE_DIRECTORY", mps.getPipeDirectory())
          .containsEntry("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE", "25")
          .containsEntry("CUDA_MPS_PINNED_DEVICE_MEM_LIMIT", "0=1024M");
      // softmig's own limit, as on any GPU
      JsonNode info = shell.send("info");
      assertThat(info.path("total").asLong()).isEqualTo(GIB);
      assertThat(shell.alloc("plain", 2 * GIB)).isEqualTo(2); // CUDA_ERROR_OUT_OF_MEMORY
      assertThat(shell.alloc("plain", GIB / 2)).isZero();
      await()
          .atMost(Duration.ofSeconds(10))
          .until(
              () ->
                  gpu(uuids.get(0)).getJobsList().stream()
                      .anyMatch(j -> j.getJobId().equals("8101") && j.getMemoryLimitBytes() == GIB));
    } finally {
      shell.exit();
    }
  }

  @Test
  void launchesOnTheMpsGpuNeedNoLease() throws Exception {
    Path initEnv = base.resolve("init-env-2");
    Map<String, String> env = mpsJob("8102", initEnv, uuids.get(0));
    env.put("SOFTMIG_FAKE_KERNEL_US", "100");
    ShimRig.Run run = rig.run("launch_probe", env, "kernel", "1");
    assertThat(run.exit()).isZero();
    JsonNode last = run.line(run.lines().size() - 1);
    assertThat(last.path("launches").asLong()).isPositive();
    assertThat(seenAtInit(initEnv)).containsEntry("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE", "25");
    // no lease was asked for: the job never waited for a grant
    assertThat(rig.report("8102").getReportsList())
        .allSatisfy(r -> assertThat(r.getThrottledUs()).isZero());
  }

  @Test
  void aProcessOnTheTimeSlicingGpuIsAsBefore() throws Exception {
    Path initEnv = base.resolve("init-env-3");
    Map<String, String> env = new HashMap<>();
    env.put("SOFTMIG_JOB_ID", "8103");
    env.put("CUDA_VISIBLE_DEVICES", uuids.get(1));
    env.put("CUDA_DEVICE_MEMORY_LIMIT", "1G");
    env.put("CUDA_DEVICE_SM_LIMIT", "25");
    env.put("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE", "100");
    env.put("SOFTMIG_FAKE_INIT_ENV", initEnv.toString());
    ShimRig.Shell shell = rig.shell(env);
    try {
      assertThat(seenAtInit(initEnv))
          .containsEntry("CUDA_MPS_PIPE_DIRECTORY", "")
          .containsEntry("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE", "100")
          .containsEntry("CUDA_MPS_PINNED_DEVICE_MEM_LIMIT", "");
      assertThat(shell.send("info").path("total").asLong()).isEqualTo(GIB);
      assertThat(gpu(uuids.get(1)).hasMps()).isFalse();
    } finally {
      shell.exit();
    }
  }
}
