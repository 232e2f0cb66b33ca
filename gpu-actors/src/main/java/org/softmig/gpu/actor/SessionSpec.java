package org.softmig.gpu.actor;

/**
 * Who a session is, as decided by the coordinator (never by the process alone).
 *
 * @param sessionId unique on this node
 * @param pid the peer's pid from the kernel
 * @param protocolVersion the protocol version the session speaks; sessions before {@link
 *     #CREDIT_PROTOCOL_VERSION} are never lent a memory credit
 * @param kernelJob true when the job id comes from the process's SLURM cgroup, false when it is
 *     only the name the process gave
 */
public record SessionSpec(
    long sessionId,
    String jobId,
    int pid,
    int uid,
    String user,
    LimitSource source,
    int protocolVersion,
    boolean kernelJob) {

  /** The first protocol version whose shims report memory by deltas and may hold a credit. */
  public static final int CREDIT_PROTOCOL_VERSION = 2;

  public SessionSpec(long sessionId, String jobId, int pid, int uid, String user, LimitSource source) {
    this(sessionId, jobId, pid, uid, user, source, CREDIT_PROTOCOL_VERSION);
  }

  public SessionSpec(
      long sessionId,
      String jobId,
      int pid,
      int uid,
      String user,
      LimitSource source,
      int protocolVersion) {
    this(sessionId, jobId, pid, uid, user, source, protocolVersion, false);
  }

  public boolean creditCapable() {
    return protocolVersion >= CREDIT_PROTOCOL_VERSION;
  }

  public SessionSpec withSource(LimitSource newSource) {
    return new SessionSpec(sessionId, jobId, pid, uid, user, newSource, protocolVersion, kernelJob);
  }
}
