package org.softmig.gpu.domain;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.softmig.gpu.domain.Reconciler.Discrepancy;
import org.softmig.gpu.domain.Reconciler.Finding;
import org.softmig.gpu.domain.Reconciler.GpuInput;
import org.softmig.gpu.domain.Reconciler.JobUsage;
import org.softmig.gpu.domain.Reconciler.ObservedProcess;
import org.softmig.gpu.domain.Reconciler.ProcessOwner;
import org.softmig.gpu.domain.Reconciler.Result;
import org.softmig.gpu.domain.Reconciler.Session;
import org.softmig.gpu.domain.Reconciler.Settings;

class ReconcilerTest {
  private static final long MIB = 1L << 20;
  private static final long GIB = 1L << 30;
  private static final long GRACE = 3_000_000_000L;

  /** One node's inputs, written as a table row. */
  private static final class Node {
    private final Map<String, Gpu> gpus = new LinkedHashMap<>();
    private final Map<Integer, ProcessOwner> owners = new HashMap<>();
    private UnmanagedPolicy policy = UnmanagedPolicy.REPORT;
    private Set<String> exempt = Set.of();
    private Gpu current;

    private static final class Gpu {
      final String uuid;
      final boolean holdsSlices;
      final List<ObservedProcess> observed = new ArrayList<>();
      final List<Session> sessions = new ArrayList<>();
      final Map<String, Long> limits = new HashMap<>();

      Gpu(String uuid, boolean holdsSlices) {
        this.uuid = uuid;
        this.holdsSlices = holdsSlices;
      }
    }

    static Node slicedGpu() {
      return new Node().gpu("GPU-a", true);
    }

    static Node unslicedGpu() {
      return new Node().gpu("GPU-a", false);
    }

    Node gpu(String uuid, boolean holdsSlices) {
      current = gpus.computeIfAbsent(uuid, u -> new Gpu(u, holdsSlices));
      return this;
    }

    Node nvml(int pid, long bytes) {
      current.observed.add(new ObservedProcess(pid, bytes));
      return this;
    }

    Node session(int pid, String job, String user, long tracked) {
      current.sessions.add(new Session(pid, job, user, tracked));
      return this;
    }

    Node limit(String job, long bytes) {
      current.limits.put(job, bytes);
      return this;
    }

    Node owner(int pid, String user, String job) {
      owners.put(pid, new ProcessOwner(user, job));
      return this;
    }

    Node kill() {
      policy = UnmanagedPolicy.KILL;
      return this;
    }

    Node exempt(String user) {
      exempt = Set.of(user);
      return this;
    }

    List<GpuInput> inputs() {
      List<GpuInput> out = new ArrayList<>();
      for (Gpu g : gpus.values()) {
        out.add(new GpuInput(g.uuid, g.holdsSlices, g.observed, g.sessions, g.limits));
      }
      return out;
    }

    Reconciler reconciler() {
      return new Reconciler(
          new Settings(policy, Reconciler.DEFAULT_TOLERANCE_BYTES, GRACE, exempt));
    }

    /** Two rounds, the grace period apart, so that lasting conditions become findings. */
    Result settle() {
      Reconciler r = reconciler();
      r.reconcile(inputs(), owners, 0);
      return r.reconcile(inputs(), owners, GRACE);
    }
  }

  static Stream<Arguments> findings() {
    return Stream.of(
        Arguments.of(
            "a process with a session is managed",
            Node.slicedGpu().limit("1", GIB).nvml(100, 500 * MIB).session(100, "1", "alice", 480 * MIB),
            List.of()),
        Arguments.of(
            "no session on a sliced GPU is reported",
            Node.slicedGpu().nvml(200, GIB).owner(200, "bob", "7"),
            List.of("GPU-a 200 bob job=7 no session report")),
        Arguments.of(
            "no session on a sliced GPU is killed under kill",
            Node.slicedGpu().kill().nvml(200, GIB).owner(200, "bob", "7"),
            List.of("GPU-a 200 bob job=7 no session kill")),
        Arguments.of(
            "no session on a GPU without slices is none of our business",
            Node.unslicedGpu().kill().nvml(200, GIB).owner(200, "bob", "7"),
            List.of()),
        Arguments.of(
            "a process whose owner is unknown is still reported",
            Node.slicedGpu().nvml(200, GIB),
            List.of("GPU-a 200  job= no session report")),
        Arguments.of(
            "a job over limit plus tolerance: all its processes",
            Node.slicedGpu()
                .kill()
                .limit("1", GIB)
                .nvml(100, 700 * MIB)
                .nvml(101, 400 * MIB)
                .session(100, "1", "alice", 600 * MIB)
                .session(101, "1", "alice", 300 * MIB),
            List.of("GPU-a 100 alice job=1 over limit kill", "GPU-a 101 alice job=1 over limit kill")),
        Arguments.of(
            "a session NVML does not list on the GPU is not part of an over-limit finding",
            Node.slicedGpu()
                .limit("1", GIB)
                .nvml(100, 2 * GIB)
                .session(100, "1", "alice", GIB)
                .session(102, "1", "alice", 0),
            List.of("GPU-a 100 alice job=1 over limit report")),
        Arguments.of(
            "a job within its tolerance is fine",
            Node.slicedGpu()
                .kill()
                .limit("1", GIB)
                .nvml(100, GIB + 64 * MIB)
                .session(100, "1", "alice", GIB),
            List.of()),
        Arguments.of(
            "a job without a limit is never over it",
            Node.slicedGpu().kill().nvml(100, 70 * GIB).session(100, "1", "alice", GIB),
            List.of()),
        Arguments.of(
            "a process of the job without a session counts toward the job's usage",
            Node.slicedGpu()
                .limit("1", GIB)
                .nvml(100, 1000 * MIB)
                .session(100, "1", "alice", 1000 * MIB)
                .nvml(200, 200 * MIB)
                .owner(200, "alice", "1"),
            List.of("GPU-a 100 alice job=1 over limit report", "GPU-a 200 alice job=1 no session report")),
        Arguments.of(
            "over limit on a GPU without slices names the process without a session too",
            Node.unslicedGpu()
                .limit("1", GIB)
                .nvml(100, 1000 * MIB)
                .session(100, "1", "alice", 1000 * MIB)
                .nvml(200, 200 * MIB)
                .owner(200, "alice", "1"),
            List.of("GPU-a 100 alice job=1 over limit report", "GPU-a 200 alice job=1 over limit report")),
        Arguments.of(
            "exempt users are reported, never killed",
            Node.slicedGpu().kill().exempt("root").nvml(200, GIB).owner(200, "root", ""),
            List.of("GPU-a 200 root job= no session report")),
        Arguments.of(
            "pid 1 is never killed",
            Node.slicedGpu().kill().nvml(1, GIB).owner(1, "root", ""),
            List.of("GPU-a 1 root job= no session report")),
        Arguments.of(
            "each GPU is judged on its own",
            Node.slicedGpu()
                .nvml(200, GIB)
                .owner(200, "bob", "7")
                .gpu("GPU-b", false)
                .nvml(300, GIB)
                .owner(300, "carol", "8"),
            List.of("GPU-a 200 bob job=7 no session report")));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("findings")
  void findsWhatTheTableSays(String name, Node node, List<String> expected) {
    Result result = node.settle();

    assertThat(result.findings()).map(ReconcilerTest::describe).containsExactlyElementsOf(expected);
  }

  private static String describe(Finding f) {
    return f.uuid()
        + " "
        + f.pid()
        + " "
        + f.user()
        + " job="
        + f.jobId()
        + " "
        + f.reason().text()
        + " "
        + (f.kill() ? "kill" : "report");
  }

  @Test
  void aConditionBecomesAFindingOnlyAfterTheGracePeriod() {
    Node node = Node.slicedGpu().kill().nvml(200, GIB).owner(200, "bob", "7");
    Reconciler r = node.reconciler();

    assertThat(r.reconcile(node.inputs(), node.owners, 0).findings()).isEmpty();
    assertThat(r.reconcile(node.inputs(), node.owners, GRACE - 1).findings()).isEmpty();
    Result settled = r.reconcile(node.inputs(), node.owners, GRACE);

    assertThat(settled.findings()).hasSize(1);
    assertThat(settled.pidsToKill()).containsExactly(200);
  }

  @Test
  void aFindingIsNewOnlyInItsFirstRound() {
    Node node = Node.slicedGpu().nvml(200, GIB);
    Reconciler r = node.reconciler();

    r.reconcile(node.inputs(), Map.of(), 0);
    Finding first = r.reconcile(node.inputs(), Map.of(), GRACE).findings().get(0);
    Finding second = r.reconcile(node.inputs(), Map.of(), GRACE + 1).findings().get(0);

    assertThat(first.newlyFound()).isTrue();
    assertThat(second.newlyFound()).isFalse();
  }

  @Test
  void aConditionThatClearsStartsItsGracePeriodAgain() {
    Node with = Node.slicedGpu().kill().nvml(200, GIB);
    Node without = Node.slicedGpu().kill();
    Reconciler r = with.reconciler();

    r.reconcile(with.inputs(), Map.of(), 0);
    r.reconcile(without.inputs(), Map.of(), GRACE / 2);
    Result back = r.reconcile(with.inputs(), Map.of(), GRACE);

    assertThat(back.findings()).isEmpty();
    assertThat(r.reconcile(with.inputs(), Map.of(), 2 * GRACE).findings()).hasSize(1);
  }

  @Test
  void aSessionThatArrivesWithinTheGracePeriodIsNeverReported() {
    Node before = Node.slicedGpu().kill().nvml(100, GIB);
    Node after = Node.slicedGpu().kill().nvml(100, GIB).session(100, "1", "alice", GIB);
    Reconciler r = before.reconciler();

    r.reconcile(before.inputs(), Map.of(), 0);

    assertThat(r.reconcile(after.inputs(), Map.of(), GRACE).findings()).isEmpty();
  }

  @Test
  void recordsADiscrepancyForEverySession() {
    Node node =
        Node.slicedGpu()
            .nvml(100, 600 * MIB)
            .session(100, "1", "alice", 500 * MIB)
            .session(101, "1", "alice", 10 * MIB);

    Result result = node.reconciler().reconcile(node.inputs(), Map.of(), 0);

    assertThat(result.discrepancies())
        .containsExactly(
            new Discrepancy("GPU-a", 100, "1", 600 * MIB, 500 * MIB),
            new Discrepancy("GPU-a", 101, "1", 0, 10 * MIB));
    assertThat(result.discrepancies().get(0).differenceBytes()).isEqualTo(100 * MIB);
  }

  @Test
  void sumsEachJobsUsageOverItsProcesses() {
    Node node =
        Node.slicedGpu()
            .limit("1", GIB)
            .nvml(100, 600 * MIB)
            .nvml(101, 300 * MIB)
            .nvml(200, 50 * MIB)
            .session(100, "1", "alice", 500 * MIB)
            .session(101, "1", "alice", 250 * MIB)
            .owner(200, "alice", "1")
            .nvml(300, GIB)
            .session(300, "2", "bob", GIB);

    Result result = node.reconciler().reconcile(node.inputs(), node.owners, 0);

    assertThat(result.jobs())
        .containsExactly(
            new JobUsage("GPU-a", "1", 950 * MIB, 750 * MIB, GIB, false),
            new JobUsage("GPU-a", "2", GIB, GIB, 0, false));
  }

  @Test
  void listsThePidsWhoseOwnersMustBeResolved() {
    Node node =
        Node.slicedGpu()
            .nvml(100, GIB)
            .session(100, "1", "alice", GIB)
            .nvml(200, GIB)
            .gpu("GPU-b", false)
            .nvml(300, GIB)
            .nvml(200, GIB);

    assertThat(Reconciler.pidsWithoutSession(node.inputs())).containsExactly(200, 300);
  }

  @Test
  void killsAProcessOnceEvenWhenItIsFoundOnTwoGpus() {
    Node node =
        Node.slicedGpu().kill().nvml(200, GIB).gpu("GPU-b", true).nvml(200, GIB);

    Result result = node.settle();

    assertThat(result.findings()).hasSize(2);
    assertThat(result.pidsToKill()).containsExactly(200);
  }

  @Test
  void refusesNegativeSettings() {
    assertThatThrownBy(() -> new Settings(UnmanagedPolicy.KILL, -1, 0, Set.of()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("toleranceBytes");
    assertThatThrownBy(() -> new Settings(UnmanagedPolicy.KILL, 0, -1, Set.of()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("graceNanos");
  }

  @Test
  void defaultsAreSixtyFourMebibytesAndThreeSeconds() {
    Settings s = Settings.defaults(UnmanagedPolicy.REPORT);

    assertThat(s.toleranceBytes()).isEqualTo(64 * MIB);
    assertThat(s.graceNanos()).isEqualTo(3_000_000_000L);
  }
}
