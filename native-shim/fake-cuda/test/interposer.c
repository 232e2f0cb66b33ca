/* Stands in for an LD_PRELOADed library that wraps driver functions (test_interpose.c). */
#include <cuda.h>

CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize) {
  (void)dptr, (void)bytesize;
  return CUDA_ERROR_NOT_PERMITTED;
}

CUresult cuDeviceGetUuid_v2(CUuuid *uuid, CUdevice dev) {
  (void)uuid, (void)dev;
  return CUDA_ERROR_NOT_PERMITTED;
}
