/*
 * The real driver and NVML entry points, resolved once into one table, and the list of
 * symbols the shim replaces (X-macros).  Every wrapper named in a *_WRAPPED list has an
 * exported definition with the exact prototype of that variant (memory.c, lease.c, shim.c).
 */
#ifndef SOFTMIG_INTERPOSE_H
#define SOFTMIG_INTERPOSE_H

#include "cuda_api.h"
#include "devmem.h"

/* Driver entry points the shim replaces. */
#define SOFTMIG_CU_WRAPPED(X)                                                                  \
	X(cuInit)                                                                              \
	X(cuGetProcAddress)                                                                    \
	X(cuGetProcAddress_v2)                                                                 \
	X(cuMemGetInfo_v2)                                                                     \
	X(cuDeviceTotalMem_v2)                                                                 \
	X(cuMemAlloc_v2)                                                                       \
	X(cuMemAllocPitch_v2)                                                                  \
	X(cuMemAllocManaged)                                                                   \
	X(cuMemAllocAsync)                                                                     \
	X(cuMemAllocAsync_ptsz)                                                                \
	X(cuMemAllocFromPoolAsync)                                                             \
	X(cuMemAllocFromPoolAsync_ptsz)                                                        \
	X(cuMemCreate)                                                                         \
	X(cuMemRelease)                                                                        \
	X(cuArrayCreate_v2)                                                                    \
	X(cuArray3DCreate_v2)                                                                  \
	X(cuMipmappedArrayCreate)                                                              \
	X(cuMemFree_v2)                                                                        \
	X(cuMemFreeAsync)                                                                      \
	X(cuMemFreeAsync_ptsz)                                                                 \
	X(cuArrayDestroy)                                                                      \
	X(cuMipmappedArrayDestroy)                                                             \
	X(cuLaunchKernel)                                                                      \
	X(cuLaunchKernel_ptsz)                                                                 \
	X(cuLaunchKernelEx)                                                                    \
	X(cuLaunchKernelEx_ptsz)                                                               \
	X(cuLaunchCooperativeKernel)                                                           \
	X(cuLaunchCooperativeKernel_ptsz)                                                      \
	X(cuLaunchCooperativeKernelMultiDevice)                                                \
	X(cuGraphLaunch)                                                                       \
	X(cuGraphLaunch_ptsz)                                                                  \
	SOFTMIG_CU_DEVMEM_WRAPPED(X)

/* Driver entry points the shim only calls. */
#define SOFTMIG_CU_CALLED(X)                                                                   \
	X(cuDeviceGetCount)                                                                    \
	X(cuDeviceGet)                                                                         \
	X(cuDeviceGetUuid)                                                                     \
	X(cuCtxGetDevice)                                                                      \
	X(cuCtxGetCurrent)                                                                     \
	X(cuCtxSetCurrent)                                                                     \
	X(cuStreamSynchronize)                                                                 \
	X(cuStreamQuery)                                                                       \
	X(cuEventCreate)                                                                       \
	X(cuEventRecord)                                                                       \
	X(cuEventQuery)                                                                        \
	X(cuEventSynchronize)                                                                  \
	X(cuEventDestroy_v2)                                                                   \
	SOFTMIG_CU_DEVMEM_CALLED(X)

#define SOFTMIG_NVML_WRAPPED(X)                                                                \
	X(nvmlDeviceGetMemoryInfo)                                                             \
	X(nvmlDeviceGetMemoryInfo_v2)

#define SOFTMIG_NVML_CALLED(X) X(nvmlDeviceGetUUID)

#define SOFTMIG_REAL_FIELD(name) __typeof__(&name) name;

struct real_cuda {
	SOFTMIG_CU_WRAPPED(SOFTMIG_REAL_FIELD)
	SOFTMIG_CU_CALLED(SOFTMIG_REAL_FIELD)
	softmig_uuid_fn cuDeviceGetUuid_v2;   /* not declared by CUDA 13 headers */
	int loaded;                           /* libcuda.so.1 was found */
};

struct real_nvml {
	SOFTMIG_NVML_WRAPPED(SOFTMIG_REAL_FIELD)
	SOFTMIG_NVML_CALLED(SOFTMIG_REAL_FIELD)
	int loaded;
};

extern struct real_cuda real_cu;
extern struct real_nvml real_nv;

/* Resolves real_cu from libcuda.so.1, once per process.  Safe from any thread. */
void interpose_load_cuda(void);

/* Resolves real_nv from libnvidia-ml.so.1, once per process. */
void interpose_load_nvml(void);

/* The real NVML entry point name (never a wrapper), or NULL; loads NVML if needed. */
void *interpose_real_nvml(const char *name);

#endif
