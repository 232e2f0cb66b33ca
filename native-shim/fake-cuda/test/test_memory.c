/*
 * Simulated device memory: every allocation path is charged to the device, freed memory
 * comes back, and allocations past the total fail with CUDA_ERROR_OUT_OF_MEMORY.
 * Runs with SOFTMIG_FAKE_GPUS=8G,4G (set by CMakeLists.txt).
 */
#include <cuda.h>
#include <string.h>

#include "check.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

static size_t free_bytes(void) {
  size_t free = 0, total = 0;
  CHECK_RC(cuMemGetInfo(&free, &total), CUDA_SUCCESS);
  return free;
}

static void test_linear(void) {
  CUdeviceptr a = 0, b = 0, c = 0, base = 0;
  size_t free = 0, total = 0, pitch = 0, size = 0;

  CHECK_RC(cuMemGetInfo(&free, &total), CUDA_SUCCESS);
  CHECK(total == 8 * GiB);
  CHECK(free == 8 * GiB);

  CHECK_RC(cuMemAlloc(&a, 3 * GiB), CUDA_SUCCESS);
  CHECK(a != 0);
  CHECK(free_bytes() == 5 * GiB);
  CHECK_RC(cuMemAlloc(&b, 6 * GiB), CUDA_ERROR_OUT_OF_MEMORY);
  CHECK_RC(cuMemAlloc(&b, 5 * GiB), CUDA_SUCCESS);
  CHECK(b != a);
  CHECK(free_bytes() == 0);
  CHECK_RC(cuMemAlloc(&c, 1), CUDA_ERROR_OUT_OF_MEMORY);
  CHECK_RC(cuMemGetAddressRange(&base, &size, a + 100), CUDA_SUCCESS);
  CHECK(base == a && size == 3 * GiB);
  CHECK_RC(cuMemFree(b), CUDA_SUCCESS);
  CHECK_RC(cuMemFree(b), CUDA_ERROR_INVALID_VALUE);
  CHECK_RC(cuMemFree(a), CUDA_SUCCESS);
  CHECK_RC(cuMemFree(0), CUDA_SUCCESS);
  CHECK(free_bytes() == 8 * GiB);
  CHECK_RC(cuMemAlloc(&a, 0), CUDA_ERROR_INVALID_VALUE);

  CHECK_RC(cuMemAllocPitch(&a, &pitch, 1000, 3, 4), CUDA_SUCCESS);
  CHECK(pitch == 1024);
  CHECK(free_bytes() == 8 * GiB - 3 * 1024);
  CHECK_RC(cuMemFree(a), CUDA_SUCCESS);
  CHECK_RC(cuMemAllocPitch(&a, &pitch, 512, 2, 4), CUDA_SUCCESS);
  CHECK(pitch == 512);
  CHECK_RC(cuMemFree(a), CUDA_SUCCESS);
  CHECK_RC(cuMemAllocPitch(&a, &pitch, 512, 2, 3), CUDA_ERROR_INVALID_VALUE);
  CHECK_RC(cuMemAllocPitch(&a, &pitch, 4 * GiB, 3, 4), CUDA_ERROR_OUT_OF_MEMORY);

  CHECK_RC(cuMemAllocManaged(&a, 2 * GiB, CU_MEM_ATTACH_GLOBAL), CUDA_SUCCESS);
  CHECK(free_bytes() == 6 * GiB);
  CHECK_RC(cuMemAllocManaged(&b, 7 * GiB, CU_MEM_ATTACH_GLOBAL), CUDA_ERROR_OUT_OF_MEMORY);
  CHECK_RC(cuMemFree(a), CUDA_SUCCESS);
  CHECK(free_bytes() == 8 * GiB);
}

static void test_async_and_pools(void) {
  CUstream stream;
  CUmemoryPool pool, default_pool;
  CUmemPoolProps props;
  CUdeviceptr a = 0, b = 0;

  CHECK_RC(cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING), CUDA_SUCCESS);
  CHECK_RC(cuMemAllocAsync(&a, 1 * GiB, stream), CUDA_SUCCESS);
  CHECK(free_bytes() == 7 * GiB);
  CHECK_RC(cuMemAllocAsync(&b, 8 * GiB, NULL), CUDA_ERROR_OUT_OF_MEMORY);
  CHECK_RC(cuMemFreeAsync(a, stream), CUDA_SUCCESS);
  CHECK(free_bytes() == 8 * GiB);

  CHECK_RC(cuDeviceGetDefaultMemPool(&default_pool, 0), CUDA_SUCCESS);
  CHECK_RC(cuMemAllocFromPoolAsync(&a, 2 * GiB, default_pool, stream), CUDA_SUCCESS);
  CHECK(free_bytes() == 6 * GiB);
  CHECK_RC(cuMemFreeAsync(a, stream), CUDA_SUCCESS);
  CHECK_RC(cuMemPoolDestroy(default_pool), CUDA_ERROR_INVALID_VALUE);

  memset(&props, 0, sizeof(props));
  props.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
  props.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  props.location.id = 1;
  CHECK_RC(cuMemPoolCreate(&pool, &props), CUDA_SUCCESS);
  /* the pool's device (1, 4G) is charged, not the stream's */
  CHECK_RC(cuMemAllocFromPoolAsync(&a, 5 * GiB, pool, stream), CUDA_ERROR_OUT_OF_MEMORY);
  CHECK_RC(cuMemAllocFromPoolAsync(&a, 4 * GiB, pool, stream), CUDA_SUCCESS);
  CHECK(free_bytes() == 8 * GiB);
  CHECK_RC(cuMemFreeAsync(a, stream), CUDA_SUCCESS);
  CHECK_RC(cuMemPoolDestroy(pool), CUDA_SUCCESS);
  CHECK_RC(cuStreamDestroy(stream), CUDA_SUCCESS);
}

static void test_vmm(void) {
  CUmemAllocationProp prop;
  CUmemGenericAllocationHandle h1, h2, h3;
  CUmemAccessDesc access;
  CUdeviceptr va;
  size_t granularity = 0;

  memset(&prop, 0, sizeof(prop));
  prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  prop.location.id = 0;
  CHECK_RC(cuMemGetAllocationGranularity(&granularity, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM),
           CUDA_SUCCESS);
  CHECK(granularity == 2 * MiB);
  CHECK_RC(cuMemCreate(&h1, 3 * MiB, &prop, 0), CUDA_ERROR_INVALID_VALUE);
  CHECK_RC(cuMemCreate(&h1, 4 * GiB, &prop, 0), CUDA_SUCCESS);
  CHECK_RC(cuMemCreate(&h2, 4 * GiB, &prop, 0), CUDA_SUCCESS);
  CHECK(free_bytes() == 0);
  CHECK_RC(cuMemCreate(&h3, 2 * MiB, &prop, 0), CUDA_ERROR_OUT_OF_MEMORY);

  CHECK_RC(cuMemAddressReserve(&va, 8 * GiB, 0, 0, 0), CUDA_SUCCESS);
  CHECK_RC(cuMemMap(va, 4 * GiB, 0, h1, 0), CUDA_SUCCESS);
  CHECK_RC(cuMemMap(va + 4 * GiB, 4 * GiB, 0, h2, 0), CUDA_SUCCESS);
  access.location = prop.location;
  access.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
  CHECK_RC(cuMemSetAccess(va, 8 * GiB, &access, 1), CUDA_SUCCESS);
  CHECK_RC(cuMemUnmap(va, 8 * GiB), CUDA_SUCCESS);
  CHECK_RC(cuMemRelease(h1), CUDA_SUCCESS);
  CHECK_RC(cuMemMap(va, 4 * GiB, 0, h1, 0), CUDA_ERROR_INVALID_VALUE);
  CHECK(free_bytes() == 4 * GiB);
  CHECK_RC(cuMemRelease(h2), CUDA_SUCCESS);
  CHECK_RC(cuMemRelease(h2), CUDA_ERROR_INVALID_VALUE);
  CHECK_RC(cuMemAddressFree(va, 8 * GiB), CUDA_SUCCESS);
  CHECK(free_bytes() == 8 * GiB);
}

static void test_arrays(void) {
  CUarray array, array3d;
  CUmipmappedArray mipmapped;
  CUDA_ARRAY_DESCRIPTOR desc;
  CUDA_ARRAY3D_DESCRIPTOR desc3d;

  memset(&desc, 0, sizeof(desc));
  desc.Width = 1000;
  desc.Height = 30;
  desc.Format = CU_AD_FORMAT_FLOAT;
  desc.NumChannels = 4;
  CHECK_RC(cuArrayCreate(&array, &desc), CUDA_SUCCESS);
  CHECK(free_bytes() == 8 * GiB - 1000 * 30 * 4 * 4);

  memset(&desc3d, 0, sizeof(desc3d));
  desc3d.Width = 64;
  desc3d.Height = 32;
  desc3d.Depth = 16;
  desc3d.Format = CU_AD_FORMAT_HALF;
  desc3d.NumChannels = 2;
  CHECK_RC(cuArray3DCreate(&array3d, &desc3d), CUDA_SUCCESS);
  CHECK(free_bytes() == 8 * GiB - 1000 * 30 * 4 * 4 - 64 * 32 * 16 * 2 * 2);
  CHECK_RC(cuArrayDestroy(array3d), CUDA_SUCCESS);
  CHECK_RC(cuArrayDestroy(array), CUDA_SUCCESS);
  CHECK_RC(cuArrayDestroy(array), CUDA_ERROR_INVALID_HANDLE);
  CHECK(free_bytes() == 8 * GiB);

  /* levels 64x32, 32x16, 16x8, 8x4 of 1-byte texels */
  memset(&desc3d, 0, sizeof(desc3d));
  desc3d.Width = 64;
  desc3d.Height = 32;
  desc3d.Format = CU_AD_FORMAT_UNSIGNED_INT8;
  desc3d.NumChannels = 1;
  CHECK_RC(cuMipmappedArrayCreate(&mipmapped, &desc3d, 4), CUDA_SUCCESS);
  CHECK(free_bytes() == 8 * GiB - (2048 + 512 + 128 + 32));
  CHECK_RC(cuMipmappedArrayDestroy(mipmapped), CUDA_SUCCESS);
  CHECK(free_bytes() == 8 * GiB);

  desc.Width = 65536;
  desc.Height = 65536;
  desc.Format = CU_AD_FORMAT_FLOAT;
  desc.NumChannels = 4; /* 64 GiB */
  CHECK_RC(cuArrayCreate(&array, &desc), CUDA_ERROR_OUT_OF_MEMORY);
}

static void test_copies(void) {
  CUdeviceptr a;
  char host[16];
  CHECK_RC(cuMemAlloc(&a, sizeof(host)), CUDA_SUCCESS);
  memset(host, 7, sizeof(host));
  CHECK_RC(cuMemcpyHtoD(a, host, sizeof(host)), CUDA_SUCCESS);
  CHECK_RC(cuMemcpyDtoH(host, a, sizeof(host)), CUDA_SUCCESS);
  CHECK(host[0] == 0 && host[15] == 0);
  CHECK_RC(cuMemsetD8(a, 1, sizeof(host)), CUDA_SUCCESS);
  CHECK_RC(cuMemsetD32Async(a, 1, sizeof(host) / 4, NULL), CUDA_SUCCESS);
  CHECK_RC(cuMemcpyDtoD(a, a, sizeof(host)), CUDA_SUCCESS);
  CHECK_RC(cuMemFree(a), CUDA_SUCCESS);
}

static void test_host_memory_and_pointers(void) {
  void *host = NULL;
  CUdeviceptr a, mapped;
  unsigned int type = 0;
  int ordinal = -1;
  size_t size = 0;
  CUDA_MEMCPY2D copy;
  char rect[4][8];

  CHECK_RC(cuMemAllocHost(&host, 64 * MiB), CUDA_SUCCESS);
  CHECK(host != NULL && free_bytes() == 8 * GiB); /* host memory is not device memory */
  if (host != NULL) {
    memset(host, 1, 64 * MiB); /* really writable */
  }
  CHECK_RC(cuMemHostGetDevicePointer(&mapped, host, 0), CUDA_SUCCESS);
  CHECK_RC(cuMemFreeHost(host), CUDA_SUCCESS);

  CHECK_RC(cuMemAlloc(&a, 3 * MiB), CUDA_SUCCESS);
  CHECK_RC(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, a + 5), CUDA_SUCCESS);
  CHECK(type == CU_MEMORYTYPE_DEVICE);
  CHECK_RC(cuPointerGetAttribute(&ordinal, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, a), CUDA_SUCCESS);
  CHECK(ordinal == 0);
  CHECK_RC(cuPointerGetAttribute(&size, CU_POINTER_ATTRIBUTE_RANGE_SIZE, a + 1), CUDA_SUCCESS);
  CHECK(size == 3 * MiB);
  CHECK_RC(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, a + 3 * MiB),
           CUDA_ERROR_INVALID_VALUE);

  memset(rect, 7, sizeof(rect));
  memset(&copy, 0, sizeof(copy));
  copy.srcMemoryType = CU_MEMORYTYPE_DEVICE;
  copy.srcDevice = a;
  copy.dstMemoryType = CU_MEMORYTYPE_HOST;
  copy.dstHost = rect;
  copy.dstPitch = 8;
  copy.dstXInBytes = 2;
  copy.dstY = 1;
  copy.WidthInBytes = 4;
  copy.Height = 2;
  CHECK_RC(cuMemcpy2D(&copy), CUDA_SUCCESS);
  CHECK(rect[0][2] == 7 && rect[1][1] == 7 && rect[1][2] == 0 && rect[2][5] == 0 &&
        rect[2][6] == 7 && rect[3][2] == 7);
  CHECK_RC(cuMemFree(a), CUDA_SUCCESS);
}

/* Usage is per device: device 1 is charged separately. */
static void test_second_device(void) {
  CUcontext ctx;
  CUdeviceptr a;
  size_t free = 0, total = 0;
  CHECK_RC(cuCtxCreate(&ctx, NULL, 0, 1), CUDA_SUCCESS);
  CHECK_RC(cuMemGetInfo(&free, &total), CUDA_SUCCESS);
  CHECK(total == 4 * GiB && free == 4 * GiB);
  CHECK_RC(cuMemAlloc(&a, 4 * GiB), CUDA_SUCCESS);
  CHECK_RC(cuMemGetInfo(&free, &total), CUDA_SUCCESS);
  CHECK(free == 0);
  CHECK_RC(cuCtxDestroy(ctx), CUDA_SUCCESS);
  CHECK(free_bytes() == 8 * GiB);
  CHECK_RC(cuMemFree(a), CUDA_SUCCESS);
}

int main(void) {
  CUcontext ctx;
  CUdeviceptr a;
  CHECK_RC(cuInit(0), CUDA_SUCCESS);
  CHECK_RC(cuMemAlloc(&a, 1), CUDA_ERROR_INVALID_CONTEXT);
  CHECK_RC(cuCtxCreate(&ctx, NULL, 0, 0), CUDA_SUCCESS);
  test_linear();
  test_async_and_pools();
  test_vmm();
  test_arrays();
  test_copies();
  test_host_memory_and_pointers();
  test_second_device();
  CHECK_RC(cuCtxDestroy(ctx), CUDA_SUCCESS);
  return check_report("test_memory");
}
