/*
 * cuGetProcAddress / cuGetProcAddress_v2: the variant returned for each requested CUDA
 * version and stream mode, and the exported names the shim depends on.
 */
#include <cuda.h>
#include <cudaTypedefs.h>
#include <dlfcn.h>
#include <string.h>

#include "check.h"

static void *driver;

static void *exported(const char *name) {
  void *symbol = dlsym(driver, name);
  if (symbol == NULL) {
    fprintf(stderr, "%s is not exported\n", name);
    check_failures++;
  }
  return symbol;
}

static void expect(const char *name, int version, cuuint64_t flags, const char *variant) {
  void *pfn = (void *)1;
  CUdriverProcAddressQueryResult status = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
  CUresult rc = cuGetProcAddress(name, &pfn, version, flags, &status); /* _v2 */
  if (rc != CUDA_SUCCESS || status != CU_GET_PROC_ADDRESS_SUCCESS || pfn != exported(variant)) {
    fprintf(stderr, "%s at %d flags %llu: rc %d status %d, not %s\n", name, version,
            (unsigned long long)flags, rc, status, variant);
    check_failures++;
  }
}

static void expect_missing(const char *name, int version, CUdriverProcAddressQueryResult want) {
  void *pfn = (void *)1;
  CUdriverProcAddressQueryResult status = CU_GET_PROC_ADDRESS_SUCCESS;
  CHECK_RC(cuGetProcAddress(name, &pfn, version, 0, &status), CUDA_ERROR_NOT_FOUND);
  CHECK(pfn == NULL);
  CHECK(status == want);
}

static void test_exports(void) {
  static const char *const names[] = {
      "cuInit", "cuMemAlloc_v2", "cuMemGetInfo_v2", "cuDeviceTotalMem_v2", "cuCtxCreate_v4",
      "cuCtxCreate_v3", "cuCtxCreate_v2", "cuMemFree_v2", "cuMemAllocPitch_v2",
      "cuArrayCreate_v2", "cuArray3DCreate_v2", "cuLaunchKernel", "cuLaunchKernel_ptsz",
      "cuGraphLaunch_ptsz", "cuLaunchKernelEx_ptsz", "cuLaunchCooperativeKernel_ptsz",
      "cuLaunchCooperativeKernelMultiDevice", "cuStreamSynchronize_ptsz",
      "cuMemAllocAsync_ptsz", "cuMemAllocFromPoolAsync_ptsz", "cuMemFreeAsync_ptsz",
      "cuEventRecord_ptsz", "cuGetProcAddress", "cuGetProcAddress_v2", "cuDeviceGetUuid",
      "cuDeviceGetUuid_v2", "cuMemCreate", "cuMipmappedArrayCreate", "cuGetExportTable",
      "softmig_fake_kernels_launched",
  };
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    exported(names[i]);
  }
  /* internal helpers stay hidden */
  CHECK(dlsym(driver, "fake_launch") == NULL);
  CHECK(dlsym(driver, "fake_parse_spec") == NULL);
}

static void test_versions(void) {
  expect("cuInit", 13000, 0, "cuInit");
  expect("cuMemAlloc", 13000, 0, "cuMemAlloc_v2");
  expect("cuMemAlloc", 3020, 0, "cuMemAlloc_v2");
  expect("cuMemGetInfo", 12000, 0, "cuMemGetInfo_v2");
  expect("cuDeviceTotalMem", 12000, 0, "cuDeviceTotalMem_v2");
  expect("cuCtxCreate", 13000, 0, "cuCtxCreate_v4");
  expect("cuCtxCreate", 12050, 0, "cuCtxCreate_v4");
  expect("cuCtxCreate", 12040, 0, "cuCtxCreate_v3");
  expect("cuCtxCreate", 11040, 0, "cuCtxCreate_v3");
  expect("cuCtxCreate", 11000, 0, "cuCtxCreate_v2");
  expect("cuCtxCreate", 3000, 0, "cuCtxCreate");
  expect("cuDeviceGetUuid", 11040, 0, "cuDeviceGetUuid_v2");
  expect("cuDeviceGetUuid", 11000, 0, "cuDeviceGetUuid");
  expect("cuEventElapsedTime", 12080, 0, "cuEventElapsedTime_v2");
  expect("cuEventElapsedTime", 12000, 0, "cuEventElapsedTime");
  expect("cuGraphInstantiate", 13000, 0, "cuGraphInstantiate_v2"); /* as driver 580 does */
  expect("cuGraphInstantiate", 11040, 0, "cuGraphInstantiate_v2");
  expect("cuGraphInstantiateWithFlags", 12000, 0, "cuGraphInstantiateWithFlags");
  expect("cuGraphAddKernelNode", 12000, 0, "cuGraphAddKernelNode_v2");
  expect("cuStreamBeginCapture", 11000, 0, "cuStreamBeginCapture_v2");
  expect("cuGetProcAddress", 12000, 0, "cuGetProcAddress_v2");
  expect("cuGetProcAddress", 11030, 0, "cuGetProcAddress");
  expect("cuCtxSynchronize", 13000, 0, "cuCtxSynchronize_v2");
  expect("cuCtxSynchronize", 12080, 0, "cuCtxSynchronize");
  expect_missing("cuMemAlloc", 3000, CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT);
  expect_missing("cuLibraryLoadData", 11080, CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT);
  expect_missing("cuNoSuchFunction", 13000, CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND);
  expect_missing("cuMemAlloc_v2", 13000, CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND);
}

static void test_stream_modes(void) {
  const cuuint64_t ptds = CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM;
  const cuuint64_t legacy = CU_GET_PROC_ADDRESS_LEGACY_STREAM;
  void *pfn = (void *)1;
  CUdriverProcAddressQueryResult status = CU_GET_PROC_ADDRESS_SUCCESS;

  /* per-thread variants exist from 7.0 on; before, a per-thread request finds nothing */
  CHECK_RC(cuGetProcAddress("cuLaunchKernel", &pfn, 6050, ptds, &status), CUDA_ERROR_NOT_FOUND);
  CHECK(pfn == NULL && status == CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT);
  expect("cuLaunchKernel", 6050, 0, "cuLaunchKernel");

  expect("cuLaunchKernel", 12000, 0, "cuLaunchKernel");
  expect("cuLaunchKernel", 12000, legacy, "cuLaunchKernel");
  expect("cuLaunchKernel", 12000, ptds, "cuLaunchKernel_ptsz");
  expect("cuLaunchKernelEx", 12000, ptds, "cuLaunchKernelEx_ptsz");
  expect("cuLaunchCooperativeKernel", 12000, ptds, "cuLaunchCooperativeKernel_ptsz");
  expect("cuLaunchCooperativeKernelMultiDevice", 12000, ptds,
         "cuLaunchCooperativeKernelMultiDevice");
  expect("cuGraphLaunch", 12000, ptds, "cuGraphLaunch_ptsz");
  expect("cuGraphLaunch", 12000, 0, "cuGraphLaunch");
  expect("cuStreamSynchronize", 12000, ptds, "cuStreamSynchronize_ptsz");
  expect("cuEventRecord", 12000, ptds, "cuEventRecord_ptsz");
  expect("cuMemAllocAsync", 12000, ptds, "cuMemAllocAsync_ptsz");
  expect("cuMemAllocAsync", 12000, 0, "cuMemAllocAsync");
  expect("cuMemAllocFromPoolAsync", 12000, ptds, "cuMemAllocFromPoolAsync_ptsz");
  expect("cuMemFreeAsync", 12000, ptds, "cuMemFreeAsync_ptsz");
  expect("cuMemcpyHtoD", 12000, ptds, "cuMemcpyHtoD_v2_ptds");
  expect("cuMemcpyHtoD", 12000, 0, "cuMemcpyHtoD_v2");
  expect("cuStreamBeginCapture", 12000, ptds, "cuStreamBeginCapture_v2_ptsz");
  expect("cuStreamGetCaptureInfo", 12030, ptds, "cuStreamGetCaptureInfo_v3_ptsz");
  expect("cuStreamGetCaptureInfo", 12000, ptds, "cuStreamGetCaptureInfo_v2_ptsz");
  /* no per-thread variant: the ordinary one */
  expect("cuMemAlloc", 12000, ptds, "cuMemAlloc_v2");
  expect("cuCtxCreate", 13000, ptds, "cuCtxCreate_v4");
}

static void test_legacy_entry_point(void) {
  PFN_cuGetProcAddress_v11030 legacy =
      (PFN_cuGetProcAddress_v11030)exported("cuGetProcAddress");
  void *pfn = NULL;
  if (legacy == NULL) {
    return;
  }
  CHECK_RC(legacy("cuMemFree", &pfn, 12000, 0), CUDA_SUCCESS);
  CHECK(pfn == exported("cuMemFree_v2"));
  CHECK_RC(legacy("cuNoSuchFunction", &pfn, 12000, 0), CUDA_ERROR_NOT_FOUND);
  CHECK_RC(cuGetProcAddress(NULL, &pfn, 12000, 0, NULL), CUDA_ERROR_INVALID_VALUE);
}

/* A pointer from cuGetProcAddress works before cuInit, like the real driver's. */
static void test_call_through_pointer(void) {
  PFN_cuInit_v2000 init = NULL;
  PFN_cuDriverGetVersion_v2020 get_version = NULL;
  int version = 0;
  CHECK_RC(cuGetProcAddress("cuInit", (void **)&init, 12000, 0, NULL), CUDA_SUCCESS);
  CHECK_RC(cuGetProcAddress("cuDriverGetVersion", (void **)&get_version, 12000, 0, NULL),
           CUDA_SUCCESS);
  if (init != NULL && get_version != NULL) {
    CHECK_RC(init(0), CUDA_SUCCESS);
    CHECK_RC(get_version(&version), CUDA_SUCCESS);
    CHECK(version == 13000);
  }
}

int main(void) {
  driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
  CHECK(driver != NULL);
  if (driver == NULL) {
    return check_report("test_proc_address");
  }
  test_exports();
  test_versions();
  test_stream_modes();
  test_legacy_entry_point();
  test_call_through_pointer();
  return check_report("test_proc_address");
}
