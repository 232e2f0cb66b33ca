package org.softmig.coordinator.slurm;

import org.softmig.gpu.actor.LimitSource;

/**
 * Who a connected process is and what it may use.
 *
 * @param jobId the job (the config file's name without {@code .conf} when one was used)
 * @param user the peer's user name (or its uid when unknown)
 * @param configFile the admin config file used, or null
 */
public record JobIdentity(
    String jobId, String user, LimitSource source, JobLimits limits, String configFile) {}
