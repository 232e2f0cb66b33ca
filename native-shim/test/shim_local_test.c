/*
 * Runs under LD_PRELOAD=libsoftmig.so against the fake driver with no coordinator and
 * CUDA_DEVICE_MEMORY_LIMIT=1G on an 8 GiB simulated GPU: the shim enforces the limit
 * locally on every allocation path, reached directly, through dlsym and through
 * cuGetProcAddress, reports the limit, lets launches through, and a forked child gets a
 * fresh session of its own.
 */
#include "probe.h"

#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

#define MIB (1024ULL * 1024)
#define LIMIT (1024 * MIB)

CUresult CUDAAPI cuMemAllocAsync_ptsz(CUdeviceptr *dptr, size_t bytesize, CUstream hStream);
CUresult CUDAAPI cuMemFreeAsync_ptsz(CUdeviceptr dptr, CUstream hStream);

static CUdevice dev;
static CUmemoryPool pool;

static int from_shim(void *p)
{
	Dl_info info;

	return p && dladdr(p, &info) && info.dli_fname && strstr(info.dli_fname, "libsoftmig");
}

static size_t used_now(void)
{
	size_t free = 0, total = 0;

	if (cuMemGetInfo_v2(&free, &total) != CUDA_SUCCESS || total != LIMIT)
		return (size_t)-1;
	return total - free;
}

/* Allocates `bytes` through path (one of the alloc_probe paths); frees with release(). */
struct held {
	CUdeviceptr ptr;
	CUmemGenericAllocationHandle vmm;
	CUarray array;
	CUmipmappedArray mip;
};

static CUresult take(const char *path, size_t bytes, struct held *h)
{
	if (!strcmp(path, "alloc"))
		return cuMemAlloc_v2(&h->ptr, bytes);
	if (!strcmp(path, "pitch")) {
		size_t pitch;

		return cuMemAllocPitch_v2(&h->ptr, &pitch, bytes / 1024, 1024, 4);
	}
	if (!strcmp(path, "managed"))
		return cuMemAllocManaged(&h->ptr, bytes, CU_MEM_ATTACH_GLOBAL);
	if (!strcmp(path, "async"))
		return cuMemAllocAsync(&h->ptr, bytes, NULL);
	if (!strcmp(path, "async_ptsz"))
		return cuMemAllocAsync_ptsz(&h->ptr, bytes, NULL);
	if (!strcmp(path, "pool"))
		return cuMemAllocFromPoolAsync(&h->ptr, bytes, pool, NULL);
	if (!strcmp(path, "vmm")) {
		CUmemAllocationProp prop;

		memset(&prop, 0, sizeof(prop));
		prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
		prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
		prop.location.id = dev;
		return cuMemCreate(&h->vmm, bytes, &prop, 0);
	}
	if (!strcmp(path, "array")) {
		CUDA_ARRAY_DESCRIPTOR d = { .Width = bytes / (16 * 1024), .Height = 1024, .Format = CU_AD_FORMAT_FLOAT,
					    .NumChannels = 4 };

		return cuArrayCreate_v2(&h->array, &d);
	}
	{
		CUDA_ARRAY3D_DESCRIPTOR d = { .Width = bytes / (16 * 1024), .Height = 1024, .Depth = 0,
					      .Format = CU_AD_FORMAT_FLOAT, .NumChannels = 4 };

		if (!strcmp(path, "array3d"))
			return cuArray3DCreate_v2(&h->array, &d);
		return cuMipmappedArrayCreate(&h->mip, &d, 1);
	}
}

static CUresult release(const char *path, struct held *h)
{
	if (!strcmp(path, "vmm"))
		return cuMemRelease(h->vmm);
	if (!strcmp(path, "array") || !strcmp(path, "array3d"))
		return cuArrayDestroy(h->array);
	if (!strcmp(path, "mipmap"))
		return cuMipmappedArrayDestroy(h->mip);
	if (!strcmp(path, "async") || !strcmp(path, "pool"))
		return cuMemFreeAsync(h->ptr, NULL);
	if (!strcmp(path, "async_ptsz"))
		return cuMemFreeAsync_ptsz(h->ptr, NULL);
	return cuMemFree_v2(h->ptr);
}

static void every_path_is_limited(void)
{
	static const char *paths[] = { "alloc", "pitch", "managed", "async", "async_ptsz", "pool",
				       "vmm", "array", "array3d", "mipmap" };

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct held a, b;
		CUresult r1 = take(paths[i], 768 * MIB, &a);
		CUresult r2 = take(paths[i], 512 * MIB, &b);

		if (r1 != CUDA_SUCCESS || r2 != CUDA_ERROR_OUT_OF_MEMORY || used_now() != 768 * MIB)
			fprintf(stderr, "path %s: first %d, second %d, used %zu\n", paths[i], (int)r1, (int)r2,
				used_now());
		CHECK(r1 == CUDA_SUCCESS);
		CHECK(r2 == CUDA_ERROR_OUT_OF_MEMORY);
		CHECK(used_now() == 768 * MIB);
		CHECK(release(paths[i], &a) == CUDA_SUCCESS);
		cuCtxSynchronize();
		CHECK(used_now() == 0);
	}
}

static void lookups_return_wrappers(void)
{
	void *lib = dlopen("libcuda.so.1", RTLD_NOW);
	void *p = NULL;
	CUdriverProcAddressQueryResult st;
	CUdeviceptr d1, d2;
	CUresult (*alloc)(CUdeviceptr *, size_t);

	CHECK(lib != NULL);
	CHECK(from_shim(dlsym(lib, "cuMemAlloc_v2")));
	CHECK(from_shim(dlsym(lib, "cuLaunchKernel")));
	CHECK(from_shim(dlsym(RTLD_DEFAULT, "cuGraphLaunch")));
	CHECK(!from_shim(dlsym(lib, "cuCtxSynchronize")));
	CHECK(dlsym(lib, "cuCtxSynchronize") != NULL);

	CHECK(cuGetProcAddress_v2("cuMemAlloc", &p, CUDA_VERSION, 0, &st) == CUDA_SUCCESS);
	CHECK(from_shim(p));
	alloc = (CUresult(*)(CUdeviceptr *, size_t))p;
	CHECK(alloc && alloc(&d1, 768 * MIB) == CUDA_SUCCESS);
	CHECK(alloc && alloc(&d2, 512 * MIB) == CUDA_ERROR_OUT_OF_MEMORY);
	CHECK(cuMemFree_v2(d1) == CUDA_SUCCESS);

	/* each variant maps to the wrapper of exactly that variant */
	CHECK(cuGetProcAddress_v2("cuLaunchKernel", &p, CUDA_VERSION, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM,
				  &st) == CUDA_SUCCESS);
	CHECK(p == dlsym(lib, "cuLaunchKernel_ptsz"));
	CHECK(cuGetProcAddress_v2("cuLaunchKernel", &p, CUDA_VERSION, CU_GET_PROC_ADDRESS_LEGACY_STREAM, &st) ==
	      CUDA_SUCCESS);
	CHECK(p == dlsym(lib, "cuLaunchKernel"));
	CHECK(cuGetProcAddress_v2("cuMemGetInfo", &p, CUDA_VERSION, 0, &st) == CUDA_SUCCESS);
	CHECK(p == dlsym(lib, "cuMemGetInfo_v2"));
	CHECK(cuGetProcAddress_v2("cuGetProcAddress", &p, CUDA_VERSION, 0, &st) == CUDA_SUCCESS);
	CHECK(from_shim(p));
	/* a name the shim does not wrap comes back untouched */
	CHECK(cuGetProcAddress_v2("cuCtxSynchronize", &p, CUDA_VERSION, 0, &st) == CUDA_SUCCESS);
	CHECK(p && !from_shim(p));
}

static void reports_the_limit(void)
{
	size_t total = 0;
	void *h = dlopen("libnvidia-ml.so.1", RTLD_NOW);

	CHECK(cuDeviceTotalMem_v2(&total, dev) == CUDA_SUCCESS && total == LIMIT);
	CHECK(used_now() == 0);
	if (h) {
		struct {
			unsigned long long total, free, used;
		} m;
		int (*init)(void) = (int (*)(void))dlsym(h, "nvmlInit_v2");
		int (*get)(unsigned int, void **) = (int (*)(unsigned int, void **))dlsym(h, "nvmlDeviceGetHandleByIndex_v2");
		int (*info)(void *, void *) = (int (*)(void *, void *))dlsym(h, "nvmlDeviceGetMemoryInfo");
		void *d;

		struct {
			unsigned int version;
			unsigned long long total, reserved, free, used;
		} m2;
		int (*info2)(void *, void *) = (int (*)(void *, void *))dlsym(h, "nvmlDeviceGetMemoryInfo_v2");

		CHECK(from_shim((void *)info));
		CHECK(init && get && info && init() == 0 && get(0, &d) == 0 && info(d, &m) == 0);
		CHECK(m.total == LIMIT && m.free == LIMIT && m.used == 0);
		memset(&m2, 0, sizeof(m2));
		m2.version = (unsigned int)sizeof(m2) | (2u << 24);
		CHECK(from_shim((void *)info2));
		CHECK(info2 && info2(d, &m2) == 0 && m2.total == LIMIT && m2.free == LIMIT && m2.used == 0);
	}
}

static void unknown_frees_pass_through(void)
{
	/* the driver's own answer for a pointer nobody allocated */
	CHECK(cuMemFree_v2((CUdeviceptr)0x1234) != CUDA_SUCCESS);
	CHECK(used_now() == 0);
}

static void launches_run_without_a_coordinator(void)
{
	CUmodule mod;
	CUfunction fn;
	CUlaunchConfig cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.gridDimX = cfg.gridDimY = cfg.gridDimZ = cfg.blockDimX = cfg.blockDimY = cfg.blockDimZ = 1;
	CHECK(cuModuleLoadData(&mod, "m") == CUDA_SUCCESS && cuModuleGetFunction(&fn, mod, "k") == CUDA_SUCCESS);
	CHECK(cuLaunchKernel(fn, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL) == CUDA_SUCCESS);
	CHECK(cuLaunchKernelEx(&cfg, fn, NULL, NULL) == CUDA_SUCCESS);
	CHECK(cuCtxSynchronize() == CUDA_SUCCESS);
}

static void forked_child_starts_fresh(void)
{
	CUdeviceptr keep;
	pid_t pid;
	int status = -1;

	CHECK(cuMemAlloc_v2(&keep, 768 * MIB) == CUDA_SUCCESS);
	pid = fork();
	if (pid == 0) {
		CUdeviceptr d;
		CUdevice cd;
		CUcontext ctx;

		/* the child holds none of the parent's memory: its own 768 MiB fit */
		if (cuInit(0) || cuDeviceGet(&cd, 0) || cuDevicePrimaryCtxRetain(&ctx, cd) || cuCtxSetCurrent(ctx))
			_exit(3);
		_exit(cuMemAlloc_v2(&d, 768 * MIB) == CUDA_SUCCESS && used_now() == 768 * MIB ? 0 : 1);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(used_now() == 768 * MIB);
	CHECK(cuMemFree_v2(keep) == CUDA_SUCCESS);
}

int main(void)
{
	dev = probe_context();
	CHECK(cuDeviceGetDefaultMemPool(&pool, dev) == CUDA_SUCCESS);
	reports_the_limit();
	every_path_is_limited();
	lookups_return_wrappers();
	unknown_frees_pass_through();
	launches_run_without_a_coordinator();
	forked_child_starts_fresh();
	return check_done();
}
