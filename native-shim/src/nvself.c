/*
 * The process's own device memory from NVML (see nvself.h).
 *
 * NVML is initialised once, on first use, through the real library's entry points
 * (interpose_real_nvml); handles are looked up by the device's UUID and cached.  The process
 * list is read with nvmlDeviceGetComputeRunningProcesses_v3 (drivers before R510: _v2, same
 * layout), growing the buffer when NVML says it is too small.
 *
 * nvmlInit takes tens of milliseconds, so nvself_prepare() starts it (and the handle lookups)
 * on a thread of its own as soon as the devices are known, where it overlaps the driver's
 * context creation; a query that comes first waits for it on nv_mu.
 *
 * Thread-safety: nv_mu guards the cached handles; NVML itself is thread-safe.
 */
#define _GNU_SOURCE
#include "nvself.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "interpose.h"
#include "shim.h"

#define NV_SUCCESS 0
#define NV_INSUFFICIENT_SIZE 7
#define NV_NOT_AVAILABLE 0xFFFFFFFFFFFFFFFFULL

/* nvmlProcessInfo_v2_t, filled by the _v3 and _v2 queries (24 bytes on LP64). */
struct nv_proc {
	unsigned int pid;
	unsigned long long used;
	unsigned int gpu_instance;
	unsigned int compute_instance;
};

typedef int (*nv_init_fn)(void);
typedef int (*nv_by_uuid_fn)(const char *uuid, void **device);
typedef int (*nv_procs_fn)(void *device, unsigned int *count, struct nv_proc *infos);

static pthread_mutex_t nv_mu = PTHREAD_MUTEX_INITIALIZER;
static bool nv_tried, nv_ok;
static nv_by_uuid_fn nv_by_uuid;
static nv_procs_fn nv_procs;
static void *handles[CFG_MAX_DEVICES];

/* Called with nv_mu held. */
static bool nv_start_locked(void)
{
	nv_init_fn init;

	if (nv_tried)
		return nv_ok;
	nv_tried = true;
	init = (nv_init_fn)(void *)interpose_real_nvml("nvmlInit_v2");
	nv_by_uuid = (nv_by_uuid_fn)(void *)interpose_real_nvml("nvmlDeviceGetHandleByUUID");
	nv_procs = (nv_procs_fn)(void *)interpose_real_nvml("nvmlDeviceGetComputeRunningProcesses_v3");
	if (!nv_procs)
		nv_procs = (nv_procs_fn)(void *)interpose_real_nvml("nvmlDeviceGetComputeRunningProcesses_v2");
	if (!init || !nv_by_uuid || !nv_procs) {
		log_msg(LOG_INFO, "NVML not available: context and module costs are left to the coordinator");
		return false;
	}
	if (init() != NV_SUCCESS) {
		log_msg(LOG_WARN, "nvmlInit failed: context and module costs are left to the coordinator");
		return false;
	}
	nv_ok = true;
	return true;
}

static void *device_handle(int dev)
{
	void *h = NULL;

	pthread_mutex_lock(&nv_mu);
	if (nv_start_locked()) {
		if (!handles[dev] && nv_by_uuid(shim.dev[dev].uuid, &handles[dev]) != NV_SUCCESS)
			handles[dev] = NULL;
		h = handles[dev];
	}
	pthread_mutex_unlock(&nv_mu);
	return h;
}

static void *prepare_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&nv_mu);
	if (nv_start_locked())
		for (int dev = 0; dev < shim.ndev && dev < CFG_MAX_DEVICES; dev++)
			if (!handles[dev] && nv_by_uuid(shim.dev[dev].uuid, &handles[dev]) != NV_SUCCESS)
				handles[dev] = NULL;
	pthread_mutex_unlock(&nv_mu);
	return NULL;
}

void nvself_prepare(void)
{
	pthread_t t;
	pthread_attr_t attr;

	if (pthread_attr_init(&attr) != 0)
		return;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, prepare_main, NULL) != 0)
		log_msg(LOG_INFO, "NVML is started on first use (no thread to start it early)");
	pthread_attr_destroy(&attr);
}

int nvself_used(int dev, uint64_t *bytes)
{
	struct nv_proc stack[64], *infos = stack;
	unsigned int cap = 64, count;
	unsigned int me = (unsigned int)getpid();
	void *h;
	int rc, result = -1;

	if (dev < 0 || dev >= shim.ndev || !(h = device_handle(dev)))
		return -1;
	for (int attempt = 0; attempt < 4; attempt++) {
		count = cap;
		rc = nv_procs(h, &count, infos);
		if (rc != NV_INSUFFICIENT_SIZE)
			break;
		cap = count + 16;
		if (infos != stack)
			free(infos);
		infos = malloc(cap * sizeof(*infos));
		if (!infos)
			return -1;
	}
	if (rc == NV_SUCCESS) {
		*bytes = 0;
		result = 0;
		for (unsigned int i = 0; i < count && i < cap; i++) {
			if (infos[i].pid != me)
				continue;
			if (infos[i].used == NV_NOT_AVAILABLE)
				result = -1;
			else
				*bytes += infos[i].used;
		}
	}
	if (infos != stack)
		free(infos);
	return result;
}

void nvself_after_fork(void)
{
	pthread_mutex_init(&nv_mu, NULL);
	memset(handles, 0, sizeof(handles)); /* same devices, but re-resolved: cheap and safe */
	if (!nv_ok)
		nv_tried = false; /* a start in progress on the parent's thread never finishes here */
}
