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
 */
public record ShimServices(
    ActorRef<NodeGuardian.Command> guardian,
    JobIdentityResolver resolver,
    Executor blocking,
    CliRequests cli,
    String nodeName,
    long leaseMicros,
    AtomicLong sessionIds,
    Function<Channel, Peer> peers) {}
