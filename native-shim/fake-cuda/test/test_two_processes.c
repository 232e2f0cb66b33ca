/*
 * Two processes on one simulated GPU share its timeline: their kernels serialise, so the
 * pair takes the sum of their work. Runs with SOFTMIG_FAKE_GPUS=two-process-test:1G and
 * SOFTMIG_FAKE_KERNEL_US=1000.
 */
#include <cuda.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

#define LAUNCHES 50
#define KERNEL_NS 1000000ULL

/* One process's work: LAUNCHES kernels, then a synchronisation. */
static int run_child(void) {
  CUcontext ctx;
  CUmodule module;
  CUfunction kernel;
  CUevent start, end;
  float ms = 0;

  CHECK_RC(cuInit(0), CUDA_SUCCESS);
  CHECK_RC(cuCtxCreate(&ctx, NULL, 0, 0), CUDA_SUCCESS);
  CHECK_RC(cuModuleLoadData(&module, "image"), CUDA_SUCCESS);
  CHECK_RC(cuModuleGetFunction(&kernel, module, "spin"), CUDA_SUCCESS);
  CHECK_RC(cuEventCreate(&start, CU_EVENT_DEFAULT), CUDA_SUCCESS);
  CHECK_RC(cuEventCreate(&end, CU_EVENT_DEFAULT), CUDA_SUCCESS);
  CHECK_RC(cuEventRecord(start, NULL), CUDA_SUCCESS);
  for (int i = 0; i < LAUNCHES; i++) {
    CHECK_RC(cuLaunchKernel(kernel, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL), CUDA_SUCCESS);
  }
  CHECK_RC(cuEventRecord(end, NULL), CUDA_SUCCESS);
  CHECK_RC(cuStreamSynchronize(NULL), CUDA_SUCCESS);
  CHECK_RC(cuEventElapsedTime(&ms, start, end), CUDA_SUCCESS);
  CHECK(ms >= LAUNCHES * KERNEL_NS / 1e6 - 0.01);
  return check_failures == 0 ? 0 : 1;
}

int main(void) {
  int go[2];
  pid_t children[2];

  CHECK(pipe(go) == 0);
  for (int i = 0; i < 2; i++) {
    children[i] = fork();
    if (children[i] == 0) {
      char byte;
      close(go[1]);
      /* start together, so that both queue their work at the same time */
      if (read(go[0], &byte, 1) != 0) {
        _exit(2);
      }
      _exit(run_child());
    }
    CHECK(children[i] > 0);
  }
  close(go[0]);
  uint64_t t0 = test_now_ns();
  close(go[1]);
  for (int i = 0; i < 2; i++) {
    int status = -1;
    CHECK(waitpid(children[i], &status, 0) == children[i]);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  uint64_t took = test_now_ns() - t0;
  /* serialised: both processes' work, one after the other */
  CHECK(took >= 2 * LAUNCHES * KERNEL_NS);
  CHECK(took < 2 * LAUNCHES * KERNEL_NS + 5000000000ULL);
  return check_report("test_two_processes");
}
