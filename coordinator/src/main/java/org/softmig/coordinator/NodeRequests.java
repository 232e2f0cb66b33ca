package org.softmig.coordinator;

import akka.actor.typed.javadsl.AskPattern;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;
import java.util.regex.Pattern;
import org.softmig.coordinator.shim.CliRequests;
import org.softmig.coordinator.shim.Frames;
import org.softmig.coordinator.shim.Peer;
import org.softmig.gpu.actor.JobReportSnapshot;
import org.softmig.gpu.actor.NodeGuardian;
import org.softmig.gpu.domain.Placement;
import org.softmig.proto.v1.ClientFrame;
import org.softmig.proto.v1.Error;
import org.softmig.proto.v1.JobReport;
import org.softmig.proto.v1.PlaceReply;
import org.softmig.proto.v1.PlaceRequest;
import org.softmig.proto.v1.ReleaseReply;
import org.softmig.proto.v1.ReportReply;
import org.softmig.proto.v1.ServerFrame;
import org.softmig.proto.v1.StatusReply;

/**
 * Answers CLI requests from this node's actors. Status and reports are open to everyone; place
 * and release only to administrators ({@link Authorizer}). Where the site hides other users' jobs,
 * a caller who is not an administrator sees only its own in status and reports ({@link
 * JobVisibility}).
 */
public final class NodeRequests implements CliRequests {

  private static final Duration TIMEOUT = Duration.ofSeconds(5);
  private static final Pattern JOB_ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]{0,63}");

  private final LocalNode node;
  private final Authorizer authorizer;
  private final Executor blocking;
  private final boolean hideOtherUsers;
  private volatile java.util.function.Supplier<CompletionStage<StatusReply>> clusterStatus;
  private volatile java.util.function.Function<String, CompletionStage<ReportReply>> clusterReport;

  /**
   * @param hideOtherUsers whether callers who are not administrators see only their own jobs in
   *     status and reports
   */
  public NodeRequests(
      LocalNode node, Authorizer authorizer, Executor blocking, boolean hideOtherUsers) {
    this.node = node;
    this.authorizer = authorizer;
    this.blocking = blocking;
    this.hideOtherUsers = hideOtherUsers;
  }

  /**
   * Where {@code status --cluster} is answered from (every node's view). Until one is set, the
   * answer is this node alone.
   */
  public void setClusterStatus(java.util.function.Supplier<CompletionStage<StatusReply>> source) {
    this.clusterStatus = source;
  }

  /**
   * Where {@code report JOBID} finds the job's parts on other nodes; they are merged with this
   * node's own. Until one is set, a report covers this node alone.
   */
  public void setClusterReport(
      java.util.function.Function<String, CompletionStage<ReportReply>> source) {
    this.clusterReport = source;
  }

  @Override
  public CompletionStage<ServerFrame> handle(ClientFrame request, Peer peer) {
    long id = request.getRequestId();
    return switch (request.getBodyCase()) {
      case STATUS ->
          visibleTo(peer)
              .thenCompose(
                  visibility ->
                      (request.getStatus().getCluster() ? clusterStatus() : status())
                          .thenApply(
                              frame ->
                                  visibility == null
                                      ? frame
                                      : frame.toBuilder()
                                          .setStatus(visibility.status(frame.getStatus()))
                                          .build()));
      case REPORT ->
          visibleTo(peer)
              .thenCompose(
                  visibility ->
                      report(request.getReport().getJobId())
                          .thenApply(
                              frame ->
                                  visibility == null
                                      ? frame
                                      : frame.toBuilder()
                                          .setReport(visibility.report(frame.getReport()))
                                          .build()));
      case PLACE ->
          asAdmin(peer, id, "place jobs", () -> place(id, request.getPlace()));
      case RELEASE ->
          asAdmin(peer, id, "release jobs", () -> release(id, request.getRelease().getJobId()));
      default ->
          done(Frames.error(id, Error.Code.UNEXPECTED, request.getBodyCase() + " is not a request"));
    };
  }

  /**
   * What the peer may see: null for everything (the site shows every job, or the peer is an
   * administrator), else its own jobs. Name-service lookups run on the blocking executor.
   */
  private CompletionStage<JobVisibility> visibleTo(Peer peer) {
    if (!hideOtherUsers) {
      return CompletableFuture.completedFuture(null);
    }
    return CompletableFuture.supplyAsync(
        () ->
            authorizer.mayAdminister(peer)
                ? null
                : new JobVisibility(
                    peer.uid() < 0
                        ? java.util.Set.of()
                        : new java.util.HashSet<>(
                            java.util.List.of(
                                authorizer.userName(peer), Integer.toString(peer.uid())))),
        blocking);
  }

  private CompletionStage<ServerFrame> asAdmin(
      Peer peer,
      long id,
      String what,
      java.util.function.Supplier<CompletionStage<ServerFrame>> action) {
    return CompletableFuture.supplyAsync(() -> authorizer.mayAdminister(peer), blocking)
        .thenCompose(
            allowed ->
                allowed
                    ? action.get()
                    : done(
                        Frames.error(
                            id,
                            Error.Code.PERMISSION_DENIED,
                            "uid " + peer.uid() + " may not " + what
                                + " (root or the admin group only)")));
  }

  private CompletionStage<ServerFrame> status() {
    return node.status()
        .thenApply(
            s -> ServerFrame.newBuilder().setStatus(StatusReply.newBuilder().addNodes(s)).build());
  }

  private CompletionStage<ServerFrame> clusterStatus() {
    var source = clusterStatus;
    if (source == null) {
      return status();
    }
    return source.get().thenApply(reply -> ServerFrame.newBuilder().setStatus(reply).build());
  }

  private CompletionStage<ServerFrame> place(long id, PlaceRequest place) {
    if (!JOB_ID.matcher(place.getJobId()).matches()) {
      return done(
          Frames.error(
              id, Error.Code.INVALID_ARGUMENT, "job id '" + place.getJobId() + "' is not usable"));
    }
    if (place.getMemoryBytes() <= 0) {
      return done(
          Frames.error(
              id, Error.Code.INVALID_ARGUMENT, "memory " + place.getMemoryBytes() + " is not positive"));
    }
    if (!(place.getSmPercent() > 0 && place.getSmPercent() <= 100)) {
      return done(
          Frames.error(
              id,
              Error.Code.INVALID_ARGUMENT,
              "SM share " + place.getSmPercent() + " is not a percentage in (0, 100]"));
    }
    return AskPattern.<NodeGuardian.Command, Placement.Decision>ask(
            node.guardian(),
            replyTo ->
                new NodeGuardian.Place(
                    place.getJobId(),
                    place.getUser(),
                    place.getMemoryBytes(),
                    place.getSmPercent(),
                    place.getMps(),
                    replyTo),
            TIMEOUT,
            node.system().scheduler())
        .thenApply(
            decision -> {
              if (decision instanceof Placement.Placed p) {
                return ServerFrame.newBuilder()
                    .setPlace(
                        PlaceReply.newBuilder()
                            .setGpuUuid(p.uuid())
                            .setGpuIndex(p.index())
                            .setAlreadyPlaced(p.alreadyPlaced()))
                    .build();
              }
              return Frames.error(
                  id, Error.Code.NO_CAPACITY, ((Placement.Refused) decision).reason());
            });
  }

  private CompletionStage<ServerFrame> release(long id, String jobId) {
    return AskPattern.<NodeGuardian.Command, Boolean>ask(
            node.guardian(),
            replyTo -> new NodeGuardian.Release(jobId, replyTo),
            TIMEOUT,
            node.system().scheduler())
        .thenApply(
            released ->
                ServerFrame.newBuilder()
                    .setRelease(ReleaseReply.newBuilder().setReleased(released))
                    .build());
  }

  private CompletionStage<ServerFrame> report(String jobId) {
    CompletionStage<ReportReply> local =
        node.reports(jobId)
            .thenApply(
                list -> {
                  ReportReply.Builder reply = ReportReply.newBuilder();
                  for (JobReportSnapshot r : list) {
                    reply.addReports(StatusMapping.jobReport(node.name(), r));
                  }
                  return reply.build();
                });
    var source = clusterReport;
    if (source != null && JOB_ID.matcher(jobId).matches()) {
      CompletionStage<ReportReply> cluster =
          source.apply(jobId).exceptionally(failure -> ReportReply.getDefaultInstance());
      local = local.thenCombine(cluster, (mine, all) -> mergeReports(mine, all));
    }
    return local.thenApply(reply -> ServerFrame.newBuilder().setReport(reply).build());
  }

  /**
   * This node's parts (the freshest) and the cluster's parts of every other node, by node and GPU.
   * While this node knows the job, the cluster's parts naming this node are left out: this
   * node's part of a report comes from its own actors only.
   */
  static ReportReply mergeReports(ReportReply local, ReportReply cluster) {
    java.util.Set<String> localNodes = new java.util.HashSet<>();
    for (JobReport r : local.getReportsList()) {
      localNodes.add(r.getNode());
    }
    java.util.Map<String, JobReport> byPart = new java.util.TreeMap<>();
    for (JobReport r : cluster.getReportsList()) {
      if (!localNodes.contains(r.getNode())) {
        byPart.put(r.getNode() + "/" + r.getGpuUuid(), r);
      }
    }
    for (JobReport r : local.getReportsList()) {
      byPart.put(r.getNode() + "/" + r.getGpuUuid(), r);
    }
    return ReportReply.newBuilder().addAllReports(byPart.values()).build();
  }

  private static CompletionStage<ServerFrame> done(ServerFrame frame) {
    return CompletableFuture.completedFuture(frame);
  }
}
