/*
 * Memory accounting for every path that creates device memory.
 *
 * Each allocation is reserved before the driver is called and the reservation is dropped if
 * the driver fails.  Where the reservation is decided depends on the link to the coordinator:
 *   - LINK_UP, credit: locally, while this process's usage plus its reserves in flight stays
 *     within the ceiling the coordinator lent; the decisions go to the ledger as deltas
 *     (MemReport: taken, freed), at least every 20 ms and always before a CreditReturn;
 *   - LINK_UP, exact: a MemReserve round trip.  The bytes count as in flight from before the
 *     request leaves until its answer is applied, so a credit granted meanwhile never lends them
 *     twice.  A full request window waits for a slot; it is never taken for an absent coordinator;
 *   - LINK_HELLO (connected, no Welcome yet): waits for the Welcome (the coordinator is there but
 *     slow, e.g. stopped); the client gives up and reconnects after 30 s;
 *   - LINK_AWAY (no connection): locally, within the away budget: the credit the process held
 *     when the connection dropped, else nothing beyond what it holds (a process of a job without a
 *     limit passes through).  An allocation over the budget waits up to AWAY_WAIT_S for the
 *     coordinator to come back, then is refused.  A process that never reached a coordinator knows
 *     nothing of the job's other processes: where the socket file exists (a coordinator serves
 *     this node, and is restarting or stalled) its budget is nothing, so every allocation waits
 *     for the coordinator like any other over the budget; only where there is no socket file (no
 *     coordinator on this node) does it use its configured limit.  Everything decided locally is
 *     in the next Hello's holdings.
 * Over the limit the wrapper returns CUDA_ERROR_OUT_OF_MEMORY and the process lives; one line
 * goes to stderr (at most one a second).
 *
 * Locking: mem_mu protects devs[], the link state and the pointer map.  It is never held across
 * a driver call or a round trip, but frames that must stay ordered with a credit change
 * (MemReport, MemFree, CreditReturn) are written while it is held.
 */
#include "memory.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "interpose.h"
#include "log.h"
#include "ptrmap.h"
#include "shim.h"

#define AWAY_WAIT_S 10
#define HELLO_WAIT_S 35
#define UNLIMITED UINT64_MAX

enum link { LINK_AWAY, LINK_HELLO, LINK_UP };

struct mem_dev {
	uint64_t limit;        /* 0 = none */
	uint64_t used;         /* this process's bytes (reservations whose driver call is pending included) */
	uint64_t inflight;     /* bytes of MemReserves waiting for their answer */
	uint32_t allocations;
	uint64_t job_used;     /* the job's usage as last told by the coordinator, then adjusted */
	bool credit;
	uint64_t ceiling;
	uint64_t epoch;
	uint64_t rep_taken;    /* decided locally under the credit, not reported yet */
	uint64_t rep_freed;
	bool dirty;            /* a MemReport is due */
	uint64_t report_peak;  /* highest used since the last MemReport */
	uint64_t report_refusals; /* local refusals since the last MemReport */
	uint64_t hello_used;   /* used as sent in the last Hello's holdings */
	uint64_t away_cap;     /* the most used may reach while the coordinator is away */
};

/*
 * Devices the job gets none of (the Welcome said denied): every allocation and context refused,
 * 0 bytes free and total.  Written by the socket thread, read by every thread without mem_mu.
 */
static atomic_bool dev_denied[CFG_MAX_DEVICES];

static pthread_mutex_t mem_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t mem_cv = PTHREAD_COND_INITIALIZER;
static struct mem_dev devs[CFG_MAX_DEVICES];
static struct ptrmap ptrs;
static enum link link_state = LINK_AWAY;
static bool ever_up;
static bool expected;  /* the coordinator's socket existed at start: nothing is decided alone */

static void init_cv(void)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&mem_cv, &a);
	pthread_condattr_destroy(&a);
}

void mem_start(void)
{
	pthread_mutex_lock(&mem_mu);
	init_cv();
	link_state = LINK_AWAY;
	ever_up = false;
	expected = access(shim.cfg.socket_path, F_OK) == 0;
	for (int i = 0; i < CFG_MAX_DEVICES; i++) {
		memset(&devs[i], 0, sizeof(devs[i]));
		atomic_store(&dev_denied[i], false);
		devs[i].limit = cfg_mem_limit(&shim.cfg, i);
		/* the job's other processes may hold its limit: without the coordinator, nothing */
		devs[i].away_cap = !devs[i].limit ? UNLIMITED : expected ? 0 : devs[i].limit;
	}
	pthread_mutex_unlock(&mem_mu);
}

void mem_after_fork(void)
{
	pthread_mutex_init(&mem_mu, NULL);
	init_cv();
	memset(devs, 0, sizeof(devs));
	for (int i = 0; i < CFG_MAX_DEVICES; i++)
		atomic_store(&dev_denied[i], false); /* the child's own Welcome decides again */
	link_state = LINK_AWAY;
	ever_up = false;
	expected = false;
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
	/* a credit is not dropped here: the coordinator revokes it, and the revoke is answered */
	devs[dev].limit = limit;
	if (!devs[dev].credit)
		devs[dev].job_used = devs[dev].used;
	pthread_mutex_unlock(&mem_mu);
}

void mem_on_denied(int dev, bool denied)
{
	if (dev < 0 || dev >= CFG_MAX_DEVICES)
		return;
	atomic_store(&dev_denied[dev], denied);
	if (denied) {
		pthread_mutex_lock(&mem_mu);
		pthread_cond_broadcast(&mem_cv); /* a reservation waiting for the Welcome is refused */
		pthread_mutex_unlock(&mem_mu);
	}
}

bool mem_denied(int dev)
{
	return dev >= 0 && dev < CFG_MAX_DEVICES && atomic_load(&dev_denied[dev]);
}

static void send_frame_locked(Softmig__V1__ClientFrame *f)
{
	client_send(f);
}

/* Reports what was decided locally since the last report (mem_mu held). */
static void send_report_locked(int dev)
{
	Softmig__V1__ClientFrame f = SOFTMIG__V1__CLIENT_FRAME__INIT;
	Softmig__V1__MemReport r = SOFTMIG__V1__MEM_REPORT__INIT;
	struct mem_dev *d = &devs[dev];

	r.device_index = (uint32_t)dev;
	r.taken_bytes = d->rep_taken;
	r.freed_bytes = d->rep_freed;
	r.credit_epoch = d->credit ? d->epoch : 0;
	r.peak_bytes = d->report_peak > d->used ? d->report_peak : d->used;
	r.refusals = d->report_refusals;
	f.body_case = SOFTMIG__V1__CLIENT_FRAME__BODY_MEM_REPORT;
	f.mem_report = &r;
	if (client_send(&f) == 0) {
		d->rep_taken = 0;
		d->rep_freed = 0;
		d->dirty = false;
		d->report_peak = d->used;
		d->report_refusals = 0;
	}
	/* not sent: the connection is going down; the next Hello's holdings carry it */
}

static void send_free_locked(int dev, uint64_t bytes, int kind)
{
	Softmig__V1__ClientFrame f = SOFTMIG__V1__CLIENT_FRAME__INIT;
	Softmig__V1__MemFree m = SOFTMIG__V1__MEM_FREE__INIT;

	m.device_index = (uint32_t)dev;
	m.bytes = bytes;
	m.kind = (Softmig__V1__AllocationKind)kind;
	f.body_case = SOFTMIG__V1__CLIENT_FRAME__BODY_MEM_FREE;
	f.mem_free = &m;
	send_frame_locked(&f);
}

void mem_on_welcome(void (*welcomed)(void))
{
	pthread_mutex_lock(&mem_mu);
	for (int i = 0; i < shim.ndev; i++) {
		struct mem_dev *d = &devs[i];

		/* settled since the Hello (a driver call that failed, a free): deltas, recorded as they are */
		if (d->used > d->hello_used) {
			d->rep_taken = d->used - d->hello_used;
			d->rep_freed = 0;
			send_report_locked(i);
		} else if (d->used < d->hello_used) {
			send_free_locked(i, d->hello_used - d->used, SOFTMIG__V1__ALLOCATION_KIND__DEVICE);
		}
		d->hello_used = d->used;
	}
	link_state = LINK_UP;
	ever_up = true;
	welcomed();
	pthread_cond_broadcast(&mem_cv);
	pthread_mutex_unlock(&mem_mu);
}

void mem_on_credit_grant(int dev, uint64_t ceiling, uint64_t epoch)
{
	if (!valid_dev(dev))
		return;
	pthread_mutex_lock(&mem_mu);
	if (link_state == LINK_UP) {
		devs[dev].credit = true;
		devs[dev].ceiling = ceiling;
		devs[dev].epoch = epoch;
		devs[dev].rep_taken = 0;
		devs[dev].rep_freed = 0;
		devs[dev].job_used = devs[dev].used + devs[dev].inflight;
	}
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
	if (devs[dev].credit && devs[dev].epoch == epoch) {
		/* every local decision reaches the ledger before the return (same connection, in order) */
		if (devs[dev].dirty || devs[dev].rep_taken || devs[dev].rep_freed)
			send_report_locked(dev);
		devs[dev].credit = false;
	}
	r.device_index = (uint32_t)dev;
	r.epoch = epoch;
	f.body_case = SOFTMIG__V1__CLIENT_FRAME__BODY_CREDIT_RETURN;
	f.credit_return = &r;
	send_frame_locked(&f);
	pthread_mutex_unlock(&mem_mu);
	log_msg(LOG_DEBUG, "credit %llu on device %d returned", (unsigned long long)epoch, dev);
}

void mem_on_disconnect(void)
{
	pthread_mutex_lock(&mem_mu);
	for (int i = 0; i < CFG_MAX_DEVICES; i++) {
		struct mem_dev *d = &devs[i];

		if (d->credit)
			d->away_cap = d->ceiling;           /* the job's remaining limit was lent to us */
		else if (!d->limit)
			d->away_cap = UNLIMITED;            /* nothing to enforce; reported on reconnect */
		else if (link_state == LINK_UP)
			d->away_cap = d->used;              /* exact mode: nothing more without the ledger */
		d->credit = false;
		d->job_used = d->used;
	}
	link_state = LINK_AWAY;
	pthread_cond_broadcast(&mem_cv);
	pthread_mutex_unlock(&mem_mu);
}

int mem_holdings(struct mem_holding *out, int cap)
{
	int n = 0;

	pthread_mutex_lock(&mem_mu);
	link_state = LINK_HELLO; /* from here on nothing is decided locally until the Welcome */
	for (int i = 0; i < shim.ndev; i++) {
		devs[i].hello_used = devs[i].used;
		devs[i].rep_taken = 0; /* carried by the holdings */
		devs[i].rep_freed = 0;
		devs[i].dirty = false;
		if (n >= cap || (!devs[i].used && !devs[i].allocations))
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
	if (link_state == LINK_UP)
		for (int i = 0; i < shim.ndev; i++)
			if (devs[i].dirty)
				send_report_locked(i);
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

uint64_t mem_job_used(int dev)
{
	uint64_t v;

	if (dev < 0 || dev >= CFG_MAX_DEVICES)
		return 0;
	pthread_mutex_lock(&mem_mu);
	v = devs[dev].used + devs[dev].inflight;
	if (devs[dev].job_used > v)
		v = devs[dev].job_used;
	pthread_mutex_unlock(&mem_mu);
	return v;
}

void mem_adjust_info(int dev, uint64_t *free_bytes, uint64_t *total_bytes)
{
	uint64_t limit, used, f;

	if (dev < 0 || dev >= CFG_MAX_DEVICES)
		return;
	if (mem_denied(dev)) {
		*free_bytes = 0;
		*total_bytes = 0;
		return;
	}
	limit = mem_limit(dev);
	used = mem_job_used(dev);
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

/* ------------------------------------------------------------------ deciding */

static bool fits(uint64_t have, uint64_t bytes, uint64_t cap)
{
	return cap == UNLIMITED || (have <= cap && bytes <= cap - have);
}

static void take_locked(struct mem_dev *d, uint64_t bytes)
{
	d->used += bytes;
	if (d->used > d->report_peak)
		d->report_peak = d->used;
	d->allocations++;
	if (d->used > d->job_used)
		d->job_used = d->used;
}

/*
 * Sizes as the coordinator's messages show them (ByteSizes): one decimal, in GiB from what
 * would print as 1024.0 MiB, else MiB.
 */
static void fmt_size(char *buf, size_t cap, uint64_t bytes)
{
	if ((double)bytes / (double)(1ULL << 20) >= 1023.95)
		snprintf(buf, cap, "%.1f GiB", (double)bytes / (double)(1ULL << 30));
	else
		snprintf(buf, cap, "%.1f MiB", (double)bytes / (double)(1ULL << 20));
}

/*
 * One line on stderr per refusal, at most one a second (mem_mu held; no I/O that can block
 * long), so that a researcher sees why the framework's out-of-memory error came:
 * "softmig: job 123 asked for 4.0 GiB on GPU 0; its slice is 12.0 GiB and it holds 10.2 GiB".
 * why is added when the limit was not the reason alone (the coordinator away).
 */
static void tell_refusal(int dev, uint64_t bytes, uint64_t used, uint64_t limit, const char *why)
{
	static struct timespec last;
	static unsigned long quiet;
	struct timespec now;
	const char *job = shim.cfg.kernel_job_id[0] ? shim.cfg.kernel_job_id : shim.cfg.job_id;
	char who[96], b[32], u[32], l[32], extra[96], line[320];
	int n;

	fmt_size(b, sizeof(b), bytes);
	fmt_size(u, sizeof(u), used);
	fmt_size(l, sizeof(l), limit);
	log_msg(LOG_INFO, "device %d: %s refused (%s; %s of %s in use)", dev, b, why, u, l);
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (last.tv_sec && now.tv_sec - last.tv_sec < 1) {
		quiet++;
		return;
	}
	last = now;
	if (job[0])
		snprintf(who, sizeof(who), "job %s", job);
	else
		snprintf(who, sizeof(who), "this process");
	extra[0] = '\0';
	if (strcmp(why, "over the limit") != 0 && quiet)
		snprintf(extra, sizeof(extra), " (%s; %lu more refused before)", why, quiet);
	else if (strcmp(why, "over the limit") != 0)
		snprintf(extra, sizeof(extra), " (%s)", why);
	else if (quiet)
		snprintf(extra, sizeof(extra), " (%lu more refused before)", quiet);
	n = snprintf(line, sizeof(line), "softmig: %s asked for %s on GPU %d; its slice is %s and it holds %s%s\n",
		     who, b, dev, l, u, extra);
	quiet = 0;
	if (n > 0 && write(STDERR_FILENO, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1) < 0) {
		/* stderr closed: the log has it */
	}
}

/* Waits on mem_cv until the link changes or deadline (CLOCK_MONOTONIC); mem_mu held. */
static bool wait_link(enum link from, const struct timespec *deadline)
{
	while (link_state == from)
		if (pthread_cond_timedwait(&mem_cv, &mem_mu, deadline) == ETIMEDOUT)
			return link_state != from;
	return true;
}

static void deadline_in(struct timespec *ts, int seconds)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += seconds;
}

/*
 * Reserves bytes on dev before an allocation.  Returns 0 when the allocation may go ahead,
 * -1 when it is over the limit.
 */
static int mem_reserve(int dev, uint64_t bytes, int kind)
{
	struct client_mem_reply reply;
	struct mem_dev *d = &devs[dev];
	bool waited_away = false;
	int r;

	pthread_mutex_lock(&mem_mu);
	for (;;) {
		if (atomic_load(&shim.denied) || mem_denied(dev))
			goto out_refused_quiet;
		if (link_state == LINK_HELLO) {
			struct timespec dl;

			deadline_in(&dl, HELLO_WAIT_S);
			if (!wait_link(LINK_HELLO, &dl))
				goto out_refused_quiet; /* the client reconnects long before this */
			continue;
		}
		if (link_state == LINK_AWAY) {
			if (fits(d->used + d->inflight, bytes, d->away_cap)) {
				take_locked(d, bytes);
				goto out_granted;
			}
			if ((ever_up || expected) && !waited_away) {
				struct timespec dl;

				waited_away = true;
				deadline_in(&dl, AWAY_WAIT_S);
				wait_link(LINK_AWAY, &dl);
				continue;
			}
			tell_refusal(dev, bytes, d->used, d->away_cap, "coordinator unreachable");
			goto out_refused;
		}
		if (d->credit) {
			if (!fits(d->used + d->inflight, bytes, d->ceiling)) {
				d->report_refusals++;
				d->dirty = true;
				tell_refusal(dev, bytes, d->used + d->inflight, d->limit ? d->limit : d->ceiling,
					     "over the limit");
				goto out_refused;
			}
			take_locked(d, bytes);
			d->rep_taken += bytes;
			d->dirty = true;
			goto out_granted;
		}
		/* exact: counted in flight until the answer is applied */
		d->inflight += bytes;
		pthread_mutex_unlock(&mem_mu);
		r = client_mem_reserve(dev, bytes, kind, &reply);
		pthread_mutex_lock(&mem_mu);
		d->inflight -= bytes;
		if (r > 0) {
			take_locked(d, bytes);
			if (reply.job_used > d->job_used)
				d->job_used = reply.job_used;
			goto out_granted;
		}
		if (r == 0) {
			d->job_used = reply.job_used;
			tell_refusal(dev, bytes, reply.job_used, reply.job_limit, "over the limit");
			goto out_refused;
		}
		/* the connection went away before the answer: decide again under the new link state */
		if (link_state == LINK_UP) {
			struct timespec dl;

			deadline_in(&dl, 1);
			wait_link(LINK_UP, &dl);
		}
	}
out_granted:
	pthread_mutex_unlock(&mem_mu);
	return 0;
out_refused_quiet:
	log_msg(LOG_INFO, "device %d: %llu bytes refused", dev, (unsigned long long)bytes);
out_refused:
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
	if (link_state == LINK_UP) {
		if (d->credit) {
			d->rep_freed += bytes;
			d->dirty = true;
		} else {
			send_free_locked(dev, bytes, kind);
		}
	}
	/* away or before the Welcome: the next Hello's holdings, or the Welcome's settling, carry it */
	pthread_mutex_unlock(&mem_mu);
}

int mem_charge(int dev, uint64_t bytes, int kind)
{
	if (!shim_ensure())
		return 0;
	if (atomic_load(&shim.denied) || mem_denied(dev))
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
	if (atomic_load(&shim.denied) || mem_denied(dev))
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
	if (mem_denied((int)dev)) {
		*bytes = 0;
		return rc;
	}
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
