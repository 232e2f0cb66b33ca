package org.softmig.coordinator.shim;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.channel.unix.PeerCredentials;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The node's Unix socket for shims and the CLI: Netty over epoll (domain sockets with peer
 * credentials). Creates the socket's directory, replaces a stale socket file, refuses to start if
 * another coordinator answers on it, and makes the socket mode 0666.
 */
public final class ShimServer implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(ShimServer.class);

  private final Path socket;
  private final EventLoopGroup group; // null when the server does not own it
  private final Channel server;

  private ShimServer(Path socket, EventLoopGroup group, Channel server) {
    this.socket = socket;
    this.group = group;
    this.server = server;
  }

  /**
   * Binds the socket.
   *
   * @param threads event-loop threads
   * @param services what the services need; its peer reader is replaced by SO_PEERCRED
   */
  public static ShimServer start(Path socket, int threads, ShimServices services)
      throws IOException, InterruptedException {
    checkEpoll();
    return start(
        socket, new MultiThreadIoEventLoopGroup(threads, EpollIoHandler.newFactory()), true, services);
  }

  /**
   * Binds the socket on {@code group} (the coordinator's {@link ShimLoop}); closing the server
   * leaves the group running.
   */
  public static ShimServer start(Path socket, EventLoopGroup group, ShimServices services)
      throws IOException, InterruptedException {
    return start(socket, group, false, services);
  }

  private static ShimServer start(
      Path socket, EventLoopGroup group, boolean ownsGroup, ShimServices services)
      throws IOException, InterruptedException {
    try {
      return bind(socket, group, ownsGroup, services);
    } catch (IOException | RuntimeException | InterruptedException e) {
      if (ownsGroup) {
        group.shutdownGracefully();
      }
      throw e;
    }
  }

  private static ShimServer bind(
      Path socket, EventLoopGroup group, boolean ownsGroup, ShimServices services)
      throws IOException, InterruptedException {
    checkEpoll();
    if (socket.toString().getBytes().length > 100) {
      throw new IOException("socket path " + socket + " is too long for a Unix socket (max ~100 bytes)");
    }
    Path dir = socket.toAbsolutePath().getParent();
    if (dir != null) {
      Files.createDirectories(dir);
    }
    if (Files.exists(socket, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
      if (answers(socket)) {
        throw new IOException("another coordinator is already listening on " + socket);
      }
      Files.delete(socket);
    }
    ShimServices withPeers = services.withPeers(ShimServer::peerOf);
    Channel server =
        new ServerBootstrap()
            .group(group)
            .channel(EpollServerDomainSocketChannel.class)
            .option(ChannelOption.SO_BACKLOG, 1024)
            .childHandler(new ShimChannelInitializer(withPeers))
            .bind(new DomainSocketAddress(socket.toString()))
            .sync()
            .channel();
    Files.setPosixFilePermissions(socket, PosixFilePermissions.fromString("rw-rw-rw-"));
    log.info("Listening on [{}]", socket);
    return new ShimServer(socket, ownsGroup ? group : null, server);
  }

  private static void checkEpoll() throws IOException {
    if (!Epoll.isAvailable()) {
      throw new IOException(
          "native epoll transport is not available (Linux x86_64 or aarch64 needed): "
              + Epoll.unavailabilityCause());
    }
  }

  private static boolean answers(Path socket) {
    try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      ch.connect(UnixDomainSocketAddress.of(socket));
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  static Peer peerOf(Channel channel) {
    if (channel instanceof EpollDomainSocketChannel ch) {
      try {
        PeerCredentials c = ch.peerCredentials();
        return new Peer(c.pid(), c.uid(), c.gids().length > 0 ? c.gids()[0] : -1);
      } catch (IOException e) {
        log.warn("Cannot read peer credentials", e);
      }
    }
    return Peer.UNKNOWN;
  }

  public Path socket() {
    return socket;
  }

  @Override
  public void close() {
    server.close().awaitUninterruptibly();
    if (group != null) {
      group.shutdownGracefully(0, 2, java.util.concurrent.TimeUnit.SECONDS).awaitUninterruptibly();
    }
    try {
      Files.deleteIfExists(socket);
    } catch (IOException e) {
      log.warn("Cannot remove socket [{}]: {}", socket, e.getMessage());
    }
  }
}
