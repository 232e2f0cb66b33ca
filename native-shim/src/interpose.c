/*
 * How callers reach the wrappers.
 *
 *  - Direct callers (linked against libcuda.so.1) bind to the exported wrappers, because the
 *    preloaded library comes first in the search order.
 *  - dlsym(handle, "cu...") against a libcuda/libnvidia-ml handle, RTLD_DEFAULT or RTLD_NEXT
 *    returns the wrapper (the dlsym override below).
 *  - cuGetProcAddress/_v2, which CUDA 12+ runtimes use for every entry point: the real one is
 *    asked first (it honours cudaVersion and the per-thread-default-stream flag) and the
 *    pointer it returns is swapped for the wrapper of that exact variant, found by comparing
 *    it with the real table.  A pointer the table does not know is returned unchanged.
 *
 * The real entry points are resolved once (pthread_once) from the real libraries by handle,
 * never through RTLD_DEFAULT (which would find the wrappers).
 */
#define _GNU_SOURCE
#include "interpose.h"

#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "log.h"

struct real_cuda real_cu;
struct real_nvml real_nv;

typedef void *(*dlsym_fn)(void *, const char *);

struct wrap_entry {
	const char *name;
	void **real;
	void *wrapper;
};

#define CU_ENTRY(n) { #n, (void **)&real_cu.n, (void *)&n },
#define NV_ENTRY(n) { #n, (void **)&real_nv.n, (void *)&n },

static const struct wrap_entry cu_wrapped[] = { SOFTMIG_CU_WRAPPED(CU_ENTRY) };
static const struct wrap_entry nv_wrapped[] = { SOFTMIG_NVML_WRAPPED(NV_ENTRY) };

#define N_CU_WRAPPED (sizeof(cu_wrapped) / sizeof(cu_wrapped[0]))
#define N_NV_WRAPPED (sizeof(nv_wrapped) / sizeof(nv_wrapped[0]))

static _Atomic(dlsym_fn) real_dlsym_ptr;
static pthread_once_t cuda_once = PTHREAD_ONCE_INIT;
static pthread_once_t nvml_once = PTHREAD_ONCE_INIT;

static dlsym_fn real_dlsym(void)
{
	dlsym_fn f = atomic_load_explicit(&real_dlsym_ptr, memory_order_acquire);

	if (f)
		return f;
	/* glibc >= 2.34, then the base versions of x86-64 and aarch64 */
	f = (dlsym_fn)dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.34");
	if (!f)
		f = (dlsym_fn)dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.2.5");
	if (!f)
		f = (dlsym_fn)dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.17");
	atomic_store_explicit(&real_dlsym_ptr, f, memory_order_release);
	return f;
}

/* Opens an already loaded library by soname, or loads it; never the preloaded shim. */
static void *open_real(const char *soname)
{
	void *h = dlopen(soname, RTLD_NOW | RTLD_NOLOAD);

	if (!h)
		h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	return h;
}

#define RESOLVE_CU(n) real_cu.n = (__typeof__(real_cu.n))find(h, #n);
#define RESOLVE_NV(n) real_nv.n = (__typeof__(real_nv.n))find(h, #n);

static void load_cuda(void)
{
	dlsym_fn find = real_dlsym();
	void *h = open_real("libcuda.so.1");

	if (!h || !find) {
		log_msg(LOG_ERR, "libcuda.so.1 not found: %s", h ? "no dlsym" : dlerror());
		return;
	}
	SOFTMIG_CU_WRAPPED(RESOLVE_CU)
	SOFTMIG_CU_CALLED(RESOLVE_CU)
	real_cu.cuDeviceGetUuid_v2 = (softmig_uuid_fn)find(h, "cuDeviceGetUuid_v2");
	real_cu.loaded = 1;
}

static void *nvml_handle;

static void load_nvml(void)
{
	dlsym_fn find = real_dlsym();
	void *h = open_real("libnvidia-ml.so.1");

	if (!h || !find)
		return;
	nvml_handle = h;
	SOFTMIG_NVML_WRAPPED(RESOLVE_NV)
	SOFTMIG_NVML_CALLED(RESOLVE_NV)
	real_nv.loaded = 1;
}

void interpose_load_cuda(void)
{
	pthread_once(&cuda_once, load_cuda);
}

void interpose_load_nvml(void)
{
	pthread_once(&nvml_once, load_nvml);
}

void *interpose_real_nvml(const char *name)
{
	dlsym_fn find = real_dlsym();

	interpose_load_nvml();
	return nvml_handle && find ? find(nvml_handle, name) : NULL;
}

static void *wrapper_by_name(const struct wrap_entry *t, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].name, name) == 0)
			return t[i].wrapper;
	return NULL;
}

/* Whether handle is libcuda.so* or libnvidia-ml.so* (prefix names the library family). */
static int handle_is(void *handle, const char *prefix)
{
	struct link_map *lm = NULL;
	const char *base;

	if (dlinfo(handle, RTLD_DI_LINKMAP, &lm) != 0 || !lm || !lm->l_name)
		return 0;
	base = strrchr(lm->l_name, '/');
	base = base ? base + 1 : lm->l_name;
	return strncmp(base, prefix, strlen(prefix)) == 0;
}

SHIM_EXPORT void *dlsym(void *handle, const char *symbol)
{
	dlsym_fn f = real_dlsym();
	int special = handle == RTLD_DEFAULT || handle == RTLD_NEXT;

	if (symbol[0] == 'c' && symbol[1] == 'u') {
		void *w = wrapper_by_name(cu_wrapped, N_CU_WRAPPED, symbol);

		/* the wrappers load the real table on first use: loading it here could run
		 * libcuda's constructors inside a dlsym call */
		if (w && (special || handle_is(handle, "libcuda.so")))
			return w;
	} else if (strncmp(symbol, "nvml", 4) == 0) {
		void *w = wrapper_by_name(nv_wrapped, N_NV_WRAPPED, symbol);

		if (w && (special || handle_is(handle, "libnvidia-ml.so")))
			return w;
	}
	return f ? f(handle, symbol) : NULL;
}

/* The wrapper of the variant whose real entry point is p, or p itself. */
static void *wrapper_for_real(const char *symbol, void *p)
{
	static atomic_int warned;

	for (size_t i = 0; i < N_CU_WRAPPED; i++)
		if (*cu_wrapped[i].real == p)
			return cu_wrapped[i].wrapper;
	/* not one of ours, or a pointer the table does not know (logged once for wrapped names) */
	for (size_t i = 0; i < N_CU_WRAPPED; i++) {
		size_t n = strlen(symbol);

		if (strncmp(cu_wrapped[i].name, symbol, n) == 0 && !atomic_exchange(&warned, 1))
			log_msg(LOG_WARN, "cuGetProcAddress(%s) returned an entry point the shim does not know",
				symbol);
	}
	return p;
}

SHIM_EXPORT CUresult CUDAAPI cuGetProcAddress_v2(const char *symbol, void **pfn, int cudaVersion,
						 cuuint64_t flags, CUdriverProcAddressQueryResult *symbolStatus)
{
	CUresult rc;

	interpose_load_cuda();
	if (!real_cu.cuGetProcAddress_v2)
		return CUDA_ERROR_NOT_SUPPORTED;
	rc = real_cu.cuGetProcAddress_v2(symbol, pfn, cudaVersion, flags, symbolStatus);
	if (rc == CUDA_SUCCESS && pfn && *pfn && symbol)
		*pfn = wrapper_for_real(symbol, *pfn);
	return rc;
}

SHIM_EXPORT CUresult CUDAAPI cuGetProcAddress(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags)
{
	CUresult rc;

	interpose_load_cuda();
	if (!real_cu.cuGetProcAddress)
		return CUDA_ERROR_NOT_SUPPORTED;
	rc = real_cu.cuGetProcAddress(symbol, pfn, cudaVersion, flags);
	if (rc == CUDA_SUCCESS && pfn && *pfn && symbol)
		*pfn = wrapper_for_real(symbol, *pfn);
	return rc;
}
