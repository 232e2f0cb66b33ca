package org.softmig.coordinator.it;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

/**
 * A hand-written client of the coordinator's socket, with nothing but the JDK, so that it can run
 * as another user from a copy of this one class. It reads commands from stdin, one per line, and
 * answers each with one line on stdout:
 *
 * <pre>
 *   open NAME                 connect          -> ok | error MESSAGE
 *   send NAME HEX             write the bytes  -> ok | error MESSAGE
 *   frame NAME                read one varint32-delimited frame -> frame HEX | eof
 *   close NAME                                 -> ok
 *   openmany N                connect N times (named m0..m(N-1)) -> opened K
 *   sendeach HEX              to every mK, send the bytes and read one frame
 *                             -> replies HEX1,HEX2,... (eof for none)
 *   flood N C HEX[,HEX...]    N connections, C at a time, each sending the next of the HEXes,
 *                             reading one frame and the end -> flood errors E welcomes W other O
 *                             eof F failed X ms T
 *   listen PATH               listen on a socket of this user's own -> ok
 *   accepted                  connections made to it so far (each accepted and closed)
 *                             -> accepted K
 * </pre>
 *
 * The frames are built and read by the test (protobuf); this client only moves bytes.
 */
public final class RawClient {

  private final UnixDomainSocketAddress address;
  private final Map<String, SocketChannel> open = new HashMap<>();
  private final List<SocketChannel> many = new ArrayList<>();
  private ServerSocketChannel listener;
  private int accepted;

  private RawClient(String socket) {
    this.address = UnixDomainSocketAddress.of(socket);
  }

  public static void main(String[] args) throws IOException {
    RawClient client = new RawClient(args[0]);
    PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    while ((line = in.readLine()) != null) {
      if (line.isBlank()) {
        continue;
      }
      String[] w = line.trim().split(" ");
      try {
        out.println(client.execute(w));
      } catch (IOException | RuntimeException e) {
        out.println("error " + e.getClass().getSimpleName() + ": " + e.getMessage());
      }
    }
  }

  private String execute(String[] w) throws IOException {
    switch (w[0]) {
      case "open" -> {
        open.put(w[1], SocketChannel.open(address));
        return "ok";
      }
      case "send" -> {
        write(channel(w[1]), HexFormat.of().parseHex(w[2]));
        return "ok";
      }
      case "frame" -> {
        byte[] f = readFrame(channel(w[1]));
        return f == null ? "eof" : "frame " + HexFormat.of().formatHex(f);
      }
      case "close" -> {
        SocketChannel ch = open.remove(w[1]);
        if (ch != null) {
          ch.close();
        }
        return "ok";
      }
      case "openmany" -> {
        int n = Integer.parseInt(w[1]);
        for (int i = 0; i < n; i++) {
          many.add(SocketChannel.open(address));
        }
        return "opened " + many.size();
      }
      case "sendeach" -> {
        byte[] bytes = HexFormat.of().parseHex(w[1]);
        StringBuilder replies = new StringBuilder("replies ");
        for (int i = 0; i < many.size(); i++) {
          SocketChannel ch = many.get(i);
          try {
            write(ch, bytes);
          } catch (IOException e) {
            // a refused connection may be closed already; its reply is still there to read
          }
          byte[] f = readFrame(ch);
          replies.append(i == 0 ? "" : ",").append(f == null ? "eof" : HexFormat.of().formatHex(f));
        }
        for (SocketChannel ch : many) {
          ch.close();
        }
        many.clear();
        return replies.toString();
      }
      case "flood" -> {
        return flood(Integer.parseInt(w[1]), Integer.parseInt(w[2]), w[3].split(","));
      }
      case "listen" -> {
        listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        listener.bind(UnixDomainSocketAddress.of(w[1]));
        listener.configureBlocking(false);
        return "ok";
      }
      case "accepted" -> {
        SocketChannel ch;
        while ((ch = listener.accept()) != null) {
          accepted++;
          ch.close();
        }
        return "accepted " + accepted;
      }
      default -> throw new IllegalArgumentException("unknown command " + w[0]);
    }
  }

  /**
   * Many connections, each a request and its answer: counts answers by their first field (the
   * ServerFrame's {@code error} is field 2, {@code welcome} field 10).
   */
  private String flood(int n, int concurrency, String[] hexes) throws IOException {
    byte[][] requests = new byte[hexes.length][];
    for (int i = 0; i < hexes.length; i++) {
      requests[i] = HexFormat.of().parseHex(hexes[i]);
    }
    java.util.concurrent.atomic.AtomicInteger next = new java.util.concurrent.atomic.AtomicInteger();
    java.util.concurrent.atomic.AtomicIntegerArray counts =
        new java.util.concurrent.atomic.AtomicIntegerArray(5); // error welcome other eof failed
    long start = System.nanoTime();
    List<Thread> workers = new ArrayList<>();
    for (int t = 0; t < concurrency; t++) {
      Thread worker =
          new Thread(
              () -> {
                int i;
                while ((i = next.getAndIncrement()) < n) {
                  try (SocketChannel ch = SocketChannel.open(address)) {
                    write(ch, requests[i % requests.length]);
                    byte[] f = readFrame(ch);
                    if (f == null) {
                      counts.incrementAndGet(3);
                    } else if (f.length > 0 && (f[0] & 0xff) == 0x12) {
                      counts.incrementAndGet(0);
                      while (readFrame(ch) != null) {
                        // an error closes the connection: read to its end
                      }
                    } else if (f.length > 0 && (f[0] & 0xff) == 0x52) {
                      counts.incrementAndGet(1);
                    } else {
                      counts.incrementAndGet(2);
                    }
                  } catch (IOException e) {
                    counts.incrementAndGet(4);
                  }
                }
              });
      worker.start();
      workers.add(worker);
    }
    for (Thread w : workers) {
      try {
        w.join();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IOException("interrupted");
      }
    }
    return "flood errors " + counts.get(0) + " welcomes " + counts.get(1) + " other " + counts.get(2)
        + " eof " + counts.get(3) + " failed " + counts.get(4) + " ms "
        + (System.nanoTime() - start) / 1_000_000;
  }

  private SocketChannel channel(String name) {
    SocketChannel ch = open.get(name);
    if (ch == null) {
      throw new IllegalArgumentException("no connection " + name);
    }
    return ch;
  }

  private static void write(SocketChannel ch, byte[] bytes) throws IOException {
    ByteBuffer b = ByteBuffer.wrap(bytes);
    while (b.hasRemaining()) {
      ch.write(b);
    }
  }

  /** One varint32-delimited frame, or null at the end of the stream. */
  private static byte[] readFrame(SocketChannel ch) throws IOException {
    int length = 0;
    for (int shift = 0; ; shift += 7) {
      int b = readByte(ch);
      if (b < 0) {
        return null;
      }
      length |= (b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        break;
      }
      if (shift >= 28) {
        throw new IOException("length prefix is not a varint32");
      }
    }
    ByteBuffer frame = ByteBuffer.allocate(length);
    while (frame.hasRemaining()) {
      if (ch.read(frame) < 0) {
        return null;
      }
    }
    return frame.array();
  }

  private static int readByte(SocketChannel ch) throws IOException {
    ByteBuffer one = ByteBuffer.allocate(1);
    int n;
    try {
      n = ch.read(one);
    } catch (IOException e) {
      return -1; // reset by the peer: the end of this stream
    }
    while (n == 0) {
      n = ch.read(one);
    }
    return n < 0 ? -1 : one.get(0) & 0xff;
  }
}
