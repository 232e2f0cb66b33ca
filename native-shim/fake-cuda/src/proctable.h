/*
 * The fake driver's per-process device memory, published for the fake NVML.
 *
 * The real NVML reports every process's device memory (allocations, contexts, modules, graph
 * memory) from the kernel driver. Here each process that uses the fake libcuda.so.1 writes its
 * usage per GPU into a shared-memory object of its own, /dev/shm/softmig-fake-proc-<pid>, and
 * the fake libnvidia-ml.so.1 lists those objects in nvmlDeviceGetComputeRunningProcesses.
 *
 * An object whose process is gone (no such pid, or a pid reused by a process that started at
 * another time) is ignored and removed by the reader, so a SIGKILLed process leaves nothing
 * behind in NVML's view.
 */
#ifndef SOFTMIG_FAKE_PROCTABLE_H
#define SOFTMIG_FAKE_PROCTABLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "spec.h"

#define FAKE_PROC_MAGIC 0x736d7072u /* "smpr" */
#define FAKE_PROC_PREFIX "softmig-fake-proc-"

struct fake_proc_slot {
  char uuid[48];                 /* the GPU, "GPU-..."; empty when unused */
  _Atomic uint64_t used_bytes;   /* what this process holds on it */
};

struct fake_proc_table {
  uint32_t magic;
  uint32_t pid;
  uint64_t start_ticks;          /* /proc/<pid>/stat field 22: tells a reused pid apart */
  struct fake_proc_slot slots[FAKE_MAX_GPUS];
};

/* Writer (libcuda): publishes this process's usage on the GPU `uuid` (slot = CUDA ordinal). */
void fake_proc_publish(int slot, const char *uuid, uint64_t used_bytes);

/* The start time of pid in clock ticks since boot, or 0 when the process does not exist. */
uint64_t fake_proc_start_ticks(pid_t pid);

/*
 * Reader (libnvidia-ml): calls fn for every live process with memory on the GPU `uuid`.
 * Objects of dead processes are removed.
 */
void fake_proc_scan(const char *uuid, void (*fn)(uint32_t pid, uint64_t used_bytes, void *arg),
                    void *arg);

#endif
