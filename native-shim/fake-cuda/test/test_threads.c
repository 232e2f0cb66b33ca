/*
 * Several threads allocate, free and launch at once: the bookkeeping stays exact.
 * Runs with SOFTMIG_FAKE_GPUS=threads-test:16G and SOFTMIG_FAKE_KERNEL_US=10.
 */
#include <cuda.h>
#include <pthread.h>

#include "check.h"
#include "softmig_fake_cuda.h"

#define THREADS 4
#define ROUNDS 500
#define MiB (1ULL << 20)

static CUcontext shared_context;
static CUfunction kernel;

static void *worker(void *arg) {
  CUstream stream;
  CUdeviceptr ptrs[4];
  CUmemoryPool pool;
  int failures = 0;
  (void)arg;

  failures += cuCtxSetCurrent(shared_context) != CUDA_SUCCESS;
  failures += cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING) != CUDA_SUCCESS;
  failures += cuDeviceGetDefaultMemPool(&pool, 0) != CUDA_SUCCESS;
  for (int round = 0; round < ROUNDS; round++) {
    failures += cuMemAlloc(&ptrs[0], 1 * MiB) != CUDA_SUCCESS;
    failures += cuMemAllocAsync(&ptrs[1], 2 * MiB, stream) != CUDA_SUCCESS;
    failures += cuMemAllocFromPoolAsync(&ptrs[2], 3 * MiB, pool, stream) != CUDA_SUCCESS;
    failures += cuMemAllocManaged(&ptrs[3], 4 * MiB, CU_MEM_ATTACH_GLOBAL) != CUDA_SUCCESS;
    failures += cuLaunchKernel(kernel, 1, 1, 1, 1, 1, 1, 0, stream, NULL, NULL) != CUDA_SUCCESS;
    failures += cuLaunchKernel(kernel, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL) != CUDA_SUCCESS;
    failures += cuMemFree(ptrs[0]) != CUDA_SUCCESS;
    failures += cuMemFreeAsync(ptrs[1], stream) != CUDA_SUCCESS;
    failures += cuMemFreeAsync(ptrs[2], stream) != CUDA_SUCCESS;
    failures += cuMemFree(ptrs[3]) != CUDA_SUCCESS;
  }
  failures += cuStreamSynchronize(stream) != CUDA_SUCCESS;
  failures += cuStreamDestroy(stream) != CUDA_SUCCESS;
  return (void *)(intptr_t)failures;
}

int main(void) {
  CUmodule module;
  pthread_t threads[THREADS];
  size_t free = 0, total = 0;

  CHECK_RC(cuInit(0), CUDA_SUCCESS);
  CHECK_RC(cuDevicePrimaryCtxRetain(&shared_context, 0), CUDA_SUCCESS);
  CHECK_RC(cuCtxSetCurrent(shared_context), CUDA_SUCCESS);
  CHECK_RC(cuModuleLoadData(&module, "image"), CUDA_SUCCESS);
  CHECK_RC(cuModuleGetFunction(&kernel, module, "k"), CUDA_SUCCESS);
  for (int i = 0; i < THREADS; i++) {
    CHECK(pthread_create(&threads[i], NULL, worker, NULL) == 0);
  }
  for (int i = 0; i < THREADS; i++) {
    void *failures = NULL;
    CHECK(pthread_join(threads[i], &failures) == 0);
    CHECK(failures == NULL);
  }
  CHECK_RC(cuCtxSynchronize(), CUDA_SUCCESS);
  CHECK(softmig_fake_kernels_launched() == THREADS * ROUNDS * 2);
  CHECK_RC(cuMemGetInfo(&free, &total), CUDA_SUCCESS);
  CHECK(free == total && total == 16ULL << 30);
  CHECK_RC(cuModuleUnload(module), CUDA_SUCCESS);
  CHECK_RC(cuDevicePrimaryCtxRelease(0), CUDA_SUCCESS);
  return check_report("test_threads");
}
