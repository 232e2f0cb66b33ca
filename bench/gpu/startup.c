/*
 * startup: how long a process takes to get CUDA going, as an application sees
 * it: cuInit, primary context, first 2 MiB allocation and its free.  Prints the
 * in-process times as JSON; the suite also times the whole process from
 * outside (exec to exit), which includes loading the preloaded library.
 */
#include "common.h"

int main(void)
{
	uint64_t t0 = now_ns(), t_init, t_ctx, t_alloc;
	CUdevice dev;
	CUcontext ctx;
	CUdeviceptr p = 0;

	CK(cuInit(0));
	t_init = now_ns();
	CK(cuDeviceGet(&dev, 0));
	CK(cuDevicePrimaryCtxRetain(&ctx, dev));
	CK(cuCtxSetCurrent(ctx));
	t_ctx = now_ns();
	CK(cuMemAlloc(&p, 2 * MIB));
	CK(cuMemFree(p));
	t_alloc = now_ns();
	CK(cuDevicePrimaryCtxRelease(dev));
	printf("{\"init_ns\":%llu,\"ctx_ns\":%llu,\"alloc_ns\":%llu,\"total_ns\":%llu}\n",
	       (unsigned long long)(t_init - t0), (unsigned long long)(t_ctx - t_init),
	       (unsigned long long)(t_alloc - t_ctx), (unsigned long long)(t_alloc - t0));
	return 0;
}
