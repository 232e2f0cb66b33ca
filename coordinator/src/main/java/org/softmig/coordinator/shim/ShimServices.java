package org.softmig.coordinator.shim;

import akka.actor.typed.ActorRef;
import io.netty.channel.Channel;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import org.softmig.coordinator.slurm.JobIdentityResolver;
import org.softmig.gpu.actor.NodeGuardian;

/**
 * What every connection handler needs, shared by all connections.
 *
 * @param blocking where identity resolution (file reads) runs
 * @param peers reads a channel's peer credentials
 * @param bounds what one peer may cost (connections, deadlines, log lines)
 */
public record ShimServices(
    ActorRef<NodeGuardian.Command> guardian,
    JobIdentityResolver resolver,
    Executor blocking,
    CliRequests cli,
    String nodeName,
    long leaseMicros,
    AtomicLong sessionIds,
    Function<Channel, Peer> peers,
    ShimBounds bounds) {

  /** With the default bounds. */
  public ShimServices(
      ActorRef<NodeGuardian.Command> guardian,
      JobIdentityResolver resolver,
      Executor blocking,
      CliRequests cli,
      String nodeName,
      long leaseMicros,
      AtomicLong sessionIds,
      Function<Channel, Peer> peers) {
    this(
        guardian, resolver, blocking, cli, nodeName, leaseMicros, sessionIds, peers,
        ShimBounds.defaults());
  }

  /** The same services with another way of reading peer credentials. */
  public ShimServices withPeers(Function<Channel, Peer> peers) {
    return new ShimServices(
        guardian, resolver, blocking, cli, nodeName, leaseMicros, sessionIds, peers, bounds);
  }
}
