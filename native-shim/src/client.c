/*
 * The coordinator connection.
 *
 * One background thread (signals blocked) owns the socket's life: it connects, sends Hello,
 * reads ServerFrames and hands them to memory.c and lease.c, flushes usage reports, runs the
 * lease idle check, and on any error closes the socket and reconnects with backoff (10 ms
 * doubling to 1 s), sending Hello{reconnect, holdings} so the coordinator rebuilds its ledger
 * from the claim.  While the coordinator is away the process keeps running within its away
 * budget (memory.c) and launches of a job with an SM limit keep its share (lease.c); the
 * back-off keeps ticking the lease gate for that.
 *
 * Any thread may write a frame (client_send) under send_mu; MemReserve waits for its
 * MemReply in a pending slot under mu.  A full window of slots makes the caller wait for one
 * (back-pressure, never "coordinator away").  A coordinator that does not answer a reserve or a
 * Hello within REPLY_TIMEOUT_S is taken for stalled: the connection is dropped and made again.
 * Lock order: memory/lease locks, then send_mu; mu is never held while calling out.
 */
#define _GNU_SOURCE
#include "client.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "lease.h"
#include "log.h"
#include "memory.h"
#include "shim.h"

#define MAX_PENDING 64
#define REPLY_TIMEOUT_S 30
#define START_WAIT_MS 2000
#define REPORT_EVERY_NS 20000000LL

struct pending {
	bool used;
	bool done;
	int result;
	uint64_t id;
	struct client_mem_reply reply;
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_mutex_t send_mu;
	int fd;
	int wake_fd;
	atomic_int welcomed;
	uint64_t generation;
	uint64_t next_id;
	int64_t hello_at;     /* CLOCK_MONOTONIC ns of the Hello on this connection; 0 = none */
	bool ever_welcomed;
	bool attempted;       /* the first connect attempt finished (Welcome, refusal or failure) */
	bool refused;         /* GPU access denied: do not reconnect */
	struct pending slots[MAX_PENDING];
} cl = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.cv = PTHREAD_COND_INITIALIZER,
	.send_mu = PTHREAD_MUTEX_INITIALIZER,
	.fd = -1,
	.wake_fd = -1,
};

static uint8_t rbuf[FRAME_MAX_BODY + FRAME_MAX_PREFIX];

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

bool client_welcomed(void)
{
	return atomic_load_explicit(&cl.welcomed, memory_order_acquire) != 0;
}

void client_wake(void)
{
	uint64_t one = 1;

	if (cl.wake_fd >= 0 && write(cl.wake_fd, &one, sizeof(one)) < 0) {
		/* the counter is full: the thread is awake anyway */
	}
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int client_send(const client_frame *f)
{
	uint8_t stack[8192];
	uint8_t *buf = stack;
	size_t body = softmig__v1__client_frame__get_packed_size(f);
	size_t n;
	int rc = -1;

	if (body > FRAME_MAX_BODY)
		return -1;
	if (body + FRAME_MAX_PREFIX > sizeof(stack) && !(buf = malloc(body + FRAME_MAX_PREFIX)))
		return -1;
	n = frame_put_varint32(buf, (uint32_t)body);
	n += softmig__v1__client_frame__pack(f, buf + n);
	pthread_mutex_lock(&cl.send_mu);
	if (cl.fd >= 0) {
		rc = write_all(cl.fd, buf, n);
		if (rc)
			shutdown(cl.fd, SHUT_RDWR); /* the socket thread sees EOF and reconnects */
	}
	pthread_mutex_unlock(&cl.send_mu);
	if (buf != stack)
		free(buf);
	return rc;
}

static void finish_attempt(void)
{
	pthread_mutex_lock(&cl.mu);
	cl.attempted = true;
	pthread_cond_broadcast(&cl.cv);
	pthread_mutex_unlock(&cl.mu);
}

/*
 * The socket must be owned by root or, for a root process without an admin config file,
 * SOFTMIG_SERVICE_UID (config.c sets have_service_uid only then).
 */
static int socket_trusted(const char *path)
{
	static atomic_int warned;
	struct stat st;

	if (stat(path, &st) != 0)
		return 0;
	if (S_ISSOCK(st.st_mode) && (st.st_uid == 0 || (shim.cfg.have_service_uid && st.st_uid == shim.cfg.service_uid)))
		return 1;
	if (!atomic_exchange(&warned, 1))
		log_msg(LOG_ERR, "refusing coordinator socket %s: not a socket owned by root or the service user",
			path);
	return 0;
}

static int send_hello(void)
{
	Softmig__V1__ClientFrame f = SOFTMIG__V1__CLIENT_FRAME__INIT;
	Softmig__V1__Hello h = SOFTMIG__V1__HELLO__INIT;
	Softmig__V1__RequestedLimits req = SOFTMIG__V1__REQUESTED_LIMITS__INIT;
	Softmig__V1__Device devs[CFG_MAX_DEVICES], *devp[CFG_MAX_DEVICES];
	Softmig__V1__Holding hold[CFG_MAX_DEVICES], *holdp[CFG_MAX_DEVICES];
	Softmig__V1__RequestedLimits__MemoryLimitBytesByOrdinalEntry me[CFG_MAX_DEVICES], *mep[CFG_MAX_DEVICES];
	Softmig__V1__RequestedLimits__SmLimitPercentByOrdinalEntry se[CFG_MAX_DEVICES], *sep[CFG_MAX_DEVICES];
	struct mem_holding held[CFG_MAX_DEVICES];
	int nheld = mem_holdings(held, CFG_MAX_DEVICES);
	const struct shim_config *c = &shim.cfg;

	for (int i = 0; i < shim.ndev; i++) {
		softmig__v1__device__init(&devs[i]);
		devs[i].uuid = (char *)shim.dev[i].uuid;
		devs[i].ordinal = (uint32_t)i;
		devs[i].total_memory_bytes = shim.dev[i].total_bytes;
		devp[i] = &devs[i];
	}
	for (int i = 0; i < nheld; i++) {
		softmig__v1__holding__init(&hold[i]);
		hold[i].device_index = (uint32_t)held[i].dev;
		hold[i].bytes = held[i].bytes;
		hold[i].allocations = held[i].allocations;
		holdp[i] = &hold[i];
	}
	req.job_id = (char *)c->job_id;
	req.array_task_id = (char *)c->array_task_id;
	req.memory_limit_bytes = c->mem_limit;
	req.sm_limit_percent = c->sm_limit;
	for (int i = 0; i < CFG_MAX_DEVICES; i++) {
		if (c->mem_limit_set[i]) {
			softmig__v1__requested_limits__memory_limit_bytes_by_ordinal_entry__init(
				&me[req.n_memory_limit_bytes_by_ordinal]);
			me[req.n_memory_limit_bytes_by_ordinal].key = (uint32_t)i;
			me[req.n_memory_limit_bytes_by_ordinal].value = c->mem_limit_dev[i];
			mep[req.n_memory_limit_bytes_by_ordinal] = &me[req.n_memory_limit_bytes_by_ordinal];
			req.n_memory_limit_bytes_by_ordinal++;
		}
		if (c->sm_limit_set[i]) {
			softmig__v1__requested_limits__sm_limit_percent_by_ordinal_entry__init(
				&se[req.n_sm_limit_percent_by_ordinal]);
			se[req.n_sm_limit_percent_by_ordinal].key = (uint32_t)i;
			se[req.n_sm_limit_percent_by_ordinal].value = c->sm_limit_dev[i];
			sep[req.n_sm_limit_percent_by_ordinal] = &se[req.n_sm_limit_percent_by_ordinal];
			req.n_sm_limit_percent_by_ordinal++;
		}
	}
	req.memory_limit_bytes_by_ordinal = mep;
	req.sm_limit_percent_by_ordinal = sep;

	h.protocol_version = SOFTMIG__V1__PROTOCOL_CONSTANTS__CURRENT_PROTOCOL_VERSION;
	h.pid = (uint32_t)getpid();
	h.n_devices = (size_t)shim.ndev;
	h.devices = devp;
	h.n_holdings = (size_t)nheld;
	h.holdings = holdp;
	h.requested = &req;
	h.shim_version = (char *)SHIM_VERSION;
	h.reconnect = cl.ever_welcomed || nheld > 0;
	f.body_case = SOFTMIG__V1__CLIENT_FRAME__BODY_HELLO;
	f.hello = &h;
	return client_send(&f);
}

static int connect_once(void)
{
	struct sockaddr_un addr;
	const char *path = shim.cfg.socket_path;
	int fd;

	if (!socket_trusted(path))
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	memcpy(addr.sun_path, path, strnlen(path, sizeof(addr.sun_path) - 1));
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		close(fd);
		return -1;
	}
	pthread_mutex_lock(&cl.send_mu);
	cl.fd = fd;
	pthread_mutex_unlock(&cl.send_mu);
	cl.hello_at = mono_ns();
	if (send_hello() != 0)
		return -1;
	log_msg(LOG_INFO, "connected to %s", path);
	return 0;
}

static void disconnect(const char *why)
{
	bool was = client_welcomed();

	pthread_mutex_lock(&cl.send_mu);
	if (cl.fd >= 0)
		close(cl.fd);
	cl.fd = -1;
	pthread_mutex_unlock(&cl.send_mu);
	cl.hello_at = 0;
	atomic_store_explicit(&cl.welcomed, 0, memory_order_release);
	pthread_mutex_lock(&cl.mu);
	cl.generation++;
	pthread_cond_broadcast(&cl.cv);
	pthread_mutex_unlock(&cl.mu);
	mem_on_disconnect();
	lease_on_disconnect();
	if (was)
		log_msg(LOG_WARN, "coordinator connection lost (%s): enforcing limits locally", why);
}

static void complete(uint64_t id, int result, const Softmig__V1__MemReply *r)
{
	pthread_mutex_lock(&cl.mu);
	for (int i = 0; i < MAX_PENDING; i++) {
		struct pending *p = &cl.slots[i];

		if (!p->used || p->id != id)
			continue;
		p->done = true;
		p->result = result;
		memset(&p->reply, 0, sizeof(p->reply));
		if (r) {
			p->reply.granted = r->granted;
			p->reply.job_used = r->job_used_bytes;
			p->reply.job_limit = r->job_limit_bytes;
			p->reply.device_free = r->device_free_bytes;
		}
		pthread_cond_broadcast(&cl.cv);
		break;
	}
	pthread_mutex_unlock(&cl.mu);
}

static void on_limits(size_t n, Softmig__V1__DeviceLimits **limits, uint32_t lease_us)
{
	for (size_t i = 0; i < n; i++) {
		int dev = (int)limits[i]->device_index;

		if (dev >= shim.ndev)
			continue;
		if (limits[i]->denied && !mem_denied(dev)) {
			char why[320];

			snprintf(why, sizeof(why), "device %d: %s", dev,
				 limits[i]->denied_reason && *limits[i]->denied_reason ?
					 limits[i]->denied_reason : "denied to this job");
			log_denied(why);
		}
		mem_on_denied(dev, limits[i]->denied);
		mem_on_limit(dev, limits[i]->memory_limit_bytes);
		lease_on_limits(dev, limits[i]->gated, limits[i]->sm_limit_percent, lease_us);
		log_msg(LOG_INFO, "device %d: memory limit %llu bytes, sm limit %.1f%%%s", dev,
			(unsigned long long)limits[i]->memory_limit_bytes, limits[i]->sm_limit_percent,
			limits[i]->gated ? ", gated" : "");
	}
}

static void on_error(uint64_t request_id, const Softmig__V1__Error *e)
{
	if (request_id) {
		/* the coordinator would not decide it (a bad device index): a refusal, never a retry */
		log_msg(LOG_ERR, "coordinator error %d on request %llu: %s", (int)e->code,
			(unsigned long long)request_id, e->message ? e->message : "");
		complete(request_id, 0, NULL);
		return;
	}
	if (!client_welcomed() && e->code == SOFTMIG__V1__ERROR__CODE__PERMISSION_DENIED) {
		atomic_store(&shim.denied, true);
		cl.refused = true;
		log_denied(e->message ? e->message : "refused by the coordinator");
		finish_attempt();
		return;
	}
	log_msg(LOG_ERR, "coordinator error %d: %s", (int)e->code, e->message ? e->message : "");
}

static void set_welcomed(void)
{
	atomic_store_explicit(&cl.welcomed, 1, memory_order_release);
}

static void dispatch(const Softmig__V1__ServerFrame *sf)
{
	switch (sf->body_case) {
	case SOFTMIG__V1__SERVER_FRAME__BODY_WELCOME:
		lease_on_welcome();
		on_limits(sf->welcome->n_limits, sf->welcome->limits, sf->welcome->lease_us);
		cl.ever_welcomed = true;
		mem_on_welcome(set_welcomed);
		log_msg(LOG_INFO, "welcome: session %llu, job %s, node %s", (unsigned long long)sf->welcome->session_id,
			sf->welcome->job_id, sf->welcome->node);
		finish_attempt();
		break;
	case SOFTMIG__V1__SERVER_FRAME__BODY_MEM_REPLY:
		complete(sf->request_id, sf->mem_reply->granted ? 1 : 0, sf->mem_reply);
		break;
	case SOFTMIG__V1__SERVER_FRAME__BODY_ERROR:
		on_error(sf->request_id, sf->error);
		break;
	case SOFTMIG__V1__SERVER_FRAME__BODY_CREDIT_GRANT:
		mem_on_credit_grant((int)sf->credit_grant->device_index, sf->credit_grant->ceiling_bytes,
				    sf->credit_grant->epoch);
		break;
	case SOFTMIG__V1__SERVER_FRAME__BODY_CREDIT_REVOKE:
		mem_on_credit_revoke((int)sf->credit_revoke->device_index, sf->credit_revoke->epoch);
		break;
	case SOFTMIG__V1__SERVER_FRAME__BODY_LEASE_GRANT:
		lease_on_grant((int)sf->lease_grant->device_index, sf->lease_grant->lease_id,
			       sf->lease_grant->duration_us, sf->lease_grant->gpu_free_mono_ns);
		break;
	case SOFTMIG__V1__SERVER_FRAME__BODY_LEASE_REVOKE:
		lease_on_revoke((int)sf->lease_revoke->device_index, sf->lease_revoke->lease_id);
		break;
	case SOFTMIG__V1__SERVER_FRAME__BODY_LIMITS_UPDATE:
		on_limits(sf->limits_update->n_limits, sf->limits_update->limits, 0);
		break;
	default:
		log_msg(LOG_DEBUG, "ignoring server frame %d", (int)sf->body_case);
		break;
	}
}

/* Decodes and dispatches every whole frame in rbuf[0..*have); returns -1 on a bad frame. */
static int consume(size_t *have)
{
	size_t off = 0;

	for (;;) {
		size_t prefix;
		uint32_t body;
		Softmig__V1__ServerFrame *sf;
		int r = frame_peek(rbuf + off, *have - off, FRAME_MAX_BODY, &prefix, &body);

		if (r < 0)
			return -1;
		if (r == 0)
			break;
		sf = softmig__v1__server_frame__unpack(NULL, body, rbuf + off + prefix);
		if (!sf)
			return -1;
		dispatch(sf);
		softmig__v1__server_frame__free_unpacked(sf, NULL);
		off += prefix + body;
	}
	memmove(rbuf, rbuf + off, *have - off);
	*have -= off;
	return 0;
}

static void wait_wake(int timeout_ms)
{
	struct pollfd p = { .fd = cl.wake_fd, .events = POLLIN };
	uint64_t v;

	if (poll(&p, 1, timeout_ms) > 0 && read(cl.wake_fd, &v, sizeof(v)) < 0) {
		/* nothing to drain */
	}
}

/* The reconnect back-off: ms, with the lease ticks that pace launches while away. */
static void wait_away(int ms)
{
	int64_t end = mono_ns() + (int64_t)ms * 1000000;

	for (;;) {
		int64_t left_ms = (end - mono_ns()) / 1000000;
		int tick_ms = lease_tick();

		if (left_ms <= 0)
			return;
		wait_wake(tick_ms < left_ms ? tick_ms : (int)left_ms);
	}
}

static void *client_main(void *arg)
{
	int backoff_ms = 10;
	size_t have = 0;
	int64_t last_report = 0;

	(void)arg;
	for (;;) {
		struct pollfd p[2];
		int timeout_ms, fd;

		if (cl.refused)
			return NULL;
		if (cl.fd < 0) {
			if (connect_once() != 0) {
				if (cl.fd >= 0)
					disconnect("hello failed");
				finish_attempt();
				wait_away(backoff_ms);
				backoff_ms = backoff_ms * 2 > 1000 ? 1000 : backoff_ms * 2;
				continue;
			}
			backoff_ms = 10;
			have = 0;
		}
		fd = cl.fd;
		timeout_ms = lease_tick();
		p[0] = (struct pollfd){ .fd = fd, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = cl.wake_fd, .events = POLLIN };
		if (poll(p, 2, timeout_ms) < 0 && errno != EINTR) {
			disconnect("poll failed");
			continue;
		}
		if (p[1].revents & POLLIN) {
			uint64_t v;

			if (read(cl.wake_fd, &v, sizeof(v)) < 0) {
				/* spurious */
			}
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = read(fd, rbuf + have, sizeof(rbuf) - have);

			if (n <= 0) {
				disconnect(n == 0 ? "closed by the coordinator" : "read failed");
				continue;
			}
			have += (size_t)n;
			if (consume(&have) != 0) {
				disconnect("malformed frame");
				continue;
			}
		}
		if (!client_welcomed() && cl.hello_at &&
		    mono_ns() - cl.hello_at > (int64_t)REPLY_TIMEOUT_S * 1000000000LL) {
			disconnect("no Welcome in time");
			continue;
		}
		if (client_welcomed() && mono_ns() - last_report >= REPORT_EVERY_NS) {
			mem_flush_reports();
			last_report = mono_ns();
		}
	}
	return NULL;
}

void client_start(void)
{
	pthread_t t;
	pthread_attr_t attr;
	sigset_t all, old;
	struct timespec deadline;

	cl.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, client_main, NULL) != 0) {
		log_msg(LOG_ERR, "cannot start the coordinator thread: enforcing limits locally");
		cl.attempted = true;
	}
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += START_WAIT_MS / 1000;
	pthread_mutex_lock(&cl.mu);
	while (!cl.attempted)
		if (pthread_cond_timedwait(&cl.cv, &cl.mu, &deadline) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&cl.mu);
}

void client_after_fork(void)
{
	/* the socket thread does not exist in the child; the parent's socket is not ours */
	if (cl.fd >= 0)
		close(cl.fd);
	if (cl.wake_fd >= 0)
		close(cl.wake_fd);
	pthread_mutex_init(&cl.mu, NULL);
	pthread_cond_init(&cl.cv, NULL);
	pthread_mutex_init(&cl.send_mu, NULL);
	cl.fd = -1;
	cl.wake_fd = -1;
	atomic_store(&cl.welcomed, 0);
	cl.generation = 0;
	cl.ever_welcomed = false;
	cl.attempted = false;
	cl.refused = false;
	memset(cl.slots, 0, sizeof(cl.slots));
}

int client_mem_reserve(int dev, uint64_t bytes, int kind, struct client_mem_reply *reply)
{
	Softmig__V1__ClientFrame f = SOFTMIG__V1__CLIENT_FRAME__INIT;
	Softmig__V1__MemReserve m = SOFTMIG__V1__MEM_RESERVE__INIT;
	struct pending *slot = NULL;
	struct timespec deadline;
	uint64_t gen;
	int result = -1;
	bool sent, stalled = false;

	if (!client_welcomed())
		return -1;
	pthread_mutex_lock(&cl.mu);
	gen = cl.generation;
	for (;;) {
		for (int i = 0; i < MAX_PENDING && !slot; i++)
			if (!cl.slots[i].used)
				slot = &cl.slots[i];
		if (slot)
			break;
		/* every slot is busy: back-pressure, wait for one (a lost connection frees them all) */
		pthread_cond_wait(&cl.cv, &cl.mu);
		if (cl.generation != gen) {
			pthread_mutex_unlock(&cl.mu);
			return -1;
		}
	}
	memset(slot, 0, sizeof(*slot));
	slot->used = true;
	slot->id = ++cl.next_id;
	pthread_mutex_unlock(&cl.mu);

	m.device_index = (uint32_t)dev;
	m.bytes = bytes;
	m.kind = (Softmig__V1__AllocationKind)kind;
	f.request_id = slot->id;
	f.body_case = SOFTMIG__V1__CLIENT_FRAME__BODY_MEM_RESERVE;
	f.mem_reserve = &m;

	sent = client_send(&f) == 0;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += REPLY_TIMEOUT_S;
	pthread_mutex_lock(&cl.mu);
	while (sent && !slot->done && cl.generation == gen)
		if (pthread_cond_timedwait(&cl.cv, &cl.mu, &deadline) == ETIMEDOUT) {
			stalled = !slot->done && cl.generation == gen;
			break;
		}
	if (slot->done) {
		result = slot->result;
		*reply = slot->reply;
	}
	slot->used = false;
	pthread_cond_broadcast(&cl.cv); /* a slot is free */
	pthread_mutex_unlock(&cl.mu);
	if (stalled) {
		log_msg(LOG_WARN, "no answer to a reservation of %llu bytes on device %d in %d s: reconnecting",
			(unsigned long long)bytes, dev, REPLY_TIMEOUT_S);
		pthread_mutex_lock(&cl.send_mu);
		if (cl.fd >= 0)
			shutdown(cl.fd, SHUT_RDWR); /* the socket thread sees EOF and reconnects */
		pthread_mutex_unlock(&cl.send_mu);
	}
	return result;
}
