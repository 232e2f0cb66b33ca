/*
 * Shared helpers of the test programs: driver entry points reached the three ways an
 * application reaches them (linked directly, dlsym on libcuda.so.1, cuGetProcAddress), and
 * a context on device PROBE_DEVICE (a CUDA ordinal, default 0).
 */
#ifndef SOFTMIG_PROBE_H
#define SOFTMIG_PROBE_H

#define _GNU_SOURCE
#include <cuda.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum probe_via { VIA_DIRECT, VIA_DLSYM, VIA_PROCADDR };

static enum probe_via probe_via_mode = VIA_DIRECT;

static inline enum probe_via probe_parse_via(const char *s)
{
	if (strcmp(s, "dlsym") == 0)
		return VIA_DLSYM;
	if (strcmp(s, "procaddr") == 0)
		return VIA_PROCADDR;
	return VIA_DIRECT;
}

/*
 * The entry point `name` (base name for cuGetProcAddress, e.g. "cuMemAlloc"; exact symbol for
 * dlsym, e.g. "cuMemAlloc_v2"), or direct when linked directly.  flags: 0 or
 * CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM.
 */
static inline void *probe_resolve(void *direct, const char *symbol, const char *base, cuuint64_t flags)
{
	static void *lib;
	void *p = NULL;
	CUdriverProcAddressQueryResult st;

	switch (probe_via_mode) {
	case VIA_DIRECT:
		return direct;
	case VIA_DLSYM:
		if (!lib)
			lib = dlopen("libcuda.so.1", RTLD_NOW);
		return lib ? dlsym(lib, symbol) : NULL;
	case VIA_PROCADDR:
		if (cuGetProcAddress_v2(base, &p, CUDA_VERSION, flags, &st) != CUDA_SUCCESS)
			return NULL;
		return p;
	}
	return NULL;
}

#define RESOLVE(type, direct, symbol, base, flags) ((type)probe_resolve((void *)(direct), symbol, base, flags))

/* cuInit and a current primary context on device PROBE_DEVICE (default 0); exits 3 on failure. */
static inline CUdevice probe_context(void)
{
	CUdevice dev;
	CUcontext ctx;
	CUresult rc;
	const char *ordinal = getenv("PROBE_DEVICE");

	if ((rc = cuInit(0)) != CUDA_SUCCESS ||
	    (rc = cuDeviceGet(&dev, ordinal ? atoi(ordinal) : 0)) != CUDA_SUCCESS ||
	    (rc = cuDevicePrimaryCtxRetain(&ctx, dev)) != CUDA_SUCCESS || (rc = cuCtxSetCurrent(ctx)) != CUDA_SUCCESS) {
		printf("{\"error\":\"no context\",\"rc\":%d}\n", (int)rc);
		exit(3);
	}
	return dev;
}

#endif
