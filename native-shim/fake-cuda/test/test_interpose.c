/*
 * With a wrapper library ahead of the driver (as with LD_PRELOAD), callers reach the
 * wrapper, but cuGetProcAddress and the driver's own internal calls still reach the
 * driver's functions, as with the real driver. Runs with SOFTMIG_FAKE_GPUS=interpose-test:1G.
 */
#include <cuda.h>
#include <cudaTypedefs.h>
#include <dlfcn.h>

#include "check.h"

int main(void) {
  CUcontext ctx;
  CUdeviceptr ptr;
  CUuuid uuid;
  PFN_cuMemAlloc_v3020 driver_alloc = NULL;

  CHECK_RC(cuInit(0), CUDA_SUCCESS);
  CHECK_RC(cuCtxCreate(&ctx, NULL, 0, 0), CUDA_SUCCESS);
  CHECK_RC(cuMemAlloc(&ptr, 1024), CUDA_ERROR_NOT_PERMITTED); /* the wrapper */
  CHECK_RC(cuGetProcAddress("cuMemAlloc", (void **)&driver_alloc, 12000, 0, NULL), CUDA_SUCCESS);
  CHECK(driver_alloc != NULL && (void *)driver_alloc != (void *)cuMemAlloc_v2);
  if (driver_alloc != NULL) {
    CHECK_RC(driver_alloc(&ptr, 1024), CUDA_SUCCESS);
  }
  /* the legacy cuDeviceGetUuid calls the driver's cuDeviceGetUuid_v2, not the wrapper */
  PFN_cuDeviceGetUuid_v9020 legacy_uuid =
      (PFN_cuDeviceGetUuid_v9020)dlsym(RTLD_DEFAULT, "cuDeviceGetUuid");
  CHECK(legacy_uuid != NULL);
  if (legacy_uuid != NULL) {
    CHECK_RC(legacy_uuid(&uuid, 0), CUDA_SUCCESS);
  }
  CHECK_RC(cuCtxDestroy(ctx), CUDA_SUCCESS);
  return check_report("test_interpose");
}
