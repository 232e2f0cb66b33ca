/*
 * alloc-probe.c - what a job sees of GPU memory, for deploy/test/slurm-e2e.sh.
 *
 *   alloc-probe [--max-gib N] [--hold SECONDS]
 *
 * On CUDA device 0: reads cuMemGetInfo, then allocates 1 GiB at a time with cuMemAlloc_v2
 * until the driver (or the softmig shim in front of it) refuses or N GiB are held, reads
 * cuMemGetInfo again, prints one JSON line, keeps the memory for SECONDS, frees it and exits.
 *
 *   {"devices":1,"name":"...","device_total_bytes":N,"total_bytes":N,"free_bytes_before":N,
 *    "free_bytes_after":N,"allocated_gib":N,"error":2}
 *
 * "error" is the CUresult of the refused allocation (2 = CUDA_ERROR_OUT_OF_MEMORY), 0 when
 * N GiB were allocated. Setup failures print {"error":RC,"stage":"cuXxx"} and exit 1.
 * Built by slurm-e2e.sh against the CUDA headers and linked against libcuda.so.1.
 */
#include <cuda.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GIB (1024UL * 1024UL * 1024UL)
#define MAX_ALLOCATIONS 4096

static int fail(const char *stage, CUresult rc)
{
	printf("{\"error\":%d,\"stage\":\"%s\"}\n", (int)rc, stage);
	return 1;
}

int main(int argc, char **argv)
{
	static CUdeviceptr ptrs[MAX_ALLOCATIONS];
	long max_gib = MAX_ALLOCATIONS, n = 0, i;
	unsigned int hold = 0;
	size_t free_before = 0, total = 0, free_after = 0, total_after = 0, device_total = 0;
	char name[256] = "";
	CUresult rc, alloc_rc = CUDA_SUCCESS;
	CUdevice dev;
	CUcontext ctx;
	int count = 0;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--max-gib") == 0 && i + 1 < argc)
			max_gib = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--hold") == 0 && i + 1 < argc)
			hold = (unsigned int)strtoul(argv[++i], NULL, 10);
		else {
			fprintf(stderr, "usage: alloc-probe [--max-gib N] [--hold SECONDS]\n");
			return 2;
		}
	}
	if (max_gib < 0 || max_gib > MAX_ALLOCATIONS)
		max_gib = MAX_ALLOCATIONS;

	if ((rc = cuInit(0)) != CUDA_SUCCESS)
		return fail("cuInit", rc);
	if ((rc = cuDeviceGetCount(&count)) != CUDA_SUCCESS)
		return fail("cuDeviceGetCount", rc);
	if ((rc = cuDeviceGet(&dev, 0)) != CUDA_SUCCESS)
		return fail("cuDeviceGet", rc);
	if ((rc = cuDeviceGetName(name, sizeof(name), dev)) != CUDA_SUCCESS)
		return fail("cuDeviceGetName", rc);
	if ((rc = cuDeviceTotalMem_v2(&device_total, dev)) != CUDA_SUCCESS)
		return fail("cuDeviceTotalMem_v2", rc);
	if ((rc = cuDevicePrimaryCtxRetain(&ctx, dev)) != CUDA_SUCCESS)
		return fail("cuDevicePrimaryCtxRetain", rc);
	if ((rc = cuCtxSetCurrent(ctx)) != CUDA_SUCCESS)
		return fail("cuCtxSetCurrent", rc);
	if ((rc = cuMemGetInfo_v2(&free_before, &total)) != CUDA_SUCCESS)
		return fail("cuMemGetInfo_v2", rc);

	while (n < max_gib) {
		alloc_rc = cuMemAlloc_v2(&ptrs[n], GIB);
		if (alloc_rc != CUDA_SUCCESS)
			break;
		n++;
	}
	if ((rc = cuMemGetInfo_v2(&free_after, &total_after)) != CUDA_SUCCESS)
		return fail("cuMemGetInfo_v2", rc);

	for (i = 0; name[i]; i++)
		if (name[i] == '"' || name[i] == '\\')
			name[i] = '_';
	printf("{\"devices\":%d,\"name\":\"%s\",\"device_total_bytes\":%zu,\"total_bytes\":%zu,"
	       "\"free_bytes_before\":%zu,\"free_bytes_after\":%zu,\"allocated_gib\":%ld,\"error\":%d}\n",
	       count, name, device_total, total, free_before, free_after, n, (int)alloc_rc);
	fflush(stdout);

	if (hold)
		sleep(hold);
	for (i = 0; i < n; i++)
		cuMemFree_v2(ptrs[i]);
	cuDevicePrimaryCtxRelease(dev);
	return 0;
}
