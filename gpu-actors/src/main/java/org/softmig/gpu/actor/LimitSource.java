package org.softmig.gpu.actor;

/** Where a job's limits came from. */
public enum LimitSource {
  /** A root-owned config file for the job. */
  ADMIN_CONFIG,
  /** No config file: the process's own request. */
  PROCESS_ENVIRONMENT,
  /** The job was placed with {@code softmig place}. */
  PLACEMENT
}
