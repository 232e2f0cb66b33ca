package org.softmig.gpu.actor;

import akka.actor.typed.ActorRef;
import java.util.List;

/**
 * Where a session's messages go: the connection to its process. Implementations must be
 * thread-safe and must not block.
 */
public interface SessionOutput {

  /**
   * The session is attached to all its devices.
   *
   * @param session where the connection reports its end ({@link SessionActor.Stop})
   * @param gpus the GPU actor of each device by device index; null for devices this node does not
   *     manage
   */
  void welcome(
      SessionSpec spec,
      List<DeviceLimit> limits,
      ActorRef<SessionActor.Command> session,
      List<ActorRef<GpuActor.Command>> gpus);

  /** A message for the process. */
  void send(SessionActor.Outbound message);

  /**
   * The session is refused before it started (its job belongs to someone else): the connection
   * tells the process why and closes. Nothing was attached anywhere.
   */
  void refuse(String reason);
}
