package org.softmig.coordinator.cluster;

import akka.actor.ExtendedActorSystem;
import akka.actor.typed.ActorRef;
import akka.actor.typed.ActorRefResolver;
import akka.actor.typed.javadsl.Adapter;
import akka.serialization.SerializerWithStringManifest;
import com.google.protobuf.InvalidProtocolBufferException;
import java.io.NotSerializableException;
import java.util.Optional;
import org.softmig.proto.v1.cluster.JobUsageUpdate;
import org.softmig.proto.v1.cluster.JobViewAnswer;
import org.softmig.proto.v1.cluster.JobViewQuery;
import org.softmig.proto.v1.cluster.NodeSnapshotUpdate;
import org.softmig.proto.v1.cluster.NodeViewAnswer;
import org.softmig.proto.v1.cluster.NodeViewQuery;

/**
 * Maps the records that cross nodes ({@link ClusterMessage}) to the messages of cluster.proto
 * and back. ActorRefs travel as strings through {@link ActorRefResolver}. Bound in
 * {@link ClusterSettings#toAkkaConfig()}; nothing in softmig uses Java serialization.
 */
public final class ClusterMessageSerializer extends SerializerWithStringManifest {

  /** Akka's serializer id; ids 0 to 40 are Akka's own. */
  public static final int IDENTIFIER = 7_340_001;

  static final String NODE_UPDATE = "NU";
  static final String NODE_GET = "NG";
  static final String NODE_SNAPSHOT = "NS";
  static final String PUBLISHER_GET = "PG";
  static final String JOB_UPDATE = "JU";
  static final String JOB_GET = "JG";
  static final String JOB_PARTS = "JP";

  private final ExtendedActorSystem system;
  private volatile ActorRefResolver resolver;

  public ClusterMessageSerializer(ExtendedActorSystem system) {
    this.system = system;
  }

  @Override
  public int identifier() {
    return IDENTIFIER;
  }

  @Override
  public String manifest(Object o) {
    if (o instanceof NodeView.Update) {
      return NODE_UPDATE;
    } else if (o instanceof NodeView.Get) {
      return NODE_GET;
    } else if (o instanceof NodeView.Snapshot) {
      return NODE_SNAPSHOT;
    } else if (o instanceof NodePublisher.GetLatest) {
      return PUBLISHER_GET;
    } else if (o instanceof JobView.Update) {
      return JOB_UPDATE;
    } else if (o instanceof JobView.Get) {
      return JOB_GET;
    } else if (o instanceof JobView.Parts) {
      return JOB_PARTS;
    }
    throw new IllegalArgumentException("cannot serialize [" + o.getClass().getName() + "]");
  }

  @Override
  public byte[] toBinary(Object o) {
    if (o instanceof NodeView.Update) {
      NodeView.Update m = (NodeView.Update) o;
      return NodeSnapshotUpdate.newBuilder()
          .setStatus(m.status())
          .setFrom(refToString(m.from()))
          .build()
          .toByteArray();
    } else if (o instanceof NodeView.Get) {
      NodeView.Get m = (NodeView.Get) o;
      return NodeViewQuery.newBuilder().setReplyTo(refToString(m.replyTo())).build().toByteArray();
    } else if (o instanceof NodeView.Snapshot) {
      NodeView.Snapshot m = (NodeView.Snapshot) o;
      NodeViewAnswer.Builder b =
          NodeViewAnswer.newBuilder().setKnown(m.status().isPresent()).setAgeMs(m.ageMillis());
      m.status().ifPresent(b::setStatus);
      return b.build().toByteArray();
    } else if (o instanceof NodePublisher.GetLatest) {
      NodePublisher.GetLatest m = (NodePublisher.GetLatest) o;
      return NodeViewQuery.newBuilder().setReplyTo(refToString(m.replyTo())).build().toByteArray();
    } else if (o instanceof JobView.Update) {
      JobView.Update m = (JobView.Update) o;
      return JobUsageUpdate.newBuilder()
          .setPart(m.part())
          .setEnded(m.ended())
          .setFrom(refToString(m.from()))
          .build()
          .toByteArray();
    } else if (o instanceof JobView.Get) {
      JobView.Get m = (JobView.Get) o;
      return JobViewQuery.newBuilder().setReplyTo(refToString(m.replyTo())).build().toByteArray();
    } else if (o instanceof JobView.Parts) {
      JobView.Parts m = (JobView.Parts) o;
      return JobViewAnswer.newBuilder().addAllParts(m.parts()).build().toByteArray();
    }
    throw new IllegalArgumentException("cannot serialize [" + o.getClass().getName() + "]");
  }

  @Override
  public Object fromBinary(byte[] bytes, String manifest) throws NotSerializableException {
    try {
      switch (manifest) {
        case NODE_UPDATE:
          NodeSnapshotUpdate nodeUpdate = NodeSnapshotUpdate.parseFrom(bytes);
          return new NodeView.Update(
              nodeUpdate.getStatus(),
              this.<NodePublisher.Command>refFromString(nodeUpdate.getFrom(), "from"));
        case NODE_GET:
          return new NodeView.Get(
              this.<NodeView.Snapshot>refFromString(NodeViewQuery.parseFrom(bytes).getReplyTo()));
        case NODE_SNAPSHOT:
          NodeViewAnswer answer = NodeViewAnswer.parseFrom(bytes);
          return new NodeView.Snapshot(
              answer.getKnown() ? Optional.of(answer.getStatus()) : Optional.empty(),
              answer.getAgeMs());
        case PUBLISHER_GET:
          return new NodePublisher.GetLatest(
              this.<NodeView.Snapshot>refFromString(NodeViewQuery.parseFrom(bytes).getReplyTo()));
        case JOB_UPDATE:
          JobUsageUpdate update = JobUsageUpdate.parseFrom(bytes);
          return new JobView.Update(
              update.getPart(),
              update.getEnded(),
              this.<NodePublisher.Command>refFromString(update.getFrom(), "from"));
        case JOB_GET:
          return new JobView.Get(
              this.<JobView.Parts>refFromString(JobViewQuery.parseFrom(bytes).getReplyTo()));
        case JOB_PARTS:
          return new JobView.Parts(JobViewAnswer.parseFrom(bytes).getPartsList());
        default:
          throw new NotSerializableException(
              "unknown manifest [" + manifest + "] for " + getClass().getSimpleName());
      }
    } catch (InvalidProtocolBufferException e) {
      NotSerializableException failure =
          new NotSerializableException("corrupt message with manifest [" + manifest + "]");
      failure.initCause(e);
      throw failure;
    }
  }

  private String refToString(ActorRef<?> ref) {
    return resolver().toSerializationFormat(ref);
  }

  private <T> ActorRef<T> refFromString(String text) throws NotSerializableException {
    return refFromString(text, "reply_to");
  }

  private <T> ActorRef<T> refFromString(String text, String field)
      throws NotSerializableException {
    if (text.isEmpty()) {
      throw new NotSerializableException("message has no " + field);
    }
    return resolver().resolveActorRef(text);
  }

  private ActorRefResolver resolver() {
    ActorRefResolver r = resolver;
    if (r == null) {
      r = ActorRefResolver.get(Adapter.toTyped(system));
      resolver = r;
    }
    return r;
  }
}
