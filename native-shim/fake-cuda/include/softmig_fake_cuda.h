/*
 * Test helpers exported by the fake CUDA driver (libcuda.so.1 built from fake-cuda/).
 * Programs that may also run on a real driver should look them up with dlsym.
 */
#ifndef SOFTMIG_FAKE_CUDA_H
#define SOFTMIG_FAKE_CUDA_H

#ifdef __cplusplus
extern "C" {
#endif

/* Kernels this process has launched (a graph launch counts its kernel nodes). */
__attribute__((visibility("default"))) int softmig_fake_kernels_launched(void);

#ifdef __cplusplus
}
#endif

#endif
