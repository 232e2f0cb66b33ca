/*
 * The launch gate: kernels run on a gated device only while the process's job holds an SM
 * time-slice lease from the coordinator.
 */
#ifndef SOFTMIG_LEASE_H
#define SOFTMIG_LEASE_H

#include <stdbool.h>
#include <stdint.h>

void lease_start(void);
void lease_after_fork(void);

/* A Welcome, before its limits: local pacing ends (the limits then gate what they gate). */
void lease_on_welcome(void);
/*
 * Welcome / LimitsUpdate: whether dev needs a lease, the job's SM limit (kept for pacing while the
 * coordinator is away) and the node's lease length (0 = unchanged).
 */
void lease_on_limits(int dev, bool gated, double sm_limit_percent, uint32_t lease_us);
/*
 * LeaseGrant.  gpu_free_mono_ns: when the GPU became free for it (CLOCK_MONOTONIC, 0 = unknown);
 * the hand-off (arrival - gpu_free_mono_ns) goes back in the lease's LeaseRelease.
 */
void lease_on_grant(int dev, uint64_t lease_id, uint32_t duration_us, int64_t gpu_free_mono_ns);
void lease_on_revoke(int dev, uint64_t lease_id);
/*
 * The connection dropped: a gated device of a job with an SM limit paces its launches locally at
 * that limit until the next Welcome; every other gate opens; waiters wake up.
 */
void lease_on_disconnect(void);

/* Socket thread: end leases that went idle or ran out; returns ms until it wants to run again. */
int lease_tick(void);

#endif
