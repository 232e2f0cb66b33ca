package org.softmig.coordinator.shim;

import akka.actor.typed.ActorRef;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.DecoderException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.softmig.coordinator.slurm.JobIdentity;
import org.softmig.coordinator.slurm.JobIdentityResolver;
import org.softmig.coordinator.slurm.JobLimits;
import org.softmig.coordinator.slurm.ProcessClaim;
import org.softmig.gpu.actor.DeviceLimit;
import org.softmig.gpu.actor.DeviceRequest;
import org.softmig.gpu.actor.GpuActor;
import org.softmig.gpu.actor.NodeGuardian;
import org.softmig.gpu.actor.SessionActor;
import org.softmig.gpu.actor.SessionOutput;
import org.softmig.gpu.actor.SessionSpec;
import org.softmig.proto.v1.ClientFrame;
import org.softmig.proto.v1.Device;
import org.softmig.proto.v1.Error;
import org.softmig.proto.v1.Hello;
import org.softmig.proto.v1.Holding;
import org.softmig.proto.v1.ProtocolConstants;
import org.softmig.proto.v1.RequestedLimits;
import org.softmig.proto.v1.ServerFrame;

/**
 * One connection. Its first frame decides what it is: {@code Hello} opens a shim session (the
 * process's job is resolved off the event loop, then the session joins the actors); a CLI request
 * is answered once and the connection closed. Anything malformed gets an {@code Error} and the
 * connection is closed; other connections never notice.
 */
public final class ShimHandler extends SimpleChannelInboundHandler<ClientFrame> {

  private static final Logger log = LoggerFactory.getLogger(ShimHandler.class);

  private enum State {
    NEW,
    OPENING,
    SESSION,
    CLI,
    CLOSING
  }

  private final ShimServices services;
  private State state = State.NEW;
  private Peer peer = Peer.UNKNOWN;
  private ChannelHandlerContext ctx;
  private final ArrayDeque<ClientFrame> early = new ArrayDeque<>();
  private List<ActorRef<GpuActor.Command>> gpus = List.of();
  // devices of the session the job gets none of (by device index)
  private boolean[] denied = new boolean[0];
  private long sessionId;
  private volatile ActorRef<SessionActor.Command> session;
  private volatile boolean closed;
  private final ConcurrentLinkedQueue<ServerFrame> outbox = new ConcurrentLinkedQueue<>();
  private final AtomicBoolean drainScheduled = new AtomicBoolean();
  private final Runnable drain = this::drainOutbox;
  private boolean counted;
  private io.netty.util.concurrent.ScheduledFuture<?> helloDeadline;

  public ShimHandler(ShimServices services) {
    this.services = services;
  }

  @Override
  public void channelActive(ChannelHandlerContext ctx) throws Exception {
    this.ctx = ctx;
    peer = services.peers().apply(ctx.channel());
    ShimBounds bounds = services.bounds();
    String refused = bounds.connections().open(peer.uid());
    if (refused != null) {
      fail(0, Error.Code.UNAVAILABLE, "connection refused: " + refused);
    } else {
      counted = true;
      long ms = bounds.helloDeadline().toMillis();
      helloDeadline =
          ctx.executor()
              .schedule(
                  () -> {
                    if (state == State.NEW) {
                      fail(0, Error.Code.UNEXPECTED, "no request within " + ms + " ms");
                    }
                  },
                  ms,
                  java.util.concurrent.TimeUnit.MILLISECONDS);
    }
    super.channelActive(ctx);
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) throws Exception {
    closed = true;
    if (counted) {
      counted = false;
      services.bounds().connections().close(peer.uid());
    }
    if (helloDeadline != null) {
      helloDeadline.cancel(false);
    }
    ActorRef<SessionActor.Command> s = session;
    if (s != null) {
      s.tell(SessionActor.Stop.INSTANCE);
    }
    super.channelInactive(ctx);
  }

  @Override
  protected void channelRead0(ChannelHandlerContext ctx, ClientFrame frame) {
    switch (state) {
      case NEW -> onFirstFrame(frame);
      case OPENING -> {
        if (early.size() >= services.bounds().maxEarlyFrames()) {
          fail(0, Error.Code.UNAVAILABLE, "more than " + early.size() + " frames before Welcome");
        } else {
          early.add(frame);
        }
      }
      case SESSION -> onSessionFrame(frame);
      case CLI, CLOSING -> {
        // one request per CLI connection; the answer is on its way
      }
    }
  }

  @Override
  public void channelReadComplete(ChannelHandlerContext ctx) {
    ctx.flush();
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    if (cause instanceof java.io.IOException) {
      log.debug("Connection of pid [{}] failed: {}", peer.pid(), cause.getMessage());
      state = State.CLOSING;
      ctx.close();
    } else if (cause instanceof DecoderException) {
      Throwable root = cause.getCause() != null ? cause.getCause() : cause;
      fail(0, Error.Code.MALFORMED, "malformed frame: " + root.getMessage());
    } else {
      RateLimitedLog.Line line = services.bounds().refusal(peer.uid());
      if (line != null) {
        log.warn(
            "Closing connection of uid [{}] pid [{}] after an error ([{}] more since the last"
                + " line)",
            peer.uid(),
            peer.pid(),
            line.suppressed(),
            cause);
      }
      fail(0, Error.Code.INTERNAL, "internal error: " + cause);
    }
  }

  // ------------------------------------------------------------------ first frame

  private void onFirstFrame(ClientFrame frame) {
    if (helloDeadline != null) {
      helloDeadline.cancel(false);
    }
    switch (frame.getBodyCase()) {
      case HELLO -> onHello(frame.getHello());
      case STATUS, PLACE, RELEASE, REPORT -> onCliRequest(frame);
      case BODY_NOT_SET -> fail(frame.getRequestId(), Error.Code.MALFORMED, "frame has no known message");
      default ->
          fail(
              frame.getRequestId(),
              Error.Code.UNEXPECTED,
              frame.getBodyCase() + " before Hello");
    }
  }

  private void onCliRequest(ClientFrame frame) {
    state = State.CLI;
    long requestId = frame.getRequestId();
    CompletableFuture<ServerFrame> answer;
    try {
      answer = services.cli().handle(frame, peer).toCompletableFuture();
    } catch (RuntimeException e) {
      answer = CompletableFuture.failedFuture(e);
    }
    answer.whenComplete(
        (reply, error) ->
            ctx.executor()
                .execute(
                    () -> {
                      ServerFrame out =
                          error != null
                              ? Frames.error(
                                  requestId, Error.Code.INTERNAL, "request failed: " + error)
                              : reply.toBuilder().setRequestId(requestId).build();
                      ctx.writeAndFlush(out).addListener(ChannelFutureListener.CLOSE);
                    }));
  }

  private void onHello(Hello hello) {
    int version = hello.getProtocolVersion();
    int min = ProtocolConstants.MIN_SUPPORTED_PROTOCOL_VERSION_VALUE;
    int max = ProtocolConstants.CURRENT_PROTOCOL_VERSION_VALUE;
    if (version < min || version > max) {
      fail(
          0,
          Error.Code.UNSUPPORTED_VERSION,
          "protocol version " + version + " is not supported (this coordinator speaks " + min
              + " to " + max + ")");
      return;
    }
    String invalid = FrameChecks.hello(hello);
    if (invalid != null) {
      fail(0, Error.Code.INVALID_ARGUMENT, invalid);
      return;
    }
    state = State.OPENING;
    ctx.channel().config().setAutoRead(false);
    ProcessClaim claim = claim(hello.getRequested());
    Peer p = peer;
    CompletableFuture.supplyAsync(
            () -> services.resolver().resolve(p.pid(), p.uid(), claim), services.blocking())
        .whenComplete(
            (identity, error) ->
                ctx.executor()
                    .execute(
                        () -> {
                          if (error != null) {
                            Throwable cause = error.getCause() != null ? error.getCause() : error;
                            fail(
                                0,
                                cause instanceof JobIdentityResolver.Refused
                                    ? Error.Code.PERMISSION_DENIED
                                    : Error.Code.INVALID_ARGUMENT,
                                cause.getMessage());
                          } else {
                            openSession(hello, version, identity);
                          }
                        }));
  }

  private static ProcessClaim claim(RequestedLimits r) {
    return new ProcessClaim(
        r.getJobId(),
        r.getArrayTaskId(),
        new JobLimits(
            r.getMemoryLimitBytes(),
            r.getSmLimitPercent(),
            r.getMemoryLimitBytesByOrdinalMap(),
            r.getSmLimitPercentByOrdinalMap()));
  }

  private void openSession(Hello hello, int version, JobIdentity identity) {
    if (closed) {
      return;
    }
    sessionId = services.sessionIds().incrementAndGet();
    SessionSpec spec =
        new SessionSpec(
            sessionId,
            identity.jobId(),
            peer.pid(),
            peer.uid(),
            identity.user(),
            identity.source(),
            version,
            identity.kernelJob());
    long[] holdings = new long[hello.getDevicesCount()];
    for (Holding h : hello.getHoldingsList()) {
      holdings[h.getDeviceIndex()] += h.getBytes(); // checked in FrameChecks.hello
    }
    List<DeviceRequest> devices = new ArrayList<>();
    for (int i = 0; i < hello.getDevicesCount(); i++) {
      Device d = hello.getDevices(i);
      devices.add(
          new DeviceRequest(
              i,
              d.getUuid(),
              holdings[i],
              identity.limits().memoryFor(d.getOrdinal()),
              identity.limits().smFor(d.getOrdinal())));
    }
    log.info(
        "Pid [{}] uid [{}] is job [{}] ({}), {} device(s)",
        peer.pid(),
        peer.uid(),
        identity.jobId(),
        identity.source(),
        devices.size());
    services
        .guardian()
        .tell(new NodeGuardian.OpenSession(spec, devices, new Output(version)));
  }

  /** Called on the event loop once the session is attached everywhere. */
  private void onWelcome(
      ServerFrame welcome, List<ActorRef<GpuActor.Command>> gpus, boolean[] denied) {
    if (closed) {
      return;
    }
    this.gpus = gpus;
    this.denied = denied;
    state = State.SESSION;
    ctx.write(welcome);
    while (!early.isEmpty() && state == State.SESSION) {
      onSessionFrame(early.poll());
    }
    ctx.flush();
    ctx.channel().config().setAutoRead(true);
  }

  // ------------------------------------------------------------------ session

  private void drainOutbox() {
    drainScheduled.set(false);
    boolean any = false;
    ServerFrame frame;
    while ((frame = outbox.poll()) != null) {
      ctx.write(frame, ctx.voidPromise());
      any = true;
    }
    if (any) {
      ctx.flush();
    }
  }

  private void onSessionFrame(ClientFrame frame) {
    String invalid = FrameChecks.sessionFrame(frame);
    if (invalid != null) {
      refused(Error.Code.INVALID_ARGUMENT, invalid);
      ctx.write(Frames.error(frame.getRequestId(), Error.Code.INVALID_ARGUMENT, invalid));
      return;
    }
    switch (frame.getBodyCase()) {
      case MEM_RESERVE -> {
        var r = frame.getMemReserve();
        ActorRef<GpuActor.Command> gpu = gpu(frame.getRequestId(), r.getDeviceIndex());
        if (gpu != null) {
          gpu.tell(new GpuActor.Reserve(sessionId, frame.getRequestId(), r.getBytes()));
        } else if (isDenied(r.getDeviceIndex())) {
          ctx.write(deniedReply(frame.getRequestId(), r.getDeviceIndex()));
        } else if (r.getDeviceIndex() < gpus.size()) {
          ctx.write(unmanagedGrant(frame.getRequestId()));
        }
      }
      case MEM_FREE -> {
        var f = frame.getMemFree();
        ActorRef<GpuActor.Command> gpu = gpuOrNull(f.getDeviceIndex());
        if (gpu != null) {
          gpu.tell(new GpuActor.Free(sessionId, f.getBytes()));
        }
      }
      case CREDIT_RETURN -> {
        var c = frame.getCreditReturn();
        ActorRef<GpuActor.Command> gpu = gpuOrNull(c.getDeviceIndex());
        if (gpu != null) {
          gpu.tell(new GpuActor.CreditReturn(sessionId, c.getEpoch()));
        }
      }
      case MEM_REPORT -> {
        var m = frame.getMemReport();
        ActorRef<GpuActor.Command> gpu = gpu(frame.getRequestId(), m.getDeviceIndex());
        if (gpu != null) {
          gpu.tell(
              new GpuActor.MemReport(
                  sessionId,
                  frame.getRequestId(),
                  m.getCreditEpoch(),
                  unsigned(m.getTakenBytes()),
                  unsigned(m.getFreedBytes()),
                  unsigned(m.getPeakBytes()),
                  unsigned(m.getRefusals())));
        } else if (frame.getRequestId() != 0 && isDenied(m.getDeviceIndex())) {
          ctx.write(deniedReply(frame.getRequestId(), m.getDeviceIndex()));
        } else if (m.getDeviceIndex() < gpus.size() && frame.getRequestId() != 0) {
          ctx.write(unmanagedGrant(frame.getRequestId()));
        }
      }
      case USAGE_REPORT -> {
        // version 1's absolute usage: never counted (a version 1 session holds no credit)
      }
      case LEASE_REQUEST, LEASE_RELEASE -> onLeaseFrame(frame);
      case BODY_NOT_SET ->
          fail(frame.getRequestId(), Error.Code.MALFORMED, "frame has no known message");
      default ->
          ctx.write(
              Frames.error(
                  frame.getRequestId(),
                  Error.Code.UNEXPECTED,
                  frame.getBodyCase() + " is not valid in a shim session"));
    }
  }

  private void onLeaseFrame(ClientFrame frame) {
    if (frame.hasLeaseRequest()) {
      ActorRef<GpuActor.Command> gpu = gpuOrNull(frame.getLeaseRequest().getDeviceIndex());
      if (gpu != null) {
        gpu.tell(new GpuActor.LeaseRequest(sessionId));
      }
    } else {
      var r = frame.getLeaseRelease();
      ActorRef<GpuActor.Command> gpu = gpuOrNull(r.getDeviceIndex());
      if (gpu != null) {
        gpu.tell(
            new GpuActor.LeaseRelease(
                sessionId,
                r.getLeaseId(),
                nanos(r.getGpuTimeUs()),
                r.getIdle(),
                r.getReleasedMonoNs(),
                Math.max(0, r.getHandoffNs()),
                r.getWorkPending(),
                r.getWorkStartMonoNs(),
                r.getWorkEndMonoNs()));
      }
    }
  }

  /** An unsigned 64-bit field, saturated at Long.MAX_VALUE. */
  private static long unsigned(long v) {
    return v < 0 ? Long.MAX_VALUE : v;
  }

  /** Microseconds (an unsigned 64-bit field) as nanoseconds, saturating. */
  private static long nanos(long micros) {
    return micros < 0 || micros > Long.MAX_VALUE / 1000 ? Long.MAX_VALUE : micros * 1000;
  }

  private static ServerFrame unmanagedGrant(long requestId) {
    return ServerFrame.newBuilder()
        .setRequestId(requestId)
        .setMemReply(org.softmig.proto.v1.MemReply.newBuilder().setGranted(true))
        .build();
  }

  private boolean isDenied(int deviceIndex) {
    return deviceIndex >= 0 && deviceIndex < denied.length && denied[deviceIndex];
  }

  /** A device the job gets none of: every request refused. */
  private static ServerFrame deniedReply(long requestId, int deviceIndex) {
    return ServerFrame.newBuilder()
        .setRequestId(requestId)
        .setMemReply(
            org.softmig.proto.v1.MemReply.newBuilder()
                .setGranted(false)
                .setJobLimitBytes(Frames.DENIED_LIMIT_BYTES)
                .setReason("device " + deviceIndex + " is denied to this job"))
        .build();
  }

  private ActorRef<GpuActor.Command> gpu(long requestId, int deviceIndex) {
    if (deviceIndex < 0 || deviceIndex >= gpus.size()) {
      ctx.write(
          Frames.error(
              requestId,
              Error.Code.INVALID_ARGUMENT,
              "device index " + deviceIndex + " is not one of the " + gpus.size()
                  + " devices of this session"));
      return null;
    }
    return gpus.get(deviceIndex);
  }

  private ActorRef<GpuActor.Command> gpuOrNull(int deviceIndex) {
    return deviceIndex >= 0 && deviceIndex < gpus.size() ? gpus.get(deviceIndex) : null;
  }

  @Override
  public void channelWritabilityChanged(ChannelHandlerContext ctx) throws Exception {
    // a peer that does not read its replies stops being read: its replies cannot pile up here
    if (state == State.SESSION) {
      ctx.channel().config().setAutoRead(ctx.channel().isWritable());
    }
    super.channelWritabilityChanged(ctx);
  }

  /** Logs a refusal, at most one line per uid per interval. */
  private void refused(Error.Code code, String message) {
    RateLimitedLog.Line line = services.bounds().refusal(peer.uid());
    if (line != null) {
      log.warn(
          "Refused uid [{}] pid [{}]: {} {} ([{}] more refusals of this uid since the last line)",
          peer.uid(),
          peer.pid(),
          code,
          message,
          line.suppressed());
    }
  }

  private void fail(long requestId, Error.Code code, String message) {
    if (state == State.CLOSING) {
      return;
    }
    refused(code, message);
    state = State.CLOSING;
    early.clear();
    ctx.writeAndFlush(Frames.error(requestId, code, message))
        .addListener(ChannelFutureListener.CLOSE);
  }

  /** Where the session's actors send; calls arrive on actor threads. */
  private final class Output implements SessionOutput {
    private final int version;

    Output(int version) {
      this.version = version;
    }

    @Override
    public void welcome(
        SessionSpec spec,
        List<DeviceLimit> limits,
        ActorRef<SessionActor.Command> sessionRef,
        List<ActorRef<GpuActor.Command>> gpuRefs) {
      session = sessionRef;
      if (closed) {
        sessionRef.tell(SessionActor.Stop.INSTANCE);
        return;
      }
      ServerFrame frame =
          Frames.welcome(version, spec, limits, services.leaseMicros(), services.nodeName());
      boolean[] deniedByIndex = new boolean[gpuRefs.size()];
      for (DeviceLimit l : limits) {
        if (l.denied() && l.deviceIndex() < deniedByIndex.length) {
          deniedByIndex[l.deviceIndex()] = true;
        }
      }
      ctx.executor().execute(() -> onWelcome(frame, gpuRefs, deniedByIndex));
    }

    @Override
    public void refuse(String reason) {
      ctx.executor().execute(() -> fail(0, Error.Code.PERMISSION_DENIED, reason));
    }

    /**
     * Queues the frame and, unless a drain is already on its way, schedules one on the event loop:
     * frames sent close together go out with one flush (one syscall).
     */
    @Override
    public void send(SessionActor.Outbound message) {
      outbox.add(Frames.outbound(message));
      if (!drainScheduled.getAndSet(true)) {
        ctx.executor().execute(drain);
      }
    }
  }
}
