package org.softmig.coordinator.shim;

import java.util.concurrent.CompletionStage;
import org.softmig.proto.v1.ClientFrame;
import org.softmig.proto.v1.ServerFrame;

/** Answers the one request of a CLI connection (status, place, release, report). */
public interface CliRequests {

  /**
   * Answers a request. The reply's request id is set by the caller; a failed stage becomes an
   * {@code Error{INTERNAL}}.
   */
  CompletionStage<ServerFrame> handle(ClientFrame request, Peer peer);
}
