/*
 * alloc_probe PATH SIZE [--count N] [--via direct|dlsym|procaddr] [--hold-ms MS] [--keep]
 *
 * Allocates COUNT blocks of SIZE bytes through one allocation path, prints one JSON line
 * with what was granted and what cuMemGetInfo, cuDeviceTotalMem and NVML report, optionally
 * holds the memory (MS < 0: until killed), then frees everything and prints a second line.
 *
 * PATH: alloc pitch managed async async_ptsz pool pool_ptsz vmm array array3d mipmap
 * Exit: 0 all granted, 2 a block was refused with CUDA_ERROR_OUT_OF_MEMORY, 1 other errors.
 */
#include "probe.h"

#include <stdint.h>
#include <unistd.h>

CUresult CUDAAPI cuMemAllocAsync_ptsz(CUdeviceptr *dptr, size_t bytesize, CUstream hStream);
CUresult CUDAAPI cuMemAllocFromPoolAsync_ptsz(CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool,
					      CUstream hStream);
CUresult CUDAAPI cuMemFreeAsync_ptsz(CUdeviceptr dptr, CUstream hStream);

#define MAX_BLOCKS 4096

struct block {
	CUdeviceptr ptr;
	CUmemGenericAllocationHandle vmm;
	CUarray array;
	CUmipmappedArray mipmap;
};

static const char *path;
static size_t size;
static CUdevice dev;
static CUmemoryPool pool;

static CUresult alloc_one(struct block *b)
{
	const cuuint64_t ptds = CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM;

	if (!strcmp(path, "alloc")) {
		return RESOLVE(CUresult(*)(CUdeviceptr *, size_t), cuMemAlloc_v2, "cuMemAlloc_v2", "cuMemAlloc", 0)(
			&b->ptr, size);
	}
	if (!strcmp(path, "pitch")) {
		size_t pitch;

		return RESOLVE(CUresult(*)(CUdeviceptr *, size_t *, size_t, size_t, unsigned int), cuMemAllocPitch_v2,
			       "cuMemAllocPitch_v2", "cuMemAllocPitch", 0)(&b->ptr, &pitch, size / 1024, 1024, 4);
	}
	if (!strcmp(path, "managed")) {
		return RESOLVE(CUresult(*)(CUdeviceptr *, size_t, unsigned int), cuMemAllocManaged, "cuMemAllocManaged",
			       "cuMemAllocManaged", 0)(&b->ptr, size, CU_MEM_ATTACH_GLOBAL);
	}
	if (!strcmp(path, "async")) {
		return RESOLVE(CUresult(*)(CUdeviceptr *, size_t, CUstream), cuMemAllocAsync, "cuMemAllocAsync",
			       "cuMemAllocAsync", 0)(&b->ptr, size, NULL);
	}
	if (!strcmp(path, "async_ptsz")) {
		return RESOLVE(CUresult(*)(CUdeviceptr *, size_t, CUstream), cuMemAllocAsync_ptsz,
			       "cuMemAllocAsync_ptsz", "cuMemAllocAsync", ptds)(&b->ptr, size, NULL);
	}
	if (!strcmp(path, "pool")) {
		return RESOLVE(CUresult(*)(CUdeviceptr *, size_t, CUmemoryPool, CUstream), cuMemAllocFromPoolAsync,
			       "cuMemAllocFromPoolAsync", "cuMemAllocFromPoolAsync", 0)(&b->ptr, size, pool, NULL);
	}
	if (!strcmp(path, "pool_ptsz")) {
		return RESOLVE(CUresult(*)(CUdeviceptr *, size_t, CUmemoryPool, CUstream), cuMemAllocFromPoolAsync_ptsz,
			       "cuMemAllocFromPoolAsync_ptsz", "cuMemAllocFromPoolAsync", ptds)(&b->ptr, size, pool,
											       NULL);
	}
	if (!strcmp(path, "vmm")) {
		CUmemAllocationProp prop;

		memset(&prop, 0, sizeof(prop));
		prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
		prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
		prop.location.id = dev;
		return RESOLVE(CUresult(*)(CUmemGenericAllocationHandle *, size_t, const CUmemAllocationProp *,
					   unsigned long long),
			       cuMemCreate, "cuMemCreate", "cuMemCreate", 0)(&b->vmm, size, &prop, 0);
	}
	if (!strcmp(path, "array")) {
		CUDA_ARRAY_DESCRIPTOR d = { .Width = size / (16 * 1024), .Height = 1024,
					    .Format = CU_AD_FORMAT_FLOAT, .NumChannels = 4 };

		return RESOLVE(CUresult(*)(CUarray *, const CUDA_ARRAY_DESCRIPTOR *), cuArrayCreate_v2,
			       "cuArrayCreate_v2", "cuArrayCreate", 0)(&b->array, &d);
	}
	if (!strcmp(path, "array3d") || !strcmp(path, "mipmap")) {
		CUDA_ARRAY3D_DESCRIPTOR d = { .Width = size / (16 * 1024), .Height = 1024, .Depth = 0,
					      .Format = CU_AD_FORMAT_FLOAT, .NumChannels = 4 };

		if (!strcmp(path, "mipmap"))
			return RESOLVE(CUresult(*)(CUmipmappedArray *, const CUDA_ARRAY3D_DESCRIPTOR *, unsigned int),
				       cuMipmappedArrayCreate, "cuMipmappedArrayCreate", "cuMipmappedArrayCreate",
				       0)(&b->mipmap, &d, 1);
		return RESOLVE(CUresult(*)(CUarray *, const CUDA_ARRAY3D_DESCRIPTOR *), cuArray3DCreate_v2,
			       "cuArray3DCreate_v2", "cuArray3DCreate", 0)(&b->array, &d);
	}
	fprintf(stderr, "unknown path %s\n", path);
	exit(1);
}

static CUresult free_one(struct block *b)
{
	const cuuint64_t ptds = CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM;

	if (!strcmp(path, "vmm"))
		return RESOLVE(CUresult(*)(CUmemGenericAllocationHandle), cuMemRelease, "cuMemRelease", "cuMemRelease",
			       0)(b->vmm);
	if (!strcmp(path, "array") || !strcmp(path, "array3d"))
		return RESOLVE(CUresult(*)(CUarray), cuArrayDestroy, "cuArrayDestroy", "cuArrayDestroy", 0)(b->array);
	if (!strcmp(path, "mipmap"))
		return RESOLVE(CUresult(*)(CUmipmappedArray), cuMipmappedArrayDestroy, "cuMipmappedArrayDestroy",
			       "cuMipmappedArrayDestroy", 0)(b->mipmap);
	if (!strcmp(path, "async") || !strcmp(path, "pool"))
		return RESOLVE(CUresult(*)(CUdeviceptr, CUstream), cuMemFreeAsync, "cuMemFreeAsync", "cuMemFreeAsync",
			       0)(b->ptr, NULL);
	if (!strcmp(path, "async_ptsz") || !strcmp(path, "pool_ptsz"))
		return RESOLVE(CUresult(*)(CUdeviceptr, CUstream), cuMemFreeAsync_ptsz, "cuMemFreeAsync_ptsz",
			       "cuMemFreeAsync", ptds)(b->ptr, NULL);
	return RESOLVE(CUresult(*)(CUdeviceptr), cuMemFree_v2, "cuMemFree_v2", "cuMemFree", 0)(b->ptr);
}

struct nvml_memory {
	unsigned long long total, free, used;
};

/* NVML's view of device 0 through dlsym on libnvidia-ml.so.1; 0 when NVML is not there. */
static int nvml_info(struct nvml_memory *m)
{
	void *h = dlopen("libnvidia-ml.so.1", RTLD_NOW);
	int (*init)(void);
	int (*get)(unsigned int, void **);
	int (*info)(void *, struct nvml_memory *);
	void *d;

	if (!h)
		return 0;
	init = (int (*)(void))dlsym(h, "nvmlInit_v2");
	get = (int (*)(unsigned int, void **))dlsym(h, "nvmlDeviceGetHandleByIndex_v2");
	info = (int (*)(void *, struct nvml_memory *))dlsym(h, "nvmlDeviceGetMemoryInfo");
	if (!init || !get || !info || init() != 0 || get(0, &d) != 0 || info(d, m) != 0)
		return 0;
	return 1;
}

static void report(const char *prefix, int granted, CUresult rc)
{
	size_t free = 0, total = 0, dev_total = 0;
	struct nvml_memory nm = { 0, 0, 0 };
	CUresult rinfo = RESOLVE(CUresult(*)(size_t *, size_t *), cuMemGetInfo_v2, "cuMemGetInfo_v2", "cuMemGetInfo",
				 0)(&free, &total);
	CUresult rtotal = RESOLVE(CUresult(*)(size_t *, CUdevice), cuDeviceTotalMem_v2, "cuDeviceTotalMem_v2",
				  "cuDeviceTotalMem", 0)(&dev_total, dev);
	int have_nvml = nvml_info(&nm);

	printf("{\"phase\":\"%s\",\"path\":\"%s\",\"size\":%zu,\"granted\":%d,\"rc\":%d,\"free\":%zu,\"total\":%zu,"
	       "\"device_total\":%zu,\"info_rc\":%d,\"total_rc\":%d,\"nvml\":%s,\"nvml_total\":%llu,\"nvml_free\":%llu,"
	       "\"nvml_used\":%llu,\"pid\":%d}\n",
	       prefix, path, size, granted, (int)rc, free, total, dev_total, (int)rinfo, (int)rtotal,
	       have_nvml ? "true" : "false", nm.total, nm.free, nm.used, (int)getpid());
	fflush(stdout);
}

int main(int argc, char **argv)
{
	static struct block blocks[MAX_BLOCKS];
	int count = 1, granted = 0, keep = 0;
	long hold_ms = 0;
	CUresult rc = CUDA_SUCCESS;

	if (argc < 3) {
		fprintf(stderr, "usage: alloc_probe PATH SIZE [--count N] [--via MODE] [--hold-ms MS] [--keep]\n");
		return 1;
	}
	path = argv[1];
	size = (size_t)strtoull(argv[2], NULL, 10);
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--count") && i + 1 < argc)
			count = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--via") && i + 1 < argc)
			probe_via_mode = probe_parse_via(argv[++i]);
		else if (!strcmp(argv[i], "--hold-ms") && i + 1 < argc)
			hold_ms = atol(argv[++i]);
		else if (!strcmp(argv[i], "--keep"))
			keep = 1;
	}
	if (count > MAX_BLOCKS)
		count = MAX_BLOCKS;
	dev = probe_context();
	if (!strncmp(path, "pool", 4) && cuDeviceGetDefaultMemPool(&pool, dev) != CUDA_SUCCESS) {
		printf("{\"error\":\"no memory pool\"}\n");
		return 1;
	}
	for (granted = 0; granted < count; granted++) {
		rc = alloc_one(&blocks[granted]);
		if (rc != CUDA_SUCCESS)
			break;
	}
	cuCtxSynchronize();
	report("allocated", granted, rc);
	if (hold_ms < 0)
		for (;;)
			pause();
	if (hold_ms > 0)
		usleep((useconds_t)hold_ms * 1000);
	if (!keep) {
		CUresult frc = CUDA_SUCCESS;

		for (int i = 0; i < granted; i++) {
			CUresult r = free_one(&blocks[i]);

			if (r != CUDA_SUCCESS)
				frc = r;
		}
		cuCtxSynchronize();
		report("freed", granted, frc);
	}
	if (rc == CUDA_ERROR_OUT_OF_MEMORY)
		return 2;
	return rc == CUDA_SUCCESS ? 0 : 1;
}
