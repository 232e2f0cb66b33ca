package org.softmig.coordinator.shim;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufInputStream;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;
import org.softmig.coordinator.os.MapUserDirectory;
import org.softmig.coordinator.slurm.JobIdentityResolver;
import org.softmig.gpu.actor.DeviceRequest;
import org.softmig.gpu.actor.GpuActor;
import org.softmig.gpu.actor.NodeGuardian;
import org.softmig.gpu.actor.SessionActor;
import org.softmig.proto.v1.ClientFrame;
import org.softmig.proto.v1.Error;
import org.softmig.proto.v1.NodeStatus;
import org.softmig.proto.v1.ServerFrame;
import org.softmig.proto.v1.StatusReply;

/**
 * One connection's whole pipeline (framing, protobuf, {@link ShimHandler}) on an {@link
 * EmbeddedChannel}, with recording actor references in place of the node's actors: whatever the
 * bytes, what reaches an actor is checked against the protocol's bounds, the replies are
 * well-formed, nothing is an internal error, and the connection's resources come back. Used by the
 * fuzz tests; the same bytes always take the same path (no threads, no clock).
 */
final class PipelineHarness {

  static final Peer PEER = new Peer(4_194_301, 1000, 1000);
  private static final Pattern JOB_ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]{0,63}");
  private static final JobIdentityResolver RESOLVER = resolver();

  private final RecordingRef<NodeGuardian.Command> guardian = new RecordingRef<>();
  private final RecordingRef<SessionActor.Command> session = new RecordingRef<>();
  private final List<RecordingRef<GpuActor.Command>> gpus = new ArrayList<>();
  private final List<ClientFrame> cliRequests = new ArrayList<>();
  private final ShimBounds bounds = ShimBounds.defaults();
  private final EmbeddedChannel ch;
  private final List<ByteBuf> fed = new ArrayList<>();
  private final List<ByteBuf> out = new ArrayList<>();
  private boolean welcomed;
  private boolean welcomeSent; // the connection was still open when the session was attached

  PipelineHarness() {
    CliRequests cli =
        (request, peer) -> {
          cliRequests.add(request);
          return CompletableFuture.completedFuture(
              ServerFrame.newBuilder()
                  .setStatus(StatusReply.newBuilder().addNodes(NodeStatus.newBuilder().setNode("n")))
                  .build());
        };
    ShimServices services =
        new ShimServices(
            guardian, RESOLVER, Runnable::run, cli, "n", 20_000, new AtomicLong(), c -> PEER, bounds);
    ch = new EmbeddedChannel(new ShimChannelInitializer(services));
  }

  private static JobIdentityResolver resolver() {
    try {
      Path dir = Files.createTempDirectory("softmig-fuzz");
      dir.toFile().deleteOnExit();
      // no /proc entries and no config files: every job is what the process claims
      return new JobIdentityResolver(
          dir.resolve("proc"), dir.resolve("conf"), new MapUserDirectory().user("alice", 1000, 1000), 0);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** A session opened and used, a CLI request answered: every class of the path loaded. */
  static void warmUp() {
    try {
      java.io.ByteArrayOutputStream session = new java.io.ByteArrayOutputStream();
      ClientFrame.newBuilder()
          .setHello(
              org.softmig.proto.v1.Hello.newBuilder()
                  .setProtocolVersion(2)
                  .addDevices(org.softmig.proto.v1.Device.newBuilder().setUuid("GPU-a"))
                  .setRequested(
                      org.softmig.proto.v1.RequestedLimits.newBuilder()
                          .setJobId("7")
                          .setMemoryLimitBytes(1 << 30)))
          .build()
          .writeDelimitedTo(session);
      ClientFrame.newBuilder()
          .setMemReserve(org.softmig.proto.v1.MemReserve.newBuilder().setBytes(1))
          .build()
          .writeDelimitedTo(session);
      new PipelineHarness().run(session.toByteArray(), 3);
      java.io.ByteArrayOutputStream cli = new java.io.ByteArrayOutputStream();
      ClientFrame.newBuilder()
          .setStatus(org.softmig.proto.v1.StatusRequest.getDefaultInstance())
          .build()
          .writeDelimitedTo(cli);
      new PipelineHarness().run(cli.toByteArray(), 0);
      new PipelineHarness().run(new byte[] {1, (byte) 0xff}, 0);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Feeds the stream in reads of {@code chunk} bytes (0: at once) and checks everything. */
  void run(byte[] stream, int chunk) {
    int step = chunk <= 0 ? Math.max(1, stream.length) : chunk;
    for (int at = 0; at < stream.length && ch.isOpen(); at += step) {
      ByteBuf b = Unpooled.copiedBuffer(stream, at, Math.min(step, stream.length - at));
      fed.add(b);
      ch.writeInbound(b);
      ch.runPendingTasks();
      afterRead();
    }
    List<ServerFrame> replies = replies();
    boolean open = ch.isOpen();
    ch.finishAndReleaseAll();
    releaseAll();
    check(replies, open);
  }

  /** The session opens as soon as the node's actors would have attached it. */
  private void afterRead() {
    collectOutbound();
    List<NodeGuardian.Command> told = guardian.told();
    if (welcomed || told.isEmpty()) {
      return;
    }
    assertThat(told).hasSize(1);
    NodeGuardian.OpenSession open = (NodeGuardian.OpenSession) told.get(0);
    checkOpen(open);
    List<akka.actor.typed.ActorRef<GpuActor.Command>> refs = new ArrayList<>();
    for (int i = 0; i < open.devices().size(); i++) {
      RecordingRef<GpuActor.Command> gpu = new RecordingRef<>();
      gpus.add(gpu);
      refs.add(gpu);
    }
    welcomed = true;
    // a connection that failed while its session was being opened gets no Welcome: the session
    // is stopped at once
    welcomeSent = ch.isOpen();
    open.output().welcome(open.spec(), List.of(), session, refs);
    ch.runPendingTasks();
    collectOutbound();
  }

  private static void checkOpen(NodeGuardian.OpenSession open) {
    assertThat(open.devices()).hasSizeLessThanOrEqualTo(FrameChecks.MAX_DEVICES);
    assertThat(open.spec().pid()).isEqualTo(PEER.pid());
    assertThat(open.spec().uid()).isEqualTo(PEER.uid());
    assertThat(open.spec().jobId()).matches(JOB_ID);
    for (DeviceRequest d : open.devices()) {
      assertThat(d.uuid()).isNotEmpty().hasSizeLessThanOrEqualTo(96);
      assertThat(d.holdingBytes()).isNotNegative();
      assertThat(d.memoryLimitBytes()).isNotNegative();
      assertThat(Double.isFinite(d.smLimitPercent())).as("finite SM limit").isTrue();
      // compared as numbers: -0.0 is 0 (no limit), as the actors read it
      assertThat(d.smLimitPercent() >= 0 && d.smLimitPercent() <= 100)
          .as("SM limit %s in [0, 100]", d.smLimitPercent())
          .isTrue();
    }
  }

  private void collectOutbound() {
    Object o;
    while ((o = ch.readOutbound()) != null) {
      out.add((ByteBuf) o);
    }
  }

  private List<ServerFrame> replies() {
    collectOutbound();
    List<ServerFrame> frames = new ArrayList<>();
    for (ByteBuf b : out) {
      try (ByteBufInputStream in = new ByteBufInputStream(b.duplicate())) {
        ServerFrame f;
        while ((f = ServerFrame.parseDelimitedFrom(in)) != null) {
          frames.add(f);
        }
      } catch (IOException e) {
        throw new AssertionError("a reply that is not a length-delimited ServerFrame", e);
      }
    }
    return frames;
  }

  private void releaseAll() {
    for (ByteBuf b : out) {
      b.release();
    }
    for (ByteBuf b : fed) {
      assertThat(b.refCnt()).as("input buffer released").isZero();
    }
  }

  private void check(List<ServerFrame> replies, boolean openAtEnd) {
    long welcomes = replies.stream().filter(ServerFrame::hasWelcome).count();
    assertThat(welcomes).isEqualTo(welcomeSent ? 1 : 0);
    for (ServerFrame f : replies) {
      assertThat(f.getError().getCode()).as("%s", f).isNotEqualTo(Error.Code.INTERNAL);
      assertThat(f.getSerializedSize()).isLessThanOrEqualTo(65_536);
    }
    if (!openAtEnd && !welcomed && cliRequests.isEmpty()) {
      // refused before any session: the last word is why
      assertThat(replies).isNotEmpty();
      assertThat(replies.get(replies.size() - 1).hasError()).isTrue();
      assertThat(guardian.told()).isEmpty();
    }
    assertThat(cliRequests).hasSizeLessThanOrEqualTo(1);
    if (!cliRequests.isEmpty()) {
      assertThat(guardian.told()).isEmpty();
    }
    for (RecordingRef<GpuActor.Command> gpu : gpus) {
      for (GpuActor.Command c : gpu.told()) {
        checkSessionCommand(c);
      }
    }
    if (welcomed) {
      assertThat(session.told()).as("the session ends with its connection").contains(
          SessionActor.Stop.INSTANCE);
    }
    assertThat(bounds.connections().openBy(PEER.uid())).as("connections still counted").isZero();
  }

  private static void checkSessionCommand(GpuActor.Command c) {
    if (c instanceof GpuActor.Reserve r) {
      assertThat(r.bytes()).isNotNegative();
    } else if (c instanceof GpuActor.Free f) {
      assertThat(f.bytes()).isNotNegative();
    } else if (c instanceof GpuActor.MemReport m) {
      assertThat(m.takenBytes()).isNotNegative();
      assertThat(m.freedBytes()).isNotNegative();
      assertThat(m.peakBytes()).isNotNegative();
      assertThat(m.localRefusals()).isNotNegative();
    } else if (c instanceof GpuActor.LeaseRelease l) {
      assertThat(l.gpuTimeNanos()).isNotNegative();
      assertThat(l.handoffNanos()).isNotNegative();
    }
  }
}
