/*
 * Memory accounting for every path that creates device memory.
 *
 * Each allocation is reserved before the driver is called and the reservation is dropped if
 * the driver fails.  Where the reservation is decided:
 *   - credit mode: locally, up to the ceiling the coordinator lent (one process per job with a
 *     limit), usage reported asynchronously (UsageReport);
 *   - exact mode: MemReserve round trip, one per allocation (also without a limit, so the
 *     coordinator's ledger sees every byte on the card);
 *   - coordinator away (or not yet answered): locally, against the last known limit (Welcome,
 *     else config/env); no limit passes through.  What changed meanwhile is settled when the
 *     Welcome arrives (mem_on_welcome).
 * Over the limit the wrapper returns CUDA_ERROR_OUT_OF_MEMORY and the process lives.
 *
 * Locking: mem_mu protects devs[] and the pointer map.  It is never held across a driver call
 * or a round trip, but frames that must stay ordered with a credit change (UsageReport,
 * MemFree, CreditReturn) are written while it is held.
 */
#include "memory.h"

#include <pthread.h>
#include <string.h>

#include "client.h"
#include "interpose.h"
#include "log.h"
#include "ptrmap.h"
#include "shim.h"

struct mem_dev {
	uint64_t limit;        /* 0 = none */
	uint64_t used;         /* this process's tracked bytes */
	uint32_t allocations;
	uint64_t job_used;     /* the job's usage as last told by the coordinator, then adjusted */
	bool credit;
	uint64_t ceiling;
	uint64_t epoch;
	bool dirty;            /* a UsageReport is due */
	uint64_t report_peak;  /* highest used since the last UsageReport */
	uint64_t report_refusals; /* local refusals since the last UsageReport */
	uint64_t hello_used;   /* used as sent in the last Hello's holdings */
};

static pthread_mutex_t mem_mu = PTHREAD_MUTEX_INITIALIZER;
static struct mem_dev devs[CFG_MAX_DEVICES];
static struct ptrmap ptrs;

void mem_start(void)
{
	pthread_mutex_lock(&mem_mu);
	for (int i = 0; i < CFG_MAX_DEVICES; i++) {
		memset(&devs[i], 0, sizeof(devs[i]));
		devs[i].limit = cfg_mem_limit(&shim.cfg, i);
	}
	pthread_mutex_unlock(&mem_mu);
}

void mem_after_fork(void)
{
	pthread_mutex_init(&mem_mu, NULL);
	memset(devs, 0, sizeof(devs));
	/* the child owns none of the parent's device memory; the table itself is leaked on purpose */
	memset(&ptrs, 0, sizeof(ptrs));
}

static bool valid_dev(int dev)
{
	return dev >= 0 && dev < shim.ndev;
}

void mem_on_limit(int dev, uint64_t limit)
{
	if (dev < 0 || dev >= CFG_MAX_DEVICES)
		return;
	pthread_mutex_lock(&mem_mu);
	devs[dev].limit = limit;
	devs[dev].credit = false;
	devs[dev].job_used = devs[dev].used;
	pthread_mutex_unlock(&mem_mu);
}

static void send_usage_locked(int dev)
{
	Softmig__V1__ClientFrame f = SOFTMIG__V1__CLIENT_FRAME__INIT;
	Softmig__V1__UsageReport r = SOFTMIG__V1__USAGE_REPORT__INIT;

	r.device_index = (uint32_t)dev;
	r.used_bytes = devs[dev].used;
	r.peak_bytes = devs[dev].report_peak > r.used_bytes ? devs[dev].report_peak : r.used_bytes;
	r.refusals = devs[dev].report_refusals;
	f.body_case = SOFTMIG__V1__CLIENT_FRAME__BODY_USAGE_REPORT;
	f.usage_report = &r;
	if (client_send(&f) == 0) {
		devs[dev].dirty = false;
		devs[dev].report_peak = devs[dev].used;
		devs[dev].report_refusals = 0;
	}
}

static void send_mem_locked(int dev, bool reserve, uint64_t bytes)
{
	Softmig__V1__ClientFrame f = SOFTMIG__V1__CLIENT_FRAME__INIT;
	Softmig__V1__MemReserve r = SOFTMIG__V1__MEM_RESERVE__INIT;
	Softmig__V1__MemFree m = SOFTMIG__V1__MEM_FREE__INIT;

	if (reserve) {
		r.device_index = (uint32_t)dev;
		r.bytes = bytes;
		r.kind = SOFTMIG__V1__ALLOCATION_KIND__DEVICE;
		f.body_case = SOFTMIG__V1__CLIENT_FRAME__BODY_MEM_RESERVE;
		f.mem_reserve = &r;
	} else {
		m.device_index = (uint32_t)dev;
		m.bytes = bytes;
		m.kind = SOFTMIG__V1__ALLOCATION_KIND__DEVICE;
		f.body_case = SOFTMIG__V1__CLIENT_FRAME__BODY_MEM_FREE;
		f.mem_free = &m;
	}
	client_send(&f);
}

void mem_on_welcome(void (*welcomed)(void))
{
	pthread_mutex_lock(&mem_mu);
	for (int i = 0; i < shim.ndev; i++) {
		struct mem_dev *d = &devs[i];

		/* decided locally between the Hello and this Welcome: tell the ledger (no reply wanted) */
		if (d->used > d->hello_used)
			send_mem_locked(i, true, d->used - d->hello_used);
		else if (d->used < d->hello_used)
			send_mem_locked(i, false, d->hello_used - d->used);
		d->hello_used = d->used;
	}
	welcomed();
	pthread_mutex_unlock(&mem_mu);
}

void mem_on_credit_grant(int dev, uint64_t ceiling, uint64_t epoch)
{
	if (!valid_dev(dev))
		return;
	pthread_mutex_lock(&mem_mu);
	devs[dev].credit = true;
	devs[dev].ceiling = ceiling;
	devs[dev].epoch = epoch;
	devs[dev].job_used = devs[dev].used;
	pthread_mutex_unlock(&mem_mu);
	log_msg(LOG_DEBUG, "credit on device %d: ceiling %llu bytes, epoch %llu", dev,
		(unsigned long long)ceiling, (unsigned long long)epoch);
}

void mem_on_credit_revoke(int dev, uint64_t epoch)
{
	Softmig__V1__ClientFrame f = SOFTMIG__V1__CLIENT_FRAME__INIT;
	Softmig__V1__CreditReturn r = SOFTMIG__V1__CREDIT_RETURN__INIT;

	if (!valid_dev(dev))
		return;
	pthread_mutex_lock(&mem_mu);
	if (devs[dev].dirty)
		send_usage_locked(dev); /* the peak and refusals of the credit period */
	devs[dev].credit = false;
	r.device_index = (uint32_t)dev;
	r.epoch = epoch;
	r.used_bytes = devs[dev].used;
	f.body_case = SOFTMIG__V1__CLIENT_FRAME__BODY_CREDIT_RETURN;
	f.credit_return = &r;
	client_send(&f);
	devs[dev].dirty = false;
	pthread_mutex_unlock(&mem_mu);
	log_msg(LOG_DEBUG, "credit on device %d returned at %llu bytes", dev, (unsigned long long)r.used_bytes);
}

void mem_on_disconnect(void)
{
	pthread_mutex_lock(&mem_mu);
	for (int i = 0; i < CFG_MAX_DEVICES; i++) {
		devs[i].credit = false;
		devs[i].job_used = devs[i].used;
	}
	pthread_mutex_unlock(&mem_mu);
}

int mem_holdings(struct mem_holding *out, int cap)
{
	int n = 0;

	pthread_mutex_lock(&mem_mu);
	for (int i = 0; i < shim.ndev && n < cap; i++) {
		devs[i].hello_used = devs[i].used;
		if (!devs[i].used && !devs[i].allocations)
			continue;
		out[n].dev = i;
		out[n].bytes = devs[i].used;
		out[n].allocations = devs[i].allocations;
		n++;
	}
	pthread_mutex_unlock(&mem_mu);
	return n;
}

void mem_flush_reports(void)
{
	pthread_mutex_lock(&mem_mu);
	for (int i = 0; i < shim.ndev; i++)
		if (devs[i].dirty)
			send_usage_locked(i);
	pthread_mutex_unlock(&mem_mu);
}

uint64_t mem_limit(int dev)
{
	uint64_t v;

	if (dev < 0 || dev >= CFG_MAX_DEVICES)
		return 0;
	pthread_mutex_lock(&mem_mu);
	v = devs[dev].limit;
	pthread_mutex_unlock(&mem_mu);
	return v;
}

void mem_adjust_info(int dev, uint64_t *free_bytes, uint64_t *total_bytes)
{
	uint64_t limit, used, f;

	if (dev < 0 || dev >= CFG_MAX_DEVICES)
		return;
	pthread_mutex_lock(&mem_mu);
	limit = devs[dev].limit;
	used = devs[dev].used > devs[dev].job_used ? devs[dev].used : devs[dev].job_used;
	pthread_mutex_unlock(&mem_mu);
	if (!limit)
		return;
	if (limit > *total_bytes)
		limit = *total_bytes;
	f = limit > used ? limit - used : 0;
	if (f > *free_bytes)
		f = *free_bytes;
	*total_bytes = limit;
	*free_bytes = f;
}

/* Local decision; mem_mu held. */
static bool fits_locally(const struct mem_dev *d, uint64_t bytes)
{
	uint64_t cap = d->credit ? d->ceiling : d->limit;

	return d->used <= cap && bytes <= cap - d->used;
}

static void take_locked(struct mem_dev *d, uint64_t bytes)
{
	d->used += bytes;
	if (d->used > d->report_peak)
		d->report_peak = d->used;
	d->allocations++;
	d->job_used += bytes;
}

/*
 * Reserves bytes on dev before an allocation.  Returns 0 when the allocation may go ahead,
 * -1 when it is over the limit.
 */
static int mem_reserve(int dev, uint64_t bytes, int kind)
{
	struct client_mem_reply reply;
	struct mem_dev *d = &devs[dev];
	int r;

	pthread_mutex_lock(&mem_mu);
	if (!d->limit && !client_welcomed()) {
		take_locked(d, bytes);
		goto out_granted;
	}
	if (d->credit || !client_welcomed()) {
		if (!fits_locally(d, bytes))
			goto out_refused;
		take_locked(d, bytes);
		d->dirty = d->credit;
		goto out_granted;
	}
	pthread_mutex_unlock(&mem_mu);

	r = client_mem_reserve(dev, bytes, kind, &reply);

	pthread_mutex_lock(&mem_mu);
	if (r < 0) {
		if (d->limit && !fits_locally(d, bytes))
			goto out_refused;
		take_locked(d, bytes);
		goto out_granted;
	}
	if (r == 0) {
		d->job_used = reply.job_used;
		log_msg(LOG_INFO, "device %d: %llu bytes refused (job uses %llu of %llu)", dev,
			(unsigned long long)bytes, (unsigned long long)reply.job_used,
			(unsigned long long)reply.job_limit);
		pthread_mutex_unlock(&mem_mu);
		return -1;
	}
	take_locked(d, bytes);
	d->job_used = reply.job_used > d->used ? reply.job_used : d->used;
out_granted:
	pthread_mutex_unlock(&mem_mu);
	return 0;
out_refused:
	if (d->credit) {
		d->report_refusals++;
		d->dirty = true;
	}
	log_msg(LOG_INFO, "device %d: %llu bytes refused locally (uses %llu of %llu)", dev,
		(unsigned long long)bytes, (unsigned long long)d->used,
		(unsigned long long)(d->credit ? d->ceiling : d->limit));
	pthread_mutex_unlock(&mem_mu);
	return -1;
}

/* Gives bytes back on dev (a free, or a reservation the driver did not use). */
static void mem_unreserve(int dev, uint64_t bytes, int kind)
{
	struct mem_dev *d = &devs[dev];

	pthread_mutex_lock(&mem_mu);
	if (bytes > d->used)
		bytes = d->used;
	d->used -= bytes;
	if (d->allocations)
		d->allocations--;
	d->job_used = d->job_used > bytes ? d->job_used - bytes : 0;
	if (d->credit) {
		d->dirty = true;
	} else if (client_welcomed()) {
		Softmig__V1__ClientFrame f = SOFTMIG__V1__CLIENT_FRAME__INIT;
		Softmig__V1__MemFree m = SOFTMIG__V1__MEM_FREE__INIT;

		m.device_index = (uint32_t)dev;
		m.bytes = bytes;
		m.kind = (Softmig__V1__AllocationKind)kind;
		f.body_case = SOFTMIG__V1__CLIENT_FRAME__BODY_MEM_FREE;
		f.mem_free = &m;
		client_send(&f);
	}
	pthread_mutex_unlock(&mem_mu);
}

/* ------------------------------------------------------------------ charges of other sources */

int mem_charge(int dev, uint64_t bytes, int kind)
{
	if (!shim_ensure())
		return 0;
	if (shim.denied)
		return -1;
	if (!valid_dev(dev) || bytes == 0)
		return 0;
	return mem_reserve(dev, bytes, kind);
}

void mem_uncharge(int dev, uint64_t bytes, int kind)
{
	if (!shim_ensure() || !valid_dev(dev) || bytes == 0)
		return;
	mem_unreserve(dev, bytes, kind);
}

uint64_t mem_used(int dev)
{
	uint64_t v;

	if (dev < 0 || dev >= CFG_MAX_DEVICES)
		return 0;
	pthread_mutex_lock(&mem_mu);
	v = devs[dev].used;
	pthread_mutex_unlock(&mem_mu);
	return v;
}

/* ------------------------------------------------------------------ allocation wrappers */

struct acct {
	bool on;
	int dev;
	uint64_t bytes;
	int kind;
};

/* Reserves before the driver call.  Returns nonzero when the allocation must be refused. */
static int acct_begin(struct acct *a, int dev, uint64_t bytes, int kind)
{
	a->on = false;
	if (!shim_ensure())
		return 0;
	if (shim.denied)
		return -1;
	if (!valid_dev(dev) || bytes == 0)
		return 0;
	a->dev = dev;
	a->bytes = bytes;
	a->kind = kind;
	if (mem_reserve(dev, bytes, kind))
		return -1;
	a->on = true;
	return 0;
}

/* After the driver call: keep the reservation under key, or drop it if the driver failed. */
static void acct_end(struct acct *a, CUresult rc, uint8_t ns, uint64_t key)
{
	if (!a->on)
		return;
	if (rc != CUDA_SUCCESS) {
		mem_unreserve(a->dev, a->bytes, a->kind);
		return;
	}
	pthread_mutex_lock(&mem_mu);
	if (ptrmap_put(&ptrs, ns, key, a->dev, a->bytes, (uint8_t)a->kind))
		log_msg(LOG_ERR, "pointer map full: %llu bytes on device %d will never be released",
			(unsigned long long)a->bytes, a->dev);
	pthread_mutex_unlock(&mem_mu);
}

/* Takes key out of the map before a free; returns 0 when it was known. */
static int acct_forget(uint8_t ns, uint64_t key, struct ptr_entry *e)
{
	int r;

	if (!shim_ensure())
		return -1;
	pthread_mutex_lock(&mem_mu);
	r = ptrmap_take(&ptrs, ns, key, e);
	pthread_mutex_unlock(&mem_mu);
	return r;
}

/* After the driver's free: release, or put the entry back if the driver refused the free. */
static void acct_freed(const struct ptr_entry *e, CUresult rc)
{
	if (rc == CUDA_SUCCESS) {
		mem_unreserve(e->dev, e->bytes, e->kind);
		return;
	}
	pthread_mutex_lock(&mem_mu);
	ptrmap_put(&ptrs, e->ns, e->key, e->dev, e->bytes, e->kind);
	pthread_mutex_unlock(&mem_mu);
}

#define KIND_DEVICE SOFTMIG__V1__ALLOCATION_KIND__DEVICE
#define KIND_MANAGED SOFTMIG__V1__ALLOCATION_KIND__MANAGED
#define KIND_ASYNC SOFTMIG__V1__ALLOCATION_KIND__ASYNC
#define KIND_VMM SOFTMIG__V1__ALLOCATION_KIND__VMM
#define KIND_ARRAY SOFTMIG__V1__ALLOCATION_KIND__ARRAY

#define REAL_OR_FAIL(fn)                                                                       \
	do {                                                                                   \
		interpose_load_cuda();                                                         \
		if (!real_cu.fn)                                                               \
			return CUDA_ERROR_NOT_SUPPORTED;                                       \
	} while (0)

static int cur_dev(void)
{
	return shim_ensure() ? shim_current_device() : -1;
}

SHIM_EXPORT CUresult CUDAAPI cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize)
{
	struct acct a;
	CUresult rc;

	REAL_OR_FAIL(cuMemAlloc_v2);
	if (acct_begin(&a, cur_dev(), bytesize, KIND_DEVICE))
		return CUDA_ERROR_OUT_OF_MEMORY;
	rc = real_cu.cuMemAlloc_v2(dptr, bytesize);
	acct_end(&a, rc, PTR_NS_DEVPTR, rc == CUDA_SUCCESS ? *dptr : 0);
	return rc;
}

SHIM_EXPORT CUresult CUDAAPI cuMemAllocPitch_v2(CUdeviceptr *dptr, size_t *pPitch, size_t WidthInBytes,
						size_t Height, unsigned int ElementSizeBytes)
{
	struct acct a;
	CUresult rc;
	uint64_t pitch = ((uint64_t)WidthInBytes + 511) & ~(uint64_t)511;

	REAL_OR_FAIL(cuMemAllocPitch_v2);
	if (acct_begin(&a, cur_dev(), pitch * Height, KIND_DEVICE))
		return CUDA_ERROR_OUT_OF_MEMORY;
	rc = real_cu.cuMemAllocPitch_v2(dptr, pPitch, WidthInBytes, Height, ElementSizeBytes);
	acct_end(&a, rc, PTR_NS_DEVPTR, rc == CUDA_SUCCESS ? *dptr : 0);
	return rc;
}

SHIM_EXPORT CUresult CUDAAPI cuMemAllocManaged(CUdeviceptr *dptr, size_t bytesize, unsigned int flags)
{
	struct acct a;
	CUresult rc;

	REAL_OR_FAIL(cuMemAllocManaged);
	if (acct_begin(&a, cur_dev(), bytesize, KIND_MANAGED))
		return CUDA_ERROR_OUT_OF_MEMORY;
	rc = real_cu.cuMemAllocManaged(dptr, bytesize, flags);
	acct_end(&a, rc, PTR_NS_DEVPTR, rc == CUDA_SUCCESS ? *dptr : 0);
	return rc;
}

#define ASYNC_ALLOC(fn, args, ...)                                                             \
	do {                                                                                   \
		struct acct a;                                                                 \
		CUresult rc;                                                                   \
		REAL_OR_FAIL(fn);                                                              \
		if (acct_begin(&a, cur_dev(), bytesize, KIND_ASYNC))                           \
			return CUDA_ERROR_OUT_OF_MEMORY;                                       \
		rc = real_cu.fn args;                                                          \
		acct_end(&a, rc, PTR_NS_DEVPTR, rc == CUDA_SUCCESS ? *dptr : 0);               \
		return rc;                                                                     \
	} while (0)

SHIM_EXPORT CUresult CUDAAPI cuMemAllocAsync(CUdeviceptr *dptr, size_t bytesize, CUstream hStream)
{
	ASYNC_ALLOC(cuMemAllocAsync, (dptr, bytesize, hStream));
}

SHIM_EXPORT CUresult CUDAAPI cuMemAllocAsync_ptsz(CUdeviceptr *dptr, size_t bytesize, CUstream hStream)
{
	ASYNC_ALLOC(cuMemAllocAsync_ptsz, (dptr, bytesize, hStream));
}

SHIM_EXPORT CUresult CUDAAPI cuMemAllocFromPoolAsync(CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool,
						     CUstream hStream)
{
	ASYNC_ALLOC(cuMemAllocFromPoolAsync, (dptr, bytesize, pool, hStream));
}

SHIM_EXPORT CUresult CUDAAPI cuMemAllocFromPoolAsync_ptsz(CUdeviceptr *dptr, size_t bytesize,
							  CUmemoryPool pool, CUstream hStream)
{
	ASYNC_ALLOC(cuMemAllocFromPoolAsync_ptsz, (dptr, bytesize, pool, hStream));
}

SHIM_EXPORT CUresult CUDAAPI cuMemCreate(CUmemGenericAllocationHandle *handle, size_t size,
					 const CUmemAllocationProp *prop, unsigned long long flags)
{
	struct acct a;
	CUresult rc;
	int dev = -1;

	REAL_OR_FAIL(cuMemCreate);
	if (prop && prop->location.type == CU_MEM_LOCATION_TYPE_DEVICE && shim_ensure())
		dev = prop->location.id;
	if (acct_begin(&a, dev, size, KIND_VMM))
		return CUDA_ERROR_OUT_OF_MEMORY;
	rc = real_cu.cuMemCreate(handle, size, prop, flags);
	acct_end(&a, rc, PTR_NS_VMM, rc == CUDA_SUCCESS ? *handle : 0);
	return rc;
}

SHIM_EXPORT CUresult CUDAAPI cuMemRelease(CUmemGenericAllocationHandle handle)
{
	struct ptr_entry e;
	CUresult rc;

	REAL_OR_FAIL(cuMemRelease);
	if (acct_forget(PTR_NS_VMM, handle, &e))
		return real_cu.cuMemRelease(handle);
	rc = real_cu.cuMemRelease(handle);
	acct_freed(&e, rc);
	return rc;
}

/* Bytes per element of an array format; 4 for formats the shim does not know. */
static uint64_t format_bytes(CUarray_format f)
{
	switch (f) {
	case CU_AD_FORMAT_UNSIGNED_INT8:
	case CU_AD_FORMAT_SIGNED_INT8:
		return 1;
	case CU_AD_FORMAT_UNSIGNED_INT16:
	case CU_AD_FORMAT_SIGNED_INT16:
	case CU_AD_FORMAT_HALF:
		return 2;
	default:
		return 4;
	}
}

static uint64_t at_least_one(size_t v)
{
	return v ? (uint64_t)v : 1;
}

static uint64_t array3d_bytes(const CUDA_ARRAY3D_DESCRIPTOR *d, unsigned int level)
{
	uint64_t w = at_least_one(d->Width >> level), h = d->Height ? at_least_one(d->Height >> level) : 1;
	uint64_t z = d->Depth ? at_least_one(d->Depth >> level) : 1;

	if (d->Flags & CUDA_ARRAY3D_LAYERED)
		z = at_least_one(d->Depth);
	return w * h * z * format_bytes(d->Format) * at_least_one(d->NumChannels);
}

SHIM_EXPORT CUresult CUDAAPI cuArrayCreate_v2(CUarray *pHandle, const CUDA_ARRAY_DESCRIPTOR *pAllocateArray)
{
	struct acct a;
	CUresult rc;
	uint64_t bytes = 0;

	REAL_OR_FAIL(cuArrayCreate_v2);
	if (pAllocateArray)
		bytes = at_least_one(pAllocateArray->Width) * at_least_one(pAllocateArray->Height) *
			format_bytes(pAllocateArray->Format) * at_least_one(pAllocateArray->NumChannels);
	if (acct_begin(&a, cur_dev(), bytes, KIND_ARRAY))
		return CUDA_ERROR_OUT_OF_MEMORY;
	rc = real_cu.cuArrayCreate_v2(pHandle, pAllocateArray);
	acct_end(&a, rc, PTR_NS_ARRAY, rc == CUDA_SUCCESS ? (uint64_t)(uintptr_t)*pHandle : 0);
	return rc;
}

SHIM_EXPORT CUresult CUDAAPI cuArray3DCreate_v2(CUarray *pHandle, const CUDA_ARRAY3D_DESCRIPTOR *pAllocateArray)
{
	struct acct a;
	CUresult rc;

	REAL_OR_FAIL(cuArray3DCreate_v2);
	if (acct_begin(&a, cur_dev(), pAllocateArray ? array3d_bytes(pAllocateArray, 0) : 0, KIND_ARRAY))
		return CUDA_ERROR_OUT_OF_MEMORY;
	rc = real_cu.cuArray3DCreate_v2(pHandle, pAllocateArray);
	acct_end(&a, rc, PTR_NS_ARRAY, rc == CUDA_SUCCESS ? (uint64_t)(uintptr_t)*pHandle : 0);
	return rc;
}

SHIM_EXPORT CUresult CUDAAPI cuMipmappedArrayCreate(CUmipmappedArray *pHandle,
						    const CUDA_ARRAY3D_DESCRIPTOR *pMipmappedArrayDesc,
						    unsigned int numMipmapLevels)
{
	struct acct a;
	CUresult rc;
	uint64_t bytes = 0;

	REAL_OR_FAIL(cuMipmappedArrayCreate);
	for (unsigned int l = 0; pMipmappedArrayDesc && l < numMipmapLevels && l < 32; l++)
		bytes += array3d_bytes(pMipmappedArrayDesc, l);
	if (acct_begin(&a, cur_dev(), bytes, KIND_ARRAY))
		return CUDA_ERROR_OUT_OF_MEMORY;
	rc = real_cu.cuMipmappedArrayCreate(pHandle, pMipmappedArrayDesc, numMipmapLevels);
	acct_end(&a, rc, PTR_NS_ARRAY, rc == CUDA_SUCCESS ? (uint64_t)(uintptr_t)*pHandle : 0);
	return rc;
}

#define FREE_WRAPPER(fn, ns, key, args)                                                        \
	do {                                                                                   \
		struct ptr_entry e;                                                            \
		CUresult rc;                                                                   \
		REAL_OR_FAIL(fn);                                                              \
		if (acct_forget(ns, key, &e))                                                  \
			return real_cu.fn args;                                                \
		rc = real_cu.fn args;                                                          \
		acct_freed(&e, rc);                                                            \
		return rc;                                                                     \
	} while (0)

SHIM_EXPORT CUresult CUDAAPI cuMemFree_v2(CUdeviceptr dptr)
{
	FREE_WRAPPER(cuMemFree_v2, PTR_NS_DEVPTR, dptr, (dptr));
}

SHIM_EXPORT CUresult CUDAAPI cuMemFreeAsync(CUdeviceptr dptr, CUstream hStream)
{
	FREE_WRAPPER(cuMemFreeAsync, PTR_NS_DEVPTR, dptr, (dptr, hStream));
}

SHIM_EXPORT CUresult CUDAAPI cuMemFreeAsync_ptsz(CUdeviceptr dptr, CUstream hStream)
{
	FREE_WRAPPER(cuMemFreeAsync_ptsz, PTR_NS_DEVPTR, dptr, (dptr, hStream));
}

SHIM_EXPORT CUresult CUDAAPI cuArrayDestroy(CUarray hArray)
{
	FREE_WRAPPER(cuArrayDestroy, PTR_NS_ARRAY, (uint64_t)(uintptr_t)hArray, (hArray));
}

SHIM_EXPORT CUresult CUDAAPI cuMipmappedArrayDestroy(CUmipmappedArray hMipmappedArray)
{
	FREE_WRAPPER(cuMipmappedArrayDestroy, PTR_NS_ARRAY, (uint64_t)(uintptr_t)hMipmappedArray,
		     (hMipmappedArray));
}

/* ------------------------------------------------------------------ reporting wrappers */

SHIM_EXPORT CUresult CUDAAPI cuMemGetInfo_v2(size_t *free, size_t *total)
{
	CUresult rc;
	uint64_t f, t;

	REAL_OR_FAIL(cuMemGetInfo_v2);
	rc = real_cu.cuMemGetInfo_v2(free, total);
	if (rc != CUDA_SUCCESS || !free || !total || !shim_ensure())
		return rc;
	f = *free;
	t = *total;
	mem_adjust_info(shim_current_device(), &f, &t);
	*free = (size_t)f;
	*total = (size_t)t;
	return rc;
}

SHIM_EXPORT CUresult CUDAAPI cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev)
{
	CUresult rc;
	uint64_t limit;

	REAL_OR_FAIL(cuDeviceTotalMem_v2);
	rc = real_cu.cuDeviceTotalMem_v2(bytes, dev);
	if (rc != CUDA_SUCCESS || !bytes || !shim_ensure())
		return rc;
	limit = mem_limit((int)dev);
	if (limit && limit < *bytes)
		*bytes = (size_t)limit;
	return rc;
}

/*
 * The limit and usage for an NVML device: matched to a CUDA ordinal by UUID when the process
 * has a CUDA session, else the config's limit for all devices.
 */
static void nvml_adjust(nvmlDevice_t device, unsigned long long *free, unsigned long long *total,
			unsigned long long *used)
{
	char uuid[96];
	uint64_t f = *free, t = *total;
	int dev = -1;

	shim_config_ensure();
	if (shim.cfg.disabled)
		return;
	if (real_nv.nvmlDeviceGetUUID && real_nv.nvmlDeviceGetUUID(device, uuid, sizeof(uuid)) == NVML_SUCCESS)
		dev = shim_device_by_uuid(uuid);
	if (dev >= 0) {
		mem_adjust_info(dev, &f, &t);
	} else {
		uint64_t limit = cfg_mem_limit(&shim.cfg, -1);

		if (!limit)
			return;
		if (limit < t)
			t = limit;
		if (f > t)
			f = t;
	}
	if (t == *total && f == *free)
		return;
	*total = t;
	*free = f;
	*used = t - f;
}

SHIM_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory)
{
	nvmlReturn_t rc;

	interpose_load_nvml();
	if (!real_nv.nvmlDeviceGetMemoryInfo)
		return NVML_ERROR_FUNCTION_NOT_FOUND;
	rc = real_nv.nvmlDeviceGetMemoryInfo(device, memory);
	if (rc == NVML_SUCCESS && memory)
		nvml_adjust(device, &memory->free, &memory->total, &memory->used);
	return rc;
}

SHIM_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *memory)
{
	nvmlReturn_t rc;
	unsigned long long before;

	interpose_load_nvml();
	if (!real_nv.nvmlDeviceGetMemoryInfo_v2)
		return NVML_ERROR_FUNCTION_NOT_FOUND;
	rc = real_nv.nvmlDeviceGetMemoryInfo_v2(device, memory);
	if (rc != NVML_SUCCESS || !memory)
		return rc;
	before = memory->total;
	nvml_adjust(device, &memory->free, &memory->total, &memory->used);
	if (memory->total != before)
		memory->reserved = 0;
	return rc;
}
