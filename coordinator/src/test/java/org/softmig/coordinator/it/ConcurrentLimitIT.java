package org.softmig.coordinator.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;
import static org.softmig.coordinator.it.ShimRig.GIB;
import static org.softmig.coordinator.it.ShimRig.MIB;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.softmig.proto.v1.JobStatus;

/**
 * Processes of one job started at the same instant, and processes with many allocating threads,
 * never hold more than the job's limit together, and the ledger ends where they are. Each
 * process (native-shim/test/mem_race) counts what it got; the job's processes also share a
 * file in which every grant checks the sum of what they all hold at that moment.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ConcurrentLimitIT {

  /** A 48 GiB GPU, so that the fake driver itself never refuses what the shim lets through. */
  private static final String SPEC = "CL" + ProcessHandle.current().pid() + ":48G";

  private static final int TRIALS = 20;

  private ShimRig rig;

  @BeforeAll
  void startCoordinator() throws Exception {
    assumeTrue(ShimRig.nativeBuilt(), "native-shim/build is not built");
    assumeTrue(Files.isRegularFile(ShimRig.PROGRAMS.resolve("mem_race")), "no mem_race");
    rig = new ShimRig(SPEC);
    rig.startCoordinator();
  }

  @AfterAll
  void stop() {
    if (rig != null) {
      rig.close();
    }
  }

  @Test
  void twoProcessesOf20GiBOnA24GiBJobStartedTogether() throws Exception {
    for (int trial = 0; trial < TRIALS; trial++) {
      Trial t = together("pair-" + trial, "24G", 24 * GIB, 2, "--bytes", "" + 20 * GIB);
      assertThat(t.granted()).as("trial %d: %s", trial, t.lines).isEqualTo(1);
      t.finish();
    }
  }

  @Test
  void fourProcessesOf600MiBOnA1GiBJobStartedTogether() throws Exception {
    for (int trial = 0; trial < TRIALS; trial++) {
      Trial t = together("four-" + trial, "1G", GIB, 4, "--bytes", "" + 600 * MIB);
      assertThat(t.granted()).as("trial %d: %s", trial, t.lines).isEqualTo(1);
      t.finish();
    }
  }

  @Test
  void twoProcessesWith128AllocatingThreadsEachStayWithin1GiB() throws Exception {
    // 2 x 128 threads x 3 rounds of 4 x 4 MiB (half freed between rounds): far more than 1 GiB
    Trial t =
        together(
            "threads",
            "1G",
            GIB,
            2,
            "--threads", "128", "--bytes", "" + 4 * MIB, "--count", "4", "--rounds", "3");
    assertThat(t.held()).isGreaterThan(GIB / 2);
    t.finish();
  }

  /** The processes of one trial, holding what they got. */
  private final class Trial {
    final String jobId;
    final List<ShimRig.Held> processes;
    final List<JsonNode> lines = new ArrayList<>();

    Trial(String jobId, List<ShimRig.Held> processes) {
      this.jobId = jobId;
      this.processes = processes;
      processes.forEach(p -> lines.add(p.line()));
    }

    long held() {
      return lines.stream().mapToLong(l -> l.path("held").asLong()).sum();
    }

    int granted() {
      return lines.stream().mapToInt(l -> l.path("granted").asInt()).sum();
    }

    void finish() throws Exception {
      for (ShimRig.Held p : processes) {
        p.finish();
      }
      await().atMost(Duration.ofSeconds(10)).until(() -> rig.job(jobId).isEmpty());
    }
  }

  /**
   * Starts n processes of job jobId that attach and allocate at the same instant, and checks
   * what every trial must show: together they hold no more than the limit, at no grant did the
   * job's processes hold more, and the ledger comes to what they hold.
   */
  private Trial together(String jobId, String limitText, long limit, int n, String... args)
      throws Exception {
    Path shared = Files.createTempFile("softmig-race", ".bin");
    setLimit(shared, limit);
    long at = System.currentTimeMillis() + 400;
    List<String> all = new ArrayList<>(List.of(args));
    all.addAll(List.of("--at", "" + at, "--shared", shared.toString(), "--hold"));
    Map<String, String> env =
        Map.of("SOFTMIG_JOB_ID", jobId, "CUDA_DEVICE_MEMORY_LIMIT", limitText);
    List<Process> started = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      started.add(rig.launch("mem_race", env, all.toArray(String[]::new)));
    }
    List<ShimRig.Held> held = new ArrayList<>();
    for (Process p : started) {
      held.add(rig.held(p));
    }
    Trial t = new Trial(jobId, held);
    long[] counters = counters(shared);
    Files.delete(shared);

    for (JsonNode l : t.lines) {
      assertThat(l.path("errors").asInt()).as("%s: %s", jobId, l).isZero();
      assertThat(l.path("job_over").asLong()).as("%s: %s", jobId, l).isZero();
    }
    assertThat(counters[0]).as("%s: grants after which the job held over its limit", jobId).isZero();
    assertThat(counters[1]).as("%s: the most the job held at a grant", jobId).isLessThanOrEqualTo(limit);
    assertThat(t.held()).as("%s: %s", jobId, t.lines).isLessThanOrEqualTo(limit);
    await()
        .atMost(Duration.ofSeconds(10))
        .untilAsserted(
            () ->
                assertThat(rig.job(jobId).map(JobStatus::getMemoryUsedBytes).orElse(-1L))
                    .as("%s: the ledger", jobId)
                    .isEqualTo(t.held()));
    assertThat(rig.job(jobId).orElseThrow().getMemoryOverLimit()).isFalse();
    return t;
  }

  /** struct race_shared of mem_race.c: limit at 0, overs at 24, max_sum at 32 (host order). */
  private static void setLimit(Path file, long limit) throws IOException {
    try (FileChannel ch =
        FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      MappedByteBuffer b = ch.map(FileChannel.MapMode.READ_WRITE, 0, 64);
      b.order(ByteOrder.nativeOrder()).putLong(0, limit);
      b.force();
    }
  }

  private static long[] counters(Path file) throws IOException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      MappedByteBuffer b = ch.map(FileChannel.MapMode.READ_ONLY, 0, 64);
      b.order(ByteOrder.nativeOrder());
      return new long[] {b.getLong(24), b.getLong(32)};
    }
  }
}
