package org.softmig.gpu.actor;

/**
 * Who a session is, as decided by the coordinator (never by the process alone).
 *
 * @param sessionId unique on this node
 * @param pid the peer's pid from the kernel
 */
public record SessionSpec(
    long sessionId, String jobId, int pid, int uid, String user, LimitSource source) {}
