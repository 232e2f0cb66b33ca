/*
 * memtest: the driver-API memory checks of the GPU suite.
 *
 *   memtest paths LIMIT          every allocation path under and over LIMIT
 *   memtest info                 cuMemGetInfo / cuDeviceTotalMem as JSON
 *   memtest try SIZE...          allocate each SIZE in turn (keeping successes)
 *   memtest hold SIZE SECONDS    allocate SIZE, print READY, wait for stdin EOF or SECONDS
 *   memtest fill CHUNK SECONDS   allocate CHUNKs until refused, print READY, wait, retry once
 *
 * Run under LD_PRELOAD=libsoftmig.so with CUDA_DEVICE_MEMORY_LIMIT=LIMIT for the
 * limit checks, or bare for baselines.  Single-threaded; device 0 only.
 */
#include "common.h"

#include <math.h>
#include <poll.h>
#include <unistd.h>

static CUdevice dev;
static CUcontext ctx;
static CUstream stream;

static void setup(void)
{
	CK(cuInit(0));
	CK(cuDeviceGet(&dev, 0));
	CK(cuDevicePrimaryCtxRetain(&ctx, dev));
	CK(cuCtxSetCurrent(ctx));
	CK(cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING));
}

/* One allocation path: allocate about `bytes`, and free what was allocated. */
struct path {
	const char *name;
	CUresult (*alloc)(uint64_t bytes, void **handle);
	void (*release)(void *handle);
};

static CUresult plain_alloc(uint64_t bytes, void **handle)
{
	CUdeviceptr p = 0;
	CUresult rc = cuMemAlloc(&p, bytes);

	*handle = (void *)(uintptr_t)p;
	return rc;
}

static void plain_free(void *handle)
{
	CK(cuMemFree((CUdeviceptr)(uintptr_t)handle));
}

static CUresult pitch_alloc(uint64_t bytes, void **handle)
{
	CUdeviceptr p = 0;
	size_t pitch = 0;
	size_t width = 1 * MIB;
	size_t height = (size_t)((bytes + width - 1) / width);
	CUresult rc = cuMemAllocPitch(&p, &pitch, width, height, 16);

	*handle = (void *)(uintptr_t)p;
	return rc;
}

static CUresult managed_alloc(uint64_t bytes, void **handle)
{
	CUdeviceptr p = 0;
	CUresult rc = cuMemAllocManaged(&p, bytes, CU_MEM_ATTACH_GLOBAL);

	*handle = (void *)(uintptr_t)p;
	return rc;
}

static CUresult async_alloc(uint64_t bytes, void **handle)
{
	CUdeviceptr p = 0;
	CUresult rc = cuMemAllocAsync(&p, bytes, stream);

	if (rc == CUDA_SUCCESS)
		CK(cuStreamSynchronize(stream));
	*handle = (void *)(uintptr_t)p;
	return rc;
}

static void async_free(void *handle)
{
	CK(cuMemFreeAsync((CUdeviceptr)(uintptr_t)handle, stream));
	CK(cuStreamSynchronize(stream));
}

static CUmemoryPool pool;

static CUresult pool_alloc(uint64_t bytes, void **handle)
{
	CUdeviceptr p = 0;
	CUresult rc;

	if (pool == NULL) {
		CUmemPoolProps props;

		memset(&props, 0, sizeof(props));
		props.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
		props.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
		props.location.id = (int)dev;
		CK(cuMemPoolCreate(&pool, &props));
	}
	rc = cuMemAllocFromPoolAsync(&p, bytes, pool, stream);
	if (rc == CUDA_SUCCESS)
		CK(cuStreamSynchronize(stream));
	*handle = (void *)(uintptr_t)p;
	return rc;
}

static CUresult vmm_alloc(uint64_t bytes, void **handle)
{
	CUmemAllocationProp prop;
	CUmemGenericAllocationHandle h = 0;
	size_t gran = 0;
	CUresult rc;

	memset(&prop, 0, sizeof(prop));
	prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
	prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
	prop.location.id = (int)dev;
	CK(cuMemGetAllocationGranularity(&gran, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM));
	if (gran == 0)
		gran = 2 * MIB;
	bytes = (bytes + gran - 1) / gran * gran;
	rc = cuMemCreate(&h, bytes, &prop, 0);
	*handle = (void *)(uintptr_t)h;
	return rc;
}

static void vmm_free(void *handle)
{
	CK(cuMemRelease((CUmemGenericAllocationHandle)(uintptr_t)handle));
}

/* 2D array of float4 (16 bytes per element), 32768 wide. */
static CUresult array_alloc(uint64_t bytes, void **handle)
{
	CUDA_ARRAY_DESCRIPTOR d;
	CUarray a = NULL;
	CUresult rc;

	memset(&d, 0, sizeof(d));
	d.Format = CU_AD_FORMAT_FLOAT;
	d.NumChannels = 4;
	d.Width = 32768;
	d.Height = (size_t)((bytes + d.Width * 16 - 1) / (d.Width * 16));
	rc = cuArrayCreate(&a, &d);
	*handle = a;
	return rc;
}

static void array_free(void *handle)
{
	CK(cuArrayDestroy((CUarray)handle));
}

/* 3D array of float4, 2048 x 2048 x depth. */
static CUresult array3d_alloc(uint64_t bytes, void **handle)
{
	CUDA_ARRAY3D_DESCRIPTOR d;
	CUarray a = NULL;
	CUresult rc;

	memset(&d, 0, sizeof(d));
	d.Format = CU_AD_FORMAT_FLOAT;
	d.NumChannels = 4;
	d.Width = 2048;
	d.Height = 2048;
	d.Depth = (size_t)((bytes + d.Width * d.Height * 16 - 1) / (d.Width * d.Height * 16));
	rc = cuArray3DCreate(&a, &d);
	*handle = a;
	return rc;
}

/* Square 2D mipmapped array of float4, one level (the size is exact). */
static CUresult mipmap_alloc(uint64_t bytes, void **handle)
{
	CUDA_ARRAY3D_DESCRIPTOR d;
	CUmipmappedArray m = NULL;
	size_t side = (size_t)ceil(sqrt((double)bytes / 16.0));
	CUresult rc;

	side = (side + 1023) / 1024 * 1024;
	memset(&d, 0, sizeof(d));
	d.Format = CU_AD_FORMAT_FLOAT;
	d.NumChannels = 4;
	d.Width = side;
	d.Height = side;
	rc = cuMipmappedArrayCreate(&m, &d, 1);
	*handle = m;
	return rc;
}

static void mipmap_free(void *handle)
{
	CK(cuMipmappedArrayDestroy((CUmipmappedArray)handle));
}

static const struct path paths[] = {
	{ "cuMemAlloc", plain_alloc, plain_free },
	{ "cuMemAllocPitch", pitch_alloc, plain_free },
	{ "cuMemAllocManaged", managed_alloc, plain_free },
	{ "cuMemAllocAsync", async_alloc, async_free },
	{ "cuMemAllocFromPoolAsync", pool_alloc, async_free },
	{ "cuMemCreate", vmm_alloc, vmm_free },
	{ "cuArrayCreate", array_alloc, array_free },
	{ "cuArray3DCreate", array3d_alloc, array_free },
	{ "cuMipmappedArrayCreate", mipmap_alloc, mipmap_free },
};

static void mem_info(size_t *free_b, size_t *total_b)
{
	CK(cuMemGetInfo(free_b, total_b));
}

/*
 * For each path: limit/4 must succeed; limit + 1 GiB must fail with
 * CUDA_ERROR_OUT_OF_MEMORY; afterwards a 64 MiB plain allocation must still
 * succeed (the process goes on).  Managed memory is only tried small under the
 * limit and just over it, never more than the card has free.
 */
static int cmd_paths(uint64_t limit)
{
	size_t free0 = 0, total0 = 0, free1 = 0, total1 = 0, total_dev = 0;
	char name[128], note[160];

	setup();
	check_begin();
	mem_info(&free0, &total0);
	check_add("drv.cuMemGetInfo.total_equals_limit", total0 == limit, (double)total0,
		  (double)limit, "bytes", NULL);
	check_add("drv.cuMemGetInfo.free_within_limit", free0 <= limit && free0 > 0, (double)free0,
		  (double)limit, "bytes", NULL);
	CK(cuDeviceTotalMem(&total_dev, dev));
	check_add("drv.cuDeviceTotalMem.equals_limit", total_dev == limit, (double)total_dev,
		  (double)limit, "bytes", NULL);

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		const struct path *p = &paths[i];
		int managed = strcmp(p->name, "cuMemAllocManaged") == 0;
		uint64_t under = managed ? 64 * MIB : limit / 4;
		uint64_t over = managed ? limit + 64 * MIB : limit + GIB;
		void *h = NULL;
		CUresult rc;

		rc = p->alloc(under, &h);
		snprintf(name, sizeof(name), "drv.%s.under_limit_succeeds", p->name);
		snprintf(note, sizeof(note), "%s", cu_err_name(rc));
		check_add(name, rc == CUDA_SUCCESS, (double)rc, 0, "CUresult", rc ? note : NULL);
		if (rc == CUDA_SUCCESS)
			p->release(h);

		h = NULL;
		rc = p->alloc(over, &h);
		snprintf(name, sizeof(name), "drv.%s.over_limit_out_of_memory", p->name);
		snprintf(note, sizeof(note), "%s", cu_err_name(rc));
		check_add(name, rc == CUDA_ERROR_OUT_OF_MEMORY, (double)rc, CUDA_ERROR_OUT_OF_MEMORY,
			  "CUresult", note);
		if (rc == CUDA_SUCCESS)
			p->release(h);

		CUdeviceptr after = 0;
		rc = cuMemAlloc(&after, 64 * MIB);
		snprintf(name, sizeof(name), "drv.%s.process_goes_on", p->name);
		check_add(name, rc == CUDA_SUCCESS, (double)rc, 0, "CUresult", NULL);
		if (rc == CUDA_SUCCESS)
			CK(cuMemFree(after));
	}

	mem_info(&free1, &total1);
	check_add("drv.frees_return_memory", free1 + 64 * MIB >= free0, (double)free1, (double)free0,
		  "bytes", "free after all paths vs before (64 MiB slack)");
	check_end();
	return 0;
}

static int cmd_info(void)
{
	size_t free_b = 0, total_b = 0, total_dev = 0;

	setup();
	mem_info(&free_b, &total_b);
	CK(cuDeviceTotalMem(&total_dev, dev));
	printf("{\"free\":%zu,\"total\":%zu,\"device_total\":%zu}\n", free_b, total_b, total_dev);
	return 0;
}

static int cmd_try(int argc, char **argv)
{
	setup();
	printf("{\"results\":[");
	for (int i = 0; i < argc; i++) {
		CUdeviceptr p = 0;
		uint64_t bytes = parse_size(argv[i]);
		CUresult rc = cuMemAlloc(&p, bytes);

		printf("%s{\"bytes\":%llu,\"rc\":%d}", i ? "," : "", (unsigned long long)bytes, (int)rc);
	}
	printf("]}\n");
	return 0;
}

/* Prints READY and waits until stdin reaches EOF or `seconds` pass. */
static void wait_ready(const char *json, double seconds)
{
	struct pollfd pfd = { .fd = 0, .events = POLLIN };
	uint64_t end = now_ns() + (uint64_t)(seconds * 1e9);
	char buf[256];

	printf("READY %s\n", json);
	fflush(stdout);
	while (now_ns() < end) {
		int left_ms = (int)((end - now_ns()) / 1000000ULL) + 1;
		int n = poll(&pfd, 1, left_ms);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (read(0, buf, sizeof(buf)) <= 0)
			break;
	}
}

static int cmd_hold(uint64_t bytes, double seconds)
{
	CUdeviceptr p = 0;
	CUresult rc;
	char json[128];

	setup();
	rc = cuMemAlloc(&p, bytes);
	snprintf(json, sizeof(json), "{\"bytes\":%llu,\"rc\":%d}", (unsigned long long)bytes, (int)rc);
	wait_ready(json, seconds);
	if (rc == CUDA_SUCCESS)
		CK(cuMemFree(p));
	printf("%s\n", json);
	return 0;
}

static int cmd_fill(uint64_t chunk, double seconds)
{
	CUdeviceptr p = 0;
	uint64_t total = 0;
	CUresult rc, again;
	char json[256];
	size_t free_b = 0, total_b = 0;

	setup();
	while ((rc = cuMemAlloc(&p, chunk)) == CUDA_SUCCESS) {
		total += chunk;
		if (total > 1024 * GIB)
			break;
	}
	mem_info(&free_b, &total_b);
	snprintf(json, sizeof(json), "{\"allocated\":%llu,\"stop_rc\":%d,\"free\":%zu,\"total\":%zu}",
		 (unsigned long long)total, (int)rc, free_b, total_b);
	wait_ready(json, seconds);
	again = cuMemAlloc(&p, chunk);
	snprintf(json, sizeof(json),
		 "{\"allocated\":%llu,\"stop_rc\":%d,\"retry_rc\":%d,\"free\":%zu,\"total\":%zu}",
		 (unsigned long long)total, (int)rc, (int)again, free_b, total_b);
	printf("%s\n", json);
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: memtest paths LIMIT | info | try SIZE... | hold SIZE SECONDS | fill CHUNK SECONDS\n");
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "paths") == 0 && argc == 3)
		return cmd_paths(parse_size(argv[2]));
	if (strcmp(argv[1], "info") == 0)
		return cmd_info();
	if (strcmp(argv[1], "try") == 0 && argc >= 3)
		return cmd_try(argc - 2, argv + 2);
	if (strcmp(argv[1], "hold") == 0 && argc == 4)
		return cmd_hold(parse_size(argv[2]), atof(argv[3]));
	if (strcmp(argv[1], "fill") == 0 && argc == 4)
		return cmd_fill(parse_size(argv[2]), atof(argv[3]));
	usage();
	return 2;
}
