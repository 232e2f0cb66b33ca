package org.softmig.coordinator.cluster;

import akka.actor.Cancellable;
import akka.actor.typed.ActorSystem;
import com.sun.jna.Library;
import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Closes inbound connections to the cluster port that say nothing: one that has sent no byte
 * {@code silentTimeout} after it was accepted (a peer's TLS handshake comes at once), and one
 * that has received nothing for {@code idleTimeout} (members stop their idle outbound streams
 * after half of it, and the control stream carries a handshake every second). Akka's own
 * listener has no such timeout, so this runs beside it: every second it finds the process's
 * sockets accepted on the cluster port ({@code /proc/self/net/tcp*}, {@code /proc/self/fd}),
 * reads the kernel's {@code TCP_INFO} of each and shuts down ({@code shutdown(2)}, the
 * descriptor stays Akka's to close) those past their time. Linux only; elsewhere it does
 * nothing.
 */
final class InboundConnectionSweeper {

  private static final Logger log = LoggerFactory.getLogger(InboundConnectionSweeper.class);

  /** What the kernel says of one connection. */
  record TcpInfo(long millisSinceLastReceive, Optional<Long> bytesReceived) {}

  /** Whether a connection has said nothing for too long. */
  static boolean silentTooLong(TcpInfo info, ClusterSettings.Limits limits) {
    if (info.millisSinceLastReceive() >= limits.idleTimeout().toMillis()) {
      return true;
    }
    return info.bytesReceived().map(b -> b == 0).orElse(false)
        && info.millisSinceLastReceive() >= limits.silentTimeout().toMillis();
  }

  /**
   * The socket inodes of {@code /proc/net/tcp} or {@code tcp6} text whose local port is {@code
   * port} and that are not listening: the connections accepted on that port.
   */
  static Set<Long> acceptedOn(int port, List<String> procNetTcpLines) {
    Set<Long> inodes = new HashSet<>();
    for (String line : procNetTcpLines) {
      String[] f = line.trim().split("\\s+");
      if (f.length < 10 || !f[0].endsWith(":")) {
        continue; // the header, or a line we do not understand
      }
      int colon = f[1].lastIndexOf(':');
      if (colon < 0 || "0A".equals(f[3])) {
        continue; // 0A: LISTEN
      }
      try {
        if (Integer.parseInt(f[1].substring(colon + 1), 16) == port) {
          inodes.add(Long.parseLong(f[9]));
        }
      } catch (NumberFormatException e) {
        // not a connection line
      }
    }
    inodes.remove(0L);
    return inodes;
  }

  /** The libc calls used here. */
  interface LibC extends Library {
    int getsockopt(int fd, int level, int optname, Pointer optval, IntByReference optlen);

    int shutdown(int fd, int how);
  }

  private static final int IPPROTO_TCP = 6;
  private static final int TCP_INFO = 11;
  private static final int SHUT_RDWR = 2;
  private static final int TCP_INFO_SIZE = 256;
  /** Offsets in struct tcp_info (linux/tcp.h): tcpi_last_data_recv, tcpi_bytes_received. */
  private static final int LAST_DATA_RECV = 52;

  private static final int BYTES_RECEIVED = 128;

  private final int port;
  private final ClusterSettings.Limits limits;
  private final LibC libc;
  private final Path proc;
  private final AtomicLong closed = new AtomicLong();

  private InboundConnectionSweeper(int port, ClusterSettings.Limits limits, LibC libc, Path proc) {
    this.port = port;
    this.limits = limits;
    this.libc = libc;
    this.proc = proc;
  }

  /**
   * Sweeps the connections accepted on the system's cluster port every second (or every half of
   * the silent timeout when that is shorter) until the system terminates.
   */
  static void start(ActorSystem<?> system, ClusterSettings.Limits limits) {
    Path proc = Path.of("/proc/self");
    if (!Files.isDirectory(proc.resolve("fd")) || system.address().getPort().isEmpty()) {
      log.warn("No /proc/self/fd: idle cluster connections are not timed out on this system");
      return;
    }
    LibC libc;
    try {
      libc = Native.load("c", LibC.class);
    } catch (UnsatisfiedLinkError e) {
      log.warn("libc not loadable ({}): idle cluster connections are not timed out", e.toString());
      return;
    }
    InboundConnectionSweeper sweeper =
        new InboundConnectionSweeper(system.address().getPort().get(), limits, libc, proc);
    Duration every = Duration.ofSeconds(1);
    if (limits.silentTimeout().dividedBy(2).compareTo(every) < 0) {
      every = limits.silentTimeout().dividedBy(2);
    }
    Cancellable task =
        system
            .scheduler()
            .scheduleWithFixedDelay(every, every, sweeper::sweepQuietly, system.executionContext());
    system.getWhenTerminated().thenRun(task::cancel);
  }

  private void sweepQuietly() {
    try {
      sweep();
    } catch (RuntimeException | IOException e) {
      log.debug("Sweep of cluster connections failed: {}", e.toString());
    }
  }

  void sweep() throws IOException {
    Set<Long> inodes = new HashSet<>();
    for (String table : List.of("net/tcp", "net/tcp6")) {
      Path file = proc.resolve(table);
      if (Files.isReadable(file)) {
        inodes.addAll(acceptedOn(port, Files.readAllLines(file)));
      }
    }
    if (inodes.isEmpty()) {
      return;
    }
    try (DirectoryStream<Path> fds = Files.newDirectoryStream(proc.resolve("fd"))) {
      for (Path fd : fds) {
        Optional<Long> inode = socketInode(fd);
        if (inode.isEmpty() || !inodes.contains(inode.get())) {
          continue;
        }
        int number = Integer.parseInt(fd.getFileName().toString());
        Optional<TcpInfo> info = tcpInfo(number);
        // check the descriptor again just before: it must still be the same socket
        if (info.isPresent() && silentTooLong(info.get(), limits) && socketInode(fd).equals(inode)) {
          libc.shutdown(number, SHUT_RDWR);
          long n = closed.incrementAndGet();
          if (n == 1 || n % 1000 == 0) {
            log.warn(
                "Closed a silent connection to the cluster port {} ({} so far): nothing received"
                    + " for {} ms",
                port,
                n,
                info.get().millisSinceLastReceive());
          }
        }
      }
    }
  }

  private static Optional<Long> socketInode(Path fd) {
    try {
      String link = Files.readSymbolicLink(fd).toString();
      if (link.startsWith("socket:[") && link.endsWith("]")) {
        return Optional.of(Long.parseLong(link.substring(8, link.length() - 1)));
      }
    } catch (IOException | NumberFormatException e) {
      // closed meanwhile, or not a socket
    }
    return Optional.empty();
  }

  private Optional<TcpInfo> tcpInfo(int fd) {
    Memory buffer = new Memory(TCP_INFO_SIZE);
    buffer.clear();
    IntByReference length = new IntByReference(TCP_INFO_SIZE);
    if (libc.getsockopt(fd, IPPROTO_TCP, TCP_INFO, buffer, length) != 0
        || length.getValue() < LAST_DATA_RECV + 4) {
      return Optional.empty();
    }
    long lastReceive = Integer.toUnsignedLong(buffer.getInt(LAST_DATA_RECV));
    Optional<Long> bytes =
        length.getValue() >= BYTES_RECEIVED + 8
            ? Optional.of(buffer.getLong(BYTES_RECEIVED))
            : Optional.empty();
    return Optional.of(new TcpInfo(lastReceive, bytes));
  }

  long closed() {
    return closed.get();
  }
}
