package org.softmig.coordinator.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;
import static org.softmig.coordinator.it.ShimRig.MIB;

import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The coordinator away: the process keeps its limit locally, and once the coordinator is (back)
 * up it registers what it holds, so the coordinator's ledger is exact again.
 */
class CoordinatorRestartIT {

  private ShimRig rig;

  @BeforeEach
  void rig() throws Exception {
    assumeTrue(ShimRig.nativeBuilt(), "native-shim/build is not built");
    rig = new ShimRig();
  }

  @AfterEach
  void stop() {
    if (rig != null) {
      rig.close();
    }
  }

  private static Map<String, String> job(String id) {
    return Map.of("SOFTMIG_JOB_ID", id, "CUDA_DEVICE_MEMORY_LIMIT", "1G");
  }

  private void awaitRegistered(String jobId) {
    await()
        .atMost(Duration.ofSeconds(15))
        .pollInterval(Duration.ofMillis(100))
        .ignoreExceptions()
        .until(() -> rig.job(jobId).isPresent());
  }

  @Test
  void absentAtStartThenStartedKeepsTheLimitAndRegisters() throws Exception {
    ShimRig.Shell early = rig.shell(job("late"));
    assertThat(early.alloc("alloc", 600 * MIB)).isZero();
    assertThat(early.alloc("alloc", 600 * MIB)).as("the limit holds locally").isEqualTo(2);

    rig.startCoordinator();
    awaitRegistered("late");

    ShimRig.Shell second = rig.shell(job("late"));
    assertThat(second.alloc("alloc", 600 * MIB)).as(rig.shimLog()).isEqualTo(2);
    assertThat(second.alloc("alloc", 400 * MIB)).isZero();
  }

  @Test
  void killedAndRestartedMidJobRebuildsTheLedgerExactly() throws Exception {
    rig.startCoordinatorProcess();
    // a fresh coordinator lends no credit while it settles (3 s); the holder is to have one
    Thread.sleep(3500);
    ShimRig.Shell holder = rig.shell(job("restart"));
    assertThat(holder.alloc("alloc", 600 * MIB)).isZero();

    rig.killCoordinatorProcess();
    assertThat(holder.alloc("vmm", 200 * MIB)).as("allocates locally while away").isZero();
    assertThat(holder.alloc("alloc", 600 * MIB)).as("and keeps its limit").isEqualTo(2);

    rig.startCoordinatorProcess();
    awaitRegistered("restart");

    ShimRig.Shell second = rig.shell(job("restart"));
    assertThat(second.alloc("alloc", 300 * MIB)).as(rig.shimLog()).isEqualTo(2);
    assertThat(second.alloc("alloc", 200 * MIB)).isZero();
  }
}
