/*
 * launch_probe MODE SECONDS [--via direct|dlsym|procaddr] [--sync-every N]
 *
 * Launches one-kernel work items for SECONDS through one launch path, synchronising every N
 * launches (default 8), and prints one JSON line: launches, kernels the fake driver ran, wall
 * seconds, kernel rate, and the mean cost of the launch call itself.
 *
 * MODE: kernel kernel_ptsz ex ex_ptsz coop coop_ptsz graph graph_ptsz
 * Exit: 0, or 1 when a launch failed.
 */
#include "probe.h"

#include <stdint.h>
#include <time.h>

CUresult CUDAAPI cuLaunchKernel_ptsz(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
				     unsigned int bx, unsigned int by, unsigned int bz, unsigned int shmem,
				     CUstream s, void **params, void **extra);
CUresult CUDAAPI cuLaunchKernelEx_ptsz(const CUlaunchConfig *config, CUfunction f, void **params, void **extra);
CUresult CUDAAPI cuLaunchCooperativeKernel_ptsz(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
						unsigned int bx, unsigned int by, unsigned int bz, unsigned int shmem,
						CUstream s, void **params);
CUresult CUDAAPI cuGraphLaunch_ptsz(CUgraphExec exec, CUstream s);

/* An empty kernel as PTX: the real driver JIT-compiles it, the fake driver accepts any image. */
static const char spin_ptx[] = ".version 7.0\n"
			       ".target sm_50\n"
			       ".address_size 64\n"
			       ".visible .entry spin()\n"
			       "{\n"
			       "\tret;\n"
			       "}\n";

typedef CUresult (*launch_fn)(CUfunction, unsigned int, unsigned int, unsigned int, unsigned int, unsigned int,
			      unsigned int, unsigned int, CUstream, void **, void **);
typedef CUresult (*launch_ex_fn)(const CUlaunchConfig *, CUfunction, void **, void **);
typedef CUresult (*coop_fn)(CUfunction, unsigned int, unsigned int, unsigned int, unsigned int, unsigned int,
			    unsigned int, unsigned int, CUstream, void **);
typedef CUresult (*graph_fn)(CUgraphExec, CUstream);

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	const cuuint64_t ptds = CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM;
	const char *mode;
	double seconds, t0, t1, call_s = 0;
	int sync_every = 8;
	long launches = 0;
	CUmodule mod;
	CUfunction fn;
	CUstream stream = NULL;
	CUgraphExec exec = NULL;
	CUresult rc = CUDA_SUCCESS;
	launch_fn lk = NULL;
	launch_ex_fn lx = NULL;
	coop_fn lc = NULL;
	graph_fn lg = NULL;
	CUlaunchConfig cfg;
	int (*fake_count)(void);
	int ptsz;

	if (argc < 3) {
		fprintf(stderr, "usage: launch_probe MODE SECONDS [--via MODE] [--sync-every N]\n");
		return 1;
	}
	mode = argv[1];
	seconds = atof(argv[2]);
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--via") && i + 1 < argc)
			probe_via_mode = probe_parse_via(argv[++i]);
		else if (!strcmp(argv[i], "--sync-every") && i + 1 < argc)
			sync_every = atoi(argv[++i]);
	}
	ptsz = strstr(mode, "_ptsz") != NULL;
	probe_context();
	if (cuModuleLoadData(&mod, spin_ptx) != CUDA_SUCCESS ||
	    cuModuleGetFunction(&fn, mod, "spin") != CUDA_SUCCESS) {
		printf("{\"error\":\"no module\"}\n");
		return 1;
	}
	if (!strncmp(mode, "kernel", 6))
		lk = ptsz ? RESOLVE(launch_fn, cuLaunchKernel_ptsz, "cuLaunchKernel_ptsz", "cuLaunchKernel", ptds)
			  : RESOLVE(launch_fn, cuLaunchKernel, "cuLaunchKernel", "cuLaunchKernel", 0);
	else if (!strncmp(mode, "ex", 2))
		lx = ptsz ? RESOLVE(launch_ex_fn, cuLaunchKernelEx_ptsz, "cuLaunchKernelEx_ptsz", "cuLaunchKernelEx", ptds)
			  : RESOLVE(launch_ex_fn, cuLaunchKernelEx, "cuLaunchKernelEx", "cuLaunchKernelEx", 0);
	else if (!strncmp(mode, "coop", 4))
		lc = ptsz ? RESOLVE(coop_fn, cuLaunchCooperativeKernel_ptsz, "cuLaunchCooperativeKernel_ptsz",
				    "cuLaunchCooperativeKernel", ptds)
			  : RESOLVE(coop_fn, cuLaunchCooperativeKernel, "cuLaunchCooperativeKernel",
				    "cuLaunchCooperativeKernel", 0);
	else if (!strncmp(mode, "graph", 5)) {
		CUgraph g;
		CUgraphNode node;
		CUDA_KERNEL_NODE_PARAMS p;

		memset(&p, 0, sizeof(p));
		p.func = fn;
		p.gridDimX = p.gridDimY = p.gridDimZ = 1;
		p.blockDimX = p.blockDimY = p.blockDimZ = 1;
		if (cuGraphCreate(&g, 0) != CUDA_SUCCESS || cuGraphAddKernelNode(&node, g, NULL, 0, &p) != CUDA_SUCCESS ||
		    cuGraphInstantiate(&exec, g, 0) != CUDA_SUCCESS) {
			printf("{\"error\":\"no graph\"}\n");
			return 1;
		}
		lg = ptsz ? RESOLVE(graph_fn, cuGraphLaunch_ptsz, "cuGraphLaunch_ptsz", "cuGraphLaunch", ptds)
			  : RESOLVE(graph_fn, cuGraphLaunch, "cuGraphLaunch", "cuGraphLaunch", 0);
	}
	if (!lk && !lx && !lc && !lg) {
		printf("{\"error\":\"no entry point for %s\"}\n", mode);
		return 1;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.gridDimX = cfg.gridDimY = cfg.gridDimZ = 1;
	cfg.blockDimX = cfg.blockDimY = cfg.blockDimZ = 1;
	cfg.hStream = stream;

	t0 = now_s();
	while (now_s() - t0 < seconds) {
		double c0 = now_s();

		if (lk)
			rc = lk(fn, 1, 1, 1, 1, 1, 1, 0, stream, NULL, NULL);
		else if (lx)
			rc = lx(&cfg, fn, NULL, NULL);
		else if (lc)
			rc = lc(fn, 1, 1, 1, 1, 1, 1, 0, stream, NULL);
		else
			rc = lg(exec, stream);
		call_s += now_s() - c0;
		if (rc != CUDA_SUCCESS)
			break;
		launches++;
		if (sync_every > 0 && launches % sync_every == 0)
			cuStreamSynchronize(stream);
	}
	cuCtxSynchronize();
	t1 = now_s();
	fake_count = (int (*)(void))dlsym(RTLD_DEFAULT, "softmig_fake_kernels_launched");
	printf("{\"mode\":\"%s\",\"launches\":%ld,\"kernels\":%d,\"seconds\":%.4f,\"rate\":%.2f,\"launch_ns\":%.1f,"
	       "\"rc\":%d}\n",
	       mode, launches, fake_count ? fake_count() : -1, t1 - t0, launches / (t1 - t0),
	       launches ? call_s * 1e9 / launches : 0.0, (int)rc);
	return rc == CUDA_SUCCESS ? 0 : 1;
}
