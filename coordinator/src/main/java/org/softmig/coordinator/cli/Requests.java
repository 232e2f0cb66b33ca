package org.softmig.coordinator.cli;

import java.io.IOException;
import java.nio.file.Path;
import org.softmig.proto.v1.ClientFrame;
import org.softmig.proto.v1.ServerFrame;

/** Sends one CLI request and turns an Error reply into a {@link CliFailure}. */
final class Requests {

  private Requests() {}

  static ServerFrame call(Path socket, ClientFrame request) throws IOException {
    ServerFrame reply = SocketClient.request(socket, request);
    if (reply.hasError()) {
      throw new CliFailure(
          reply.getError().getCode() + ": " + reply.getError().getMessage());
    }
    return reply;
  }
}
