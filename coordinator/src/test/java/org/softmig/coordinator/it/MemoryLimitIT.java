package org.softmig.coordinator.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;
import static org.softmig.coordinator.it.ShimRig.GIB;
import static org.softmig.coordinator.it.ShimRig.MIB;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Every allocation path and every reporting call, through the shim, against a coordinator. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class MemoryLimitIT {

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

  private static Map<String, String> job(String id, String limit) {
    return Map.of("SOFTMIG_JOB_ID", id, "CUDA_DEVICE_MEMORY_LIMIT", limit);
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "alloc", "pitch", "managed", "async", "async_ptsz", "pool", "pool_ptsz", "vmm", "array",
        "array3d", "mipmap"
      })
  void everyPathIsGrantedUnderTheLimitAndRefusedOverIt(String path) throws Exception {
    ShimRig.Run run =
        rig.run("alloc_probe", job("mem-" + path, "1G"), path, "" + 256 * MIB, "--count", "5");

    JsonNode allocated = run.line(0);
    assertThat(run.exit()).as(rig.shimLog()).isEqualTo(2);
    assertThat(allocated.path("granted").asInt()).isEqualTo(4);
    assertThat(allocated.path("rc").asInt()).as("CUDA_ERROR_OUT_OF_MEMORY").isEqualTo(2);
    assertThat(allocated.path("total").asLong()).isEqualTo(GIB);
    assertThat(allocated.path("free").asLong()).isZero();
    JsonNode freed = run.line(1);
    assertThat(freed.path("rc").asInt()).isZero();
    assertThat(freed.path("free").asLong()).isEqualTo(GIB);
  }

  @ParameterizedTest
  @ValueSource(strings = {"direct", "dlsym", "procaddr"})
  void theLimitHoldsHoweverTheDriverIsReached(String via) throws Exception {
    ShimRig.Run run =
        rig.run(
            "alloc_probe", job("via-" + via, "1G"), "alloc", "" + 256 * MIB, "--count", "5",
            "--via", via);

    assertThat(run.exit()).as(rig.shimLog()).isEqualTo(2);
    assertThat(run.line(0).path("granted").asInt()).isEqualTo(4);
  }

  @Test
  void memGetInfoDeviceTotalMemAndNvmlReportTheLimit() throws Exception {
    ShimRig.Run run =
        rig.run("alloc_probe", job("report", "1G"), "alloc", "" + 256 * MIB, "--count", "2");

    JsonNode a = run.line(0);
    assertThat(run.exit()).isZero();
    assertThat(a.path("total").asLong()).isEqualTo(GIB);
    assertThat(a.path("free").asLong()).isEqualTo(512 * MIB);
    assertThat(a.path("device_total").asLong()).isEqualTo(GIB);
    assertThat(a.path("nvml").asBoolean()).isTrue();
    assertThat(a.path("nvml_total").asLong()).isEqualTo(GIB);
    assertThat(a.path("nvml_free").asLong()).isEqualTo(512 * MIB);
    assertThat(a.path("nvml_used").asLong()).isEqualTo(512 * MIB);
  }

  @Test
  void withoutALimitEverythingPassesThrough() throws Exception {
    ShimRig.Run run =
        rig.run(
            "alloc_probe", Map.of("SOFTMIG_JOB_ID", "nolimit"), "alloc", "" + GIB, "--count", "5");

    JsonNode a = run.line(0);
    assertThat(run.exit()).isZero();
    assertThat(a.path("granted").asInt()).isEqualTo(5);
    assertThat(a.path("total").asLong()).isEqualTo(8 * GIB);
    assertThat(a.path("device_total").asLong()).isEqualTo(8 * GIB);
    assertThat(a.path("nvml_total").asLong()).isEqualTo(8 * GIB);
  }
}
