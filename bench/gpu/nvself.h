/*
 * This process's device memory as NVML reports it (contexts, modules, graph memory and
 * allocations alike), for the GPU probes. NVML is opened with dlopen so the probes build
 * without nvml.h and run where NVML is missing (the figure is then -1).
 */
#ifndef SOFTMIG_BENCH_NVSELF_H
#define SOFTMIG_BENCH_NVSELF_H

#include <cuda.h>
#include <dlfcn.h>
#include <stdio.h>
#include <unistd.h>

struct probe_nv_proc {
	unsigned int pid;
	unsigned long long used;
	unsigned int gpu_instance, compute_instance;
};

/* NVML's usage of this process on CUDA device dev, in bytes; -1 when NVML cannot tell. */
static inline long long nvml_self_bytes(CUdevice dev)
{
	static void *lib;
	static int (*by_uuid)(const char *, void **);
	static int (*procs)(void *, unsigned int *, struct probe_nv_proc *);
	static int started;
	struct probe_nv_proc infos[256];
	unsigned int n = 256;
	char uuid[64];
	CUuuid u;
	void *h;
	long long mine = 0;

	if (!started) {
		int (*init)(void);

		started = 1;
		lib = dlopen("libnvidia-ml.so.1", RTLD_NOW);
		if (!lib)
			return -1;
		init = (int (*)(void))dlsym(lib, "nvmlInit_v2");
		by_uuid = (int (*)(const char *, void **))dlsym(lib, "nvmlDeviceGetHandleByUUID");
		procs = (int (*)(void *, unsigned int *, struct probe_nv_proc *))dlsym(
			lib, "nvmlDeviceGetComputeRunningProcesses_v3");
		if (!init || !by_uuid || !procs || init() != 0) {
			procs = NULL;
			return -1;
		}
	}
	if (!procs || cuDeviceGetUuid(&u, dev) != CUDA_SUCCESS)
		return -1;
	snprintf(uuid, sizeof(uuid),
		 "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 (unsigned char)u.bytes[0], (unsigned char)u.bytes[1], (unsigned char)u.bytes[2],
		 (unsigned char)u.bytes[3], (unsigned char)u.bytes[4], (unsigned char)u.bytes[5],
		 (unsigned char)u.bytes[6], (unsigned char)u.bytes[7], (unsigned char)u.bytes[8],
		 (unsigned char)u.bytes[9], (unsigned char)u.bytes[10], (unsigned char)u.bytes[11],
		 (unsigned char)u.bytes[12], (unsigned char)u.bytes[13], (unsigned char)u.bytes[14],
		 (unsigned char)u.bytes[15]);
	if (by_uuid(uuid, &h) != 0 || procs(h, &n, infos) != 0)
		return -1;
	for (unsigned int i = 0; i < n; i++)
		if (infos[i].pid == (unsigned int)getpid())
			mine += (long long)infos[i].used;
	return mine;
}

#endif
