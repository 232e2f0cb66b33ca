/*
 * The CUDA driver and NVML declarations the shim compiles against.
 *
 * __CUDA_API_VERSION_INTERNAL makes cuda.h declare every versioned entry point under its own
 * name (cuMemAlloc and cuMemAlloc_v2, cuLaunchKernel and cuLaunchKernel_ptsz), so each
 * wrapper is checked against the exact prototype of the variant it replaces.
 *
 * NVML: nvml.h is used when the toolkit has it; otherwise the few NVML types the shim needs
 * are declared here (they are part of NVML's stable ABI).
 */
#ifndef SOFTMIG_CUDA_API_H
#define SOFTMIG_CUDA_API_H

#define __CUDA_API_VERSION_INTERNAL 1
#include <cuda.h>

#if defined(__has_include)
#if __has_include(<nvml.h>)
#define SOFTMIG_HAVE_NVML_H 1
#endif
#endif

#ifdef SOFTMIG_HAVE_NVML_H
#include <nvml.h>
#else
typedef int nvmlReturn_t;
#define NVML_SUCCESS 0
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_ERROR_FUNCTION_NOT_FOUND 13
typedef struct nvmlDevice_st *nvmlDevice_t;
typedef struct nvmlMemory_st {
	unsigned long long total;
	unsigned long long free;
	unsigned long long used;
} nvmlMemory_t;
typedef struct nvmlMemory_v2_st {
	unsigned int version;
	unsigned long long total;
	unsigned long long reserved;
	unsigned long long free;
	unsigned long long used;
} nvmlMemory_v2_t;
nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory);
nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *memory);
nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length);
#endif

/* cuDeviceGetUuid_v2 left the CUDA 13 API; the shim resolves it by name when the driver has it. */
typedef CUresult (*softmig_uuid_fn)(CUuuid *uuid, CUdevice dev);

#define SHIM_EXPORT __attribute__((visibility("default")))

#endif
