/*
 * memfree: is the free memory a process is told it has what it can take?
 *
 *   memfree [--wait SECONDS] [--hold SECONDS]
 *
 * Reads cuMemGetInfo right after the context exists and again after --wait seconds
 * (default 3), then allocates 64 MiB blocks until refused and 2 MiB blocks after that. Prints
 * one JSON object: free_start, free_after_wait, total, filled, nvml_used (this process as NVML
 * sees it, -1 without NVML), and pass: the fill reached within 64 MiB of both free figures.
 * With --hold it then waits (stdin EOF or SECONDS) so that a harness can read status.
 * Exit 0 when pass, 1 when not, 2 when the setup failed.
 *
 * Run under LD_PRELOAD=libsoftmig.so with a memory limit (4G in the GPU suite).
 */
#include "common.h"
#include "nvself.h"

#include <poll.h>
#include <unistd.h>

#define MAX_BLOCKS 65536
#define SLACK (64 * MIB)

static CUdeviceptr blocks[MAX_BLOCKS];

static uint64_t distance(uint64_t a, uint64_t b)
{
	return a > b ? a - b : b - a;
}

static void hold(double seconds)
{
	struct pollfd p = { .fd = 0, .events = POLLIN };
	char buf[64];

	if (seconds <= 0)
		return;
	while (poll(&p, 1, (int)(seconds * 1000)) > 0 && read(0, buf, sizeof(buf)) > 0)
		;
}

int main(int argc, char **argv)
{
	double wait_s = 3, hold_s = 0;
	CUdevice dev;
	CUcontext ctx;
	size_t free0, free1, total;
	uint64_t filled = 0;
	int n = 0, pass;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--wait"))
			wait_s = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--hold"))
			hold_s = atof(argv[i + 1]);
	}
	CK(cuInit(0));
	CK(cuDeviceGet(&dev, 0));
	CK(cuDevicePrimaryCtxRetain(&ctx, dev));
	CK(cuCtxSetCurrent(ctx));
	CK(cuMemGetInfo(&free0, &total));
	usleep((useconds_t)(wait_s * 1e6));
	CK(cuMemGetInfo(&free1, &total));
	for (uint64_t chunk = 64 * MIB; chunk >= 2 * MIB; chunk /= 32) {
		while (n < MAX_BLOCKS && cuMemAlloc(&blocks[n], chunk) == CUDA_SUCCESS) {
			filled += chunk;
			n++;
		}
	}
	pass = distance(filled, free0) <= SLACK && distance(filled, free1) <= SLACK;
	printf("{\"free_start\":%zu,\"free_after_wait\":%zu,\"total\":%zu,\"filled\":%llu,"
	       "\"blocks\":%d,\"nvml_used\":%lld,\"slack\":%llu,\"pass\":%s}\n",
	       free0, free1, total, (unsigned long long)filled, n, nvml_self_bytes(dev),
	       (unsigned long long)SLACK, pass ? "true" : "false");
	fflush(stdout);
	hold(hold_s);
	return pass ? 0 : 1;
}
