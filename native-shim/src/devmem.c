/*
 * Device memory that comes from no allocation call, charged like allocations (mem_charge):
 *
 *   - contexts (cuDevicePrimaryCtxRetain when it brings the primary context to life,
 *     cuCtxCreate_v2/_v3/_v4), kind CONTEXT: what NVML says the process gained across the call.
 *     The last measured cost on the device is charged before the next cuCtxCreate, so an
 *     extra context over the limit is refused without being created; the charge is then
 *     trued up to the measurement.
 *   - modules and libraries (cuModuleLoad*, cuLibraryLoad*), kind MODULE: the larger of the
 *     .global sizes a PTX image declares (charged before the load, so an image over the limit
 *     is refused without being loaded, even when the driver allocates its globals lazily) and
 *     what NVML says the load took (binary images, or anything the driver adds).
 *   - graph memory (cuGraphInstantiate*), kind GRAPH: the sum of the graph's memory allocation
 *     nodes per device, charged before the graph is instantiated and given back at
 *     cuGraphExecDestroy.  (The driver backs them with physical memory at launch or upload.)
 *
 * A charge over the limit makes the call fail with CUDA_ERROR_OUT_OF_MEMORY after undoing
 * what the driver did (the context destroyed, the module unloaded).  Without NVML (or when
 * NVML does not list this process) contexts and binary modules are left to the coordinator's
 * reconciliation, which counts what NVML sees beyond the tracked bytes as the job's overhead.
 *
 * "What NVML says the call took" is NVML's change in this process's usage minus the change in
 * the bytes the shim tracks meanwhile (other threads allocating or freeing).  Measurements are
 * serialised by measure_mu, held across the driver call; a thread-local flag keeps a nested
 * call (a driver that calls back into an exported entry point) from measuring twice.
 *
 * Handles and their charges live in one pointer map under dm_mu, by namespace: contexts,
 * modules, libraries, and graph executables per device (NS_GRAPH + device).
 */
#include "devmem.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "interpose.h"
#include "log.h"
#include "memory.h"
#include "nvself.h"
#include "ptrmap.h"
#include "ptxglobals.h"
#include "shim.h"

#define KIND_CONTEXT SOFTMIG__V1__ALLOCATION_KIND__CONTEXT
#define KIND_GRAPH SOFTMIG__V1__ALLOCATION_KIND__GRAPH
#define KIND_MODULE SOFTMIG__V1__ALLOCATION_KIND__MODULE

enum { NS_CONTEXT = 16, NS_MODULE = 17, NS_LIBRARY = 18, NS_GRAPH = 64 };

/* PTX images longer than this are not read for an estimate (NVML still measures them). */
#define PTX_SCAN_MAX (256u << 20)

#include "softmig.pb-c.h"

static pthread_mutex_t dm_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ptrmap handles;
static uint64_t primary_bytes[CFG_MAX_DEVICES]; /* charged for each live primary context */
static uint64_t context_cost[CFG_MAX_DEVICES];  /* the last context cost measured per device */
static bool created_context[CFG_MAX_DEVICES];  /* a cuCtxCreate ever succeeded on the device */

static pthread_mutex_t measure_mu = PTHREAD_MUTEX_INITIALIZER;
static __thread int measuring;

struct measure {
	bool on;        /* this call measures (and holds measure_mu) */
	bool nvml;      /* NVML answered before the call */
	int dev;
	uint64_t nvml_before;
	uint64_t tracked_before;
};

#define REAL_OR_FAIL(fn)                                                                       \
	do {                                                                                   \
		interpose_load_cuda();                                                         \
		if (!real_cu.fn)                                                               \
			return CUDA_ERROR_NOT_SUPPORTED;                                       \
	} while (0)

static bool valid_dev(int dev)
{
	return dev >= 0 && dev < shim.ndev;
}

static int primary_active(CUdevice dev);

/* Whether this process has had no context on dev yet (then NVML would say 0).  measure_mu held. */
static bool nothing_on(int dev)
{
	bool created;

	pthread_mutex_lock(&dm_mu);
	created = created_context[dev];
	pthread_mutex_unlock(&dm_mu);
	return !created && primary_active((CUdevice)dev) == 0;
}

/*
 * Starts measuring dev (takes measure_mu).  False: not measured (no session, nested, bad dev).
 * first_context: the call may create the process's first context on dev; when the process
 * has nothing there yet, NVML would say 0 and is not asked (the first context of a process
 * is then created while NVML is still starting, see nvself_prepare).
 */
static bool measure_begin_from(struct measure *m, int dev, bool first_context)
{
	m->on = false;
	if (!shim_ensure() || measuring || !valid_dev(dev))
		return false;
	pthread_mutex_lock(&measure_mu);
	measuring = 1;
	m->on = true;
	m->dev = dev;
	m->tracked_before = mem_used(dev);
	if (first_context && m->tracked_before == 0 && nothing_on(dev)) {
		m->nvml = true;
		m->nvml_before = 0;
	} else {
		m->nvml = nvself_used(dev, &m->nvml_before) == 0;
	}
	return true;
}

static bool measure_begin(struct measure *m, int dev)
{
	return measure_begin_from(m, dev, false);
}

/* Ends a measurement (releases measure_mu): the bytes the call took, *known = false when NVML
 * could not tell. */
static uint64_t measure_end(struct measure *m, bool *known)
{
	uint64_t after = 0, tracked, gained = 0, tracked_gain = 0;

	*known = false;
	if (!m->on)
		return 0;
	if (m->nvml && nvself_used(m->dev, &after) == 0) {
		tracked = mem_used(m->dev);
		gained = after > m->nvml_before ? after - m->nvml_before : 0;
		tracked_gain = tracked > m->tracked_before ? tracked - m->tracked_before : 0;
		gained = gained > tracked_gain ? gained - tracked_gain : 0;
		*known = true;
	}
	measuring = 0;
	pthread_mutex_unlock(&measure_mu);
	m->on = false;
	return gained;
}

static void remember(uint8_t ns, uint64_t key, int dev, uint64_t bytes, int kind)
{
	if (!bytes)
		return;
	pthread_mutex_lock(&dm_mu);
	if (ptrmap_put(&handles, ns, key, dev, bytes, (uint8_t)kind))
		log_msg(LOG_ERR, "handle map full: %llu bytes on device %d will never be released",
			(unsigned long long)bytes, dev);
	pthread_mutex_unlock(&dm_mu);
}

/* Gives back what key was charged in ns, if anything. */
static void forget(uint8_t ns, uint64_t key)
{
	struct ptr_entry e;
	int r;

	pthread_mutex_lock(&dm_mu);
	r = ptrmap_take(&handles, ns, key, &e);
	pthread_mutex_unlock(&dm_mu);
	if (r == 0)
		mem_uncharge(e.dev, e.bytes, e.kind);
}

/*
 * Settles a charge after the driver call: `charged` bytes were charged before it, the call
 * took `measured` (if known).  Returns the bytes now charged, or -1 (everything given back)
 * when the difference is refused.
 */
static int64_t true_up(int dev, uint64_t charged, uint64_t measured, bool known, int kind)
{
	if (!known || measured == charged)
		return (int64_t)charged;
	if (measured > charged) {
		if (mem_charge(dev, measured - charged, kind)) {
			mem_uncharge(dev, charged, kind);
			return -1;
		}
		return (int64_t)measured;
	}
	if (kind == KIND_MODULE)
		return (int64_t)charged; /* the declared globals stand: the driver may take them later */
	mem_uncharge(dev, charged - measured, kind);
	return (int64_t)measured;
}

/* ------------------------------------------------------------------ contexts */

static CUresult context_created(struct measure *m, CUresult rc, CUcontext *pctx, int dev,
				uint64_t estimate)
{
	bool known;
	uint64_t cost = measure_end(m, &known);
	int64_t charged;

	if (rc != CUDA_SUCCESS) {
		mem_uncharge(dev, estimate, KIND_CONTEXT);
		return rc;
	}
	pthread_mutex_lock(&dm_mu);
	created_context[dev] = true;
	pthread_mutex_unlock(&dm_mu);
	charged = true_up(dev, estimate, cost, known, KIND_CONTEXT);
	if (charged < 0) {
		real_cu.cuCtxDestroy_v2(*pctx);
		*pctx = NULL;
		log_msg(LOG_INFO, "device %d: a context of %llu bytes refused", dev, (unsigned long long)cost);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	if (known && cost) {
		pthread_mutex_lock(&dm_mu);
		context_cost[dev] = cost;
		pthread_mutex_unlock(&dm_mu);
	}
	remember(NS_CONTEXT, (uint64_t)(uintptr_t)*pctx, dev, (uint64_t)charged, KIND_CONTEXT);
	return rc;
}

static uint64_t known_context_cost(int dev)
{
	uint64_t v;

	pthread_mutex_lock(&dm_mu);
	v = context_cost[dev];
	pthread_mutex_unlock(&dm_mu);
	return v;
}

/* Charges the expected cost of a new context before the call.  Nonzero: refuse the call. */
static int context_begin(struct measure *m, int dev, uint64_t *estimate)
{
	*estimate = 0;
	if (!shim_ensure())
		return 0;
	if (atomic_load(&shim.denied))
		return -1;
	if (!valid_dev(dev) || measuring)
		return 0;
	*estimate = known_context_cost(dev);
	if (*estimate && mem_charge(dev, *estimate, KIND_CONTEXT)) {
		log_msg(LOG_INFO, "device %d: a context of %llu bytes refused", dev,
			(unsigned long long)*estimate);
		return -1;
	}
	measure_begin_from(m, dev, *estimate == 0);
	return 0;
}

#define CONTEXT_CREATE(fn, dev, args)                                                          \
	do {                                                                                   \
		struct measure m = { 0 };                                                      \
		uint64_t estimate;                                                             \
		CUresult rc;                                                                   \
		REAL_OR_FAIL(fn);                                                              \
		if (shim_ensure() && mem_denied((int)(dev)))                                   \
			return CUDA_ERROR_NOT_PERMITTED;                                       \
		if (context_begin(&m, (int)(dev), &estimate))                                  \
			return CUDA_ERROR_OUT_OF_MEMORY;                                       \
		rc = real_cu.fn args;                                                          \
		if (!m.on)                                                                     \
			return rc;                                                             \
		return context_created(&m, rc, pctx, (int)(dev), estimate);                    \
	} while (0)

SHIM_EXPORT CUresult CUDAAPI cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev)
{
	CONTEXT_CREATE(cuCtxCreate_v2, dev, (pctx, flags, dev));
}

SHIM_EXPORT CUresult CUDAAPI cuCtxCreate_v3(CUcontext *pctx, CUexecAffinityParam *paramsArray, int numParams,
					    unsigned int flags, CUdevice dev)
{
	CONTEXT_CREATE(cuCtxCreate_v3, dev, (pctx, paramsArray, numParams, flags, dev));
}

#if CUDA_VERSION >= 12050
SHIM_EXPORT CUresult CUDAAPI cuCtxCreate_v4(CUcontext *pctx, CUctxCreateParams *ctxCreateParams,
					    unsigned int flags, CUdevice dev)
{
	CONTEXT_CREATE(cuCtxCreate_v4, dev, (pctx, ctxCreateParams, flags, dev));
}
#endif

SHIM_EXPORT CUresult CUDAAPI cuCtxDestroy_v2(CUcontext ctx)
{
	CUresult rc;

	REAL_OR_FAIL(cuCtxDestroy_v2);
	rc = real_cu.cuCtxDestroy_v2(ctx);
	if (rc == CUDA_SUCCESS && shim_ensure())
		forget(NS_CONTEXT, (uint64_t)(uintptr_t)ctx);
	return rc;
}

/* Whether dev's primary context exists (1), does not (0), or the driver cannot say (-1). */
static int primary_active(CUdevice dev)
{
	unsigned int flags;
	int active = 0;

	if (!real_cu.cuDevicePrimaryCtxGetState ||
	    real_cu.cuDevicePrimaryCtxGetState(dev, &flags, &active) != CUDA_SUCCESS)
		return -1;
	return active ? 1 : 0;
}

SHIM_EXPORT CUresult CUDAAPI cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev)
{
	struct measure m = { 0 };
	uint64_t estimate = 0, cost;
	int64_t charged;
	bool known;
	CUresult rc;

	REAL_OR_FAIL(cuDevicePrimaryCtxRetain);
	if (shim_ensure() && mem_denied((int)dev))
		return CUDA_ERROR_NOT_PERMITTED; /* the job gets none of this device */
	if (!shim_ensure() || !valid_dev((int)dev) || measuring)
		return real_cu.cuDevicePrimaryCtxRetain(pctx, dev);
	measure_begin_from(&m, (int)dev, true);
	if (primary_active(dev) != 0) {
		measure_end(&m, &known);
		return real_cu.cuDevicePrimaryCtxRetain(pctx, dev);
	}
	/* this call brings the primary context to life: it costs what NVML says it took */
	estimate = known_context_cost((int)dev);
	if (estimate && mem_charge((int)dev, estimate, KIND_CONTEXT)) {
		measure_end(&m, &known);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	rc = real_cu.cuDevicePrimaryCtxRetain(pctx, dev);
	cost = measure_end(&m, &known);
	if (rc != CUDA_SUCCESS) {
		mem_uncharge((int)dev, estimate, KIND_CONTEXT);
		return rc;
	}
	charged = true_up((int)dev, estimate, cost, known, KIND_CONTEXT);
	if (charged < 0) {
		real_cu.cuDevicePrimaryCtxRelease_v2(dev);
		log_msg(LOG_INFO, "device %d: the primary context of %llu bytes refused", (int)dev,
			(unsigned long long)cost);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	pthread_mutex_lock(&dm_mu);
	primary_bytes[dev] += (uint64_t)charged;
	if (known && cost)
		context_cost[dev] = cost;
	pthread_mutex_unlock(&dm_mu);
	log_msg(LOG_INFO, "device %d: primary context takes %llu bytes%s", (int)dev,
		(unsigned long long)charged, known ? " (measured by NVML)" : "");
	return rc;
}

/* After a release or reset: the primary context's charge goes with it. */
static void primary_maybe_gone(CUdevice dev)
{
	uint64_t bytes;

	if (!shim_ensure() || !valid_dev((int)dev) || primary_active(dev) != 0)
		return;
	pthread_mutex_lock(&dm_mu);
	bytes = primary_bytes[dev];
	primary_bytes[dev] = 0;
	pthread_mutex_unlock(&dm_mu);
	mem_uncharge((int)dev, bytes, KIND_CONTEXT);
}

SHIM_EXPORT CUresult CUDAAPI cuDevicePrimaryCtxRelease_v2(CUdevice dev)
{
	CUresult rc;

	REAL_OR_FAIL(cuDevicePrimaryCtxRelease_v2);
	rc = real_cu.cuDevicePrimaryCtxRelease_v2(dev);
	if (rc == CUDA_SUCCESS)
		primary_maybe_gone(dev);
	return rc;
}

SHIM_EXPORT CUresult CUDAAPI cuDevicePrimaryCtxReset_v2(CUdevice dev)
{
	CUresult rc;

	REAL_OR_FAIL(cuDevicePrimaryCtxReset_v2);
	rc = real_cu.cuDevicePrimaryCtxReset_v2(dev);
	if (rc == CUDA_SUCCESS)
		primary_maybe_gone(dev);
	return rc;
}

/* ------------------------------------------------------------------ modules and libraries */

/* The .global bytes a PTX image declares (0 for binary images and NULL). */
static uint64_t image_estimate(const void *image)
{
	const char *text = image;

	if (!text)
		return 0;
	return ptx_global_bytes(text, strnlen(text, PTX_SCAN_MAX));
}

struct load {
	struct measure m;
	int dev;
	uint64_t estimate;
};

/* Before a load: charges the image's declared globals.  Nonzero: refuse the load. */
static int load_begin(struct load *l, uint64_t estimate)
{
	l->dev = -1;
	l->estimate = 0;
	l->m.on = false;
	if (!shim_ensure())
		return 0;
	if (atomic_load(&shim.denied))
		return -1;
	l->dev = shim_current_device();
	if (!valid_dev(l->dev) || measuring)
		return 0;
	if (estimate && mem_charge(l->dev, estimate, KIND_MODULE)) {
		log_msg(LOG_INFO, "device %d: a module with %llu bytes of globals refused", l->dev,
			(unsigned long long)estimate);
		return -1;
	}
	l->estimate = estimate;
	measure_begin(&l->m, l->dev);
	return 0;
}

/*
 * After a load: settles the charge.  Returns the bytes charged, or -1 when the module must be
 * unloaded (over the limit).
 */
static int64_t load_end(struct load *l, CUresult rc)
{
	bool known;
	uint64_t took = measure_end(&l->m, &known);
	int64_t charged;

	if (!valid_dev(l->dev))
		return 0;
	if (rc != CUDA_SUCCESS) {
		mem_uncharge(l->dev, l->estimate, KIND_MODULE);
		return 0;
	}
	charged = true_up(l->dev, l->estimate, took, known, KIND_MODULE);
	if (charged < 0)
		log_msg(LOG_INFO, "device %d: a module that took %llu bytes refused", l->dev,
			(unsigned long long)took);
	return charged;
}

#define MODULE_LOAD(fn, estimate, args)                                                        \
	do {                                                                                   \
		struct load l;                                                                 \
		int64_t charged;                                                               \
		CUresult rc;                                                                   \
		REAL_OR_FAIL(fn);                                                              \
		if (load_begin(&l, estimate))                                                  \
			return CUDA_ERROR_OUT_OF_MEMORY;                                       \
		rc = real_cu.fn args;                                                          \
		charged = load_end(&l, rc);                                                    \
		if (charged < 0) {                                                             \
			real_cu.cuModuleUnload(*module);                                       \
			*module = NULL;                                                        \
			return CUDA_ERROR_OUT_OF_MEMORY;                                       \
		}                                                                              \
		if (rc == CUDA_SUCCESS)                                                        \
			remember(NS_MODULE, (uint64_t)(uintptr_t)*module, l.dev, (uint64_t)charged, \
				 KIND_MODULE);                                                 \
		return rc;                                                                     \
	} while (0)

SHIM_EXPORT CUresult CUDAAPI cuModuleLoad(CUmodule *module, const char *fname)
{
	MODULE_LOAD(cuModuleLoad, 0, (module, fname));
}

SHIM_EXPORT CUresult CUDAAPI cuModuleLoadData(CUmodule *module, const void *image)
{
	MODULE_LOAD(cuModuleLoadData, image_estimate(image), (module, image));
}

SHIM_EXPORT CUresult CUDAAPI cuModuleLoadDataEx(CUmodule *module, const void *image, unsigned int numOptions,
						CUjit_option *options, void **optionValues)
{
	MODULE_LOAD(cuModuleLoadDataEx, image_estimate(image), (module, image, numOptions, options, optionValues));
}

SHIM_EXPORT CUresult CUDAAPI cuModuleLoadFatBinary(CUmodule *module, const void *fatCubin)
{
	MODULE_LOAD(cuModuleLoadFatBinary, 0, (module, fatCubin));
}

SHIM_EXPORT CUresult CUDAAPI cuModuleUnload(CUmodule hmod)
{
	CUresult rc;

	REAL_OR_FAIL(cuModuleUnload);
	rc = real_cu.cuModuleUnload(hmod);
	if (rc == CUDA_SUCCESS && shim_ensure())
		forget(NS_MODULE, (uint64_t)(uintptr_t)hmod);
	return rc;
}

#define LIBRARY_LOAD(fn, estimate, args)                                                       \
	do {                                                                                   \
		struct load l;                                                                 \
		int64_t charged;                                                               \
		CUresult rc;                                                                   \
		REAL_OR_FAIL(fn);                                                              \
		if (load_begin(&l, estimate))                                                  \
			return CUDA_ERROR_OUT_OF_MEMORY;                                       \
		rc = real_cu.fn args;                                                          \
		charged = load_end(&l, rc);                                                    \
		if (charged < 0) {                                                             \
			real_cu.cuLibraryUnload(*library);                                     \
			*library = NULL;                                                       \
			return CUDA_ERROR_OUT_OF_MEMORY;                                       \
		}                                                                              \
		if (rc == CUDA_SUCCESS)                                                        \
			remember(NS_LIBRARY, (uint64_t)(uintptr_t)*library, l.dev,            \
				 (uint64_t)charged, KIND_MODULE);                              \
		return rc;                                                                     \
	} while (0)

SHIM_EXPORT CUresult CUDAAPI cuLibraryLoadData(CUlibrary *library, const void *code, CUjit_option *jitOptions,
					       void **jitOptionsValues, unsigned int numJitOptions,
					       CUlibraryOption *libraryOptions, void **libraryOptionValues,
					       unsigned int numLibraryOptions)
{
	LIBRARY_LOAD(cuLibraryLoadData, image_estimate(code),
		     (library, code, jitOptions, jitOptionsValues, numJitOptions, libraryOptions,
		      libraryOptionValues, numLibraryOptions));
}

SHIM_EXPORT CUresult CUDAAPI cuLibraryLoadFromFile(CUlibrary *library, const char *fileName,
						   CUjit_option *jitOptions, void **jitOptionsValues,
						   unsigned int numJitOptions, CUlibraryOption *libraryOptions,
						   void **libraryOptionValues, unsigned int numLibraryOptions)
{
	LIBRARY_LOAD(cuLibraryLoadFromFile, 0,
		     (library, fileName, jitOptions, jitOptionsValues, numJitOptions, libraryOptions,
		      libraryOptionValues, numLibraryOptions));
}

SHIM_EXPORT CUresult CUDAAPI cuLibraryUnload(CUlibrary library)
{
	CUresult rc;

	REAL_OR_FAIL(cuLibraryUnload);
	rc = real_cu.cuLibraryUnload(library);
	if (rc == CUDA_SUCCESS && shim_ensure())
		forget(NS_LIBRARY, (uint64_t)(uintptr_t)library);
	return rc;
}

/* ------------------------------------------------------------------ graphs */

struct graph_charge {
	bool on;
	uint64_t bytes[CFG_MAX_DEVICES];
};

/* Sums the graph's memory allocation nodes per device (none when the driver cannot list them). */
static void graph_alloc_bytes(CUgraph graph, uint64_t bytes[CFG_MAX_DEVICES])
{
	CUgraphNode stack[256], *nodes = stack;
	size_t n = 0;

	memset(bytes, 0, sizeof(uint64_t) * CFG_MAX_DEVICES);
	if (!real_cu.cuGraphGetNodes || !real_cu.cuGraphNodeGetType || !real_cu.cuGraphMemAllocNodeGetParams)
		return;
	if (real_cu.cuGraphGetNodes(graph, NULL, &n) != CUDA_SUCCESS || n == 0)
		return;
	if (n > sizeof(stack) / sizeof(stack[0]) && !(nodes = calloc(n, sizeof(*nodes))))
		return;
	if (real_cu.cuGraphGetNodes(graph, nodes, &n) == CUDA_SUCCESS) {
		for (size_t i = 0; i < n; i++) {
			CUgraphNodeType type;
			CUDA_MEM_ALLOC_NODE_PARAMS p;

			if (!nodes[i] || real_cu.cuGraphNodeGetType(nodes[i], &type) != CUDA_SUCCESS ||
			    type != CU_GRAPH_NODE_TYPE_MEM_ALLOC)
				continue;
			memset(&p, 0, sizeof(p));
			if (real_cu.cuGraphMemAllocNodeGetParams(nodes[i], &p) != CUDA_SUCCESS ||
			    p.poolProps.location.type != CU_MEM_LOCATION_TYPE_DEVICE ||
			    !valid_dev(p.poolProps.location.id))
				continue;
			bytes[p.poolProps.location.id] += p.bytesize;
		}
	}
	if (nodes != stack)
		free(nodes);
}

/* Charges a graph's memory before it is instantiated.  Nonzero: refuse the instantiation. */
static int graph_begin(struct graph_charge *g, CUgraph graph)
{
	g->on = false;
	if (!shim_ensure())
		return 0;
	if (atomic_load(&shim.denied))
		return -1;
	graph_alloc_bytes(graph, g->bytes);
	for (int d = 0; d < shim.ndev; d++) {
		if (g->bytes[d] && mem_charge(d, g->bytes[d], KIND_GRAPH)) {
			log_msg(LOG_INFO, "device %d: a graph with %llu bytes of memory nodes refused", d,
				(unsigned long long)g->bytes[d]);
			while (--d >= 0)
				mem_uncharge(d, g->bytes[d], KIND_GRAPH);
			return -1;
		}
	}
	g->on = true;
	return 0;
}

static void graph_end(struct graph_charge *g, CUresult rc, CUgraphExec exec)
{
	if (!g->on)
		return;
	for (int d = 0; d < shim.ndev; d++) {
		if (!g->bytes[d])
			continue;
		if (rc == CUDA_SUCCESS)
			remember((uint8_t)(NS_GRAPH + d), (uint64_t)(uintptr_t)exec, d, g->bytes[d], KIND_GRAPH);
		else
			mem_uncharge(d, g->bytes[d], KIND_GRAPH);
	}
}

#define GRAPH_INSTANTIATE(fn, args)                                                            \
	do {                                                                                   \
		struct graph_charge g;                                                         \
		CUresult rc;                                                                   \
		REAL_OR_FAIL(fn);                                                              \
		if (graph_begin(&g, hGraph))                                                   \
			return CUDA_ERROR_OUT_OF_MEMORY;                                       \
		rc = real_cu.fn args;                                                          \
		graph_end(&g, rc, rc == CUDA_SUCCESS ? *phGraphExec : NULL);                   \
		return rc;                                                                     \
	} while (0)

SHIM_EXPORT CUresult CUDAAPI cuGraphInstantiateWithFlags(CUgraphExec *phGraphExec, CUgraph hGraph,
							 unsigned long long flags)
{
	GRAPH_INSTANTIATE(cuGraphInstantiateWithFlags, (phGraphExec, hGraph, flags));
}

SHIM_EXPORT CUresult CUDAAPI cuGraphInstantiate_v2(CUgraphExec *phGraphExec, CUgraph hGraph,
						   CUgraphNode *phErrorNode, char *logBuffer, size_t bufferSize)
{
	GRAPH_INSTANTIATE(cuGraphInstantiate_v2, (phGraphExec, hGraph, phErrorNode, logBuffer, bufferSize));
}

SHIM_EXPORT CUresult CUDAAPI cuGraphInstantiateWithParams(CUgraphExec *phGraphExec, CUgraph hGraph,
							  CUDA_GRAPH_INSTANTIATE_PARAMS *instantiateParams)
{
	GRAPH_INSTANTIATE(cuGraphInstantiateWithParams, (phGraphExec, hGraph, instantiateParams));
}

SHIM_EXPORT CUresult CUDAAPI cuGraphInstantiateWithParams_ptsz(CUgraphExec *phGraphExec, CUgraph hGraph,
							       CUDA_GRAPH_INSTANTIATE_PARAMS *instantiateParams)
{
	GRAPH_INSTANTIATE(cuGraphInstantiateWithParams_ptsz, (phGraphExec, hGraph, instantiateParams));
}

SHIM_EXPORT CUresult CUDAAPI cuGraphExecDestroy(CUgraphExec hGraphExec)
{
	CUresult rc;

	REAL_OR_FAIL(cuGraphExecDestroy);
	rc = real_cu.cuGraphExecDestroy(hGraphExec);
	if (rc == CUDA_SUCCESS && shim_ensure())
		for (int d = 0; d < shim.ndev; d++)
			forget((uint8_t)(NS_GRAPH + d), (uint64_t)(uintptr_t)hGraphExec);
	return rc;
}

void devmem_after_fork(void)
{
	pthread_mutex_init(&dm_mu, NULL);
	pthread_mutex_init(&measure_mu, NULL);
	measuring = 0;
	/* the child holds none of the parent's contexts, modules or graphs; the table is leaked */
	memset(&handles, 0, sizeof(handles));
	memset(primary_bytes, 0, sizeof(primary_bytes));
}
