/*
 * Process-wide start and fork handling.
 *
 * Nothing happens at load time except registering the fork handlers: the session (config,
 * devices, coordinator connection) starts on the first CUDA call, under start_mu, and
 * shim_started is published with release order so later calls see a complete shim_state.
 * A forked child drops the parent's session (its socket thread does not exist in the child)
 * and starts a fresh one on its own first CUDA call.
 *
 * Before the real cuInit (the wrapper's or shim_ensure's, whichever comes first), the MPS
 * client variables are set from the configuration (mps.c): the driver reads them when it
 * connects to the MPS control daemon, so they must be right before it initialises, which is
 * before the coordinator can be asked anything.
 */
#include "shim.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "devmem.h"
#include "interpose.h"
#include "lease.h"
#include "log.h"
#include "memory.h"
#include "mps.h"
#include "nvself.h"

struct shim_state shim;

static pthread_mutex_t start_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_int shim_started;
static atomic_int config_loaded;
static atomic_int mps_prepared;
static __thread int in_start;

void shim_format_uuid(const unsigned char b[16], char out[SHIM_UUID_LEN])
{
	snprintf(out, SHIM_UUID_LEN,
		 "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
		 b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* Called with start_mu held. */
static void load_config_locked(void)
{
	if (atomic_load_explicit(&config_loaded, memory_order_relaxed))
		return;
	cfg_load(&shim.cfg);
	log_init(&shim.cfg);
	for (int i = 0; i < shim.cfg.nnotes; i++)
		log_msg(LOG_WARN, "%s", shim.cfg.notes[i]);
	atomic_store_explicit(&config_loaded, 1, memory_order_release);
}

/* Called with start_mu held, before the real cuInit. */
static void prepare_mps_locked(void)
{
	struct mps_plan plan;
	int changed;

	if (atomic_load_explicit(&mps_prepared, memory_order_relaxed))
		return;
	load_config_locked();
	mps_plan(&shim.cfg, getenv(CFG_MPS_PIPE_KEY), getenv(MPS_THREADS_KEY), &plan);
	changed = mps_apply(&plan);
	if (plan.client)
		log_msg(LOG_INFO, "MPS client: %s=%s %s=%s %s=%s (%d set by softmig)", CFG_MPS_PIPE_KEY,
			getenv(CFG_MPS_PIPE_KEY) ? getenv(CFG_MPS_PIPE_KEY) : "-", MPS_THREADS_KEY,
			getenv(MPS_THREADS_KEY) ? getenv(MPS_THREADS_KEY) : "-", MPS_PINNED_KEY,
			getenv(MPS_PINNED_KEY) ? getenv(MPS_PINNED_KEY) : "-", changed);
	atomic_store_explicit(&mps_prepared, 1, memory_order_release);
}

void shim_config_ensure(void)
{
	if (atomic_load_explicit(&config_loaded, memory_order_acquire))
		return;
	pthread_mutex_lock(&start_mu);
	load_config_locked();
	pthread_mutex_unlock(&start_mu);
}

/* Fills shim.dev from the driver.  Needs cuInit to have succeeded. */
static void enumerate_devices(void)
{
	int count = 0;

	if (!real_cu.cuDeviceGetCount || real_cu.cuDeviceGetCount(&count) != CUDA_SUCCESS)
		count = 0;
	if (count > CFG_MAX_DEVICES)
		count = CFG_MAX_DEVICES;
	for (int i = 0; i < count; i++) {
		CUdevice d;
		CUuuid u;
		size_t total = 0;
		CUresult rc = CUDA_ERROR_NOT_FOUND;

		memset(&u, 0, sizeof(u));
		if (real_cu.cuDeviceGet(&d, i) != CUDA_SUCCESS)
			d = i;
		if (real_cu.cuDeviceGetUuid_v2)
			rc = real_cu.cuDeviceGetUuid_v2(&u, d);
		if (rc != CUDA_SUCCESS && real_cu.cuDeviceGetUuid)
			rc = real_cu.cuDeviceGetUuid(&u, d);
		shim_format_uuid((const unsigned char *)u.bytes, shim.dev[i].uuid);
		if (real_cu.cuDeviceTotalMem_v2 && real_cu.cuDeviceTotalMem_v2(&total, d) == CUDA_SUCCESS)
			shim.dev[i].total_bytes = total;
		log_msg(LOG_INFO, "device %d: %s, %zu bytes%s", i, shim.dev[i].uuid, total,
			rc == CUDA_SUCCESS ? "" : " (no UUID from the driver)");
	}
	shim.ndev = count;
}

bool shim_ensure(void)
{
	if (atomic_load_explicit(&shim_started, memory_order_acquire))
		return shim.active;
	if (in_start)
		return false;
	pthread_mutex_lock(&start_mu);
	if (atomic_load_explicit(&shim_started, memory_order_relaxed))
		goto out_unlock;
	in_start = 1;
	load_config_locked();
	interpose_load_cuda();
	shim.active = !shim.cfg.disabled && real_cu.loaded;
	if (shim.active) {
		prepare_mps_locked();
		if (real_cu.cuInit)
			real_cu.cuInit(0);
		enumerate_devices();
		nvself_prepare();
		mem_start();
		lease_start();
		if (shim.cfg.error[0]) {
			/* an invalid limit never means "no limit": no GPU for this process */
			atomic_store(&shim.denied, true);
			log_denied(shim.cfg.error);
		} else {
			client_start();
		}
	}
	in_start = 0;
	atomic_store_explicit(&shim_started, 1, memory_order_release);
out_unlock:
	pthread_mutex_unlock(&start_mu);
	return shim.active;
}

int shim_current_device(void)
{
	CUdevice d;

	if (shim.ndev == 1)
		return 0;
	if (!real_cu.cuCtxGetDevice || real_cu.cuCtxGetDevice(&d) != CUDA_SUCCESS)
		return -1;
	return (d >= 0 && d < shim.ndev) ? (int)d : -1;
}

int shim_device_by_uuid(const char *uuid)
{
	for (int i = 0; i < shim.ndev; i++)
		if (strcasecmp(shim.dev[i].uuid, uuid) == 0)
			return i;
	return -1;
}

SHIM_EXPORT CUresult CUDAAPI cuInit(unsigned int flags)
{
	CUresult rc;

	interpose_load_cuda();
	if (!real_cu.cuInit)
		return CUDA_ERROR_NOT_INITIALIZED;
	if (!atomic_load_explicit(&mps_prepared, memory_order_acquire) && !in_start) {
		pthread_mutex_lock(&start_mu);
		prepare_mps_locked();
		pthread_mutex_unlock(&start_mu);
	}
	rc = real_cu.cuInit(flags);
	if (rc == CUDA_SUCCESS) {
		shim_ensure();
		if (atomic_load(&shim.denied))
			return CUDA_ERROR_NO_DEVICE;
	}
	return rc;
}

static void fork_prepare(void)
{
	pthread_mutex_lock(&start_mu);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&start_mu);
}

static void fork_child(void)
{
	pthread_mutex_init(&start_mu, NULL);
	if (atomic_load_explicit(&shim_started, memory_order_relaxed) && shim.active) {
		client_after_fork();
		mem_after_fork();
		devmem_after_fork();
		nvself_after_fork();
		lease_after_fork();
	}
	log_close();
	shim.active = false;
	atomic_store(&shim.denied, false);
	shim.ndev = 0;
	atomic_store(&config_loaded, 0);
	atomic_store(&mps_prepared, 0);
	atomic_store(&shim_started, 0);
}

__attribute__((constructor)) static void shim_load(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/*
 * At exit, send the usage a credit holder has not reported yet (its peak and local refusals),
 * so the job's report is exact for processes that end normally.  A process killed by a signal
 * skips this; its last periodic report stands.
 */
__attribute__((destructor)) static void shim_unload(void)
{
	if (atomic_load_explicit(&shim_started, memory_order_acquire) && shim.active)
		mem_flush_reports();
}
