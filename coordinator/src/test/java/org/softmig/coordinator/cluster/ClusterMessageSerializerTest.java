package org.softmig.coordinator.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import akka.actor.testkit.typed.javadsl.ActorTestKit;
import akka.actor.testkit.typed.javadsl.TestProbe;
import akka.actor.typed.javadsl.Adapter;
import akka.serialization.Serialization;
import akka.serialization.SerializationExtension;
import akka.serialization.Serializer;
import akka.serialization.Serializers;
import com.typesafe.config.ConfigFactory;
import java.io.NotSerializableException;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.softmig.proto.v1.GpuStatus;
import org.softmig.proto.v1.JobReport;
import org.softmig.proto.v1.NodeStatus;
import org.softmig.proto.v1.StatusReply;

class ClusterMessageSerializerTest {

  private static final ActorTestKit testKit =
      ActorTestKit.create(
          ClusterSettings.SYSTEM_NAME,
          ConfigFactory.parseString(ClusterTestNode.FAST)
              .withFallback(
                  ClusterSettings.of("n1", "127.0.0.1", 0, List.of(), false).toAkkaConfig())
              .withFallback(ConfigFactory.load()));

  private static final Serialization serialization =
      SerializationExtension.get(Adapter.toClassic(testKit.system()));

  @AfterAll
  static void cleanup() {
    testKit.shutdownTestKit();
  }

  private static final NodeStatus STATUS =
      NodeStatus.newBuilder()
          .setNode("n1")
          .setHealth("ok")
          .setUpdatedUnixMs(1_700_000_000_000L)
          .addGpus(GpuStatus.newBuilder().setUuid("GPU-a").setMemoryTotalBytes(48L << 30))
          .build();

  private static final JobReport PART =
      JobReport.newBuilder().setJobId("42").setNode("n1").setGpuUuid("GPU-a").setGpuTimeUs(7).build();

  private static Object roundTrip(Object message) throws NotSerializableException {
    Serializer serializer = serialization.findSerializerFor(message);
    assertThat(serializer).isInstanceOf(ClusterMessageSerializer.class);
    String manifest = Serializers.manifestFor(serializer, message);
    byte[] bytes = serializer.toBinary(message);
    return serialization.deserialize(bytes, serializer.identifier(), manifest).get();
  }

  @Test
  void nodeViewMessagesSurviveTheWire() throws Exception {
    TestProbe<NodeView.Snapshot> probe = testKit.createTestProbe();
    TestProbe<NodePublisher.Command> from = testKit.createTestProbe();

    assertThat(roundTrip(new NodeView.Update(STATUS, from.ref())))
        .isEqualTo(new NodeView.Update(STATUS, from.ref()));
    assertThat(roundTrip(new NodeView.Get(probe.ref()))).isEqualTo(new NodeView.Get(probe.ref()));
    assertThat(roundTrip(new NodeView.Snapshot(Optional.of(STATUS), 1234)))
        .isEqualTo(new NodeView.Snapshot(Optional.of(STATUS), 1234));
    assertThat(roundTrip(new NodeView.Snapshot(Optional.empty(), 0)))
        .isEqualTo(new NodeView.Snapshot(Optional.empty(), 0));
    assertThat(roundTrip(new NodePublisher.GetLatest(probe.ref())))
        .isEqualTo(new NodePublisher.GetLatest(probe.ref()));
  }

  @Test
  void jobViewMessagesSurviveTheWire() throws Exception {
    TestProbe<JobView.Parts> probe = testKit.createTestProbe();
    TestProbe<NodePublisher.Command> from = testKit.createTestProbe();

    assertThat(roundTrip(new JobView.Update(PART, true, from.ref())))
        .isEqualTo(new JobView.Update(PART, true, from.ref()));
    assertThat(roundTrip(new JobView.Get(probe.ref()))).isEqualTo(new JobView.Get(probe.ref()));
    assertThat(roundTrip(new JobView.Parts(List.of(PART, PART))))
        .isEqualTo(new JobView.Parts(List.of(PART, PART)));
  }

  @Test
  void protobufRepliesUseAkkasProtobufSerializer() {
    Serializer serializer = serialization.findSerializerFor(StatusReply.getDefaultInstance());

    assertThat(serializer).isInstanceOf(akka.remote.serialization.ProtobufSerializer.class);
  }

  @Test
  void javaSerializationIsOff() {
    assertThatThrownBy(() -> serialization.serialize(new java.util.ArrayList<>(List.of(1))).get())
        .isInstanceOf(Exception.class);
  }

  @Test
  void unknownManifestIsAClearError() {
    ClusterMessageSerializer serializer =
        (ClusterMessageSerializer)
            serialization.findSerializerFor(new JobView.Parts(List.of()));

    assertThatThrownBy(() -> serializer.fromBinary(new byte[0], "XX"))
        .isInstanceOf(NotSerializableException.class)
        .hasMessageContaining("[XX]");
    assertThatThrownBy(() -> serializer.fromBinary(new byte[] {(byte) 0xff}, "NU"))
        .isInstanceOf(NotSerializableException.class)
        .hasMessageContaining("corrupt");
  }

  @Test
  void anUpdateWithoutItsSenderIsRefused() {
    ClusterMessageSerializer serializer =
        (ClusterMessageSerializer)
            serialization.findSerializerFor(new JobView.Parts(List.of()));
    byte[] noFrom =
        org.softmig.proto.v1.cluster.NodeSnapshotUpdate.newBuilder()
            .setStatus(STATUS)
            .build()
            .toByteArray();

    assertThatThrownBy(() -> serializer.fromBinary(noFrom, ClusterMessageSerializer.NODE_UPDATE))
        .isInstanceOf(NotSerializableException.class)
        .hasMessageContaining("no from");
  }
}
