package org.softmig.coordinator.shim;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.softmig.proto.v1.ClientFrame;
import org.softmig.proto.v1.Device;
import org.softmig.proto.v1.Hello;
import org.softmig.proto.v1.Holding;
import org.softmig.proto.v1.MemFree;
import org.softmig.proto.v1.MemReserve;
import org.softmig.proto.v1.RequestedLimits;
import org.softmig.proto.v1.UsageReport;

class FrameChecksTest {

  static final String GPU0 = "GPU-51dc187a-af0f-2fa8-127c-46fedfac9019";
  static final String GPU1 = "GPU-cae8b510-42c5-392f-81d1-aa5a0543af22";

  static Hello.Builder hello(RequestedLimits.Builder requested) {
    return Hello.newBuilder()
        .setProtocolVersion(1)
        .addDevices(Device.newBuilder().setUuid(GPU0).setOrdinal(0))
        .setRequested(requested);
  }

  static String check(RequestedLimits.Builder requested) {
    return FrameChecks.hello(hello(requested).build());
  }

  @Test
  void acceptsAPlainHelloAndEveryLimitInRange() {
    assertThat(check(RequestedLimits.newBuilder())).isNull();
    assertThat(
            check(
                RequestedLimits.newBuilder()
                    .setJobId("123")
                    .setArrayTaskId("7")
                    .setMemoryLimitBytes(Long.MAX_VALUE)
                    .setSmLimitPercent(100)
                    .putMemoryLimitBytesByOrdinal(63, 1)
                    .putSmLimitPercentByOrdinal(0, 0)))
        .isNull();
  }

  @Test
  void refusesSmLimitsThatAreNotPercentages() {
    for (double bad :
        new double[] {-1, Double.NaN, 1e308, 100.0001, Double.POSITIVE_INFINITY, -0.5}) {
      assertThat(check(RequestedLimits.newBuilder().setSmLimitPercent(bad)))
          .as("sm %s", bad)
          .contains("not a percentage");
      assertThat(check(RequestedLimits.newBuilder().putSmLimitPercentByOrdinal(1, bad)))
          .as("sm_1 %s", bad)
          .contains("not a percentage");
    }
  }

  @Test
  void refusesMemoryLimitsOf2To63AndUp() {
    assertThat(check(RequestedLimits.newBuilder().setMemoryLimitBytes(-1)))
        .contains("18446744073709551615");
    assertThat(check(RequestedLimits.newBuilder().setMemoryLimitBytes(Long.MIN_VALUE)))
        .contains("too large");
    assertThat(check(RequestedLimits.newBuilder().putMemoryLimitBytesByOrdinal(0, -5)))
        .contains("too large");
  }

  @Test
  void refusesOrdinalsOutsideTheDeviceRangeAndUnusableIds() {
    assertThat(check(RequestedLimits.newBuilder().putMemoryLimitBytesByOrdinal(64, 1)))
        .contains("ordinal 64");
    assertThat(check(RequestedLimits.newBuilder().putSmLimitPercentByOrdinal(-1, 1)))
        .contains("ordinal 4294967295");
    assertThat(check(RequestedLimits.newBuilder().setJobId("../etc/passwd"))).contains("job id");
    assertThat(check(RequestedLimits.newBuilder().setJobId("x".repeat(65)))).contains("job id");
    assertThat(check(RequestedLimits.newBuilder().setArrayTaskId("1e3"))).contains("task id");
  }

  @Test
  void refusesDevicesThatAreNotGpusOrAreListedTwice() {
    Hello.Builder h = hello(RequestedLimits.newBuilder());
    assertThat(FrameChecks.hello(h.clone().addDevices(Device.newBuilder().setUuid(GPU0).setOrdinal(1)).build()))
        .contains("listed twice");
    assertThat(FrameChecks.hello(h.clone().addDevices(Device.newBuilder().setUuid(GPU1).setOrdinal(0)).build()))
        .contains("ordinal 0 is listed twice");
    assertThat(FrameChecks.hello(h.clone().addDevices(Device.newBuilder().setUuid("GPU-\n").setOrdinal(1)).build()))
        .contains("not a GPU UUID");
    assertThat(FrameChecks.hello(h.clone().addDevices(Device.newBuilder().setUuid(GPU1).setOrdinal(64)).build()))
        .contains("ordinal 64");
    Hello.Builder many = Hello.newBuilder().setProtocolVersion(1);
    for (int i = 0; i < 65; i++) {
      many.addDevices(Device.newBuilder().setUuid("GPU-" + i).setOrdinal(i));
    }
    assertThat(FrameChecks.hello(many.build())).contains("65 devices");
  }

  @Test
  void refusesHoldingsOnUnknownDevicesOrBeyond2To63() {
    Hello.Builder h = hello(RequestedLimits.newBuilder());
    assertThat(FrameChecks.hello(h.clone().addHoldings(Holding.newBuilder().setDeviceIndex(1).setBytes(1)).build()))
        .contains("not in the Hello");
    assertThat(FrameChecks.hello(h.clone().addHoldings(Holding.newBuilder().setBytes(-1)).build()))
        .contains("too large");
    assertThat(
            FrameChecks.hello(
                h.clone()
                    .addHoldings(Holding.newBuilder().setBytes(Long.MAX_VALUE))
                    .addHoldings(Holding.newBuilder().setBytes(1))
                    .build()))
        .contains("overflow");
  }

  @Test
  void refusesSessionFramesWithSizesFrom2To63() {
    assertThat(
            FrameChecks.sessionFrame(
                ClientFrame.newBuilder().setMemReserve(MemReserve.newBuilder().setBytes(-1)).build()))
        .contains("too large");
    assertThat(
            FrameChecks.sessionFrame(
                ClientFrame.newBuilder().setMemFree(MemFree.newBuilder().setBytes(-1)).build()))
        .contains("too large");
    assertThat(
            FrameChecks.sessionFrame(
                ClientFrame.newBuilder()
                    .setUsageReport(UsageReport.newBuilder().setUsedBytes(1).setPeakBytes(-1))
                    .build()))
        .contains("too large");
    assertThat(
            FrameChecks.sessionFrame(
                ClientFrame.newBuilder().setMemReserve(MemReserve.newBuilder().setBytes(4096)).build()))
        .isNull();
  }
}
