package org.softmig.bench;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.CodedOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;
import org.softmig.coordinator.Coordinator;
import org.softmig.coordinator.config.NodeSettings;
import org.softmig.coordinator.nvml.SimulatedGpus;
import org.softmig.proto.v1.ClientFrame;
import org.softmig.proto.v1.Device;
import org.softmig.proto.v1.Hello;
import org.softmig.proto.v1.MemFree;
import org.softmig.proto.v1.MemReserve;
import org.softmig.proto.v1.ProtocolConstants;
import org.softmig.proto.v1.RequestedLimits;
import org.softmig.proto.v1.ServerFrame;

/**
 * Memory round trips through a real coordinator (simulated GPUs) over its Unix socket: each
 * operation is a {@code MemReserve} answered by a {@code MemReply}, then a {@code MemFree} (no
 * reply), the way a shim allocates and frees when it holds no credit. Every client thread is a
 * session of its own job with no memory limit, so every reserve goes to the one GPU actor of GPU
 * 0, which serialises them all.
 *
 * <p>The clients run in the same JVM as the coordinator, on the same cores, and are kept lean
 * (frames encoded into a reused buffer, one blocking socket each) so that they take as little of
 * the machine from the coordinator as a shim written in C would.
 *
 * <p>{@link #sessions64}: throughput with 64 sessions always waiting on a reply. {@link
 * #loneClient}: the latency of one session alone (sampled; p50, p99 in the JMH output).
 */
@Fork(
    value = 1,
    jvmArgsAppend = {"-Xms512m", "-Xmx512m", "-DSOFTMIG_LOG_LEVEL=WARN"})
@Warmup(iterations = 3, time = 5)
@Measurement(iterations = 5, time = 5)
public class MemoryRoundTrips {

  /** The coordinator, started once per fork. */
  @State(Scope.Benchmark)
  public static class Node {
    Path dir;
    Path socket;
    String uuid;
    Coordinator coordinator;
    final AtomicInteger sessions = new AtomicInteger();

    @Setup(Level.Trial)
    public void start() throws Exception {
      dir = Files.createTempDirectory(Path.of("/tmp"), "smjmh");
      socket = dir.resolve("s.sock");
      NodeSettings settings =
          NodeSettings.of(
              Map.of(
                  "socket", socket,
                  "simulate", "48G,48G",
                  "node-name", "bench",
                  "proc-root", dir.resolve("proc"),
                  "config-dir", dir.resolve("conf")));
      SimulatedGpus gpus = SimulatedGpus.fromSpec("48G,48G");
      uuid = gpus.gpus().get(0).uuid();
      coordinator = Coordinator.start(settings, gpus);
    }

    @TearDown(Level.Trial)
    public void stop() throws IOException {
      coordinator.close();
      try (Stream<Path> files = Files.walk(dir)) {
        files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }

  /** One session: a connection that said hello for a job of its own. */
  @State(Scope.Thread)
  public static class Session {
    private static final long BYTES = 4096;
    private SocketChannel channel;
    private final ByteBuffer out = ByteBuffer.allocate(256);
    private final ByteBuffer in = ByteBuffer.allocate(1 << 16);
    private byte[] freeFrame;
    private long requestId;

    @Setup(Level.Trial)
    public void open(Node node) throws IOException {
      channel = SocketChannel.open(StandardProtocolFamily.UNIX);
      channel.connect(UnixDomainSocketAddress.of(node.socket));
      in.limit(0);
      write(
          ClientFrame.newBuilder()
              .setHello(
                  Hello.newBuilder()
                      .setProtocolVersion(ProtocolConstants.CURRENT_PROTOCOL_VERSION_VALUE)
                      .addDevices(Device.newBuilder().setUuid(node.uuid))
                      .setRequested(
                          RequestedLimits.newBuilder()
                              .setJobId("bench-" + node.sessions.incrementAndGet())))
              .build());
      ServerFrame welcome = read();
      if (!welcome.hasWelcome()) {
        throw new IllegalStateException("no welcome: " + welcome);
      }
      ClientFrame free =
          ClientFrame.newBuilder().setMemFree(MemFree.newBuilder().setBytes(BYTES)).build();
      freeFrame = delimited(free);
    }

    @TearDown(Level.Trial)
    public void close() throws IOException {
      channel.close();
    }

    /** One reserve, its reply, one free; true when the reserve was granted. */
    boolean roundTrip() throws IOException {
      long id = ++requestId;
      write(
          ClientFrame.newBuilder()
              .setRequestId(id)
              .setMemReserve(MemReserve.newBuilder().setBytes(BYTES))
              .build());
      ServerFrame reply;
      do {
        reply = read();
      } while (!(reply.hasMemReply() && reply.getRequestId() == id));
      if (!reply.getMemReply().getGranted()) {
        throw new IllegalStateException("refused: " + reply);
      }
      out.clear();
      out.put(freeFrame).flip();
      drain();
      return true;
    }

    private static byte[] delimited(ClientFrame frame) throws IOException {
      int size = frame.getSerializedSize();
      byte[] bytes = new byte[CodedOutputStream.computeUInt32SizeNoTag(size) + size];
      CodedOutputStream c = CodedOutputStream.newInstance(bytes);
      c.writeUInt32NoTag(size);
      frame.writeTo(c);
      c.checkNoSpaceLeft();
      return bytes;
    }

    private void write(ClientFrame frame) throws IOException {
      out.clear();
      CodedOutputStream c = CodedOutputStream.newInstance(out);
      c.writeUInt32NoTag(frame.getSerializedSize());
      frame.writeTo(c);
      c.flush();
      out.flip();
      drain();
    }

    private void drain() throws IOException {
      while (out.hasRemaining()) {
        channel.write(out);
      }
    }

    private ServerFrame read() throws IOException {
      int length = 0;
      for (int shift = 0; ; shift += 7) {
        fill(1);
        byte b = in.get();
        length |= (b & 0x7f) << shift;
        if (b >= 0) {
          break;
        }
        if (shift >= 28) {
          throw new IOException("malformed frame length");
        }
      }
      fill(length);
      ServerFrame frame =
          ServerFrame.parseFrom(
              CodedInputStream.newInstance(in.array(), in.arrayOffset() + in.position(), length));
      in.position(in.position() + length);
      return frame;
    }

    /** Reads until at least {@code n} bytes are buffered. */
    private void fill(int n) throws IOException {
      if (in.remaining() >= n) {
        return;
      }
      in.compact();
      while (in.position() < n) {
        if (channel.read(in) < 0) {
          throw new EOFException("the coordinator closed the connection");
        }
      }
      in.flip();
    }
  }

  /** 64 sessions, each always waiting on its reply: round trips per second. */
  @Benchmark
  @Threads(64)
  @BenchmarkMode(Mode.Throughput)
  @OutputTimeUnit(TimeUnit.SECONDS)
  public boolean sessions64(Session session) throws IOException {
    return session.roundTrip();
  }

  /** One session alone: the time of a round trip (sampled: p50, p99). */
  @Benchmark
  @Threads(1)
  @BenchmarkMode(Mode.SampleTime)
  @OutputTimeUnit(TimeUnit.MICROSECONDS)
  public boolean loneClient(Session session) throws IOException {
    return session.roundTrip();
  }
}
