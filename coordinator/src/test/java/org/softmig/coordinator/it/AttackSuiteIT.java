package org.softmig.coordinator.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;
import static org.softmig.coordinator.it.ShimRig.GIB;
import static org.softmig.coordinator.it.ShimRig.MIB;

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.softmig.coordinator.nvml.GpuInfo;
import org.softmig.coordinator.nvml.SimulatedGpus;
import org.softmig.coordinator.shim.ConnectionLimits;
import org.softmig.proto.v1.ClientFrame;
import org.softmig.proto.v1.Device;
import org.softmig.proto.v1.Error;
import org.softmig.proto.v1.GpuStatus;
import org.softmig.proto.v1.Hello;
import org.softmig.proto.v1.Holding;
import org.softmig.proto.v1.JobStatus;
import org.softmig.proto.v1.PlaceRequest;
import org.softmig.proto.v1.ReleaseRequest;
import org.softmig.proto.v1.RequestedLimits;
import org.softmig.proto.v1.ServerFrame;
import org.softmig.proto.v1.StatusRequest;

/**
 * The attacks of issue 10 that a local user can make on a node, against a real coordinator
 * process (two simulated 8 GiB GPUs) and the shim on the fake driver. The attacker is an
 * unprivileged user ({@link Users}): a hand-written client speaking the protocol ({@link
 * RawClient}) or CUDA programs under the shim with an environment of its choosing. Every attack
 * must fail with a clear answer to the attacker and change nothing for anyone else; after every
 * attack the coordinator still serves. Assertions are on error codes, allocation results and
 * status, never on log text.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class AttackSuiteIT {

  private static final String NAME = "ATK" + ProcessHandle.current().pid();
  private static final String SPEC = NAME + ":8G," + NAME + ":8G";

  private ShimRig rig;
  private Users users;
  private List<String> uuids;
  // what a test started, undone after it whether it passed or not
  private final List<Raw> clients = new ArrayList<>();
  private final List<ShimRig.Shell> shells = new ArrayList<>();
  private final List<String> placements = new ArrayList<>();

  @BeforeAll
  void start() throws Exception {
    assumeTrue(ShimRig.nativeBuilt(), "native-shim/build is not built");
    users = Users.prepare();
    rig = new ShimRig(SPEC);
    // the socket's folder must be reachable by the other users (the socket itself is 0666)
    Files.setPosixFilePermissions(rig.socket().getParent(), PosixFilePermissions.fromString("rwxr-xr-x"));
    rig.startCoordinatorProcess();
    uuids = SimulatedGpus.fromSpec(SPEC).gpus().stream().map(GpuInfo::uuid).toList();
  }

  @AfterEach
  void theCoordinatorStillServes() throws Exception {
    for (Raw c : clients) {
      c.close();
    }
    clients.clear();
    for (ShimRig.Shell s : shells) {
      s.process.destroyForcibly();
      s.process.waitFor(10, TimeUnit.SECONDS);
    }
    shells.clear();
    for (String job : placements) {
      release(job);
    }
    placements.clear();
    if (rig != null) {
      assertThat(rig.status().getNodes(0).getGpusCount()).isEqualTo(2);
    }
  }

  @AfterAll
  void stop() {
    if (rig != null) {
      rig.close();
    }
  }

  // ------------------------------------------------------------------ attacks

  /**
   * Hellos asking for an SM limit of -1, NaN, 1e308 or infinity, or 2^64-1 bytes, for the whole
   * job or one ordinal: each gets INVALID_ARGUMENT and the connection closes; no job is left.
   */
  @Test
  void invalidLimitsGetAnErrorAndLeaveNoJob() throws Exception {
    List<RequestedLimits.Builder> bad =
        List.of(
            limits("phantom-0").setSmLimitPercent(-1),
            limits("phantom-1").setSmLimitPercent(Double.NaN),
            limits("phantom-2").setSmLimitPercent(1e308),
            limits("phantom-3").setSmLimitPercent(Double.POSITIVE_INFINITY),
            limits("phantom-4").setMemoryLimitBytes(-1L), // 2^64-1 on the wire
            limits("phantom-5").putSmLimitPercentByOrdinal(0, Double.NaN),
            limits("phantom-6").putMemoryLimitBytesByOrdinal(0, -1L));
    Raw attacker = raw(users.attacker());
    for (int i = 0; i < bad.size(); i++) {
      String c = "c" + i;
      attacker.open(c);
      attacker.send(c, hello(bad.get(i), false, 0));
      ServerFrame reply = attacker.frame(c);
      assertThat(reply).as("reply to %s", bad.get(i)).isNotNull();
      assertThat(reply.hasWelcome()).isFalse();
      assertThat(reply.getError().getCode()).isEqualTo(Error.Code.INVALID_ARGUMENT);
      assertThat(attacker.frame(c)).as("closed after the error").isNull();
    }
    assertThat(jobs()).noneMatch(j -> j.getJobId().startsWith("phantom-"));
  }

  /**
   * A flood of invalid Hellos from one user (2,000 here; scripts/bench-flood.sh sends 10,000 and
   * measures): every one refused, no job left behind, the coordinator serving throughout.
   */
  @Test
  void aFloodOfInvalidHellosLeavesNoJob() throws Exception {
    List<String> hellos = new ArrayList<>();
    hellos.add(hex(hello(limits("flood-0").setSmLimitPercent(-1), false, 0)));
    hellos.add(hex(hello(limits("flood-1").setSmLimitPercent(Double.NaN), false, 0)));
    hellos.add(hex(hello(limits("flood-2").setSmLimitPercent(1e308), false, 0)));
    hellos.add(hex(hello(limits("flood-3").setMemoryLimitBytes(-1L), false, 0)));
    Raw attacker = raw(users.attacker());
    String result = attacker.cmd("flood 2000 16 " + String.join(",", hellos), 300);
    assertThat(result).startsWith("flood errors 2000 welcomes 0 other 0 eof 0 failed 0 ");
    assertThat(jobs()).noneMatch(j -> j.getJobId().startsWith("flood-"));
  }

  /**
   * A reconnect Hello of a job asking for 1 GiB that claims 48 GiB held on an 8 GiB GPU: at most
   * its limit counts against the card, the rest is clamped (shown in status), and jobs with admin
   * files of 1 GiB and 6 GiB still get all of theirs. (On real GPUs a claim is also held to what
   * NVML measures for the process; the simulated GPUs measure nothing.)
   */
  @Test
  void anInflatedReconnectClaimTakesNothingFromOtherJobs() throws Exception {
    Raw attacker = raw(users.attacker());
    attacker.open("greedy");
    attacker.send("greedy", hello(limits("greedy").setMemoryLimitBytes(GIB), true, 48 * GIB));
    ServerFrame reply = attacker.frame("greedy");
    assertThat(reply).isNotNull();

    writeJobFile("7301", "CUDA_DEVICE_MEMORY_LIMIT=1G\n");
    writeJobFile("7303", "CUDA_DEVICE_MEMORY_LIMIT=6G\n");
    ShimRig.Shell small = shell(users.victim(), Map.of("SOFTMIG_JOB_ID", "7301"));
    ShimRig.Shell large = shell(users.victim(), Map.of("SOFTMIG_JOB_ID", "7303"));
    assertThat(small.alloc("alloc", 512 * MIB)).as(rig.shimLog()).isZero();
    assertThat(large.alloc("alloc", 6 * GIB)).as(rig.shimLog()).isZero();

    if (reply.hasWelcome()) {
      JobStatus greedy = job(0, "greedy");
      assertThat(greedy.getMemoryClampedBytes()).isGreaterThanOrEqualTo(47 * GIB);
      assertThat(greedy.getMemoryOverLimit()).isTrue();
    } else {
      assertThat(reply.getError().getCode()).isNotEqualTo(Error.Code.INTERNAL);
    }
    // a job's only process holds a credit and reports what it took a moment later
    await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
      assertThat(job(0, "7301").getMemoryUsedBytes()).isEqualTo(512 * MIB);
      assertThat(job(0, "7303").getMemoryUsedBytes()).isEqualTo(6 * GIB);
    });
    small.exit();
    large.exit();
  }

  /**
   * Another user's job cannot be joined: a Hello naming it is refused with PERMISSION_DENIED, and
   * a CUDA process naming it gets no memory; the job's limit, user and memory stay as they were.
   */
  @Test
  void anotherUsersJobCannotBeJoined() throws Exception {
    assumeTrue(users.root(), "needs two users: run the tests as root");
    ShimRig.Shell victim =
        shell(users.victim(), Map.of("SOFTMIG_JOB_ID", "victim-job", "CUDA_DEVICE_MEMORY_LIMIT", "1G"));
    assertThat(victim.alloc("alloc", 600 * MIB)).as(rig.shimLog()).isZero();

    Raw attacker = raw(users.attacker());
    attacker.open("join");
    attacker.send("join", hello(limits("victim-job").setMemoryLimitBytes(MIB), false, 0));
    ServerFrame reply = attacker.frame("join");
    assertThat(reply.getError().getCode()).isEqualTo(Error.Code.PERMISSION_DENIED);
    assertThat(attacker.frame("join")).isNull();

    assertThat(granted(users.attacker(), Map.of("SOFTMIG_JOB_ID", "victim-job", "CUDA_DEVICE_MEMORY_LIMIT", "8G")))
        .as("the intruder's allocations")
        .isZero();

    JobStatus job = job(0, "victim-job");
    assertThat(job.getMemoryLimitBytes()).isEqualTo(GIB);
    assertThat(job.getUser()).isEqualTo(Users.VICTIM);
    assertThat(job.getMemoryUsedBytes()).isEqualTo(600 * MIB);
    assertThat(victim.alloc("alloc", 300 * MIB)).isZero();
    victim.exit();
  }

  /**
   * A job placed on one GPU that points CUDA_VISIBLE_DEVICES at the other gets nothing there,
   * whether its limits come from the placement or from a config file.
   */
  @Test
  void aPlacedJobGetsNothingOnAnotherGpu() throws Exception {
    for (String job : List.of("7601", "7602")) {
      ServerFrame placed = place(job, GIB, 50, users.attacker().name());
      assertThat(placed.hasPlace()).as("%s", placed).isTrue();
      int other = 1 - placed.getPlace().getGpuIndex();
      if (job.equals("7602")) {
        writeJobFile(job, "CUDA_DEVICE_MEMORY_LIMIT=1G\nCUDA_DEVICE_SM_LIMIT=50\n");
      }
      assertThat(
              granted(
                  users.attacker(),
                  Map.of("SOFTMIG_JOB_ID", job, "CUDA_VISIBLE_DEVICES", Integer.toString(other))))
          .as("job %s on the other GPU", job)
          .isZero();
      assertThat(jobOn(other, job).map(JobStatus::getMemoryUsedBytes).orElse(0L)).isZero();
    }
  }

  /**
   * On a GPU that holds a slice, a job without an admin source of limits gets none of it: not
   * when its config file is refused (group-writable, a symlink, owned by the user), not without a
   * file; its environment's limits are not used instead. A reconnect claiming 48 GiB there takes
   * nothing from the slice.
   */
  @Test
  void aJobWithoutAdminLimitsGetsNothingOnASlicedGpu() throws Exception {
    Users.User owner = users.root() ? users.victim() : null;
    ServerFrame placed = place("7700", GIB, 25, owner == null ? "" : owner.name());
    assertThat(placed.hasPlace()).as("%s", placed).isTrue();
    int gpu = placed.getPlace().getGpuIndex();
    Path dir = rig.socket().getParent().resolve("conf");
    Path writable = writeJobFile("7701", "CUDA_DEVICE_MEMORY_LIMIT=6G\n");
    Files.setPosixFilePermissions(writable, PosixFilePermissions.fromString("rw-rw-r--"));
    Path target = writeJobFile("real-7702", "CUDA_DEVICE_MEMORY_LIMIT=6G\n");
    Files.createSymbolicLink(dir.resolve("7702.conf"), target);
    Path owned = writeJobFile("7703", "CUDA_DEVICE_MEMORY_LIMIT=6G\n");
    if (users.root()) {
      Files.setAttribute(owned, "unix:uid", users.attacker().uid());
    }
    for (String job : List.of("7701", "7702", "7703", "7704")) { // 7704: no file at all
      assertThat(
              granted(
                  users.attacker(),
                  Map.of(
                      "SOFTMIG_JOB_ID", job,
                      "CUDA_DEVICE_MEMORY_LIMIT", "6G",
                      "CUDA_VISIBLE_DEVICES", Integer.toString(gpu))))
          .as("job %s", job)
          .isZero();
    }

    Raw attacker = raw(users.attacker());
    attacker.open("greedy");
    attacker.send("greedy", hello(limits("greedy-sliced"), true, 48 * GIB, gpu));
    assertThat(attacker.frame("greedy")).isNotNull();
    ShimRig.Shell slice =
        shell(owner, Map.of("SOFTMIG_JOB_ID", "7700", "CUDA_VISIBLE_DEVICES", Integer.toString(gpu)));
    assertThat(slice.alloc("alloc", 512 * MIB)).as(rig.shimLog()).isZero();
    assertThat(jobOn(gpu, "greedy-sliced").map(JobStatus::getMemoryUsedBytes).orElse(0L)).isZero();
  }

  /**
   * SOFTMIG_DISABLE and SOFTMIG_SERVICE_UID from a user: ignored. The limit still holds, and the
   * shim never talks to a socket the user owns.
   */
  @Test
  void disableAndServiceUidAreForRootOnly() throws Exception {
    assumeTrue(users.root(), "the variables are honoured for root: run the tests as root");
    ShimRig.Run disabled =
        rig.run(
            users.program(
                rig,
                users.attacker(),
                "alloc_probe",
                Map.of(
                    "SOFTMIG_JOB_ID", "disable-atk",
                    "CUDA_DEVICE_MEMORY_LIMIT", "1G",
                    "SOFTMIG_DISABLE", "1"),
                "alloc",
                "" + 512 * MIB,
                "--count",
                "3"));
    assertThat(disabled.exit()).isEqualTo(2);
    assertThat(disabled.line(0).path("granted").asInt()).isEqualTo(2);

    Raw attacker = raw(users.attacker());
    Path fake = users.logs().resolve("fake-coordinator.sock");
    assertThat(attacker.cmd("listen " + fake)).isEqualTo("ok");
    ShimRig.Run redirected =
        rig.run(
            users.program(
                rig,
                users.attacker(),
                "alloc_probe",
                Map.of(
                    "SOFTMIG_JOB_ID", "service-uid-atk",
                    "CUDA_DEVICE_MEMORY_LIMIT", "1G",
                    "SOFTMIG_SERVICE_UID", Integer.toString(users.attacker().uid()),
                    "SOFTMIG_SOCKET", fake.toString()),
                "alloc",
                "" + 512 * MIB,
                "--count",
                "3"));
    assertThat(attacker.cmd("accepted")).isEqualTo("accepted 0");
    // with no coordinator it trusts, the process gets at most its own limit (here: nothing)
    assertThat(redirected.line(0).path("granted").asInt()).isLessThanOrEqualTo(2);
  }

  /**
   * One user cannot hold more than its share of connections: past the per-uid cap, new ones are
   * refused with UNAVAILABLE while the others, and other users, are served; a connection that
   * says nothing is closed with UNEXPECTED after the Hello deadline.
   */
  @Test
  void connectionsAreCappedPerUserAndSilentOnesClosed() throws Exception {
    int cap = ConnectionLimits.DEFAULT_PER_UID;
    Raw attacker = raw(users.attacker());
    assertThat(attacker.cmd("openmany " + (cap + 6))).isEqualTo("opened " + (cap + 6));
    if (users.root()) {
      // another user is not refused meanwhile
      ShimRig.Shell other = shell(users.victim(), Map.of("SOFTMIG_JOB_ID", "other-user"));
      assertThat(other.alloc("alloc", 64 * MIB)).isZero();
      other.exit();
    }
    String replies = attacker.cmd("sendeach " + hex(status()), 120);
    assertThat(replies).startsWith("replies ");
    int served = 0;
    int refused = 0;
    int silentTooLong = 0;
    for (String r : replies.substring("replies ".length()).split(",")) {
      ServerFrame f = ServerFrame.parseFrom(HexFormat.of().parseHex(r));
      if (f.hasStatus()) {
        served++;
      } else if (f.getError().getCode() == Error.Code.UNAVAILABLE) {
        refused++;
      } else if (f.getError().getCode() == Error.Code.UNEXPECTED) {
        silentTooLong++; // accepted, then closed by the Hello deadline before its turn came
      }
    }
    assertThat(refused).isEqualTo(6);
    assertThat(served + silentTooLong).isEqualTo(cap);

    attacker.open("silent");
    ServerFrame closed = attacker.frame("silent", 60);
    assertThat(closed.getError().getCode()).isEqualTo(Error.Code.UNEXPECTED);
    assertThat(attacker.frame("silent")).isNull();
  }

  /**
   * In a job with an admin file, the environment changes no limit (per-ordinal values included);
   * an invalid limit in the environment refuses GPU memory instead of meaning "no limit".
   */
  @Test
  void theAdminFileBeatsTheEnvironmentAndInvalidLimitsRefuse() throws Exception {
    writeJobFile("7401", "CUDA_DEVICE_MEMORY_LIMIT=2G\n");
    ShimRig.Shell s =
        shell(
            users.attacker(),
            Map.of(
                "SOFTMIG_JOB_ID", "7401",
                "CUDA_DEVICE_MEMORY_LIMIT", "40G",
                "CUDA_DEVICE_MEMORY_LIMIT_0", "40G",
                "CUDA_DEVICE_SM_LIMIT", "100"));
    assertThat(s.alloc("alloc", 3 * GIB)).as(rig.shimLog()).isEqualTo(2);
    assertThat(s.send("info").path("total").asLong()).isEqualTo(2 * GIB);
    assertThat(job(0, "7401").getMemoryLimitBytes()).isEqualTo(2 * GIB);
    s.exit();

    List<Map<String, String>> invalid =
        List.of(
            Map.of("CUDA_DEVICE_MEMORY_LIMIT", "99999999999999999999G"),
            Map.of("CUDA_DEVICE_MEMORY_LIMIT", "-1"),
            Map.of("CUDA_DEVICE_MEMORY_LIMIT", "0x10G"),
            Map.of("CUDA_DEVICE_MEMORY_LIMIT_0", "-1"),
            Map.of("CUDA_DEVICE_SM_LIMIT", "nan"));
    for (int i = 0; i < invalid.size(); i++) {
      Map<String, String> env = new java.util.HashMap<>(invalid.get(i));
      env.put("SOFTMIG_JOB_ID", "invalid-env-" + i);
      ShimRig.Run run =
          rig.run(users.program(rig, users.attacker(), "alloc_probe", env, "alloc", "" + 64 * MIB));
      assertThat(run.exit()).as("%s", env).isNotZero();
      assertThat(run.lines().isEmpty() ? 0 : run.line(0).path("granted").asInt()).as("%s", env).isZero();
    }
  }

  /** A log file that is a FIFO (or a symlink to someone else's file) never hangs the job. */
  @Test
  void aFifoOrSymlinkLogFileNeverHangsTheJob() throws Exception {
    Path fifo = users.logs().resolve("fifo-" + ProcessHandle.current().pid());
    Path victimFile = users.logs().resolve("victim-file");
    Files.writeString(victimFile, "unchanged\n");
    Path link = users.logs().resolve("link-" + ProcessHandle.current().pid());
    Files.createSymbolicLink(link, victimFile);
    Process mkfifo =
        new ProcessBuilder(users.attacker() != null && users.root()
                ? List.of("setpriv", "--reuid=" + users.attacker().uid(), "--regid="
                    + users.attacker().gid(), "--clear-groups", "--", "mkfifo", fifo.toString())
                : List.of("mkfifo", fifo.toString()))
            .start();
    assertThat(mkfifo.waitFor(30, TimeUnit.SECONDS)).isTrue();
    assertThat(mkfifo.exitValue()).isZero();
    for (Path log : List.of(fifo, link)) {
      ShimRig.Run run =
          rig.run(
              users.program(
                  rig,
                  users.attacker(),
                  "alloc_probe",
                  Map.of(
                      "SOFTMIG_JOB_ID", "log-atk",
                      "CUDA_DEVICE_MEMORY_LIMIT", "1G",
                      "SOFTMIG_LOG_FILE", log.toString(),
                      "LIBCUDA_LOG_LEVEL", "0"),
                  "alloc",
                  "" + 256 * MIB,
                  "--count",
                  "2"));
      assertThat(run.exit()).as("log file %s", log).isZero();
      assertThat(run.line(0).path("granted").asInt()).isEqualTo(2);
    }
    assertThat(Files.readString(victimFile)).isEqualTo("unchanged\n");
  }

  // ------------------------------------------------------------------ helpers

  private ShimRig.Shell shell(Users.User user, Map<String, String> env) throws Exception {
    ShimRig.Shell s = rig.shell(users.program(rig, user, "mem_shell", env));
    shells.add(s);
    return s;
  }

  /**
   * Blocks of 64 MiB an alloc_probe of {@code user} got (of 2): 0 when its allocations were
   * refused or it got no context at all.
   */
  private int granted(Users.User user, Map<String, String> env) throws Exception {
    ShimRig.Run run =
        rig.run(users.program(rig, user, "alloc_probe", env, "alloc", "" + 64 * MIB, "--count", "2"));
    return run.lines().isEmpty() ? 0 : run.line(0).path("granted").asInt();
  }

  private Raw raw(Users.User user) throws IOException {
    Raw r = new Raw(users.rawClient(user, rig.socket()).start());
    clients.add(r);
    return r;
  }

  private Path writeJobFile(String job, String text) throws IOException {
    Path f = rig.socket().getParent().resolve("conf").resolve(job + ".conf");
    Files.writeString(f, text);
    Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-r--r--"));
    return f;
  }

  private static RequestedLimits.Builder limits(String job) {
    return RequestedLimits.newBuilder().setJobId(job);
  }

  private ClientFrame hello(RequestedLimits.Builder limits, boolean reconnect, long claimed) {
    return hello(limits, reconnect, claimed, 0);
  }

  /** A Hello for GPU {@code gpu} of the node (as the process's ordinal 0). */
  private ClientFrame hello(RequestedLimits.Builder limits, boolean reconnect, long claimed, int gpu) {
    Hello.Builder h =
        Hello.newBuilder()
            .setProtocolVersion(2)
            .setPid(1)
            .addDevices(Device.newBuilder().setUuid(uuids.get(gpu)).setOrdinal(0))
            .setRequested(limits)
            .setReconnect(reconnect);
    if (claimed > 0) {
      h.addHoldings(Holding.newBuilder().setDeviceIndex(0).setBytes(claimed).setAllocations(1));
    }
    return ClientFrame.newBuilder().setHello(h).build();
  }

  private static ClientFrame status() {
    return ClientFrame.newBuilder().setRequestId(1).setStatus(StatusRequest.getDefaultInstance()).build();
  }

  static String hex(ClientFrame frame) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    frame.writeDelimitedTo(out);
    return HexFormat.of().formatHex(out.toByteArray());
  }

  private List<JobStatus> jobs() throws IOException {
    List<JobStatus> all = new ArrayList<>();
    for (GpuStatus g : rig.status().getNodes(0).getGpusList()) {
      all.addAll(g.getJobsList());
    }
    return all;
  }

  private java.util.Optional<JobStatus> jobOn(int gpu, String id) throws IOException {
    return rig.status().getNodes(0).getGpus(gpu).getJobsList().stream()
        .filter(j -> j.getJobId().equals(id))
        .findFirst();
  }

  private JobStatus job(int gpu, String id) throws IOException {
    return jobOn(gpu, id).orElseThrow(() -> new AssertionError("no job " + id + " on GPU " + gpu));
  }

  private ServerFrame place(String job, long bytes, double sm, String user) throws IOException {
    placements.add(job);
    return ask(
        ClientFrame.newBuilder()
            .setRequestId(1)
            .setPlace(
                PlaceRequest.newBuilder()
                    .setJobId(job)
                    .setMemoryBytes(bytes)
                    .setSmPercent(sm)
                    .setUser(user))
            .build());
  }

  private void release(String job) throws IOException {
    ask(
        ClientFrame.newBuilder()
            .setRequestId(1)
            .setRelease(ReleaseRequest.newBuilder().setJobId(job))
            .build());
  }

  /** One CLI request as root (this process), straight over the socket. */
  private ServerFrame ask(ClientFrame request) throws IOException {
    try (SocketChannel ch = SocketChannel.open(UnixDomainSocketAddress.of(rig.socket()))) {
      OutputStream out = Channels.newOutputStream(ch);
      InputStream in = Channels.newInputStream(ch);
      request.writeDelimitedTo(out);
      return ServerFrame.parseDelimitedFrom(in);
    }
  }

  /** A {@link RawClient} process, driven line by line. */
  private static final class Raw implements AutoCloseable {
    private final Process process;
    private final BufferedReader out;
    private final Writer in;

    Raw(Process process) {
      this.process = process;
      this.out =
          new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
      this.in = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
    }

    String cmd(String line) throws Exception {
      return cmd(line, 60);
    }

    /** Sends one command and waits for its one-line answer, at most {@code seconds}. */
    String cmd(String line, int seconds) throws Exception {
      in.write(line + "\n");
      in.flush();
      String answer = CompletableFuture.supplyAsync(this::readLine).get(seconds, TimeUnit.SECONDS);
      if (answer == null) {
        throw new IOException("the raw client exited");
      }
      return answer;
    }

    private String readLine() {
      try {
        return out.readLine();
      } catch (IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    }

    void open(String name) throws Exception {
      assertThat(cmd("open " + name)).isEqualTo("ok");
    }

    void send(String name, ClientFrame frame) throws Exception {
      assertThat(cmd("send " + name + " " + hex(frame))).isEqualTo("ok");
    }

    /** The next frame on the connection, or null when the coordinator closed it. */
    ServerFrame frame(String name) throws Exception {
      return frame(name, 60);
    }

    ServerFrame frame(String name, int seconds) throws Exception {
      String r = cmd("frame " + name, seconds);
      if (r.equals("eof")) {
        return null;
      }
      assertThat(r).startsWith("frame ");
      return ServerFrame.parseFrom(HexFormat.of().parseHex(r.substring("frame ".length())));
    }

    @Override
    public void close() throws Exception {
      in.close();
      if (!process.waitFor(10, TimeUnit.SECONDS)) {
        process.destroyForcibly();
      }
    }
  }
}
