package org.softmig.coordinator.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;
import static org.softmig.coordinator.it.ShimRig.MIB;

import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.softmig.proto.v1.JobStatus;

/** Processes of one job share its limit; a killed holder's memory comes back at once. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SharedLimitIT {

  private ShimRig rig;

  @BeforeAll
  void startCoordinator() throws Exception {
    assumeTrue(ShimRig.nativeBuilt(), "native-shim/build is not built");
    rig = new ShimRig();
    rig.startCoordinator();
  }

  @AfterAll
  void stop() {
    if (rig != null) {
      rig.close();
    }
  }

  private static Map<String, String> job(String id) {
    return Map.of("SOFTMIG_JOB_ID", id, "CUDA_DEVICE_MEMORY_LIMIT", "1G");
  }

  @Test
  void twoProcessesOfOneJobShareOneLimit() throws Exception {
    ShimRig.Shell first = rig.shell(job("shared"));
    assertThat(first.alloc("alloc", 600 * MIB)).as(rig.shimLog()).isZero();

    ShimRig.Shell second = rig.shell(job("shared"));
    assertThat(second.alloc("alloc", 600 * MIB)).as(rig.shimLog()).isEqualTo(2);
    assertThat(second.alloc("vmm", 300 * MIB)).isZero();
    assertThat(first.alloc("alloc", 200 * MIB)).isEqualTo(2);
    assertThat(first.alloc("alloc", 100 * MIB)).isZero();
    // the job's usage as the coordinator last told this process (900 MiB), not only its own
    assertThat(second.send("info").path("free").asLong()).isLessThanOrEqualTo(124 * MIB);
  }

  @Test
  void sigkillOfAHolderReleasesItsMemoryWithinASecond() throws Exception {
    ShimRig.Shell holder = rig.shell(job("killed"));
    assertThat(holder.alloc("alloc", 600 * MIB)).isZero();
    ShimRig.Shell other = rig.shell(job("killed"));
    assertThat(other.alloc("alloc", 600 * MIB)).isEqualTo(2);
    JobStatus before = rig.job("killed").orElseThrow();
    assertThat(before.getProcessesList()).contains((int) holder.pid());
    assertThat(before.getMemoryUsedBytes()).isEqualTo(600 * MIB);

    holder.process.destroyForcibly();
    long killedAt = System.nanoTime();
    await()
        .atMost(Duration.ofSeconds(1))
        .pollInterval(Duration.ofMillis(20))
        .until(
            () -> {
              JobStatus j = rig.job("killed").orElseThrow();
              return j.getMemoryUsedBytes() == 0 && !j.getProcessesList().contains((int) holder.pid());
            });
    int rc;
    do {
      rc = other.alloc("alloc", 600 * MIB);
    } while (rc != 0 && System.nanoTime() - killedAt < 3_000_000_000L);
    long tookMillis = (System.nanoTime() - killedAt) / 1_000_000;

    assertThat(rc).as(rig.shimLog()).isZero();
    assertThat(tookMillis).isLessThanOrEqualTo(1000);
  }
}
