package org.softmig.coordinator.shim;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufInputStream;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.softmig.proto.v1.ClientFrame;
import org.softmig.proto.v1.Error;
import org.softmig.proto.v1.Hello;
import org.softmig.proto.v1.MemReserve;
import org.softmig.proto.v1.NodeStatus;
import org.softmig.proto.v1.ServerFrame;
import org.softmig.proto.v1.StatusReply;
import org.softmig.proto.v1.StatusRequest;

/** The connection pipeline fed byte by byte, with no socket: framing, parsing, bad input. */
class ShimCodecTest {

  EmbeddedChannel ch;
  final List<ByteBuf> inputs = new ArrayList<>();

  @BeforeEach
  void setUp() {
    CliRequests cli =
        (request, peer) ->
            CompletableFuture.completedFuture(
                ServerFrame.newBuilder()
                    .setStatus(
                        StatusReply.newBuilder().addNodes(NodeStatus.newBuilder().setNode("n1")))
                    .build());
    ShimServices services =
        new ShimServices(null, null, Runnable::run, cli, "n1", 20_000, new AtomicLong(), c -> Peer.UNKNOWN);
    ch = new EmbeddedChannel(new ShimChannelInitializer(services));
  }

  @AfterEach
  void buffersAreReleased() {
    ch.finishAndReleaseAll();
    for (ByteBuf b : inputs) {
      assertThat(b.refCnt()).isZero();
    }
  }

  void feed(byte[] bytes) {
    ByteBuf b = Unpooled.copiedBuffer(bytes);
    inputs.add(b);
    ch.writeInbound(b);
    ch.runPendingTasks();
  }

  static byte[] frame(ClientFrame f) throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    f.writeDelimitedTo(out);
    return out.toByteArray();
  }

  ServerFrame reply() throws Exception {
    ByteBuf out = ch.readOutbound();
    assertThat(out).as("a reply").isNotNull();
    try {
      return ServerFrame.parseDelimitedFrom(new ByteBufInputStream(out));
    } finally {
      out.release();
    }
  }

  void assertClosedWith(Error.Code code) throws Exception {
    assertThat(reply().getError().getCode()).isEqualTo(code);
    assertThat(ch.isOpen()).isFalse();
  }

  @Test
  void answersARequestSplitAcrossReads() throws Exception {
    byte[] bytes =
        frame(
            ClientFrame.newBuilder()
                .setRequestId(9)
                .setStatus(StatusRequest.getDefaultInstance())
                .build());
    feed(new byte[] {bytes[0]});
    assertThat((Object) ch.readOutbound()).isNull();
    feed(java.util.Arrays.copyOfRange(bytes, 1, 3));
    assertThat((Object) ch.readOutbound()).isNull();
    feed(java.util.Arrays.copyOfRange(bytes, 3, bytes.length));
    ServerFrame reply = reply();
    assertThat(reply.getRequestId()).isEqualTo(9);
    assertThat(reply.getStatus().getNodes(0).getNode()).isEqualTo("n1");
    assertThat(ch.isOpen()).isFalse(); // a CLI connection gets one answer
  }

  @Test
  void closesOnALengthOverTheMaximum() throws Exception {
    feed(new byte[] {(byte) 0x81, (byte) 0x80, 0x04}); // 65537
    assertClosedWith(Error.Code.MALFORMED);
  }

  @Test
  void closesOnAnInvalidVarint() throws Exception {
    feed(new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x01});
    assertClosedWith(Error.Code.MALFORMED);
  }

  @Test
  void closesOnBytesThatAreNotProtobuf() throws Exception {
    feed(new byte[] {4, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff});
    assertClosedWith(Error.Code.MALFORMED);
  }

  @Test
  void closesOnAnEmptyFrame() throws Exception {
    feed(new byte[] {0});
    assertClosedWith(Error.Code.MALFORMED);
  }

  @Test
  void closesOnAnUnknownMessage() throws Exception {
    // field 99 (varint) = 1: a ClientFrame whose body is not one this coordinator knows
    feed(new byte[] {3, (byte) 0x98, 0x06, 0x01});
    assertClosedWith(Error.Code.MALFORMED);
  }

  @Test
  void closesOnAnUnsupportedProtocolVersion() throws Exception {
    feed(frame(ClientFrame.newBuilder().setHello(Hello.newBuilder().setProtocolVersion(3)).build()));
    ServerFrame reply = reply();
    assertThat(reply.getError().getCode()).isEqualTo(Error.Code.UNSUPPORTED_VERSION);
    assertThat(reply.getError().getMessage()).contains("3");
    assertThat(ch.isOpen()).isFalse();
  }

  @Test
  void refusesAHelloThatListsADeviceTwiceOrHoldsImpossibleAmounts() throws Exception {
    feed(
        frame(
            ClientFrame.newBuilder()
                .setHello(
                    Hello.newBuilder()
                        .setProtocolVersion(1)
                        .addDevices(org.softmig.proto.v1.Device.newBuilder().setUuid("GPU-a"))
                        .addDevices(org.softmig.proto.v1.Device.newBuilder().setUuid("GPU-a")))
                .build()));
    ServerFrame reply = reply();
    assertThat(reply.getError().getCode()).isEqualTo(Error.Code.INVALID_ARGUMENT);
    assertThat(reply.getError().getMessage()).contains("GPU-a");
    assertThat(ch.isOpen()).isFalse();
  }

  @Test
  void refusesAHoldingForADeviceNotInTheHello() throws Exception {
    feed(
        frame(
            ClientFrame.newBuilder()
                .setHello(
                    Hello.newBuilder()
                        .setProtocolVersion(1)
                        .addDevices(org.softmig.proto.v1.Device.newBuilder().setUuid("GPU-a"))
                        .addHoldings(
                            org.softmig.proto.v1.Holding.newBuilder()
                                .setDeviceIndex(3)
                                .setBytes(10)))
                .build()));
    assertClosedWith(Error.Code.INVALID_ARGUMENT);
  }

  @Test
  void closesOnSessionTrafficBeforeHello() throws Exception {
    feed(
        frame(
            ClientFrame.newBuilder()
                .setRequestId(3)
                .setMemReserve(MemReserve.newBuilder().setBytes(1))
                .build()));
    ServerFrame reply = reply();
    assertThat(reply.getRequestId()).isEqualTo(3);
    assertThat(reply.getError().getCode()).isEqualTo(Error.Code.UNEXPECTED);
    assertThat(ch.isOpen()).isFalse();
  }

  @Test
  void ignoresWhatFollowsACorruptFrame() throws Exception {
    feed(new byte[] {(byte) 0x81, (byte) 0x80, 0x04, 1, 2, 3, 0, 0, 0});
    assertClosedWith(Error.Code.MALFORMED);
    assertThat((Object) ch.readOutbound()).isNull();
  }
}
