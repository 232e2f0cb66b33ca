package org.softmig.coordinator;

import akka.actor.typed.ActorRef;
import akka.actor.typed.ActorSystem;
import akka.actor.typed.javadsl.AskPattern;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.softmig.coordinator.nvml.GpuInfo;
import org.softmig.gpu.actor.GpuActor;
import org.softmig.gpu.actor.GpuSnapshot;
import org.softmig.gpu.actor.JobReportSnapshot;
import org.softmig.gpu.actor.NodeGuardian;
import java.util.function.Function;
import org.softmig.proto.v1.GpuStatus;
import org.softmig.proto.v1.MpsStatus;
import org.softmig.proto.v1.NodeStatus;

/** This node's GPUs and their actors, and what they say now. */
public final class LocalNode {

  private static final Duration ASK_TIMEOUT = Duration.ofSeconds(3);

  private final String name;
  private final ActorSystem<?> system;
  private final ActorRef<NodeGuardian.Command> guardian;
  private final List<NodeGuardian.GpuRef> gpus;
  private final Map<String, GpuInfo> infoByUuid = new LinkedHashMap<>();
  private volatile NvmlObservation nvml = NvmlObservation.NONE;
  private volatile Function<String, Optional<MpsStatus>> mps = uuid -> Optional.empty();

  public LocalNode(
      String name,
      ActorSystem<?> system,
      ActorRef<NodeGuardian.Command> guardian,
      List<NodeGuardian.GpuRef> gpus,
      List<GpuInfo> infos) {
    this.name = name;
    this.system = system;
    this.guardian = guardian;
    this.gpus = List.copyOf(gpus);
    infos.forEach(i -> infoByUuid.put(i.uuid(), i));
  }

  public String name() {
    return name;
  }

  public ActorRef<NodeGuardian.Command> guardian() {
    return guardian;
  }

  public List<NodeGuardian.GpuRef> gpus() {
    return gpus;
  }

  public List<GpuInfo> gpuInfos() {
    return List.copyOf(infoByUuid.values());
  }

  public ActorSystem<?> system() {
    return system;
  }

  /** The MPS state of a GPU by UUID (empty for a time-slicing GPU); shown by {@link #status()}. */
  public void setMps(Function<String, Optional<MpsStatus>> mps) {
    this.mps = mps;
  }

  /** What NVML saw in the last reconciliation round; shown by {@link #status()}. */
  public void observe(NvmlObservation observation) {
    this.nvml = observation;
  }

  public NvmlObservation observation() {
    return nvml;
  }

  /** Every GPU actor's snapshot, in index order. */
  public CompletionStage<List<GpuSnapshot>> snapshots() {
    List<CompletableFuture<GpuSnapshot>> asks = new ArrayList<>();
    for (NodeGuardian.GpuRef gpu : gpus) {
      asks.add(
          AskPattern.<GpuActor.Command, GpuSnapshot>ask(
                  gpu.ref(), GpuActor.GetSnapshot::new, ASK_TIMEOUT, system.scheduler())
              .toCompletableFuture());
    }
    return CompletableFuture.allOf(asks.toArray(new CompletableFuture[0]))
        .thenApply(done -> asks.stream().map(CompletableFuture::join).toList());
  }

  /** What every GPU knows of a job (one entry per GPU the job used). */
  public CompletionStage<List<JobReportSnapshot>> reports(String jobId) {
    List<CompletableFuture<Optional<JobReportSnapshot>>> asks = new ArrayList<>();
    for (NodeGuardian.GpuRef gpu : gpus) {
      asks.add(
          AskPattern.<GpuActor.Command, Optional<JobReportSnapshot>>ask(
                  gpu.ref(),
                  replyTo -> new GpuActor.GetReport(jobId, replyTo),
                  ASK_TIMEOUT,
                  system.scheduler())
              .toCompletableFuture());
    }
    return CompletableFuture.allOf(asks.toArray(new CompletableFuture[0]))
        .thenApply(
            done -> asks.stream().map(CompletableFuture::join).flatMap(Optional::stream).toList());
  }

  /** This node's status as the wire protocol has it. */
  public CompletionStage<NodeStatus> status() {
    return snapshots()
        .thenApply(
            list ->
                withMps(
                    StatusMapping.nodeStatus(
                        name, list, infoByUuid, nvml, System.currentTimeMillis())));
  }

  private NodeStatus withMps(NodeStatus status) {
    NodeStatus.Builder b = status.toBuilder();
    for (GpuStatus.Builder g : b.getGpusBuilderList()) {
      mps.apply(g.getUuid()).ifPresent(g::setMps);
    }
    return b.build();
  }
}
