package org.softmig.coordinator;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.softmig.coordinator.cli.SocketClient;
import org.softmig.proto.v1.ClientFrame;
import org.softmig.proto.v1.CreditReturn;
import org.softmig.proto.v1.Device;
import org.softmig.proto.v1.Hello;
import org.softmig.proto.v1.MemFree;
import org.softmig.proto.v1.MemReport;
import org.softmig.proto.v1.MemReserve;
import org.softmig.proto.v1.ProtocolConstants;
import org.softmig.proto.v1.RequestedLimits;
import org.softmig.proto.v1.ServerFrame;
import org.softmig.proto.v1.Welcome;

/** A process's side of a session, as the shim speaks it, for tests. */
final class TestShim implements AutoCloseable {

  final SocketClient client;
  final List<ServerFrame> unsolicited = new ArrayList<>();
  Welcome welcome;
  private long nextRequest = 1;

  private TestShim(SocketClient client) {
    this.client = client;
  }

  static TestShim connect(Path socket, String jobId, long memoryLimit, String... uuids)
      throws IOException {
    TestShim shim = new TestShim(SocketClient.connect(socket));
    Hello.Builder hello =
        Hello.newBuilder()
            .setProtocolVersion(ProtocolConstants.CURRENT_PROTOCOL_VERSION_VALUE)
            .setPid((int) ProcessHandle.current().pid())
            .setRequested(
                RequestedLimits.newBuilder().setJobId(jobId).setMemoryLimitBytes(memoryLimit));
    for (int i = 0; i < uuids.length; i++) {
      hello.addDevices(Device.newBuilder().setUuid(uuids[i]).setOrdinal(i));
    }
    shim.client.send(ClientFrame.newBuilder().setHello(hello).build());
    ServerFrame first = shim.client.receive();
    if (!first.hasWelcome()) {
      throw new IOException("expected Welcome, got " + first);
    }
    shim.welcome = first.getWelcome();
    return shim;
  }

  /** Sends a reserve and returns its reply; other frames are kept in {@link #unsolicited}. */
  ServerFrame reserve(int device, long bytes) throws IOException {
    long id = nextRequest++;
    client.send(
        ClientFrame.newBuilder()
            .setRequestId(id)
            .setMemReserve(MemReserve.newBuilder().setDeviceIndex(device).setBytes(bytes))
            .build());
    return replyTo(id);
  }

  long sendReserve(int device, long bytes) throws IOException {
    long id = nextRequest++;
    client.send(
        ClientFrame.newBuilder()
            .setRequestId(id)
            .setMemReserve(MemReserve.newBuilder().setDeviceIndex(device).setBytes(bytes))
            .build());
    return id;
  }

  ServerFrame replyTo(long id) throws IOException {
    while (true) {
      ServerFrame f = client.receive();
      if (f.getRequestId() == id) {
        return f;
      }
      unsolicited.add(f);
    }
  }

  /** The next frame the coordinator starts (credit, lease), skipping nothing. */
  ServerFrame nextUnsolicited() throws IOException {
    if (!unsolicited.isEmpty()) {
      return unsolicited.remove(0);
    }
    return client.receive();
  }

  void free(int device, long bytes) throws IOException {
    client.send(
        ClientFrame.newBuilder()
            .setMemFree(MemFree.newBuilder().setDeviceIndex(device).setBytes(bytes))
            .build());
  }

  /** What a version 2 shim does on a revoke: reports what it took locally (deltas), then returns. */
  void creditReturn(int device, long epoch, long used) throws IOException {
    report(device, epoch, used, 0);
    client.send(
        ClientFrame.newBuilder()
            .setCreditReturn(CreditReturn.newBuilder().setDeviceIndex(device).setEpoch(epoch))
            .build());
  }

  /** A MemReport of deltas decided locally (no reply wanted). */
  void report(int device, long epoch, long taken, long freed) throws IOException {
    client.send(
        ClientFrame.newBuilder()
            .setMemReport(
                MemReport.newBuilder()
                    .setDeviceIndex(device)
                    .setCreditEpoch(epoch)
                    .setTakenBytes(taken)
                    .setFreedBytes(freed)
                    .setPeakBytes(taken))
            .build());
  }

  @Override
  public void close() throws IOException {
    client.close();
  }
}
