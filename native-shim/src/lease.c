/*
 * The launch gate.
 *
 * Hot path (a lease is held): one relaxed load of the device's open_until; when it is
 * INT64_MAX (device not gated, coordinator away, or an open-ended lease) the launch goes
 * straight through; when it is 0 the lease is over and the launch takes the slow path;
 * otherwise a relaxed bump of the device's launch counter and a thread-local counter for
 * pacing.  No clock read, lock, syscall or socket: the socket thread (lease_tick, every ~1 ms
 * while a lease is held) reads the clock and closes the gate (open_until = 0) at the lease's
 * deadline.  Reading CLOCK_MONOTONIC on every launch was measured at +0.48 us per launch on a
 * virtual machine whose clock source has no vDSO fast path.
 *
 * Slow path (no valid lease), in the launching thread under the device's mu: record a tail
 * event on each stream used in the lease that ended, send LeaseRelease{work_pending,
 * gpu_time_us = grant arrival to now} and one LeaseRequest at once, so that the coordinator
 * grants the next job while the GPU still runs this lease's last kernels (the hand-off
 * overlaps them); then wait for the tail events (mu released) and send a second LeaseRelease
 * of the same lease with work_start_mono_ns (grant arrival) and work_end_mono_ns (tail
 * done), from which the coordinator charges the lease's real GPU time; then wait on the
 * condvar until the socket thread hands over a LeaseGrant (or the connection drops, which
 * opens the gate).  When the streams cannot be covered by tail events (more than
 * MAX_STREAMS, an event failed, a tail still being waited for), the old way: drain, then
 * release.
 *
 * Pacing bounds the work queued ahead of the GPU, so the drain at lease end is short: every
 * K launches an event is recorded into a ring of PACE_RING; when the ring is full the oldest
 * is waited for.  K adapts (1..128) to the GPU time per launch, so that the queued batches stay
 * under a quarter of a lease while tiny kernels pay one event record per 128 launches.
 *
 * Early release: the socket thread (lease_tick, every ~1 ms while a lease is held) releases
 * with idle=true when no launch happened for IDLE_NS and the streams are drained, and no
 * earlier lease's tail still runs (the process then waits for its own work).
 *
 * Coordinator away (the connection dropped, until the next Welcome): a gated device whose job
 * has an SM limit below 100 % keeps its share locally.  Launches run in windows of one lease
 * length (the node's, as the Welcome said); at a window's end (the socket thread, which keeps
 * ticking while it reconnects, closes the gate) the next launch drains the window's work and
 * waits off = on * (100 - limit) / limit, on being the window plus its drain, so the process
 * keeps the GPU busy no more than its limit's fraction of the time.  A gated device of a job
 * without an SM limit runs ungated while away.  The Welcome after a reconnect ends the pacing.
 * A process that starts while the coordinator's socket exists but does not answer (restarting,
 * stalled) is paced at its configured SM limit until its first Welcome.
 */
#include "lease.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "interpose.h"
#include "log.h"
#include "shim.h"

#define OPEN INT64_MAX
#define MAX_STREAMS 16
#define PACE_RING 4
#define PACE_K_MAX 128
#define IDLE_NS 1000000LL
/* last_stream before any launch of a lease: no stream handle (NULL is the default stream) */
#define NO_STREAM ((CUstream)(uintptr_t)UINTPTR_MAX)

struct lease_dev {
	_Atomic int64_t open_until;     /* launches before this time need no lease; OPEN = always */
	_Atomic uint64_t launches;      /* bumped by every gated launch; the idle detector watches it */
	uint64_t seen_launches;         /* socket thread: the count at its last change */
	int64_t seen_change_ns;         /* socket thread: when it last saw the count change */
	_Atomic(CUstream) last_stream;
	atomic_uint pace_k;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool gated;
	bool held;
	bool open_ended;
	bool revoked;
	bool requested;
	int waiters;            /* threads blocked in acquire(), or woken and not yet through */
	uint64_t lease_id;
	int64_t grant_ns;
	uint64_t handoff_ns;            /* grant arrival - the grant's gpu_free_mono_ns; 0 = unknown */
	int64_t deadline_ns;
	CUcontext ctx;
	CUstream streams[MAX_STREAMS];
	int nstreams;
	bool too_many_streams;
	CUevent tail[MAX_STREAMS];      /* recorded at a lease's end on each of its streams */
	int tail_n;                     /* tail events of an ended lease not yet reported; 0 = none */
	bool tail_waiting;              /* a launching thread waits for them (mu released) */
	uint64_t tail_lease;
	int64_t tail_start_ns;          /* that lease's grant arrival */
	CUevent ring[PACE_RING];
	unsigned ring_k[PACE_RING];     /* launches each event closes */
	int ring_head, ring_count;
	int64_t last_wait_end;
	bool last_wait_blocked;
	int64_t per_launch_ns;          /* GPU time per launch, last measured; 0 = unknown */

	double share;                   /* the job's SM limit as a fraction, last told; 0 = none */
	int64_t window_ns;              /* the node's lease length, last told */
	bool away;                      /* coordinator away: launches paced locally at share */
	bool away_window;               /* a local window is open (or its drain is due) */
	int64_t away_next_open;         /* when the next local window may open */
};

static struct lease_dev leases[CFG_MAX_DEVICES];
static atomic_int connected;
static atomic_int warned_ungated;
/* initial-exec: the library is preloaded, so its TLS is static and needs no __tls_get_addr */
static __thread unsigned pace_count __attribute__((tls_model("initial-exec")));

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void init_dev(struct lease_dev *g)
{
	memset(g, 0, sizeof(*g));
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
	atomic_store(&g->open_until, OPEN);
	atomic_store(&g->last_stream, NO_STREAM);
	atomic_store(&g->pace_k, 8);
	g->window_ns = 20000000; /* the coordinator's default lease until a Welcome says otherwise */
}

/*
 * Before the first Welcome: where the coordinator's socket exists (it is restarting or stalled),
 * a device with a configured SM limit is paced at it as if the coordinator had gone away.
 */
static void start_away(struct lease_dev *g, double sm_limit_percent)
{
	if (!(sm_limit_percent > 0 && sm_limit_percent < 100))
		return;
	g->gated = true;
	g->share = sm_limit_percent / 100.0;
	g->away = true;
	atomic_store(&g->open_until, 0);
}

void lease_start(void)
{
	bool expected = access(shim.cfg.socket_path, F_OK) == 0;

	for (int i = 0; i < CFG_MAX_DEVICES; i++) {
		init_dev(&leases[i]);
		if (expected && i < shim.ndev)
			start_away(&leases[i], cfg_sm_limit(&shim.cfg, i));
	}
	atomic_store(&connected, 0);
}

void lease_on_welcome(void)
{
	for (int i = 0; i < CFG_MAX_DEVICES; i++) {
		struct lease_dev *g = &leases[i];

		pthread_mutex_lock(&g->mu);
		if (g->away) {
			/* the Welcome's limits gate what the coordinator gates; the rest runs ungated */
			g->away = false;
			g->away_window = false;
			g->gated = false;
			atomic_store(&g->open_until, OPEN);
			pthread_cond_broadcast(&g->cv);
		}
		pthread_mutex_unlock(&g->mu);
	}
}

void lease_after_fork(void)
{
	/* the parent's leases, events and streams mean nothing in the child */
	lease_start();
}

static void send_request(int dev)
{
	Softmig__V1__ClientFrame f = SOFTMIG__V1__CLIENT_FRAME__INIT;
	Softmig__V1__LeaseRequest r = SOFTMIG__V1__LEASE_REQUEST__INIT;

	r.device_index = (uint32_t)dev;
	f.body_case = SOFTMIG__V1__CLIENT_FRAME__BODY_LEASE_REQUEST;
	f.lease_request = &r;
	client_send(&f);
}

/*
 * Sends LeaseRelease and forgets the lease; g->mu held.  work_pending: the lease's last kernels
 * still run; a work_done() report follows.
 */
static void release_locked(int dev, struct lease_dev *g, int64_t end_ns, bool idle, bool work_pending)
{
	Softmig__V1__ClientFrame f = SOFTMIG__V1__CLIENT_FRAME__INIT;
	Softmig__V1__LeaseRelease r = SOFTMIG__V1__LEASE_RELEASE__INIT;

	r.device_index = (uint32_t)dev;
	r.lease_id = g->lease_id;
	r.gpu_time_us = end_ns > g->grant_ns ? (uint64_t)(end_ns - g->grant_ns) / 1000 : 0;
	r.idle = idle;
	r.released_mono_ns = now_ns();
	r.handoff_ns = g->handoff_ns;
	r.work_pending = work_pending;
	f.body_case = SOFTMIG__V1__CLIENT_FRAME__BODY_LEASE_RELEASE;
	f.lease_release = &r;
	client_send(&f);
	g->held = false;
	g->revoked = false;
	g->handoff_ns = 0;
	g->nstreams = 0;
	g->too_many_streams = false;
	atomic_store_explicit(&g->last_stream, NO_STREAM, memory_order_relaxed);
	log_msg(LOG_DEBUG, "lease %llu on device %d released after %llu us%s%s", (unsigned long long)r.lease_id,
		dev, (unsigned long long)r.gpu_time_us, idle ? " (idle)" : "", work_pending ? " (work pending)" : "");
}

/* The second release of a lease released with work pending: when its work began and ended. */
static void send_work_done(int dev, uint64_t lease_id, int64_t start_ns, int64_t end_ns)
{
	Softmig__V1__ClientFrame f = SOFTMIG__V1__CLIENT_FRAME__INIT;
	Softmig__V1__LeaseRelease r = SOFTMIG__V1__LEASE_RELEASE__INIT;

	r.device_index = (uint32_t)dev;
	r.lease_id = lease_id;
	r.gpu_time_us = end_ns > start_ns ? (uint64_t)(end_ns - start_ns) / 1000 : 0;
	r.work_start_mono_ns = start_ns;
	r.work_end_mono_ns = end_ns;
	r.released_mono_ns = end_ns;
	f.body_case = SOFTMIG__V1__CLIENT_FRAME__BODY_LEASE_RELEASE;
	f.lease_release = &r;
	client_send(&f);
}

/*
 * Records a tail event on every stream of the lease; g->mu held.  Returns how many (0: the
 * streams are not covered, or the last tail is still unreported: drain instead).
 */
static int record_tail_locked(struct lease_dev *g)
{
	if (g->tail_n || g->tail_waiting || g->too_many_streams || g->nstreams == 0 ||
	    !real_cu.cuEventRecord || !real_cu.cuEventSynchronize || !real_cu.cuEventQuery)
		return 0;
	for (int i = 0; i < g->nstreams; i++) {
		if (!g->tail[i] && real_cu.cuEventCreate(&g->tail[i], CU_EVENT_DISABLE_TIMING) != CUDA_SUCCESS) {
			g->tail[i] = NULL;
			return 0;
		}
		if (real_cu.cuEventRecord(g->tail[i], g->streams[i]) != CUDA_SUCCESS)
			return 0;
	}
	/* the tail covers every pacing event recorded in this lease */
	g->ring_count = 0;
	g->ring_head = 0;
	g->last_wait_blocked = false;
	return g->nstreams;
}

/*
 * Ends the held lease while its last kernels still run: tail events on its streams, then
 * LeaseRelease{work_pending} and a LeaseRequest, so that the next job is granted while the GPU
 * finishes this queue.  g->mu held.  Returns false when the tail cannot be covered by events.
 */
static bool end_with_tail_locked(int dev, struct lease_dev *g, int64_t now)
{
	uint64_t lease_id = g->lease_id;
	int64_t start_ns = g->grant_ns;
	int n = record_tail_locked(g);

	if (n == 0)
		return false;
	release_locked(dev, g, now, false, true);
	g->tail_n = n;
	g->tail_lease = lease_id;
	g->tail_start_ns = start_ns;
	if (!g->requested) {
		g->requested = true;
		send_request(dev);
	}
	return true;
}

/*
 * Reports when the tail of the ended lease completed; g->mu held.  wait: a launching thread
 * waits for it with mu released (other threads meanwhile find the gate closed and wait for
 * the next grant, or, granted already, launch behind the tail); otherwise (socket thread) it
 * only reports a tail that is already done.
 */
static void finish_tail_locked(int dev, struct lease_dev *g, bool wait)
{
	CUevent tail[MAX_STREAMS];
	int n = g->tail_n;

	if (n == 0 || g->tail_waiting)
		return;
	if (!wait) {
		for (int i = 0; i < n; i++)
			if (real_cu.cuEventQuery(g->tail[i]) == CUDA_ERROR_NOT_READY)
				return;
		g->tail_n = 0;
		/* the idle clock starts again: a process that waited for this work launches now */
		g->seen_change_ns = now_ns();
		send_work_done(dev, g->tail_lease, g->tail_start_ns, now_ns());
		return;
	}
	memcpy(tail, g->tail, sizeof(CUevent) * (size_t)n);
	g->tail_waiting = true;
	pthread_mutex_unlock(&g->mu);
	for (int i = 0; i < n; i++)
		real_cu.cuEventSynchronize(tail[i]);
	{
		int64_t end_ns = now_ns();

		pthread_mutex_lock(&g->mu);
		g->tail_waiting = false;
		if (g->tail_n) {
			g->tail_n = 0;
			send_work_done(dev, g->tail_lease, g->tail_start_ns, end_ns);
		}
	}
}

/* Waits for everything queued in this lease; g->mu held, launching thread. */
static void drain_locked(struct lease_dev *g)
{
	for (int i = 0; i < g->nstreams; i++)
		real_cu.cuStreamSynchronize(g->streams[i]);
	if (g->too_many_streams && real_cu.cuStreamSynchronize)
		real_cu.cuStreamSynchronize(NULL);
	g->ring_count = 0;
	g->ring_head = 0;
	g->last_wait_blocked = false;
}

/* Whether the streams of this lease have no work left; g->mu held, socket thread. */
static bool drained_locked(struct lease_dev *g)
{
	if (g->too_many_streams)
		return false;
	if (g->nstreams && g->ctx)
		real_cu.cuCtxSetCurrent(g->ctx);
	for (int i = 0; i < g->nstreams; i++)
		if (real_cu.cuStreamQuery(g->streams[i]) == CUDA_ERROR_NOT_READY)
			return false;
	return true;
}

/* Waits on g->cv until CLOCK_MONOTONIC reaches mono_ns (or a wake-up); g->mu held. */
static void wait_until_locked(struct lease_dev *g, int64_t mono_ns)
{
	int64_t left = mono_ns - now_ns();
	struct timespec ts;

	if (left <= 0)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += left / 1000000000LL;
	ts.tv_nsec += left % 1000000000LL;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	g->waiters++;
	pthread_cond_timedwait(&g->cv, &g->mu, &ts);
	g->waiters--;
}

/*
 * Coordinator away: the window that ended is drained and followed by its off time; then the
 * next window opens.  g->mu held.  Returns true when a window is open for the launch, false
 * when the caller must look again (it waited, or the link changed meanwhile).
 */
static bool away_window_locked(struct lease_dev *g, int64_t now)
{
	if (g->away_window) {
		int64_t on;

		drain_locked(g);
		on = now_ns() - g->grant_ns;
		g->away_window = false;
		g->away_next_open = now_ns() + (int64_t)((double)on * (1.0 - g->share) / g->share);
		return false;
	}
	if (now < g->away_next_open) {
		wait_until_locked(g, g->away_next_open);
		return false;
	}
	g->away_window = true;
	g->grant_ns = now;
	g->open_ended = false;
	g->deadline_ns = now + g->window_ns;
	atomic_store(&g->open_until, g->deadline_ns);
	return true;
}

/*
 * Slow path: the launch needs a lease and none is valid.  Returns when the launch may go
 * ahead (a lease was granted, or the gate opened).
 */
static void acquire(int dev, struct lease_dev *g)
{
	pthread_mutex_lock(&g->mu);
	for (;;) {
		int64_t now = now_ns();
		int64_t until = atomic_load_explicit(&g->open_until, memory_order_relaxed);

		if (until == OPEN || now < until)
			break;
		if (g->away) {
			if (away_window_locked(g, now))
				break;
			continue;
		}
		if (g->tail_n && !g->tail_waiting) {
			finish_tail_locked(dev, g, true);
			continue; /* a grant may have come meanwhile */
		}
		if (g->held) {
			if (end_with_tail_locked(dev, g, now))
				continue;
			drain_locked(g);
			release_locked(dev, g, now_ns(), false, false);
		}
		if (!g->requested) {
			g->requested = true;
			send_request(dev);
		}
		{
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			g->waiters++;
			pthread_cond_timedwait(&g->cv, &g->mu, &ts);
			g->waiters--;
		}
	}
	pthread_mutex_unlock(&g->mu);
}

static void remember_stream(struct lease_dev *g, CUstream s)
{
	pthread_mutex_lock(&g->mu);
	if (!g->ctx && real_cu.cuCtxGetCurrent)
		real_cu.cuCtxGetCurrent(&g->ctx);
	for (int i = 0; i < g->nstreams; i++)
		if (g->streams[i] == s)
			goto out;
	if (g->nstreams < MAX_STREAMS)
		g->streams[g->nstreams++] = s;
	else
		g->too_many_streams = true;
out:
	atomic_store_explicit(&g->last_stream, s, memory_order_relaxed);
	pthread_mutex_unlock(&g->mu);
}

/*
 * Records a pacing event on s; waits for the oldest when the ring is full.  K (launches per
 * event) follows the GPU time per launch, measured between two waits that both blocked (the
 * GPU was busy all along, so the second wait ended one batch after the first):
 * K = target / (PACE_RING * per-launch time), so the ring holds about `target` of GPU work.
 * A wait that did not block means the GPU keeps up: K doubles, up to PACE_K_MAX.
 */
static void pace(struct lease_dev *g, CUstream s)
{
	unsigned k = atomic_load_explicit(&g->pace_k, memory_order_relaxed), nk = k;
	int64_t target = 5000000; /* ns of GPU work allowed in the ring */
	int slot;

	pthread_mutex_lock(&g->mu);
	if (!g->open_ended && g->deadline_ns > g->grant_ns)
		target = (g->deadline_ns - g->grant_ns) / 4;
	if (g->ring_count == PACE_RING) {
		int oldest = g->ring_head;
		int64_t t0 = now_ns(), t1 = t0;
		bool blocked = real_cu.cuEventQuery(g->ring[oldest]) == CUDA_ERROR_NOT_READY;

		if (blocked) {
			real_cu.cuEventSynchronize(g->ring[oldest]);
			t1 = now_ns();
		}
		if (blocked && g->last_wait_blocked && g->ring_k[oldest]) {
			int64_t per_launch = (t1 - g->last_wait_end) / g->ring_k[oldest];
			int64_t want;

			g->per_launch_ns = per_launch > 0 ? per_launch : 1;
			want = target / (PACE_RING * g->per_launch_ns);
			nk = want < 1 ? 1 : want > PACE_K_MAX ? PACE_K_MAX : (unsigned)want;
		} else if (!blocked && k < PACE_K_MAX &&
			   (!g->per_launch_ns || (int64_t)k * 2 * PACE_RING * g->per_launch_ns <= target)) {
			nk = k * 2;
		}
		g->last_wait_blocked = blocked;
		g->last_wait_end = t1;
		g->ring_head = (g->ring_head + 1) % PACE_RING;
		g->ring_count--;
		if (nk != k) {
			log_msg(LOG_DEBUG, "pacing: an event every %u launches (waited %lld us)", nk,
				(long long)(t1 - t0) / 1000);
			atomic_store_explicit(&g->pace_k, nk, memory_order_relaxed);
		}
	}
	slot = (g->ring_head + g->ring_count) % PACE_RING;
	if (!g->ring[slot] && real_cu.cuEventCreate(&g->ring[slot], CU_EVENT_DISABLE_TIMING) != CUDA_SUCCESS)
		g->ring[slot] = NULL;
	if (g->ring[slot] && real_cu.cuEventRecord(g->ring[slot], s) == CUDA_SUCCESS) {
		g->ring_k[slot] = k;
		g->ring_count++;
	}
	pthread_mutex_unlock(&g->mu);
}

/* The device a launch goes to: the only one, or the current context's. */
static int launch_device(void)
{
	return shim.ndev == 1 ? 0 : shim_current_device();
}

/*
 * Before a launch on stream s.  Returns the gated device (for lease_after) or -1 when the
 * launch is not gated.
 */
static inline int lease_before(CUstream s)
{
	struct lease_dev *g;
	int64_t until;
	int dev;

	if (!shim_ensure())
		return -1;
	dev = launch_device();
	if (dev < 0)
		return -1;
	g = &leases[dev];
	until = atomic_load_explicit(&g->open_until, memory_order_relaxed);
	if (until == OPEN)
		return -1;
	if (until == 0)
		acquire(dev, g);
	atomic_store_explicit(&g->launches, atomic_load_explicit(&g->launches, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	if (atomic_load_explicit(&g->last_stream, memory_order_relaxed) != s)
		remember_stream(g, s);
	return dev;
}

/* After a gated launch: pacing every K launches of this thread. */
static inline void lease_after(int dev, CUstream s, CUresult rc)
{
	struct lease_dev *g;

	if (dev < 0 || rc != CUDA_SUCCESS)
		return;
	g = &leases[dev];
	if (++pace_count >= atomic_load_explicit(&g->pace_k, memory_order_relaxed)) {
		pace_count = 0;
		pace(g, s);
	}
}

void lease_on_limits(int dev, bool gated, double sm_limit_percent, uint32_t lease_us)
{
	struct lease_dev *g;

	if (dev < 0 || dev >= CFG_MAX_DEVICES)
		return;
	g = &leases[dev];
	atomic_store(&connected, 1);
	pthread_mutex_lock(&g->mu);
	g->gated = gated;
	g->share = sm_limit_percent > 0 && sm_limit_percent < 100 ? sm_limit_percent / 100.0 : 0;
	if (lease_us)
		g->window_ns = (int64_t)lease_us * 1000;
	g->away = false;
	g->away_window = false;
	g->held = false;
	g->revoked = false;
	g->handoff_ns = 0;
	g->nstreams = 0;
	atomic_store_explicit(&g->last_stream, NO_STREAM, memory_order_relaxed);
	atomic_store(&g->open_until, gated ? 0 : OPEN);
	if (g->requested && gated)
		send_request(dev);
	else
		g->requested = false;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
	atomic_store(&warned_ungated, 0);
}

void lease_on_grant(int dev, uint64_t lease_id, uint32_t duration_us, int64_t gpu_free_mono_ns)
{
	struct lease_dev *g;
	int64_t now = now_ns();

	if (dev < 0 || dev >= CFG_MAX_DEVICES)
		return;
	g = &leases[dev];
	pthread_mutex_lock(&g->mu);
	if (!g->gated) {
		pthread_mutex_unlock(&g->mu);
		return;
	}
	g->held = true;
	g->revoked = false;
	g->requested = false;
	g->lease_id = lease_id;
	g->grant_ns = now;
	g->handoff_ns = gpu_free_mono_ns > 0 && now >= gpu_free_mono_ns ?
		(uint64_t)(now - gpu_free_mono_ns) : 0;
	g->open_ended = duration_us == 0;
	g->deadline_ns = g->open_ended ? OPEN - 1 : now + (int64_t)duration_us * 1000;
	g->seen_launches = atomic_load_explicit(&g->launches, memory_order_relaxed);
	g->seen_change_ns = now;
	atomic_store(&g->open_until, g->deadline_ns);
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
	client_wake();
}

void lease_on_revoke(int dev, uint64_t lease_id)
{
	struct lease_dev *g;

	if (dev < 0 || dev >= CFG_MAX_DEVICES)
		return;
	g = &leases[dev];
	pthread_mutex_lock(&g->mu);
	if (g->held && g->lease_id == lease_id) {
		g->revoked = true;
		atomic_store(&g->open_until, 0);
		if (g->nstreams && g->ctx)
			real_cu.cuCtxSetCurrent(g->ctx);
		end_with_tail_locked(dev, g, now_ns());
	}
	pthread_mutex_unlock(&g->mu);
	client_wake();
}

void lease_on_disconnect(void)
{
	atomic_store(&connected, 0);
	for (int i = 0; i < CFG_MAX_DEVICES; i++) {
		struct lease_dev *g = &leases[i];

		pthread_mutex_lock(&g->mu);
		if (g->gated && g->share > 0) {
			if (!g->away)
				log_msg(LOG_WARN, "coordinator away: kernel launches on device %d paced at %.1f%% until it is back",
					i, g->share * 100);
		} else if (g->gated && !atomic_exchange(&warned_ungated, 1)) {
			log_msg(LOG_WARN, "coordinator away: kernel launches run ungated until it is back");
		}
		g->held = false;
		g->requested = false;
		g->revoked = false;
		if (g->gated && g->share > 0) {
			/* the streams stay known: the window's drain covers the lease's queued work too */
			if (!g->away) {
				/* what the lease queued is drained by the first launch, and paid for */
				g->away = true;
				g->away_window = g->nstreams > 0;
				g->grant_ns = now_ns();
				g->away_next_open = 0;
			}
			atomic_store(&g->open_until, 0);
		} else {
			g->nstreams = 0;
			atomic_store(&g->open_until, OPEN);
		}
		pthread_cond_broadcast(&g->cv);
		pthread_mutex_unlock(&g->mu);
	}
}

int lease_tick(void)
{
	int64_t now = now_ns();
	int wait_ms = 50;

	for (int i = 0; i < shim.ndev; i++) {
		struct lease_dev *g = &leases[i];
		uint64_t n;

		if (g->tail_n && !g->tail_waiting && pthread_mutex_trylock(&g->mu) == 0) {
			if (g->ctx)
				real_cu.cuCtxSetCurrent(g->ctx);
			finish_tail_locked(i, g, false);
			pthread_mutex_unlock(&g->mu);
		}
		if (g->tail_n)
			wait_ms = 1;
		if (g->away) {
			int64_t until = atomic_load(&g->open_until);

			/* a local window ends: the next launch drains it and waits its off time */
			if (until != 0 && until != OPEN && now >= until)
				atomic_compare_exchange_strong(&g->open_until, &until, 0);
			wait_ms = 1;
			continue;
		}
		if (!g->held)
			continue;
		wait_ms = 1;
		if (!g->open_ended && now >= g->deadline_ns) {
			int64_t expected = g->deadline_ns;

			/*
			 * The lease is over: it ends here with its queued kernels still running (the next
			 * job is granted meanwhile); if the tail cannot be covered by events, the next
			 * launch drains, releases and asks again.
			 */
			if (atomic_compare_exchange_strong(&g->open_until, &expected, 0) &&
			    pthread_mutex_trylock(&g->mu) == 0) {
				if (g->held && g->ctx)
					real_cu.cuCtxSetCurrent(g->ctx);
				if (g->held)
					end_with_tail_locked(i, g, now);
				pthread_mutex_unlock(&g->mu);
			}
			continue;
		}
		/*
		 * The last lease's kernels still run: the process waits for its own work (a sync
		 * between batches), it is not idle, though this lease has no streams yet.  Releasing
		 * it idle here gave every other lease of a busy job away (a 10/90 pair ran 50/50).
		 */
		if (g->tail_n)
			continue;
		n = atomic_load_explicit(&g->launches, memory_order_relaxed);
		if (n != g->seen_launches) {
			g->seen_launches = n;
			g->seen_change_ns = now;
			continue;
		}
		if (now - g->seen_change_ns < IDLE_NS || (g->open_ended && !g->revoked))
			continue;
		/* a launching thread holding mu is pacing or draining: this device is not idle */
		if (pthread_mutex_trylock(&g->mu) != 0)
			continue;
		if (g->held && !g->waiters && atomic_load_explicit(&g->launches, memory_order_relaxed) == n) {
			int64_t until = atomic_load(&g->open_until);

			atomic_store(&g->open_until, 0);
			if (drained_locked(g)) {
				release_locked(i, g, now_ns(), !g->revoked && now < g->deadline_ns, false);
			} else if (!g->revoked && now < g->deadline_ns) {
				atomic_store(&g->open_until, until);
			}
		}
		pthread_mutex_unlock(&g->mu);
	}
	return wait_ms;
}

/* ------------------------------------------------------------------ launch wrappers */

#define GATED_LAUNCH(fn, stream, args)                                                         \
	do {                                                                                   \
		CUresult rc;                                                                   \
		int dev;                                                                       \
		interpose_load_cuda();                                                         \
		if (!real_cu.fn)                                                               \
			return CUDA_ERROR_NOT_SUPPORTED;                                       \
		dev = lease_before(stream);                                                    \
		rc = real_cu.fn args;                                                          \
		lease_after(dev, stream, rc);                                                  \
		return rc;                                                                     \
	} while (0)

SHIM_EXPORT CUresult CUDAAPI cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
					    unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY,
					    unsigned int blockDimZ, unsigned int sharedMemBytes, CUstream hStream,
					    void **kernelParams, void **extra)
{
	GATED_LAUNCH(cuLaunchKernel, hStream,
		     (f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ, sharedMemBytes, hStream,
		      kernelParams, extra));
}

SHIM_EXPORT CUresult CUDAAPI cuLaunchKernel_ptsz(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
						 unsigned int gridDimZ, unsigned int blockDimX,
						 unsigned int blockDimY, unsigned int blockDimZ,
						 unsigned int sharedMemBytes, CUstream hStream, void **kernelParams,
						 void **extra)
{
	GATED_LAUNCH(cuLaunchKernel_ptsz, hStream,
		     (f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ, sharedMemBytes, hStream,
		      kernelParams, extra));
}

SHIM_EXPORT CUresult CUDAAPI cuLaunchKernelEx(const CUlaunchConfig *config, CUfunction f, void **kernelParams,
					      void **extra)
{
	CUstream s = config ? config->hStream : NULL;

	GATED_LAUNCH(cuLaunchKernelEx, s, (config, f, kernelParams, extra));
}

SHIM_EXPORT CUresult CUDAAPI cuLaunchKernelEx_ptsz(const CUlaunchConfig *config, CUfunction f,
						   void **kernelParams, void **extra)
{
	CUstream s = config ? config->hStream : NULL;

	GATED_LAUNCH(cuLaunchKernelEx_ptsz, s, (config, f, kernelParams, extra));
}

SHIM_EXPORT CUresult CUDAAPI cuLaunchCooperativeKernel(CUfunction f, unsigned int gridDimX,
						       unsigned int gridDimY, unsigned int gridDimZ,
						       unsigned int blockDimX, unsigned int blockDimY,
						       unsigned int blockDimZ, unsigned int sharedMemBytes,
						       CUstream hStream, void **kernelParams)
{
	GATED_LAUNCH(cuLaunchCooperativeKernel, hStream,
		     (f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ, sharedMemBytes, hStream,
		      kernelParams));
}

SHIM_EXPORT CUresult CUDAAPI cuLaunchCooperativeKernel_ptsz(CUfunction f, unsigned int gridDimX,
							    unsigned int gridDimY, unsigned int gridDimZ,
							    unsigned int blockDimX, unsigned int blockDimY,
							    unsigned int blockDimZ, unsigned int sharedMemBytes,
							    CUstream hStream, void **kernelParams)
{
	GATED_LAUNCH(cuLaunchCooperativeKernel_ptsz, hStream,
		     (f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ, sharedMemBytes, hStream,
		      kernelParams));
}

SHIM_EXPORT CUresult CUDAAPI cuLaunchCooperativeKernelMultiDevice(CUDA_LAUNCH_PARAMS *launchParamsList,
								  unsigned int numDevices, unsigned int flags)
{
	CUstream s = (launchParamsList && numDevices) ? launchParamsList[0].hStream : NULL;

	GATED_LAUNCH(cuLaunchCooperativeKernelMultiDevice, s, (launchParamsList, numDevices, flags));
}

SHIM_EXPORT CUresult CUDAAPI cuGraphLaunch(CUgraphExec hGraphExec, CUstream hStream)
{
	GATED_LAUNCH(cuGraphLaunch, hStream, (hGraphExec, hStream));
}

SHIM_EXPORT CUresult CUDAAPI cuGraphLaunch_ptsz(CUgraphExec hGraphExec, CUstream hStream)
{
	GATED_LAUNCH(cuGraphLaunch_ptsz, hStream, (hGraphExec, hStream));
}
