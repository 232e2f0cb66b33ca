package org.softmig.gpu.actor;

/**
 * Told of every lease a GPU actor grants, from inside the actor: it must be quick and must not
 * block (e.g. increment a metric).
 */
@FunctionalInterface
public interface GrantListener {

  GrantListener NONE = (gpuUuid, jobId, user, latencyNanos) -> {};

  /** {@code latencyNanos}: from the job starting to ask until this grant. */
  void granted(String gpuUuid, String jobId, String user, long latencyNanos);
}
