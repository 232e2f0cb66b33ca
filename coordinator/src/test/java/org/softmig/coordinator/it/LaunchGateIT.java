package org.softmig.coordinator.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * SM time-slice leases: a job capped at 25 % gets 25 +- 3 % of its uncapped kernel rate, on every
 * launch path (fake kernels of 1 ms each).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class LaunchGateIT {

  private static final String SECONDS = "3";

  private ShimRig rig;
  private double uncapped;

  @BeforeAll
  void startCoordinator() throws Exception {
    assumeTrue(ShimRig.nativeBuilt(), "native-shim/build is not built");
    rig = new ShimRig();
    rig.startCoordinator();
    // a cold coordinator answers its first sessions slowly: warm it up, then take the better of
    // two uncapped runs as the reference
    rate("kernel", "warmup", null, "0.5");
    uncapped = Math.max(rate("kernel", "uncapped", null), rate("kernel", "uncapped", null));
  }

  @AfterAll
  void stop() {
    if (rig != null) {
      rig.close();
    }
  }

  private double rate(String mode, String jobId, String smLimit) throws Exception {
    return rate(mode, jobId, smLimit, SECONDS);
  }

  private double rate(String mode, String jobId, String smLimit, String seconds) throws Exception {
    Map<String, String> env = new HashMap<>();
    env.put("SOFTMIG_JOB_ID", jobId);
    env.put("SOFTMIG_FAKE_KERNEL_US", "1000");
    if (smLimit != null) {
      env.put("CUDA_DEVICE_SM_LIMIT", smLimit);
    }
    ShimRig.Run run = rig.run("launch_probe", env, mode, seconds, "--sync-every", "8");
    JsonNode r = run.line(0);
    assertThat(run.exit()).as(r + "\n" + rig.shimLog()).isZero();
    return r.path("rate").asDouble();
  }

  @ParameterizedTest
  @ValueSource(strings = {"kernel", "ex", "graph", "kernel_ptsz", "coop"})
  void aJobCappedAtAQuarterGetsAQuarterOfTheRate(String mode) throws Exception {
    double capped = rate(mode, "capped-" + mode, "25");
    System.out.printf(
        "%s: capped %.1f kernels/s, uncapped %.1f/s, %.1f %%%n",
        mode, capped, uncapped, 100 * capped / uncapped);

    assertThat(uncapped).isGreaterThan(300);
    assertThat(capped / uncapped).as("capped %.1f/s, uncapped %.1f/s", capped, uncapped)
        .isBetween(0.22, 0.28);
  }
}
