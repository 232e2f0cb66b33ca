/*
 * spin: the compute benchmark of the GPU suite.  Launches kernels from
 * kernels.fatbin in a loop for a given time through one launch path and
 * prints what it got done as one JSON line.
 *
 *   spin --fatbin F --calibrate US            iterations of softmig_busy that take US alone
 *   spin --fatbin F [--kernel busy|empty|spin|fault] [--iters N] [--path launch|ex|graph]
 *        [--graph-n N] [--seconds T] [--sync-every S] [--batch B] [--depth D] [--grid N]
 *        [--start-at EPOCH | --wait-start] [--label L]
 *
 * Paths: launch = cuLaunchKernel, ex = cuLaunchKernelEx, graph = cuGraphLaunch of
 * a graph of N chained kernel nodes.  Work in flight is bounded: an event is
 * recorded after every B launches and at most D events are outstanding (the
 * oldest is waited for), or, with --sync-every S, the stream is synchronised
 * after every S launches.  Completions are counted per 1 s window from the
 * start.  --start-at lets several jobs start their measured loop together
 * after each has initialised CUDA; with --wait-start the program prints READY
 * after its warm-up and reads that start time (epoch seconds) from stdin.
 * Kernels run on two blocks per SM (the full grid) unless --grid gives the number of blocks
 * (a small-grid job).  --kernel fault is busy's work followed by an illegal address: its
 * warm-up fails with CUDA_ERROR_ILLEGAL_ADDRESS (the error JSON line, exit 2).
 */
#include "common.h"

#define MAX_WINDOWS 1200
#define MAX_DEPTH 4096

struct opts {
	const char *fatbin;
	const char *kernel;
	const char *path;
	const char *label;
	unsigned long long iters;
	double calibrate_us;
	int graph_n;
	double seconds;
	int sync_every;
	int batch;
	int depth;
	double start_at;
	int wait_start;
	int grid;
};

static CUdevice dev;
static CUcontext ctx;
static CUstream stream;
static CUfunction fn;
static CUgraphExec graph_exec;
static void *kernel_args[2];
static unsigned long long arg_iters;
static CUdeviceptr arg_sink;
static long long arg_cycles;
static unsigned grid_x, block_x;

static void usage(void)
{
	fprintf(stderr, "usage: spin --fatbin F [--calibrate US] [--kernel busy|empty|spin] [--iters N]\n"
			"            [--path launch|ex|graph] [--graph-n N] [--seconds T] [--sync-every S]\n"
			"            [--batch B] [--depth D] [--grid N] [--start-at EPOCH | --wait-start] [--label L]\n");
	exit(2);
}

static void parse(int argc, char **argv, struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->kernel = "busy";
	o->path = "launch";
	o->label = "";
	o->iters = 100000;
	o->graph_n = 16;
	o->seconds = 10;
	o->batch = 1;
	o->depth = 2;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--wait-start") == 0) {
			o->wait_start = 1;
			continue;
		}
		if (v == NULL)
			usage();
		if (strcmp(a, "--fatbin") == 0)
			o->fatbin = v;
		else if (strcmp(a, "--kernel") == 0)
			o->kernel = v;
		else if (strcmp(a, "--path") == 0)
			o->path = v;
		else if (strcmp(a, "--label") == 0)
			o->label = v;
		else if (strcmp(a, "--iters") == 0)
			o->iters = strtoull(v, NULL, 10);
		else if (strcmp(a, "--calibrate") == 0)
			o->calibrate_us = atof(v);
		else if (strcmp(a, "--graph-n") == 0)
			o->graph_n = atoi(v);
		else if (strcmp(a, "--seconds") == 0)
			o->seconds = atof(v);
		else if (strcmp(a, "--sync-every") == 0)
			o->sync_every = atoi(v);
		else if (strcmp(a, "--batch") == 0)
			o->batch = atoi(v);
		else if (strcmp(a, "--depth") == 0)
			o->depth = atoi(v);
		else if (strcmp(a, "--start-at") == 0)
			o->start_at = atof(v);
		else if (strcmp(a, "--grid") == 0)
			o->grid = atoi(v);
		else
			usage();
		i++;
	}
	if (o->fatbin == NULL || o->graph_n < 1 || o->batch < 1 || o->depth < 1 ||
	    o->depth > MAX_DEPTH || o->seconds <= 0 || o->sync_every < 0 || o->grid < 0)
		usage();
	if (strcmp(o->path, "launch") != 0 && strcmp(o->path, "ex") != 0 &&
	    strcmp(o->path, "graph") != 0)
		usage();
}

static void setup(const struct opts *o)
{
	CUmodule mod;
	char name[64];
	int sms = 0;

	CK(cuInit(0));
	CK(cuDeviceGet(&dev, 0));
	CK(cuDevicePrimaryCtxRetain(&ctx, dev));
	CK(cuCtxSetCurrent(ctx));
	CK(cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING));
	CK(cuModuleLoad(&mod, o->fatbin));
	snprintf(name, sizeof(name), "softmig_%s", o->kernel);
	CK(cuModuleGetFunction(&fn, mod, name));
	CK(cuDeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev));
	CK(cuMemAlloc(&arg_sink, 4096));

	if (strcmp(o->kernel, "empty") == 0) {
		grid_x = 1;
		block_x = 32;
	} else {
		/* two blocks per SM keep every SM busy for the kernel's whole length */
		grid_x = (unsigned)(sms > 0 ? 2 * sms : 264);
		block_x = 128;
	}
	if (o->grid > 0)
		grid_x = (unsigned)o->grid;
	arg_iters = o->iters;
	arg_cycles = (long long)o->iters;
	if (strcmp(o->kernel, "busy") == 0 || strcmp(o->kernel, "fault") == 0) {
		kernel_args[0] = &arg_iters;
		kernel_args[1] = &arg_sink;
	} else if (strcmp(o->kernel, "spin") == 0) {
		kernel_args[0] = &arg_cycles;
	}
}

static void build_graph(int n)
{
	CUgraph graph;
	CUgraphNode prev = NULL, node;
	CUDA_KERNEL_NODE_PARAMS p;

	CK(cuGraphCreate(&graph, 0));
	for (int i = 0; i < n; i++) {
		memset(&p, 0, sizeof(p));
		p.func = fn;
		p.gridDimX = grid_x;
		p.gridDimY = 1;
		p.gridDimZ = 1;
		p.blockDimX = block_x;
		p.blockDimY = 1;
		p.blockDimZ = 1;
		p.kernelParams = kernel_args;
		CK(cuGraphAddKernelNode(&node, graph, prev ? &prev : NULL, prev ? 1 : 0, &p));
		prev = node;
	}
	CK(cuGraphInstantiate(&graph_exec, graph, 0));
	CK(cuGraphDestroy(graph));
}

/* Launches one unit: one kernel, or one graph of graph_n kernels. */
static void launch_unit(const char *path)
{
	if (path[0] == 'l') {
		CK(cuLaunchKernel(fn, grid_x, 1, 1, block_x, 1, 1, 0, stream, kernel_args, NULL));
	} else if (path[0] == 'e') {
		CUlaunchConfig cfg;

		memset(&cfg, 0, sizeof(cfg));
		cfg.gridDimX = grid_x;
		cfg.gridDimY = 1;
		cfg.gridDimZ = 1;
		cfg.blockDimX = block_x;
		cfg.blockDimY = 1;
		cfg.blockDimZ = 1;
		cfg.hStream = stream;
		CK(cuLaunchKernelEx(&cfg, fn, kernel_args, NULL));
	} else {
		CK(cuGraphLaunch(graph_exec, stream));
	}
}

/* Average time of one busy kernel with `iters`, in microseconds, from events. */
static double time_kernel_us(unsigned long long iters)
{
	CUevent e0, e1;
	float ms = 0;
	const int reps = 5;

	arg_iters = iters;
	CK(cuEventCreate(&e0, CU_EVENT_DEFAULT));
	CK(cuEventCreate(&e1, CU_EVENT_DEFAULT));
	launch_unit("launch");
	CK(cuEventRecord(e0, stream));
	for (int i = 0; i < reps; i++)
		launch_unit("launch");
	CK(cuEventRecord(e1, stream));
	CK(cuEventSynchronize(e1));
	CK(cuEventElapsedTime(&ms, e0, e1));
	CK(cuEventDestroy(e0));
	CK(cuEventDestroy(e1));
	return (double)ms * 1000.0 / reps;
}

static int calibrate(double target_us)
{
	unsigned long long iters = 20000;
	double us = time_kernel_us(iters);

	/* grow until the sample is long enough to time well, then scale */
	while (us < 200.0 && iters < (1ULL << 40)) {
		iters *= 4;
		us = time_kernel_us(iters);
	}
	for (int round = 0; round < 2; round++) {
		iters = (unsigned long long)((double)iters * target_us / (us > 0 ? us : 1));
		if (iters == 0)
			iters = 1;
		us = time_kernel_us(iters);
	}
	printf("{\"iters\":%llu,\"kernel_us\":%.3f,\"target_us\":%.3f}\n", iters, us, target_us);
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	static CUevent ring[MAX_DEPTH];
	static unsigned long long ring_units[MAX_DEPTH];
	static unsigned long long windows[MAX_WINDOWS];
	int head = 0, outstanding = 0, nwin;
	unsigned long long units = 0, since_event = 0, done_units = 0;
	int per_unit;
	uint64_t t0, deadline, t_loop, t_end;
	double start_epoch;

	parse(argc, argv, &o);
	setup(&o);
	if (o.calibrate_us > 0)
		return calibrate(o.calibrate_us);

	per_unit = strcmp(o.path, "graph") == 0 ? o.graph_n : 1;
	if (per_unit > 1)
		build_graph(o.graph_n);
	for (int i = 0; i < o.depth; i++)
		CK(cuEventCreate(&ring[i], CU_EVENT_DISABLE_TIMING));

	/* warm-up: module on the device, first launch done, before the clock starts */
	launch_unit(o.path);
	CK(cuStreamSynchronize(stream));

	if (o.wait_start) {
		char line[64];

		printf("READY\n");
		fflush(stdout);
		if (fgets(line, sizeof(line), stdin) != NULL)
			o.start_at = atof(line);
	}
	if (o.start_at > 0)
		sleep_until_epoch(o.start_at);
	start_epoch = realtime_s();
	nwin = (int)o.seconds + 2;
	if (nwin > MAX_WINDOWS)
		nwin = MAX_WINDOWS;
	t0 = now_ns();
	deadline = t0 + (uint64_t)(o.seconds * 1e9);

	while (now_ns() < deadline) {
		launch_unit(o.path);
		units++;
		since_event++;
		if (o.sync_every > 0) {
			if (units % (unsigned long long)o.sync_every == 0) {
				int w;

				CK(cuStreamSynchronize(stream));
				w = (int)((now_ns() - t0) / 1000000000ULL);
				windows[w < nwin ? w : nwin - 1] += (units - done_units) * per_unit;
				done_units = units;
			}
			continue;
		}
		if (since_event < (unsigned long long)o.batch)
			continue;
		since_event = 0;
		if (outstanding == o.depth) {
			int oldest = (head - outstanding + o.depth) % o.depth;
			int w;

			CK(cuEventSynchronize(ring[oldest]));
			w = (int)((now_ns() - t0) / 1000000000ULL);
			windows[w < nwin ? w : nwin - 1] += (ring_units[oldest] - done_units) * per_unit;
			done_units = ring_units[oldest];
			outstanding--;
		}
		CK(cuEventRecord(ring[head], stream));
		ring_units[head] = units;
		head = (head + 1) % o.depth;
		outstanding++;
	}
	t_loop = now_ns();
	CK(cuStreamSynchronize(stream));
	t_end = now_ns();
	{
		int w = (int)((t_end - t0) / 1000000000ULL);

		windows[w < nwin ? w : nwin - 1] += (units - done_units) * per_unit;
	}

	printf("{\"label\":\"%s\",\"path\":\"%s\",\"kernel\":\"%s\",\"iters\":%llu,"
	       "\"units\":%llu,\"kernels\":%llu,\"kernels_per_unit\":%d,"
	       "\"seconds\":%.6f,\"loop_seconds\":%.6f,\"launch_rate\":%.3f,\"kernel_rate\":%.3f,"
	       "\"start_epoch\":%.6f,\"windows\":[",
	       o.label, o.path, o.kernel, o.iters, units, units * per_unit, per_unit,
	       (double)(t_end - t0) / 1e9, (double)(t_loop - t0) / 1e9,
	       (double)units / ((double)(t_loop - t0) / 1e9),
	       (double)(units * per_unit) / ((double)(t_end - t0) / 1e9), start_epoch);
	for (int i = 0; i < nwin; i++)
		printf("%s%llu", i ? "," : "", windows[i]);
	printf("]}\n");
	return 0;
}
