package org.softmig.coordinator.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;
import static org.softmig.coordinator.it.ShimRig.GIB;

import java.nio.file.Files;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.softmig.coordinator.state.StateFile;
import org.softmig.proto.v1.Error;
import org.softmig.proto.v1.JobStatus;
import org.softmig.proto.v1.ServerFrame;

/**
 * A coordinator killed with SIGKILL comes back on the same state directory with its placements
 * (restored before its socket opens) and a process that held memory across the restart re-attaches
 * to its placed job with what it holds.
 */
class StatePersistenceIT {

  /** Two simulated 48 GiB GPUs of a name of their own (see {@link ShimRig#SPEC}). */
  private static final String SPEC =
      "ST" + ProcessHandle.current().pid() + ":48G,ST" + ProcessHandle.current().pid() + ":48G";

  private ShimRig rig;

  @BeforeEach
  void rig() throws Exception {
    assumeTrue(ShimRig.nativeBuilt(), "native-shim/build is not built");
    rig = new ShimRig(SPEC);
  }

  @AfterEach
  void stop() {
    if (rig != null) {
      rig.close();
    }
  }

  private String placed(String job) throws Exception {
    ServerFrame reply = rig.place(job, 40 * GIB, 50);
    assertThat(reply.hasPlace()).as("place %s: %s", job, reply).isTrue();
    return reply.getPlace().getGpuUuid();
  }

  private JobStatus job(String id) {
    return rig.job(id).orElseThrow(() -> new AssertionError("job " + id + " not in status"));
  }

  @Test
  void placementsAndHoldingsSurviveSigkill() throws Exception {
    rig.startCoordinatorProcess();
    String a = placed("a");
    String b = placed("b");
    assertThat(a).isNotEqualTo(b);
    assertThat(Files.exists(rig.stateDir().resolve(StateFile.FILE_NAME))).isTrue();

    ShimRig.Shell holder = rig.shell(Map.of("SOFTMIG_JOB_ID", "a", "CUDA_VISIBLE_DEVICES", a));
    assertThat(holder.alloc("alloc", 10 * GIB)).as(rig.shimLog()).isZero();
    await()
        .atMost(Duration.ofSeconds(15))
        .pollInterval(Duration.ofMillis(100))
        .untilAsserted(() -> assertThat(job("a").getMemoryUsedBytes()).isEqualTo(10 * GIB));

    rig.killCoordinatorProcess();
    assertThat(holder.alloc("vmm", GIB)).as("allocates within its credit while away").isZero();

    rig.startCoordinatorProcess();
    // the placements are there from the first answer on, before any process reconnected
    JobStatus ja = job("a");
    JobStatus jb = job("b");
    assertThat(ja.getPlaced()).isTrue();
    assertThat(ja.getMemoryLimitBytes()).isEqualTo(40 * GIB);
    assertThat(jb.getPlaced()).isTrue();
    assertThat(jb.getMemoryLimitBytes()).isEqualTo(40 * GIB);
    ServerFrame third = rig.place("c", 40 * GIB, 50);
    assertThat(third.hasError()).as("a third 40G slice: %s", third).isTrue();
    assertThat(third.getError().getCode()).isEqualTo(Error.Code.NO_CAPACITY);
    assertThat(rig.place("a", 40 * GIB, 50).getPlace().getAlreadyPlaced()).isTrue();

    // the holder reconnects to its placed job with what it holds, and the slice is its limit
    await()
        .atMost(Duration.ofSeconds(30))
        .pollInterval(Duration.ofMillis(100))
        .untilAsserted(
            () -> {
              JobStatus j = job("a");
              assertThat(j.getProcessesList()).contains((int) holder.pid());
              assertThat(j.getMemoryUsedBytes()).isEqualTo(11 * GIB);
            });
    assertThat(holder.alloc("alloc", 30 * GIB)).as("11 + 30 GiB is over the 40 GiB slice").isEqualTo(2);
    assertThat(holder.alloc("alloc", 29 * GIB)).as(rig.shimLog()).isZero();
    await()
        .atMost(Duration.ofSeconds(15))
        .pollInterval(Duration.ofMillis(100))
        .untilAsserted(() -> assertThat(job("a").getMemoryUsedBytes()).isEqualTo(40 * GIB));
    holder.exit();
  }
}
