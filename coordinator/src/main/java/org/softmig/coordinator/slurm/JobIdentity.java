package org.softmig.coordinator.slurm;

import org.softmig.gpu.actor.LimitSource;

/**
 * Who a connected process is and what it may use.
 *
 * @param jobId the job (the config file's name without {@code .conf} when one was used)
 * @param user the peer's user name (or its uid when unknown)
 * @param configFile the admin config file used, or null
 * @param kernelJob true when the job comes from the process's SLURM cgroup, false when it is only
 *     the name the process gave (or none)
 */
public record JobIdentity(
    String jobId,
    String user,
    LimitSource source,
    JobLimits limits,
    String configFile,
    boolean kernelJob) {}
