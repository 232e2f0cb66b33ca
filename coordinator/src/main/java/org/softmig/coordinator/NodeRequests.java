package org.softmig.coordinator;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.softmig.coordinator.shim.CliRequests;
import org.softmig.coordinator.shim.Frames;
import org.softmig.coordinator.shim.Peer;
import org.softmig.proto.v1.ClientFrame;
import org.softmig.proto.v1.Error;
import org.softmig.proto.v1.ServerFrame;
import org.softmig.proto.v1.StatusReply;

/** Answers CLI requests from this node's actors. */
public final class NodeRequests implements CliRequests {

  private final LocalNode node;

  public NodeRequests(LocalNode node) {
    this.node = node;
  }

  @Override
  public CompletionStage<ServerFrame> handle(ClientFrame request, Peer peer) {
    return switch (request.getBodyCase()) {
      case STATUS -> status();
      default ->
          CompletableFuture.completedFuture(
              Frames.error(
                  request.getRequestId(),
                  Error.Code.UNAVAILABLE,
                  request.getBodyCase() + " is not available yet"));
    };
  }

  private CompletionStage<ServerFrame> status() {
    return node.status()
        .thenApply(
            s -> ServerFrame.newBuilder().setStatus(StatusReply.newBuilder().addNodes(s)).build());
  }
}
