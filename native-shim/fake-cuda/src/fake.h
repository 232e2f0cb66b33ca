/*
 * Internal declarations of the fake CUDA driver (libcuda.so.1 for machines without a GPU).
 *
 * Every file includes this header instead of <cuda.h>. It compiles against the real CUDA
 * headers with __CUDA_API_VERSION_INTERNAL (set by CMakeLists.txt), the mode in which
 * cuda.h declares every exported variant under its own name: cuMemAlloc_v2 and the legacy
 * cuMemAlloc, cuLaunchKernel and cuLaunchKernel_ptsz. Each function defined here therefore
 * has exactly the signature the header gives that symbol. Only the functions declared by
 * cuda.h are exported (__CUDA_API_PUSH_VISIBILITY_DEFAULT with -fvisibility=hidden);
 * everything in this header is internal.
 *
 * Files: device.c (devices, errors), context.c (contexts, modules), memory.c (simulated
 * device memory), timeline.c (streams, events, launches on a simulated device timeline),
 * graph.c (graphs and stream capture), proc_address.c (cuGetProcAddress).
 */
#ifndef SOFTMIG_FAKE_H
#define SOFTMIG_FAKE_H

#include <cuda.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spec.h"

/* device.c */

/* CUDA_SUCCESS when cuInit succeeded and dev is a valid ordinal. */
CUresult fake_check_device(CUdevice dev);
/* The simulated GPU of a valid ordinal. */
const struct fake_gpu *fake_device(CUdevice dev);
bool fake_initialized(void);

/*
 * Handles are pointers to the structs cuda.h leaves opaque (struct CUctx_st, ...). Each
 * starts with a magic number so that a stale or foreign handle is refused with
 * CUDA_ERROR_INVALID_HANDLE / CUDA_ERROR_INVALID_CONTEXT instead of being used.
 */

/* context.c */

/* The device of the calling thread's current context: CUDA_ERROR_INVALID_CONTEXT if none. */
CUresult fake_current_device(CUdevice *dev);
/* The device of a context handle. */
CUresult fake_context_device(CUcontext ctx, CUdevice *dev);
/* Is f a function from cuModuleGetFunction / cuKernelGetFunction, or a CUkernel? */
bool fake_function_valid(CUfunction f);

/* memory.c */

/* Charges bytes of device memory that no allocation call returns (a context, a module's
 * globals, graph memory) to dev: CUDA_ERROR_OUT_OF_MEMORY past its total. */
CUresult fake_charge(CUdevice dev, uint64_t bytes);
void fake_uncharge(CUdevice dev, uint64_t bytes);

/* context.c: what one context costs on its device (SOFTMIG_FAKE_CONTEXT_BYTES, default 0). */
uint64_t fake_context_bytes(void);

/* timeline.c */

/* A graph (graph.c); stream capture (timeline.c) adds kernel nodes to one. */
#define FAKE_GRAPH_MAGIC 0x67726170u

struct CUgraph_st {
  uint32_t magic;
  uint64_t kernel_nodes; /* a graph occupies its device for this many kernel times */
  struct CUgraphNode_st *nodes; /* nodes added by cuGraphAdd*Node (newest first) */
  size_t node_count;
};

/* Nanoseconds on CLOCK_MONOTONIC, the clock shared by all processes of the host. */
uint64_t fake_now_ns(void);
/* The device a stream handle (or a default stream) belongs to. */
CUresult fake_stream_device(CUstream stream, CUdevice *dev);
/*
 * Enqueues `kernels` back-to-back kernels on a stream: they occupy the stream's device for
 * kernels x SOFTMIG_FAKE_KERNEL_US after the device and the stream are free. On a stream
 * that is being captured, they are added to the capture graph instead.
 */
CUresult fake_launch(CUstream stream, uint64_t kernels);
/* Starts / ends capturing a stream into a graph. */
CUresult fake_stream_begin_capture(CUstream stream);
CUresult fake_stream_end_capture(CUstream stream, CUgraph *graph);
CUresult fake_stream_capture_status(CUstream stream, CUstreamCaptureStatus *status, uint64_t *id);

/* Waits for all work this process queued on one device (cuCtxSynchronize). */
CUresult fake_device_synchronize(CUdevice dev);

/* graph.c */

/* A new empty graph, or NULL when out of host memory. */
CUgraph fake_graph_new(void);

#endif
