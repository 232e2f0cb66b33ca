/*
 * NVIDIA MPS clients: on a GPU the coordinator shares through MPS, the job's limits become the
 * MPS client settings of each of its processes, in the environment, before the driver
 * initialises (the driver reads them when it connects to the MPS control daemon, in cuInit).
 */
#ifndef SOFTMIG_MPS_H
#define SOFTMIG_MPS_H

#include <stdbool.h>

#include "config.h"

#define MPS_THREADS_KEY "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"
#define MPS_PINNED_KEY "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT"

/* What the process's MPS variables are to be; an empty string leaves a variable as it is. */
struct mps_plan {
	bool client;                              /* the process is an MPS client of softmig's */
	char pipe_dir[CFG_MAX_PIPE_DIR + 1];      /* CUDA_MPS_PIPE_DIRECTORY */
	char threads[16];                         /* CUDA_MPS_ACTIVE_THREAD_PERCENTAGE */
	char pinned[48];                          /* CUDA_MPS_PINNED_DEVICE_MEM_LIMIT */
};

/*
 * Decides the MPS variables of a process from its configuration and what its environment holds
 * now (env_pipe, env_threads: NULL when unset).  Pure.
 *   - With an admin file, the process is an MPS client only when the file names a pipe directory
 *     (CUDA_MPS_PIPE_DIRECTORY, written by the Prolog for an MPS slice); that directory replaces
 *     the environment's.  A job file without one is a time-slicing job: nothing is touched.
 *   - Without an admin file (no SLURM job: the environment's limits are the request, as for the
 *     coordinator), the process is an MPS client when its environment names a pipe directory.
 *   - An MPS client's SM limit of ordinal 0 (an MPS client sees the one GPU of its server), when
 *     it is below 100 %, is its active-thread percentage, rounded down to a whole percent (at
 *     least 1).  A lower percentage already in the environment stays (MPS only lets a client
 *     constrain itself further); a higher or invalid one is replaced.
 *   - Its memory limit of ordinal 0, when set, is its pinned device memory limit ("0=<MiB>M",
 *     rounded up to whole MiB): a backstop behind softmig's per-job limit, which one process can
 *     never pass anyway.
 *   - A disabled shim or a configuration in error (GPU access refused) is no client.
 */
void mps_plan(const struct shim_config *cfg, const char *env_pipe, const char *env_threads, struct mps_plan *out);

/*
 * Sets the variables the plan names, where the environment differs.  Returns how many it set.
 * Precondition: before the driver initialises, under the shim's start lock.
 */
int mps_apply(const struct mps_plan *plan);

#endif
