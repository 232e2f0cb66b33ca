package org.softmig.gpu.actor;

/**
 * Told of every lease a GPU actor grants, and of every hand-off a lease's holder reports, from
 * inside the actor: it must be quick and must not block (e.g. increment a metric).
 */
@FunctionalInterface
public interface GrantListener {

  GrantListener NONE = (gpuUuid, jobId, user, latencyNanos) -> {};

  /** {@code latencyNanos}: from the job starting to ask until this grant. */
  void granted(String gpuUuid, String jobId, String user, long latencyNanos);

  /**
   * A holder of one of the job's leases reported its hand-off: {@code handoffNanos} from the GPU
   * becoming free until the holder received the grant.
   */
  default void handedOff(String gpuUuid, String jobId, String user, long handoffNanos) {}
}
