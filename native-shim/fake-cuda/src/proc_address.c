/*
 * cuGetProcAddress: how CUDA 12+ runtimes find every driver function.
 *
 * A caller asks for a base name ("cuMemAlloc"), the CUDA version its code was built for,
 * and whether it uses the per-thread default stream. The answer is the exported variant
 * with that version's signature: the entry of the base name with the highest version not
 * above the requested one. With CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM, a name that
 * has _ptsz/_ptds entries is answered from those alone (before their version: not found),
 * any other name from its ordinary entries. The versions are those of the
 * PFN_<name>_v<version> typedefs in cudaTypedefs.h, and every entry is checked at compile
 * time against its typedef, so a row with the wrong variant does not build. A driver 580
 * (CUDA 13.0) gives the same answers for every name, version and mode in the table
 * (tools/compare_proc_address.c).
 *
 * The pointers are this library's own functions (the library links with -Bsymbolic, so an
 * LD_PRELOADed wrapper of the same name is not returned here, as with the real driver).
 */
#include "fake.h"

#include <cudaTypedefs.h>
#include <string.h>

struct proc_entry {
  const char *name;
  int version;
  bool per_thread;
  void *function;
};

/* The conditional expression fails to compile (-Werror) unless symbol has the PFN type. */
#define PROC(name, version, symbol) \
  {#name, version, false, (void *)(1 ? (symbol) : (PFN_##name##_v##version)0)}
#define PROC_PER_THREAD(name, version, suffix, symbol) \
  {#name, version, true, (void *)(1 ? (symbol) : (PFN_##name##_v##version##_##suffix)0)}

static const struct proc_entry proc_table[] = {
    /* Devices and errors (device.c) */
    PROC(cuInit, 2000, cuInit),
    PROC(cuDriverGetVersion, 2020, cuDriverGetVersion),
    PROC(cuDeviceGet, 2000, cuDeviceGet),
    PROC(cuDeviceGetCount, 2000, cuDeviceGetCount),
    PROC(cuDeviceGetName, 2000, cuDeviceGetName),
    PROC(cuDeviceGetUuid, 9020, cuDeviceGetUuid),
    PROC(cuDeviceGetUuid, 11040, cuDeviceGetUuid_v2),
    PROC(cuDeviceTotalMem, 3020, cuDeviceTotalMem_v2),
    PROC(cuDeviceGetAttribute, 2000, cuDeviceGetAttribute),
    PROC(cuDeviceGetPCIBusId, 4010, cuDeviceGetPCIBusId),
    PROC(cuDeviceComputeCapability, 2000, cuDeviceComputeCapability),
    PROC(cuGetExportTable, 3000, cuGetExportTable),
    PROC(cuGetErrorName, 6000, cuGetErrorName),
    PROC(cuGetErrorString, 6000, cuGetErrorString),
    /* Contexts, modules, libraries, peers, occupancy (context.c) */
    PROC(cuCtxCreate, 2000, cuCtxCreate),
    PROC(cuCtxCreate, 3020, cuCtxCreate_v2),
    PROC(cuCtxCreate, 11040, cuCtxCreate_v3),
    PROC(cuCtxCreate, 12050, cuCtxCreate_v4),
    PROC(cuCtxDestroy, 2000, cuCtxDestroy),
    PROC(cuCtxDestroy, 4000, cuCtxDestroy_v2),
    PROC(cuCtxPushCurrent, 2000, cuCtxPushCurrent),
    PROC(cuCtxPushCurrent, 4000, cuCtxPushCurrent_v2),
    PROC(cuCtxPopCurrent, 2000, cuCtxPopCurrent),
    PROC(cuCtxPopCurrent, 4000, cuCtxPopCurrent_v2),
    PROC(cuCtxSetCurrent, 4000, cuCtxSetCurrent),
    PROC(cuCtxGetCurrent, 4000, cuCtxGetCurrent),
    PROC(cuCtxGetDevice, 2000, cuCtxGetDevice),
    PROC(cuCtxGetDevice, 13000, cuCtxGetDevice_v2),
    PROC(cuCtxGetFlags, 7000, cuCtxGetFlags),
    PROC(cuCtxGetApiVersion, 3020, cuCtxGetApiVersion),
    PROC(cuCtxGetStreamPriorityRange, 5050, cuCtxGetStreamPriorityRange),
    PROC(cuCtxGetLimit, 3010, cuCtxGetLimit),
    PROC(cuCtxSetLimit, 3010, cuCtxSetLimit),
    PROC(cuCtxSynchronize, 2000, cuCtxSynchronize),
    PROC(cuCtxSynchronize, 13000, cuCtxSynchronize_v2),
    PROC(cuDevicePrimaryCtxRetain, 7000, cuDevicePrimaryCtxRetain),
    PROC(cuDevicePrimaryCtxRelease, 7000, cuDevicePrimaryCtxRelease),
    PROC(cuDevicePrimaryCtxRelease, 11000, cuDevicePrimaryCtxRelease_v2),
    PROC(cuDevicePrimaryCtxReset, 7000, cuDevicePrimaryCtxReset),
    PROC(cuDevicePrimaryCtxReset, 11000, cuDevicePrimaryCtxReset_v2),
    PROC(cuDevicePrimaryCtxGetState, 7000, cuDevicePrimaryCtxGetState),
    PROC(cuDevicePrimaryCtxSetFlags, 7000, cuDevicePrimaryCtxSetFlags),
    PROC(cuDevicePrimaryCtxSetFlags, 11000, cuDevicePrimaryCtxSetFlags_v2),
    PROC(cuModuleLoad, 2000, cuModuleLoad),
    PROC(cuModuleLoadData, 2000, cuModuleLoadData),
    PROC(cuModuleLoadDataEx, 2010, cuModuleLoadDataEx),
    PROC(cuModuleLoadFatBinary, 2000, cuModuleLoadFatBinary),
    PROC(cuModuleUnload, 2000, cuModuleUnload),
    PROC(cuModuleGetFunction, 2000, cuModuleGetFunction),
    PROC(cuFuncGetAttribute, 2020, cuFuncGetAttribute),
    PROC(cuFuncSetAttribute, 9000, cuFuncSetAttribute),
    PROC(cuFuncSetCacheConfig, 3000, cuFuncSetCacheConfig),
    PROC(cuLibraryLoadData, 12000, cuLibraryLoadData),
    PROC(cuLibraryLoadFromFile, 12000, cuLibraryLoadFromFile),
    PROC(cuLibraryUnload, 12000, cuLibraryUnload),
    PROC(cuLibraryGetKernel, 12000, cuLibraryGetKernel),
    PROC(cuLibraryGetModule, 12000, cuLibraryGetModule),
    PROC(cuKernelGetFunction, 12000, cuKernelGetFunction),
    PROC(cuCtxGetId, 12000, cuCtxGetId),
    PROC(cuDeviceCanAccessPeer, 4000, cuDeviceCanAccessPeer),
    PROC(cuCtxEnablePeerAccess, 4000, cuCtxEnablePeerAccess),
    PROC(cuCtxDisablePeerAccess, 4000, cuCtxDisablePeerAccess),
    PROC(cuOccupancyMaxActiveBlocksPerMultiprocessor, 6050,
         cuOccupancyMaxActiveBlocksPerMultiprocessor),
    PROC(cuOccupancyMaxPotentialBlockSize, 6050, cuOccupancyMaxPotentialBlockSize),
    /* Memory (memory.c) */
    PROC(cuMemAlloc, 3020, cuMemAlloc_v2),
    PROC(cuMemAllocPitch, 3020, cuMemAllocPitch_v2),
    PROC(cuMemAllocManaged, 6000, cuMemAllocManaged),
    PROC(cuMemFree, 3020, cuMemFree_v2),
    PROC(cuMemGetInfo, 3020, cuMemGetInfo_v2),
    PROC(cuMemGetAddressRange, 3020, cuMemGetAddressRange_v2),
    PROC(cuMemAllocAsync, 11020, cuMemAllocAsync),
    PROC_PER_THREAD(cuMemAllocAsync, 11020, ptsz, cuMemAllocAsync_ptsz),
    PROC(cuMemAllocFromPoolAsync, 11020, cuMemAllocFromPoolAsync),
    PROC_PER_THREAD(cuMemAllocFromPoolAsync, 11020, ptsz, cuMemAllocFromPoolAsync_ptsz),
    PROC(cuMemFreeAsync, 11020, cuMemFreeAsync),
    PROC_PER_THREAD(cuMemFreeAsync, 11020, ptsz, cuMemFreeAsync_ptsz),
    PROC(cuMemPoolCreate, 11020, cuMemPoolCreate),
    PROC(cuMemPoolDestroy, 11020, cuMemPoolDestroy),
    PROC(cuDeviceGetDefaultMemPool, 11020, cuDeviceGetDefaultMemPool),
    PROC(cuDeviceGetMemPool, 11020, cuDeviceGetMemPool),
    PROC(cuMemPoolTrimTo, 11020, cuMemPoolTrimTo),
    PROC(cuMemPoolSetAttribute, 11020, cuMemPoolSetAttribute),
    PROC(cuMemPoolGetAttribute, 11020, cuMemPoolGetAttribute),
    PROC(cuMemGetAllocationGranularity, 10020, cuMemGetAllocationGranularity),
    PROC(cuMemCreate, 10020, cuMemCreate),
    PROC(cuMemRelease, 10020, cuMemRelease),
    PROC(cuMemAddressReserve, 10020, cuMemAddressReserve),
    PROC(cuMemAddressFree, 10020, cuMemAddressFree),
    PROC(cuMemMap, 10020, cuMemMap),
    PROC(cuMemUnmap, 10020, cuMemUnmap),
    PROC(cuMemSetAccess, 10020, cuMemSetAccess),
    PROC(cuMemGetAllocationPropertiesFromHandle, 10020, cuMemGetAllocationPropertiesFromHandle),
    PROC(cuArrayCreate, 3020, cuArrayCreate_v2),
    PROC(cuArray3DCreate, 3020, cuArray3DCreate_v2),
    PROC(cuArrayDestroy, 2000, cuArrayDestroy),
    PROC(cuMipmappedArrayCreate, 5000, cuMipmappedArrayCreate),
    PROC(cuMipmappedArrayDestroy, 5000, cuMipmappedArrayDestroy),
    PROC(cuMemcpy, 4000, cuMemcpy),
    PROC_PER_THREAD(cuMemcpy, 7000, ptds, cuMemcpy_ptds),
    PROC(cuMemcpyAsync, 4000, cuMemcpyAsync),
    PROC_PER_THREAD(cuMemcpyAsync, 7000, ptsz, cuMemcpyAsync_ptsz),
    PROC(cuMemcpyHtoD, 3020, cuMemcpyHtoD_v2),
    PROC_PER_THREAD(cuMemcpyHtoD, 7000, ptds, cuMemcpyHtoD_v2_ptds),
    PROC(cuMemcpyDtoH, 3020, cuMemcpyDtoH_v2),
    PROC_PER_THREAD(cuMemcpyDtoH, 7000, ptds, cuMemcpyDtoH_v2_ptds),
    PROC(cuMemcpyDtoD, 3020, cuMemcpyDtoD_v2),
    PROC_PER_THREAD(cuMemcpyDtoD, 7000, ptds, cuMemcpyDtoD_v2_ptds),
    PROC(cuMemcpyHtoDAsync, 3020, cuMemcpyHtoDAsync_v2),
    PROC_PER_THREAD(cuMemcpyHtoDAsync, 7000, ptsz, cuMemcpyHtoDAsync_v2_ptsz),
    PROC(cuMemcpyDtoHAsync, 3020, cuMemcpyDtoHAsync_v2),
    PROC_PER_THREAD(cuMemcpyDtoHAsync, 7000, ptsz, cuMemcpyDtoHAsync_v2_ptsz),
    PROC(cuMemcpyDtoDAsync, 3020, cuMemcpyDtoDAsync_v2),
    PROC_PER_THREAD(cuMemcpyDtoDAsync, 7000, ptsz, cuMemcpyDtoDAsync_v2_ptsz),
    PROC(cuMemsetD8, 3020, cuMemsetD8_v2),
    PROC_PER_THREAD(cuMemsetD8, 7000, ptds, cuMemsetD8_v2_ptds),
    PROC(cuMemsetD16, 3020, cuMemsetD16_v2),
    PROC_PER_THREAD(cuMemsetD16, 7000, ptds, cuMemsetD16_v2_ptds),
    PROC(cuMemsetD32, 3020, cuMemsetD32_v2),
    PROC_PER_THREAD(cuMemsetD32, 7000, ptds, cuMemsetD32_v2_ptds),
    PROC(cuMemsetD8Async, 3020, cuMemsetD8Async),
    PROC_PER_THREAD(cuMemsetD8Async, 7000, ptsz, cuMemsetD8Async_ptsz),
    PROC(cuMemsetD32Async, 3020, cuMemsetD32Async),
    PROC_PER_THREAD(cuMemsetD32Async, 7000, ptsz, cuMemsetD32Async_ptsz),
    PROC(cuMemAllocHost, 3020, cuMemAllocHost_v2),
    PROC(cuMemHostAlloc, 2020, cuMemHostAlloc),
    PROC(cuMemFreeHost, 2000, cuMemFreeHost),
    PROC(cuMemHostGetDevicePointer, 3020, cuMemHostGetDevicePointer_v2),
    PROC(cuMemHostRegister, 6050, cuMemHostRegister_v2),
    PROC(cuMemHostUnregister, 4000, cuMemHostUnregister),
    PROC(cuPointerGetAttribute, 4000, cuPointerGetAttribute),
    PROC(cuMemcpy2D, 3020, cuMemcpy2D_v2),
    PROC_PER_THREAD(cuMemcpy2D, 7000, ptds, cuMemcpy2D_v2_ptds),
    PROC(cuMemcpy2DUnaligned, 3020, cuMemcpy2DUnaligned_v2),
    PROC_PER_THREAD(cuMemcpy2DUnaligned, 7000, ptds, cuMemcpy2DUnaligned_v2_ptds),
    PROC(cuMemcpy2DAsync, 3020, cuMemcpy2DAsync_v2),
    PROC_PER_THREAD(cuMemcpy2DAsync, 7000, ptsz, cuMemcpy2DAsync_v2_ptsz),
    PROC(cuMemcpy3D, 3020, cuMemcpy3D_v2),
    PROC_PER_THREAD(cuMemcpy3D, 7000, ptds, cuMemcpy3D_v2_ptds),
    PROC(cuMemcpy3DAsync, 3020, cuMemcpy3DAsync_v2),
    PROC_PER_THREAD(cuMemcpy3DAsync, 7000, ptsz, cuMemcpy3DAsync_v2_ptsz),
    PROC(cuMemcpyPeer, 4000, cuMemcpyPeer),
    PROC_PER_THREAD(cuMemcpyPeer, 7000, ptds, cuMemcpyPeer_ptds),
    PROC(cuMemcpyPeerAsync, 4000, cuMemcpyPeerAsync),
    PROC_PER_THREAD(cuMemcpyPeerAsync, 7000, ptsz, cuMemcpyPeerAsync_ptsz),
    PROC(cuMemsetD16Async, 3020, cuMemsetD16Async),
    PROC_PER_THREAD(cuMemsetD16Async, 7000, ptsz, cuMemsetD16Async_ptsz),
    /* Streams, events, launches (timeline.c) */
    PROC(cuLaunchKernel, 4000, cuLaunchKernel),
    PROC_PER_THREAD(cuLaunchKernel, 7000, ptsz, cuLaunchKernel_ptsz),
    PROC(cuLaunchKernelEx, 11060, cuLaunchKernelEx),
    PROC_PER_THREAD(cuLaunchKernelEx, 11060, ptsz, cuLaunchKernelEx_ptsz),
    PROC(cuLaunchCooperativeKernel, 9000, cuLaunchCooperativeKernel),
    PROC_PER_THREAD(cuLaunchCooperativeKernel, 9000, ptsz, cuLaunchCooperativeKernel_ptsz),
    PROC(cuLaunchCooperativeKernelMultiDevice, 9000, cuLaunchCooperativeKernelMultiDevice),
    PROC(cuStreamCreate, 2000, cuStreamCreate),
    PROC(cuStreamCreateWithPriority, 5050, cuStreamCreateWithPriority),
    PROC(cuStreamDestroy, 2000, cuStreamDestroy),
    PROC(cuStreamDestroy, 4000, cuStreamDestroy_v2),
    PROC(cuStreamSynchronize, 2000, cuStreamSynchronize),
    PROC_PER_THREAD(cuStreamSynchronize, 7000, ptsz, cuStreamSynchronize_ptsz),
    PROC(cuStreamQuery, 2000, cuStreamQuery),
    PROC_PER_THREAD(cuStreamQuery, 7000, ptsz, cuStreamQuery_ptsz),
    PROC(cuStreamWaitEvent, 3020, cuStreamWaitEvent),
    PROC_PER_THREAD(cuStreamWaitEvent, 7000, ptsz, cuStreamWaitEvent_ptsz),
    PROC(cuStreamGetPriority, 5050, cuStreamGetPriority),
    PROC_PER_THREAD(cuStreamGetPriority, 7000, ptsz, cuStreamGetPriority_ptsz),
    PROC(cuStreamGetFlags, 5050, cuStreamGetFlags),
    PROC_PER_THREAD(cuStreamGetFlags, 7000, ptsz, cuStreamGetFlags_ptsz),
    PROC(cuStreamGetDevice, 12080, cuStreamGetDevice),
    PROC_PER_THREAD(cuStreamGetDevice, 12080, ptsz, cuStreamGetDevice_ptsz),
    PROC(cuEventCreate, 2000, cuEventCreate),
    PROC(cuEventDestroy, 2000, cuEventDestroy),
    PROC(cuEventDestroy, 4000, cuEventDestroy_v2),
    PROC(cuEventRecord, 2000, cuEventRecord),
    PROC_PER_THREAD(cuEventRecord, 7000, ptsz, cuEventRecord_ptsz),
    PROC(cuEventRecordWithFlags, 11010, cuEventRecordWithFlags),
    PROC_PER_THREAD(cuEventRecordWithFlags, 11010, ptsz, cuEventRecordWithFlags_ptsz),
    PROC(cuEventQuery, 2000, cuEventQuery),
    PROC(cuEventSynchronize, 2000, cuEventSynchronize),
    PROC(cuEventElapsedTime, 2000, cuEventElapsedTime),
    PROC(cuEventElapsedTime, 12080, cuEventElapsedTime_v2),
    /* Graphs and stream capture (graph.c) */
    PROC(cuGraphCreate, 10000, cuGraphCreate),
    PROC(cuGraphDestroy, 10000, cuGraphDestroy),
    PROC(cuGraphAddKernelNode, 10000, cuGraphAddKernelNode),
    PROC(cuGraphAddKernelNode, 12000, cuGraphAddKernelNode_v2),
    PROC(cuGraphAddEmptyNode, 10000, cuGraphAddEmptyNode),
    PROC(cuGraphAddNode, 12020, cuGraphAddNode),
    PROC(cuGraphAddNode, 12030, cuGraphAddNode_v2),
    PROC(cuGraphInstantiate, 10000, cuGraphInstantiate),
    PROC(cuGraphInstantiate, 11000, cuGraphInstantiate_v2),
    PROC(cuGraphInstantiateWithFlags, 11040, cuGraphInstantiateWithFlags),
    PROC(cuGraphInstantiateWithParams, 12000, cuGraphInstantiateWithParams),
    PROC_PER_THREAD(cuGraphInstantiateWithParams, 12000, ptsz, cuGraphInstantiateWithParams_ptsz),
    PROC(cuGraphExecDestroy, 10000, cuGraphExecDestroy),
    PROC(cuGraphLaunch, 10000, cuGraphLaunch),
    PROC_PER_THREAD(cuGraphLaunch, 10000, ptsz, cuGraphLaunch_ptsz),
    PROC(cuGraphUpload, 11010, cuGraphUpload),
    PROC_PER_THREAD(cuGraphUpload, 11010, ptsz, cuGraphUpload_ptsz),
    PROC(cuStreamBeginCapture, 10000, cuStreamBeginCapture),
    PROC_PER_THREAD(cuStreamBeginCapture, 10000, ptsz, cuStreamBeginCapture_ptsz),
    PROC(cuStreamBeginCapture, 10010, cuStreamBeginCapture_v2),
    PROC_PER_THREAD(cuStreamBeginCapture, 10010, ptsz, cuStreamBeginCapture_v2_ptsz),
    PROC(cuStreamEndCapture, 10000, cuStreamEndCapture),
    PROC_PER_THREAD(cuStreamEndCapture, 10000, ptsz, cuStreamEndCapture_ptsz),
    PROC(cuStreamIsCapturing, 10000, cuStreamIsCapturing),
    PROC_PER_THREAD(cuStreamIsCapturing, 10000, ptsz, cuStreamIsCapturing_ptsz),
    PROC(cuStreamGetCaptureInfo, 10010, cuStreamGetCaptureInfo),
    PROC_PER_THREAD(cuStreamGetCaptureInfo, 10010, ptsz, cuStreamGetCaptureInfo_ptsz),
    PROC(cuStreamGetCaptureInfo, 11030, cuStreamGetCaptureInfo_v2),
    PROC_PER_THREAD(cuStreamGetCaptureInfo, 11030, ptsz, cuStreamGetCaptureInfo_v2_ptsz),
    PROC(cuStreamGetCaptureInfo, 12030, cuStreamGetCaptureInfo_v3),
    PROC_PER_THREAD(cuStreamGetCaptureInfo, 12030, ptsz, cuStreamGetCaptureInfo_v3_ptsz),
    /* cuGetProcAddress itself */
    PROC(cuGetProcAddress, 11030, cuGetProcAddress),
    PROC(cuGetProcAddress, 12000, cuGetProcAddress_v2),
};

#define PROC_TABLE_SIZE (sizeof(proc_table) / sizeof(proc_table[0]))

/*
 * The best entry for name among those with the given per_thread kind: the highest version
 * not above cudaVersion. *known tells whether any entry of that name and kind exists.
 */
static const struct proc_entry *find_entry(const char *name, int cudaVersion, bool per_thread,
                                           bool *known) {
  const struct proc_entry *best = NULL;
  for (size_t i = 0; i < PROC_TABLE_SIZE; i++) {
    const struct proc_entry *e = &proc_table[i];
    if (e->per_thread != per_thread || strcmp(e->name, name) != 0) {
      continue;
    }
    *known = true;
    if (e->version <= cudaVersion && (best == NULL || e->version > best->version)) {
      best = e;
    }
  }
  return best;
}

static CUresult lookup(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags,
                       CUdriverProcAddressQueryResult *symbolStatus) {
  bool known = false;
  const struct proc_entry *found = NULL;

  if (symbol == NULL || pfn == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) {
    found = find_entry(symbol, cudaVersion, true, &known);
  }
  if (!known) {
    found = find_entry(symbol, cudaVersion, false, &known);
  }
  *pfn = found != NULL ? found->function : NULL;
  if (symbolStatus != NULL) {
    *symbolStatus = found != NULL ? CU_GET_PROC_ADDRESS_SUCCESS
                    : known       ? CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT
                                  : CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
  }
  return found != NULL ? CUDA_SUCCESS : CUDA_ERROR_NOT_FOUND;
}

CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags,
                             CUdriverProcAddressQueryResult *symbolStatus) {
  return lookup(symbol, pfn, cudaVersion, flags, symbolStatus);
}

CUresult cuGetProcAddress(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags) {
  return lookup(symbol, pfn, cudaVersion, flags, NULL);
}
