/*
 * Memory accounting: reservations before the driver allocates, the pointer map for frees,
 * credit mode, and the figures reported by cuMemGetInfo/cuDeviceTotalMem/NVML.
 */
#ifndef SOFTMIG_MEMORY_H
#define SOFTMIG_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mem_limits_in {
	int dev;
	uint64_t limit;
};

struct mem_holding {
	int dev;
	uint64_t bytes;
	uint32_t allocations;
};

/* Sets every device's limit from the config.  Called once per session before the client starts. */
void mem_start(void);
void mem_after_fork(void);

/* A Welcome or LimitsUpdate: dev's limit becomes limit (0 = none); exact mode until a credit. */
void mem_on_limit(int dev, uint64_t limit);

/*
 * A Welcome or LimitsUpdate: the job gets none of dev (denied) or may use it.  A denied device
 * refuses every allocation (CUDA_ERROR_OUT_OF_MEMORY) and every context (CUDA_ERROR_NOT_PERMITTED)
 * and reports 0 bytes free and total (cuMemGetInfo, cuDeviceTotalMem, NVML).
 */
void mem_on_denied(int dev, bool denied);
bool mem_denied(int dev);
/*
 * After a Welcome's limits: settles what was allocated or freed locally since the Hello, then
 * calls welcomed() (which switches the client to exact/credit mode) with the memory lock held,
 * so no allocation falls between the two.
 */
void mem_on_welcome(void (*welcomed)(void));
void mem_on_credit_grant(int dev, uint64_t ceiling, uint64_t epoch);
void mem_on_credit_revoke(int dev, uint64_t epoch);
/* The connection dropped: credits end, limits stay as they were. */
void mem_on_disconnect(void);

/*
 * Fills out (capacity cap) with what the process holds; returns the number of devices.  Called
 * when the Hello is built: from then on nothing is decided locally until the Welcome.
 */
int mem_holdings(struct mem_holding *out, int cap);

/* Sends pending UsageReports (socket thread). */
void mem_flush_reports(void);

/* Adjusts a physical (free, total) of dev to the job's limit, if it has one. */
void mem_adjust_info(int dev, uint64_t *free_bytes, uint64_t *total_bytes);

/*
 * Device memory that no allocation wrapper sees (a context, a module's globals, graph memory;
 * devmem.c): charged like an allocation of kind (AllocationKind).  mem_charge returns 0 when
 * the bytes are the process's, -1 when they are over the limit (the caller undoes the call
 * and returns CUDA_ERROR_OUT_OF_MEMORY).
 */
int mem_charge(int dev, uint64_t bytes, int kind);
void mem_uncharge(int dev, uint64_t bytes, int kind);

/* What this process holds on dev as the shim tracks it (allocations and charges). */
uint64_t mem_used(int dev);

/* dev's limit, 0 when none. */
uint64_t mem_limit(int dev);

/* The job's usage on dev as last known (>= mem_used(dev)): what cuMemGetInfo takes off the limit. */
uint64_t mem_job_used(int dev);

#endif
