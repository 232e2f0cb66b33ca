/*
 * memsources: device memory that comes from no allocation call, under a job's limit.
 *
 *   memsources [--size SIZE] [--keep SIZE] [--contexts N] [--hold SECONDS]
 *
 * Fills the job's limit with cuMemAlloc until --keep (default 256M) is left of what
 * cuMemGetInfo reports free, then asks for more through the sources that allocate nothing:
 *   - a graph with a memory allocation node of --size (default 3G), instantiated and launched;
 *   - a PTX module declaring a __device__ array of --size (cuModuleLoadData), its global read;
 *   - --contexts (default 4) extra contexts (cuCtxCreate).
 * Each is expected to fail with CUDA_ERROR_OUT_OF_MEMORY (2). Prints one JSON object: the
 * return codes, filled, free figures, nvml_used (this process as NVML sees it after the
 * attempts, -1 without NVML), nvml_peak (the highest NVML figure seen after each attempt),
 * limit (CUDA_DEVICE_MEMORY_LIMIT as given) and pass: every attempt refused and, with NVML,
 * nvml_peak <= limit + 64 MiB. With --hold it then waits (stdin EOF or SECONDS) so a harness
 * can compare status with NVML. Exit 0 when pass, 1 when not, 2 when the setup failed.
 *
 * Run under LD_PRELOAD=libsoftmig.so with CUDA_DEVICE_MEMORY_LIMIT=2G in the GPU suite.
 */
#include "common.h"
#include "nvself.h"

#include <poll.h>
#include <unistd.h>

#define MAX_BLOCKS 65536
#define MAX_CONTEXTS 16
#define SLACK (64 * MIB)

static CUdeviceptr blocks[MAX_BLOCKS];
static CUdevice dev;
static long long nvml_peak = -1;

static void sample(void)
{
	long long v = nvml_self_bytes(dev);

	if (v > nvml_peak)
		nvml_peak = v;
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

static CUresult try_graph(uint64_t bytes)
{
	CUgraph graph;
	CUgraphNode alloc, release;
	CUgraphExec exec;
	CUDA_MEM_ALLOC_NODE_PARAMS p;
	CUresult rc;

	memset(&p, 0, sizeof(p));
	p.poolProps.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
	p.poolProps.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
	p.poolProps.location.id = dev;
	p.bytesize = bytes;
	CK(cuGraphCreate(&graph, 0));
	rc = cuGraphAddMemAllocNode(&alloc, graph, NULL, 0, &p);
	if (rc == CUDA_SUCCESS)
		rc = cuGraphAddMemFreeNode(&release, graph, &alloc, 1, p.dptr);
	if (rc == CUDA_SUCCESS)
		rc = cuGraphInstantiate(&exec, graph, 0);
	if (rc == CUDA_SUCCESS) {
		rc = cuGraphLaunch(exec, NULL);
		if (rc == CUDA_SUCCESS)
			rc = cuStreamSynchronize(NULL);
		sample(); /* the graph's memory, if it got any, is still held by its pool */
		cuGraphExecDestroy(exec);
	}
	sample();
	cuGraphDestroy(graph);
	return rc;
}

static CUresult try_module(uint64_t bytes)
{
	char ptx[1024];
	CUmodule mod;
	CUdeviceptr g;
	size_t gsize;
	CUresult rc;

	snprintf(ptx, sizeof(ptx),
		 ".version 7.0\n.target sm_50\n.address_size 64\n"
		 ".visible .global .align 4 .b8 big[%llu];\n"
		 ".visible .entry touch()\n{\n\t.reg .b64 %%rd<2>;\n\t.reg .b32 %%r<2>;\n"
		 "\tmov.u64 %%rd1, big;\n\tmov.u32 %%r1, 1;\n\tst.global.u32 [%%rd1], %%r1;\n\tret;\n}\n",
		 (unsigned long long)bytes);
	rc = cuModuleLoadData(&mod, ptx);
	if (rc == CUDA_SUCCESS) {
		cuModuleGetGlobal(&g, &gsize, mod, "big"); /* lazy loading: make the driver back it */
		sample();
		cuModuleUnload(mod);
	}
	sample();
	return rc;
}

static CUresult create_context(CUcontext *c)
{
#if CUDA_VERSION >= 12050
	return cuCtxCreate(c, NULL, 0, dev);
#else
	return cuCtxCreate(c, 0, dev);
#endif
}

int main(int argc, char **argv)
{
	uint64_t size = 3 * GIB, keep = 256 * MIB, filled = 0, limit = 0;
	int contexts = 4, n = 0, pass = 1;
	double hold_s = 0;
	CUcontext primary, extra[MAX_CONTEXTS];
	CUresult graph_rc, module_rc, ctx_rc[MAX_CONTEXTS];
	size_t free0, free1, free2, total;
	const char *lim = getenv("CUDA_DEVICE_MEMORY_LIMIT");

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--size"))
			size = parse_size(argv[i + 1]);
		else if (!strcmp(argv[i], "--keep"))
			keep = parse_size(argv[i + 1]);
		else if (!strcmp(argv[i], "--contexts"))
			contexts = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--hold"))
			hold_s = atof(argv[i + 1]);
	}
	if (contexts < 0 || contexts > MAX_CONTEXTS)
		contexts = MAX_CONTEXTS;
	if (lim)
		limit = parse_size(lim);
	CK(cuInit(0));
	CK(cuDeviceGet(&dev, 0));
	CK(cuDevicePrimaryCtxRetain(&primary, dev));
	CK(cuCtxSetCurrent(primary));
	CK(cuMemGetInfo(&free0, &total));
	while (n < MAX_BLOCKS) {
		size_t f, t;
		uint64_t chunk = 64 * MIB;

		CK(cuMemGetInfo(&f, &t));
		if (f <= keep)
			break;
		if (f - keep < chunk)
			chunk = (f - keep + 2 * MIB - 1) / (2 * MIB) * (2 * MIB);
		if (cuMemAlloc(&blocks[n], chunk) != CUDA_SUCCESS)
			break;
		filled += chunk;
		n++;
	}
	CK(cuMemGetInfo(&free1, &total));
	sample();

	graph_rc = try_graph(size);
	module_rc = try_module(size);
	for (int i = 0; i < contexts; i++) {
		ctx_rc[i] = create_context(&extra[i]);
		sample();
		CK(cuCtxSetCurrent(primary));
	}
	CK(cuMemGetInfo(&free2, &total));

	pass = graph_rc == CUDA_ERROR_OUT_OF_MEMORY && module_rc == CUDA_ERROR_OUT_OF_MEMORY;
	for (int i = 0; i < contexts; i++)
		pass = pass && ctx_rc[i] == CUDA_ERROR_OUT_OF_MEMORY;
	if (nvml_peak >= 0 && limit)
		pass = pass && (uint64_t)nvml_peak <= limit + SLACK;
	printf("{\"limit\":%llu,\"total\":%zu,\"free_start\":%zu,\"filled\":%llu,\"free_filled\":%zu,"
	       "\"free_end\":%zu,\"graph_rc\":%d,\"module_rc\":%d,\"ctx_rc\":[",
	       (unsigned long long)limit, total, free0, (unsigned long long)filled, free1, free2,
	       (int)graph_rc, (int)module_rc);
	for (int i = 0; i < contexts; i++)
		printf("%s%d", i ? "," : "", (int)ctx_rc[i]);
	printf("],\"nvml_used\":%lld,\"nvml_peak\":%lld,\"slack\":%llu,\"pass\":%s}\n", nvml_self_bytes(dev),
	       nvml_peak, (unsigned long long)SLACK, pass ? "true" : "false");
	fflush(stdout);
	hold(hold_s);
	for (int i = 0; i < contexts; i++)
		if (ctx_rc[i] == CUDA_SUCCESS)
			cuCtxDestroy(extra[i]);
	return pass ? 0 : 1;
}
