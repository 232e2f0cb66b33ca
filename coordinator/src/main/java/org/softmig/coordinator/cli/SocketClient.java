package org.softmig.coordinator.cli;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import org.softmig.proto.v1.ClientFrame;
import org.softmig.proto.v1.ServerFrame;

/**
 * A blocking connection to a coordinator's socket: varint32-framed protobuf, as a shim or the CLI
 * speaks it. Not thread-safe.
 */
public final class SocketClient implements AutoCloseable {

  private final SocketChannel channel;
  private final InputStream in;
  private final OutputStream out;

  private SocketClient(SocketChannel channel) {
    this.channel = channel;
    this.in = new BufferedInputStream(Channels.newInputStream(channel));
    this.out = new BufferedOutputStream(Channels.newOutputStream(channel));
  }

  /**
   * Connects.
   *
   * @throws IOException saying which socket could not be reached
   */
  public static SocketClient connect(Path socket) throws IOException {
    SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
    try {
      ch.connect(UnixDomainSocketAddress.of(socket));
    } catch (IOException e) {
      ch.close();
      throw new IOException(
          "cannot reach the coordinator at " + socket + " (" + e.getMessage()
              + "); is it running? Use --socket to name another socket", e);
    }
    return new SocketClient(ch);
  }

  /** Sends one frame and flushes. */
  public void send(ClientFrame frame) throws IOException {
    frame.writeDelimitedTo(out);
    out.flush();
  }

  /** Writes bytes as they are (for tests of malformed input). */
  public void sendRaw(byte[] bytes) throws IOException {
    out.write(bytes);
    out.flush();
  }

  /**
   * Reads the next frame.
   *
   * @throws EOFException when the coordinator closed the connection
   */
  public ServerFrame receive() throws IOException {
    ServerFrame frame = ServerFrame.parseDelimitedFrom(in);
    if (frame == null) {
      throw new EOFException("the coordinator closed the connection");
    }
    return frame;
  }

  /** Sends a request and reads one reply. */
  public ServerFrame call(ClientFrame frame) throws IOException {
    send(frame);
    return receive();
  }

  /** One request on a fresh connection. */
  public static ServerFrame request(Path socket, ClientFrame frame) throws IOException {
    try (SocketClient client = connect(socket)) {
      return client.call(frame);
    }
  }

  @Override
  public void close() throws IOException {
    channel.close();
  }
}
