package org.softmig.coordinator.slurm;

/**
 * What a process says about itself (from its environment); trusted only when the kernel and the
 * admin config files say nothing.
 *
 * @param jobId SLURM_JOB_ID or SOFTMIG_JOB_ID; empty if none
 * @param arrayTaskId SLURM_ARRAY_TASK_ID; empty if none
 */
public record ProcessClaim(String jobId, String arrayTaskId, JobLimits limits) {

  public static ProcessClaim none() {
    return new ProcessClaim("", "", JobLimits.NONE);
  }
}
