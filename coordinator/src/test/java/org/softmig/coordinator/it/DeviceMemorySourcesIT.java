package org.softmig.coordinator.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;
import static org.softmig.coordinator.it.ShimRig.GIB;
import static org.softmig.coordinator.it.ShimRig.MIB;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.softmig.proto.v1.JobStatus;

/**
 * Device memory that comes from no allocation call (contexts, module globals, graph memory
 * nodes) and the free memory a process is told it has, through the shim against a coordinator,
 * on the fake driver with contexts of 500 MiB. The programs are the GPU suite's probes
 * (bench/gpu/memfree.c, memsources.c), built against the fake driver.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DeviceMemorySourcesIT {

  private static final long CONTEXT = 500 * MIB;

  private ShimRig rig;

  @BeforeAll
  void startCoordinator() throws Exception {
    assumeTrue(ShimRig.nativeBuilt(), "native-shim/build is not built");
    assumeTrue(Files.isRegularFile(ShimRig.PROGRAMS.resolve("memsources")), "no memsources");
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
    return Map.of(
        "SOFTMIG_JOB_ID", id,
        "CUDA_DEVICE_MEMORY_LIMIT", limit,
        "SOFTMIG_FAKE_CONTEXT_BYTES", CONTEXT + "");
  }

  private long used(String jobId) {
    return rig.job(jobId).map(JobStatus::getMemoryUsedBytes).orElse(-1L);
  }

  /** Status reaches the figure (a lone process reports its usage asynchronously). */
  private void awaitUsed(String jobId, long bytes) {
    await()
        .atMost(Duration.ofSeconds(10))
        .untilAsserted(() -> assertThat(used(jobId)).isEqualTo(bytes));
  }

  @Test
  void freeMemoryIsWhatAFillGetsFromTheFirstCall() throws Exception {
    try (ShimRig.Held run =
        rig.hold("memfree", job("free-4g", "4G"), "--wait", "0.5", "--hold", "60")) {
      JsonNode r = run.line();

      // the context is measured (NVML) and charged before the first cuMemGetInfo
      assertThat(r.path("free_start").asLong()).as(rig.shimLog()).isEqualTo(4 * GIB - CONTEXT);
      assertThat(r.path("free_after_wait").asLong()).isEqualTo(4 * GIB - CONTEXT);
      assertThat(r.path("filled").asLong()).isEqualTo(4 * GIB - CONTEXT);
      assertThat(r.path("total").asLong()).isEqualTo(4 * GIB);
      assertThat(r.path("nvml_used").asLong()).isEqualTo(4 * GIB);
      awaitUsed("free-4g", 4 * GIB);
      assertThat(run.finish()).isZero();
    }
  }

  @Test
  void graphMemoryModuleGlobalsAndContextsOverTheLimitAreRefused() throws Exception {
    try (ShimRig.Held run = rig.hold("memsources", job("sources-2g", "2G"), "--hold", "60")) {
      JsonNode r = run.line();

      assertThat(r.path("graph_rc").asInt()).as(rig.shimLog()).isEqualTo(2);
      assertThat(r.path("module_rc").asInt()).isEqualTo(2);
      assertThat(r.path("ctx_rc")).hasSize(4).allMatch(rc -> rc.asInt() == 2);
      // what NVML sees is what the job holds, never over its limit
      assertThat(r.path("nvml_peak").asLong()).isEqualTo(2 * GIB - 256 * MIB);
      assertThat(r.path("nvml_used").asLong()).isEqualTo(2 * GIB - 256 * MIB);
      awaitUsed("sources-2g", r.path("nvml_used").asLong());
      assertThat(r.path("pass").asBoolean()).isTrue();
      assertThat(run.finish()).isZero();
    }
  }

  @Test
  void sourcesThatFitAreChargedWhileTheyLastAndGivenBack() throws Exception {
    // a 64 MiB graph and module fit, and so do two extra contexts; the probe destroys the graph
    // and unloads the module at once, and holds the contexts
    try (ShimRig.Held run =
        rig.hold(
            "memsources",
            job("sources-fit", "4G"),
            "--size", "64M", "--keep", "1536M", "--contexts", "2", "--hold", "60")) {
      JsonNode r = run.line();

      assertThat(r.path("graph_rc").asInt()).as(rig.shimLog()).isZero();
      assertThat(r.path("module_rc").asInt()).isZero();
      assertThat(r.path("ctx_rc")).hasSize(2).allMatch(rc -> rc.asInt() == 0);
      long filled = r.path("filled").asLong();
      // the primary context, the fill and the two extra contexts; graph and module are gone
      assertThat(r.path("nvml_used").asLong()).isEqualTo(3 * CONTEXT + filled);
      awaitUsed("sources-fit", 3 * CONTEXT + filled);
      assertThat(r.path("free_end").asLong()).isEqualTo(4 * GIB - 3 * CONTEXT - filled);
      run.finish();
    }
    await().atMost(Duration.ofSeconds(10)).until(() -> rig.job("sources-fit").isEmpty());
  }
}
