/*
 * The process's own device memory as NVML sees it: contexts, modules, graph memory and
 * allocations alike, straight from the driver (the real NVML, never the shim's adjusted view).
 */
#ifndef SOFTMIG_NVSELF_H
#define SOFTMIG_NVSELF_H

#include <stdint.h>

/*
 * This process's usage on CUDA device dev (0 when NVML does not list it there).  Returns 0,
 * or -1 when NVML cannot tell (no NVML, no UUID match, usage not available to this process).
 * Costs an NVML process query (tens to hundreds of microseconds): never on a hot path.
 */
int nvself_used(int dev, uint64_t *bytes);

/*
 * Starts NVML (nvmlInit and the device handles) on a detached thread, so that the first
 * nvself_used does not pay for it.  Needs shim.dev filled; harmless to skip.
 */
void nvself_prepare(void);

void nvself_after_fork(void);

#endif
