package org.softmig.coordinator.shim;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import org.junit.jupiter.api.BeforeAll;
import org.softmig.proto.v1.ClientFrame;
import org.softmig.proto.v1.CreditReturn;
import org.softmig.proto.v1.Device;
import org.softmig.proto.v1.Hello;
import org.softmig.proto.v1.Holding;
import org.softmig.proto.v1.LeaseRelease;
import org.softmig.proto.v1.LeaseRequest;
import org.softmig.proto.v1.MemFree;
import org.softmig.proto.v1.MemReport;
import org.softmig.proto.v1.MemReserve;
import org.softmig.proto.v1.PlaceRequest;
import org.softmig.proto.v1.ReleaseRequest;
import org.softmig.proto.v1.ReportRequest;
import org.softmig.proto.v1.RequestedLimits;
import org.softmig.proto.v1.StatusRequest;

/**
 * Well-formed frames with hostile values: a first frame (a {@code Hello} or a CLI request) and
 * the session frames after it, every number chosen by the fuzzer with the edges (-1, NaN,
 * infinities, 1e308, 2^64-1, ordinals past the device list) made likely. Through the whole
 * pipeline ({@link PipelineHarness}): no value outside the protocol's bounds reaches an actor.
 */
class HelloFuzzTest {

  private static final double[] PERCENTS = {
    0, 25, 100, 100.0000001, -1, -0.0, Double.NaN, Double.POSITIVE_INFINITY,
    Double.NEGATIVE_INFINITY, 1e308, Double.MIN_VALUE
  };
  private static final long[] SIZES = {0, 1, 1L << 30, -1, Long.MIN_VALUE, Long.MAX_VALUE};
  private static final String[] UUIDS = {
    "GPU-00000000-0000-0000-0000-000000000000", "GPU-a", "", "GPU-\u0000", "-GPU", "GPU-a b"
  };
  private static final String[] JOB_IDS = {"", "123", "job-1", "../x", "1 2", "a\nb", "x".repeat(65)};

  /** Loads what a connection uses before fuzzing starts, so that its clock counts inputs. */
  @BeforeAll
  static void warmUp() {
    PipelineHarness.warmUp();
  }

  @FuzzTest(maxDuration = "10s")
  void noHostileValueReachesAnActor(FuzzedDataProvider data) {
    ByteArrayOutputStream stream = new ByteArrayOutputStream();
    write(stream, first(data));
    int frames = data.consumeInt(0, 12);
    for (int i = 0; i < frames && data.remainingBytes() > 0; i++) {
      write(stream, sessionFrame(data));
    }
    new PipelineHarness().run(stream.toByteArray(), data.consumeInt(0, 64));
  }

  private static ClientFrame first(FuzzedDataProvider data) {
    ClientFrame.Builder f = ClientFrame.newBuilder().setRequestId(data.consumeLong());
    switch (data.consumeInt(0, 5)) {
      case 0 -> f.setStatus(StatusRequest.newBuilder().setCluster(data.consumeBoolean()));
      case 1 ->
          f.setPlace(
              PlaceRequest.newBuilder()
                  .setJobId(string(data, JOB_IDS))
                  .setMemoryBytes(size(data))
                  .setSmPercent(percent(data)));
      case 2 -> f.setRelease(ReleaseRequest.newBuilder().setJobId(string(data, JOB_IDS)));
      case 3 -> f.setReport(ReportRequest.newBuilder().setJobId(string(data, JOB_IDS)));
      default -> f.setHello(hello(data));
    }
    return f.build();
  }

  private static Hello hello(FuzzedDataProvider data) {
    Hello.Builder h =
        Hello.newBuilder()
            .setProtocolVersion(data.consumeInt(0, 3))
            .setPid(data.consumeInt())
            .setReconnect(data.consumeBoolean())
            .setShimVersion(data.consumeString(data.consumeInt(0, 80)));
    int devices = data.consumeInt(0, 70);
    for (int i = 0; i < devices; i++) {
      h.addDevices(
          Device.newBuilder()
              .setUuid(data.consumeBoolean() ? UUIDS[0].substring(0, 30) + i : string(data, UUIDS))
              .setOrdinal(data.consumeBoolean() ? i : data.consumeInt())
              .setTotalMemoryBytes(size(data)));
    }
    int holdings = data.consumeInt(0, 10);
    for (int i = 0; i < holdings; i++) {
      h.addHoldings(
          Holding.newBuilder()
              .setDeviceIndex(data.consumeInt(-1, devices + 1))
              .setBytes(size(data))
              .setAllocations(data.consumeInt()));
    }
    RequestedLimits.Builder r =
        RequestedLimits.newBuilder()
            .setJobId(string(data, JOB_IDS))
            .setArrayTaskId(data.consumeBoolean() ? "" : data.consumeString(12))
            .setMemoryLimitBytes(size(data))
            .setSmLimitPercent(percent(data));
    int perOrdinal = data.consumeInt(0, 4);
    for (int i = 0; i < perOrdinal; i++) {
      r.putMemoryLimitBytesByOrdinal(data.consumeInt(-1, 70), size(data));
      r.putSmLimitPercentByOrdinal(data.consumeInt(-1, 70), percent(data));
    }
    return h.setRequested(r).build();
  }

  private static ClientFrame sessionFrame(FuzzedDataProvider data) {
    ClientFrame.Builder f = ClientFrame.newBuilder().setRequestId(data.consumeLong());
    int device = data.consumeInt(-1, 3);
    switch (data.consumeInt(0, 6)) {
      case 0 -> f.setMemReserve(MemReserve.newBuilder().setDeviceIndex(device).setBytes(size(data)));
      case 1 -> f.setMemFree(MemFree.newBuilder().setDeviceIndex(device).setBytes(size(data)));
      case 2 ->
          f.setMemReport(
              MemReport.newBuilder()
                  .setDeviceIndex(device)
                  .setCreditEpoch(data.consumeLong())
                  .setTakenBytes(size(data))
                  .setFreedBytes(size(data))
                  .setPeakBytes(size(data))
                  .setRefusals(size(data)));
      case 3 -> f.setCreditReturn(CreditReturn.newBuilder().setDeviceIndex(device).setEpoch(data.consumeLong()));
      case 4 -> f.setLeaseRequest(LeaseRequest.newBuilder().setDeviceIndex(device));
      case 5 ->
          f.setLeaseRelease(
              LeaseRelease.newBuilder()
                  .setDeviceIndex(device)
                  .setLeaseId(data.consumeLong())
                  .setGpuTimeUs(size(data))
                  .setIdle(data.consumeBoolean())
                  .setHandoffNs(size(data)));
      default -> f.setStatus(StatusRequest.getDefaultInstance()); // not a session frame
    }
    return f.build();
  }

  private static long size(FuzzedDataProvider data) {
    return data.consumeBoolean() ? data.pickValue(SIZES) : data.consumeLong();
  }

  private static double percent(FuzzedDataProvider data) {
    return data.consumeBoolean() ? data.pickValue(PERCENTS) : data.consumeDouble();
  }

  private static String string(FuzzedDataProvider data, String[] edges) {
    return data.consumeBoolean() ? data.pickValue(edges) : data.consumeString(70);
  }

  private static void write(ByteArrayOutputStream out, ClientFrame frame) {
    try {
      frame.writeDelimitedTo(out);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
