/*
 * Devices, contexts and modules of the fake driver, through the public cuda.h API.
 * Runs with SOFTMIG_FAKE_GPUS=48G,L40S:24G (set by CMakeLists.txt).
 */
#include <cuda.h>
#include <string.h>

#include "check.h"

static void test_before_init(void) {
  int count;
  CUcontext ctx;
  CHECK_RC(cuDeviceGetCount(&count), CUDA_ERROR_NOT_INITIALIZED);
  CHECK_RC(cuCtxGetCurrent(&ctx), CUDA_ERROR_NOT_INITIALIZED);
  CHECK_RC(cuInit(1), CUDA_ERROR_INVALID_VALUE);
}

static void test_devices(void) {
  int count = 0, version = 0, value = 0;
  CUdevice dev;
  char name[64], bus[32];
  CUuuid uuid;
  size_t total = 0;

  CHECK_RC(cuInit(0), CUDA_SUCCESS);
  CHECK_RC(cuDriverGetVersion(&version), CUDA_SUCCESS);
  CHECK(version == 13000);
  CHECK_RC(cuDeviceGetCount(&count), CUDA_SUCCESS);
  CHECK(count == 2);
  CHECK_RC(cuDeviceGet(&dev, 2), CUDA_ERROR_INVALID_DEVICE);
  CHECK_RC(cuDeviceGet(&dev, 1), CUDA_SUCCESS);
  CHECK(dev == 1);

  CHECK_RC(cuDeviceGetName(name, sizeof(name), 0), CUDA_SUCCESS);
  CHECK(strcmp(name, "Simulated GPU") == 0);
  CHECK_RC(cuDeviceGetName(name, sizeof(name), 1), CUDA_SUCCESS);
  CHECK(strcmp(name, "L40S") == 0);

  static const unsigned char uuid0[16] = {0x51, 0xdc, 0x18, 0x7a, 0xaf, 0x0f, 0x2f, 0xa8,
                                          0x12, 0x7c, 0x46, 0xfe, 0xdf, 0xac, 0x90, 0x19};
  CHECK_RC(cuDeviceGetUuid(&uuid, 0), CUDA_SUCCESS); /* cuDeviceGetUuid_v2 */
  CHECK(memcmp(uuid.bytes, uuid0, 16) == 0);
  CHECK_RC(cuDeviceGetUuid(&uuid, 5), CUDA_ERROR_INVALID_DEVICE);

  CHECK_RC(cuDeviceTotalMem(&total, 0), CUDA_SUCCESS);
  CHECK(total == 48ULL << 30);
  CHECK_RC(cuDeviceTotalMem(&total, 1), CUDA_SUCCESS);
  CHECK(total == 24ULL << 30);

  CHECK_RC(cuDeviceGetAttribute(&value, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 0),
           CUDA_SUCCESS);
  CHECK(value == 132);
  CHECK_RC(cuDeviceGetAttribute(&value, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, 0),
           CUDA_SUCCESS);
  CHECK(value == 9);
  CHECK_RC(cuDeviceGetAttribute(&value, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, 0),
           CUDA_SUCCESS);
  CHECK(value == 0);
  CHECK_RC(cuDeviceGetAttribute(&value, CU_DEVICE_ATTRIBUTE_WARP_SIZE, 1), CUDA_SUCCESS);
  CHECK(value == 32);
  CHECK_RC(cuDeviceGetAttribute(&value, (CUdevice_attribute)100000, 0), CUDA_ERROR_INVALID_VALUE);

  CHECK_RC(cuDeviceGetPCIBusId(bus, sizeof(bus), 1), CUDA_SUCCESS);
  CHECK(strcmp(bus, "0000:19:00.0") == 0);
  CHECK_RC(cuDeviceCanAccessPeer(&value, 0, 1), CUDA_SUCCESS);
  CHECK(value == 1);
}

static void test_errors(void) {
  const char *text = NULL;
  CHECK_RC(cuGetErrorName(CUDA_ERROR_OUT_OF_MEMORY, &text), CUDA_SUCCESS);
  CHECK(text != NULL && strcmp(text, "CUDA_ERROR_OUT_OF_MEMORY") == 0);
  CHECK_RC(cuGetErrorString(CUDA_ERROR_OUT_OF_MEMORY, &text), CUDA_SUCCESS);
  CHECK(text != NULL && strcmp(text, "out of memory") == 0);
  CHECK_RC(cuGetErrorName((CUresult)123456, &text), CUDA_ERROR_INVALID_VALUE);
  CHECK(text == NULL);

  const void *table = (const void *)1;
  CUuuid id = {{0}};
  CHECK_RC(cuGetExportTable(&table, &id), CUDA_ERROR_NOT_SUPPORTED);
}

static void test_contexts(void) {
  CUcontext a, b, current, popped, primary;
  CUdevice dev = -1;
  unsigned int flags;
  int active;

  CHECK_RC(cuCtxGetCurrent(&current), CUDA_SUCCESS);
  CHECK(current == NULL);
  CHECK_RC(cuCtxGetDevice(&dev), CUDA_ERROR_INVALID_CONTEXT);

  CHECK_RC(cuCtxCreate(&a, NULL, 0, 0), CUDA_SUCCESS); /* cuCtxCreate_v4 */
  CHECK_RC(cuCtxGetCurrent(&current), CUDA_SUCCESS);
  CHECK(current == a);
  CHECK_RC(cuCtxCreate(&b, NULL, 0, 1), CUDA_SUCCESS);
  CHECK_RC(cuCtxGetDevice(&dev), CUDA_SUCCESS);
  CHECK(dev == 1);
  CHECK_RC(cuCtxPopCurrent(&popped), CUDA_SUCCESS);
  CHECK(popped == b);
  CHECK_RC(cuCtxGetDevice(&dev), CUDA_SUCCESS);
  CHECK(dev == 0);
  CHECK_RC(cuCtxPushCurrent(b), CUDA_SUCCESS);
  CHECK_RC(cuCtxSynchronize(), CUDA_SUCCESS);
  CHECK_RC(cuCtxDestroy(b), CUDA_SUCCESS);
  CHECK_RC(cuCtxGetCurrent(&current), CUDA_SUCCESS);
  CHECK(current == a);
  CHECK_RC(cuCtxDestroy(a), CUDA_SUCCESS);
  CHECK_RC(cuCtxGetCurrent(&current), CUDA_SUCCESS);
  CHECK(current == NULL);

  CHECK_RC(cuDevicePrimaryCtxGetState(1, &flags, &active), CUDA_SUCCESS);
  CHECK(active == 0);
  CHECK_RC(cuDevicePrimaryCtxRetain(&primary, 1), CUDA_SUCCESS);
  CHECK_RC(cuDevicePrimaryCtxGetState(1, &flags, &active), CUDA_SUCCESS);
  CHECK(active == 1);
  CHECK_RC(cuCtxSetCurrent(primary), CUDA_SUCCESS);
  CHECK_RC(cuCtxGetDevice(&dev), CUDA_SUCCESS);
  CHECK(dev == 1);
  CHECK_RC(cuCtxDestroy(primary), CUDA_ERROR_INVALID_CONTEXT);
  CHECK_RC(cuDevicePrimaryCtxRelease(1), CUDA_SUCCESS);
  CHECK_RC(cuDevicePrimaryCtxGetState(1, &flags, &active), CUDA_SUCCESS);
  CHECK(active == 0);
  CHECK_RC(cuDevicePrimaryCtxRelease(1), CUDA_ERROR_INVALID_CONTEXT);
  CHECK_RC(cuDevicePrimaryCtxReset(1), CUDA_SUCCESS);
  CHECK_RC(cuCtxSetCurrent(NULL), CUDA_SUCCESS);
}

static void test_modules(void) {
  CUcontext ctx;
  CUmodule module;
  CUfunction f;
  CUlibrary library;
  CUkernel kernel;
  static const char image[] = "not really a cubin";

  CHECK_RC(cuModuleLoadData(&module, image), CUDA_ERROR_INVALID_CONTEXT);
  CHECK_RC(cuCtxCreate(&ctx, NULL, 0, 0), CUDA_SUCCESS);
  CHECK_RC(cuModuleLoadData(&module, image), CUDA_SUCCESS);
  CHECK_RC(cuModuleGetFunction(&f, module, "any_kernel"), CUDA_SUCCESS);
  CHECK_RC(cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, NULL), CUDA_SUCCESS);
  CHECK_RC(cuModuleUnload(module), CUDA_SUCCESS);
  CHECK_RC(cuModuleLoadDataEx(&module, image, 0, NULL, NULL), CUDA_SUCCESS);
  CHECK_RC(cuModuleUnload(module), CUDA_SUCCESS);
  CHECK_RC(cuModuleLoad(&module, "kernels.cubin"), CUDA_SUCCESS);
  CHECK_RC(cuModuleUnload(module), CUDA_SUCCESS);

  CHECK_RC(cuLibraryLoadData(&library, image, NULL, NULL, 0, NULL, NULL, 0), CUDA_SUCCESS);
  CHECK_RC(cuLibraryGetKernel(&kernel, library, "k"), CUDA_SUCCESS);
  CHECK_RC(cuKernelGetFunction(&f, kernel), CUDA_SUCCESS);
  CHECK_RC(cuLaunchKernel(f, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL), CUDA_SUCCESS);
  CHECK_RC(cuLaunchKernel((CUfunction)kernel, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL),
           CUDA_SUCCESS);
  CHECK_RC(cuLaunchKernel(f, 0, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL), CUDA_ERROR_INVALID_VALUE);
  CHECK_RC(cuLibraryUnload(library), CUDA_SUCCESS);
  CHECK_RC(cuCtxSynchronize(), CUDA_SUCCESS);
  CHECK_RC(cuCtxDestroy(ctx), CUDA_SUCCESS);
}

int main(void) {
  test_before_init();
  test_devices();
  test_errors();
  test_contexts();
  test_modules();
  return check_report("test_devices");
}
