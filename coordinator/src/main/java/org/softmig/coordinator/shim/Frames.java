package org.softmig.coordinator.shim;

import java.util.List;
import org.softmig.gpu.actor.DeviceLimit;
import org.softmig.gpu.actor.LimitSource;
import org.softmig.gpu.actor.SessionActor;
import org.softmig.gpu.actor.SessionSpec;
import org.softmig.proto.v1.CreditGrant;
import org.softmig.proto.v1.CreditRevoke;
import org.softmig.proto.v1.DeviceLimits;
import org.softmig.proto.v1.Error;
import org.softmig.proto.v1.LeaseGrant;
import org.softmig.proto.v1.LeaseRevoke;
import org.softmig.proto.v1.MemReply;
import org.softmig.proto.v1.ServerFrame;
import org.softmig.proto.v1.Welcome;

/** Builds the frames the coordinator sends; the one place actor records become protobuf. */
public final class Frames {

  /** The memory limit sent with a denied device. */
  public static final long DENIED_LIMIT_BYTES = 1;

  private Frames() {}

  public static ServerFrame error(long requestId, Error.Code code, String message) {
    return ServerFrame.newBuilder()
        .setRequestId(requestId)
        .setError(Error.newBuilder().setCode(code).setMessage(message))
        .build();
  }

  public static ServerFrame welcome(
      int protocolVersion, SessionSpec spec, List<DeviceLimit> limits, long leaseMicros, String node) {
    Welcome.Builder w =
        Welcome.newBuilder()
            .setProtocolVersion(protocolVersion)
            .setSessionId(spec.sessionId())
            .setJobId(spec.jobId())
            .setLeaseUs((int) Math.min(Integer.MAX_VALUE, leaseMicros))
            .setSource(source(spec.source()))
            .setNode(node);
    for (DeviceLimit l : limits) {
      DeviceLimits.Builder d =
          DeviceLimits.newBuilder()
              .setDeviceIndex(l.deviceIndex())
              .setMemoryLimitBytes(l.memoryLimitBytes())
              .setSmLimitPercent(l.smLimitPercent())
              .setGated(l.gated());
      if (l.denied()) {
        // a one-byte limit: a shim that predates `denied` refuses every allocation too
        d.setMemoryLimitBytes(DENIED_LIMIT_BYTES)
            .setGated(false)
            .setDenied(true)
            .setDeniedReason(l.deniedReason());
      }
      w.addLimits(d);
    }
    return ServerFrame.newBuilder().setWelcome(w).build();
  }

  public static Welcome.Source source(LimitSource source) {
    return switch (source) {
      case ADMIN_CONFIG -> Welcome.Source.ADMIN_CONFIG;
      case PROCESS_ENVIRONMENT -> Welcome.Source.PROCESS_ENVIRONMENT;
      case PLACEMENT -> Welcome.Source.PLACEMENT;
    };
  }

  /** A message a GPU actor sent to a session. */
  public static ServerFrame outbound(SessionActor.Outbound message) {
    ServerFrame.Builder f = ServerFrame.newBuilder();
    if (message instanceof SessionActor.MemDecision d) {
      f.setRequestId(d.requestId())
          .setMemReply(
              MemReply.newBuilder()
                  .setGranted(d.granted())
                  .setJobUsedBytes(d.jobUsedBytes())
                  .setJobLimitBytes(d.jobLimitBytes())
                  .setDeviceFreeBytes(d.deviceFreeBytes())
                  .setReason(d.reason()));
    } else if (message instanceof SessionActor.CreditGranted g) {
      f.setCreditGrant(
          CreditGrant.newBuilder()
              .setDeviceIndex(g.deviceIndex())
              .setCeilingBytes(g.ceilingBytes())
              .setEpoch(g.epoch()));
    } else if (message instanceof SessionActor.CreditRevoked r) {
      f.setCreditRevoke(
          CreditRevoke.newBuilder().setDeviceIndex(r.deviceIndex()).setEpoch(r.epoch()));
    } else if (message instanceof SessionActor.LeaseGranted g) {
      f.setLeaseGrant(
          LeaseGrant.newBuilder()
              .setDeviceIndex(g.deviceIndex())
              .setLeaseId(g.leaseId())
              .setDurationUs((int) Math.min(Integer.MAX_VALUE, g.durationNanos() / 1000))
              .setGpuFreeMonoNs(g.gpuFreeMonoNanos()));
    } else if (message instanceof SessionActor.LeaseRevoked r) {
      f.setLeaseRevoke(
          LeaseRevoke.newBuilder().setDeviceIndex(r.deviceIndex()).setLeaseId(r.leaseId()));
    } else {
      throw new IllegalArgumentException("no frame for " + message);
    }
    return f.build();
  }
}
