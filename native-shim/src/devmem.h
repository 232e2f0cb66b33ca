/*
 * Device memory that comes from no allocation call: CUDA contexts (primary and cuCtxCreate),
 * modules and libraries (their __device__ globals), graph memory allocation nodes.
 */
#ifndef SOFTMIG_DEVMEM_H
#define SOFTMIG_DEVMEM_H

#include "cuda_api.h"

/* cuCtxCreate_v4 (CUctxCreateParams) came with CUDA 12.5. */
#if CUDA_VERSION >= 12050
#define SOFTMIG_CTX_CREATE_V4(X) X(cuCtxCreate_v4)
#else
#define SOFTMIG_CTX_CREATE_V4(X)
#endif

/* The driver entry points devmem.c replaces (part of SOFTMIG_CU_WRAPPED). */
#define SOFTMIG_CU_DEVMEM_WRAPPED(X)                                                           \
	X(cuDevicePrimaryCtxRetain)                                                            \
	X(cuDevicePrimaryCtxRelease_v2)                                                        \
	X(cuDevicePrimaryCtxReset_v2)                                                          \
	X(cuCtxCreate_v2)                                                                      \
	X(cuCtxCreate_v3)                                                                      \
	SOFTMIG_CTX_CREATE_V4(X)                                                               \
	X(cuCtxDestroy_v2)                                                                     \
	X(cuModuleLoad)                                                                        \
	X(cuModuleLoadData)                                                                    \
	X(cuModuleLoadDataEx)                                                                  \
	X(cuModuleLoadFatBinary)                                                               \
	X(cuModuleUnload)                                                                      \
	X(cuLibraryLoadData)                                                                   \
	X(cuLibraryLoadFromFile)                                                               \
	X(cuLibraryUnload)                                                                     \
	X(cuGraphInstantiateWithFlags)                                                         \
	X(cuGraphInstantiate_v2)                                                               \
	X(cuGraphInstantiateWithParams)                                                        \
	X(cuGraphInstantiateWithParams_ptsz)                                                   \
	X(cuGraphExecDestroy)

/* The entry points devmem.c only calls. */
#define SOFTMIG_CU_DEVMEM_CALLED(X)                                                            \
	X(cuDevicePrimaryCtxGetState)                                                          \
	X(cuGraphGetNodes)                                                                     \
	X(cuGraphNodeGetType)                                                                  \
	X(cuGraphMemAllocNodeGetParams)

void devmem_after_fork(void);

#endif
