package org.softmig.coordinator.nvml;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.softmig.coordinator.nvml.GpuSampler.GpuSample;
import org.softmig.coordinator.nvml.NvmlApi.ProcessInfo;

/** {@link GpuSampler}: NVML reads off the caller's thread, failures per GPU as values. */
class NvmlSamplerTest {

  @Test
  void samplesEveryGpuAndKeepsFailuresPerGpu() throws Exception {
    FakeNvml nvml = new FakeNvml(2);
    nvml.devices.get(0).compute.add(new ProcessInfo(11, 2048));
    nvml.devices.get(0).utilization = new NvmlApi.Utilization(55, 0);
    nvml.devices.get(0).usedBytes = 3L << 30;
    NvmlGpuInventory inventory = NvmlGpuInventory.discover(nvml);
    nvml.fail("computeProcessesV3@1", Nvml.NVML_ERROR_GPU_IS_LOST);

    try (GpuSampler sampler = new GpuSampler(inventory)) {
      List<GpuSample> samples = sampler.sample().get(10, TimeUnit.SECONDS);

      assertThat(samples).hasSize(2);
      assertThat(samples.get(0))
          .isEqualTo(
              new GpuSample(
                  nvml.devices.get(0).uuid, List.of(new ProcessUsage(11, 2048)), 3L << 30, 55, null));
      assertThat(samples.get(1).ok()).isFalse();
      assertThat(samples.get(1).error()).contains("processes");
      assertThat(samples.get(1).utilizationPercent()).isEqualTo(-1);
    }
  }

  @Test
  void sharesASampleThatIsStillRunning() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    FakeNvml nvml = new FakeNvml(1);
    NvmlGpuInventory real = NvmlGpuInventory.discover(nvml);
    GpuInventory slow =
        new GpuInventory() {
          @Override
          public List<GpuInfo> gpus() {
            return real.gpus();
          }

          @Override
          public List<ProcessUsage> processes(String uuid) {
            try {
              release.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
            }
            return real.processes(uuid);
          }

          @Override
          public int utilizationPercent(String uuid) {
            return real.utilizationPercent(uuid);
          }

          @Override
          public void close() {}
        };

    try (GpuSampler sampler = new GpuSampler(slow, Executors.newSingleThreadExecutor())) {
      CompletableFuture<List<GpuSample>> first = sampler.sample();
      CompletableFuture<List<GpuSample>> second = sampler.sample();
      release.countDown();

      assertThat(second).isSameAs(first);
      assertThat(first.get(10, TimeUnit.SECONDS))
          .singleElement()
          .satisfies(g -> assertThat(g.memoryUsedBytes()).isEqualTo(-1));
      assertThat(sampler.sample()).isNotSameAs(first);
    }
  }
}
