package org.softmig.gpu.actor;

import akka.actor.typed.ActorRef;
import akka.actor.typed.Behavior;
import akka.actor.typed.javadsl.AbstractBehavior;
import akka.actor.typed.javadsl.ActorContext;
import akka.actor.typed.javadsl.Behaviors;
import akka.actor.typed.javadsl.Receive;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * One job on this node: owns the sessions (one per connected process) of the job. When its last
 * session ends it tells the guardian it is idle; the guardian stops it unless a new session is on
 * its way.
 */
public final class JobActor extends AbstractBehavior<JobActor.Command> {

  public sealed interface Command {}

  /** A process of the job connected. */
  public record AddSession(
      SessionSpec spec, List<SessionActor.Binding> bindings, SessionOutput output)
      implements Command {}

  private record SessionEnded(long sessionId) implements Command {}

  private final String jobId;
  private final ActorRef<NodeGuardian.Command> guardian;
  private final Map<Long, ActorRef<SessionActor.Command>> sessions = new HashMap<>();
  private long sessionsSeen;

  public static Behavior<Command> create(String jobId, ActorRef<NodeGuardian.Command> guardian) {
    return Behaviors.setup(ctx -> new JobActor(ctx, jobId, guardian));
  }

  private JobActor(ActorContext<Command> ctx, String jobId, ActorRef<NodeGuardian.Command> guardian) {
    super(ctx);
    this.jobId = jobId;
    this.guardian = guardian;
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(AddSession.class, this::onAddSession)
        .onMessage(SessionEnded.class, this::onSessionEnded)
        .build();
  }

  private Behavior<Command> onAddSession(AddSession add) {
    long id = add.spec().sessionId();
    ActorRef<SessionActor.Command> session =
        getContext()
            .spawn(SessionActor.create(add.spec(), add.bindings(), add.output()), "session-" + id);
    getContext().watchWith(session, new SessionEnded(id));
    sessions.put(id, session);
    sessionsSeen++;
    getContext()
        .getLog()
        .info("Job [{}]: session [{}] of pid [{}] opened", jobId, id, add.spec().pid());
    return this;
  }

  private Behavior<Command> onSessionEnded(SessionEnded ended) {
    sessions.remove(ended.sessionId());
    if (sessions.isEmpty()) {
      guardian.tell(new NodeGuardian.JobIdle(jobId, sessionsSeen));
    }
    return this;
  }
}
