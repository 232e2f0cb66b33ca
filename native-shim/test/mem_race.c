/*
 * mem_race: allocating threads, to test a job's limit under concurrency with real processes.
 *
 *   mem_race [--bytes B] [--threads T] [--count C] [--rounds R] [--path alloc|vmm|managed|async]
 *            [--at EPOCH_MS] [--shared FILE] [--hold] [--forever [--max-blocks N]]
 *
 * Every thread tries C allocations of B bytes per round and keeps what it gets; between rounds
 * it frees half of its blocks.  --at: cuInit waits for that CLOCK_REALTIME instant (epoch
 * milliseconds), so processes started together attach and allocate together.  At the end one
 * JSON line: {"pid":P,"granted":G,"refused":R,"errors":E,"held":H,"peak":K,"job_over":O,
 * "job_max":M}; with --hold the process then keeps its memory until stdin closes.
 *
 * --shared FILE: the job's counters, shared by its processes (a file of at least
 * sizeof(struct race_shared) bytes, zero-filled, whose limit field the caller may set).  Each
 * process keeps its held bytes in a slot of its own: the count goes up after the driver granted
 * and down before the free, so the sum over the slots never exceeds what the processes really
 * hold.  After every grant the thread sums the slots of live processes as one snapshot (retried
 * while a free intervenes: frees bump a generation first) and counts the job over its limit
 * when the sum exceeds it.  A slot whose pid is 0 or negative is skipped (the caller marks a
 * process it is about to kill with -pid, before the kill).
 *
 * --forever (the soak): threads allocate and free at random until killed; while the shared pause
 * field is set they finish their operation and wait, so the caller can compare a quiet ledger
 * with the slots.
 */
#include "probe.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#define MAX_SLOTS 256
#define MAX_THREADS 512

struct race_slot {
	_Atomic int64_t pid;
	_Atomic uint64_t held;
	_Atomic uint64_t busy;       /* threads inside an allocation or a free */
	_Atomic uint64_t ops;        /* allocations and frees done */
	_Atomic uint64_t granted;
	_Atomic uint64_t refused;
	uint64_t pad[2];
};

struct race_shared {
	_Atomic uint64_t limit;      /* 0: no check */
	_Atomic uint64_t pause;
	_Atomic uint64_t generation; /* bumped before every free */
	_Atomic uint64_t overs;      /* grants after which the job's processes held more than limit */
	_Atomic uint64_t max_sum;    /* the highest sum seen after a grant */
	uint64_t pad[3];
	struct race_slot slots[MAX_SLOTS];
};

static size_t opt_bytes = 4u << 20;
static int opt_threads = 1, opt_count = 1, opt_rounds = 1, opt_hold, opt_forever, opt_max_blocks = 16;
static const char *opt_path = "alloc";
static long long opt_at;
static CUcontext ctx;
static CUdevice dev;
static struct race_shared *sh;
static struct race_slot *me;
static struct race_slot local;

static _Atomic uint64_t n_granted, n_refused, n_errors, held, peak, job_over, job_max;
static pthread_barrier_t start_line;

struct block {
	CUdeviceptr ptr;
	CUmemGenericAllocationHandle vmm;
};

static bool alive(int64_t pid)
{
	char path[64], buf[256], *p;
	int fd;
	ssize_t n;

	if (pid <= 0)
		return false;
	if (pid == getpid())
		return true;
	snprintf(path, sizeof(path), "/proc/%lld/stat", (long long)pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

/*
 * The job's held bytes as one snapshot (no free in between), live processes only; 0 when no
 * snapshot could be had.
 */
static uint64_t job_sum(void)
{
	for (int attempt = 0; attempt < 100; attempt++) {
		uint64_t g = atomic_load(&sh->generation), sum = 0;
		int64_t pids[MAX_SLOTS];
		uint64_t helds[MAX_SLOTS];
		int n = 0;

		for (int i = 0; i < MAX_SLOTS; i++) {
			int64_t pid = atomic_load(&sh->slots[i].pid);

			if (pid > 0) {
				pids[n] = pid;
				helds[n++] = atomic_load(&sh->slots[i].held);
			}
		}
		if (atomic_load(&sh->generation) != g)
			continue;
		/* a process that died holds nothing any more */
		for (int i = 0; i < n; i++)
			if (alive(pids[i]))
				sum += helds[i];
		return sum;
	}
	return 0;
}

static void max_into(_Atomic uint64_t *v, uint64_t x)
{
	uint64_t cur = atomic_load(v);

	while (x > cur && !atomic_compare_exchange_weak(v, &cur, x))
		;
}

static CUresult do_alloc(struct block *b, size_t bytes)
{
	if (!strcmp(opt_path, "vmm")) {
		CUmemAllocationProp prop;

		memset(&prop, 0, sizeof(prop));
		prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
		prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
		prop.location.id = dev;
		return cuMemCreate(&b->vmm, bytes, &prop, 0);
	}
	if (!strcmp(opt_path, "managed"))
		return cuMemAllocManaged(&b->ptr, bytes, CU_MEM_ATTACH_GLOBAL);
	if (!strcmp(opt_path, "async")) {
		CUresult rc = cuMemAllocAsync(&b->ptr, bytes, NULL);

		cuStreamSynchronize(NULL);
		return rc;
	}
	return cuMemAlloc_v2(&b->ptr, bytes);
}

static CUresult do_free(struct block *b)
{
	if (!strcmp(opt_path, "vmm"))
		return cuMemRelease(b->vmm);
	if (!strcmp(opt_path, "async")) {
		CUresult rc = cuMemFreeAsync(b->ptr, NULL);

		cuStreamSynchronize(NULL);
		return rc;
	}
	return cuMemFree_v2(b->ptr);
}

/* One allocation; returns whether it was granted. */
static bool take(struct block *b)
{
	CUresult rc;

	atomic_fetch_add(&me->busy, 1);
	rc = do_alloc(b, opt_bytes);
	if (rc == CUDA_SUCCESS) {
		uint64_t h = atomic_fetch_add(&held, opt_bytes) + opt_bytes;

		max_into(&peak, h);
		atomic_fetch_add(&me->held, opt_bytes);
		atomic_fetch_add(&n_granted, 1);
		atomic_fetch_add(&me->granted, 1);
		if (sh) {
			uint64_t limit = atomic_load(&sh->limit), sum = job_sum();

			max_into(&sh->max_sum, sum);
			max_into(&job_max, sum);
			if (limit && sum > limit) {
				atomic_fetch_add(&sh->overs, 1);
				atomic_fetch_add(&job_over, 1);
			}
		}
	} else if (rc == CUDA_ERROR_OUT_OF_MEMORY) {
		atomic_fetch_add(&n_refused, 1);
		atomic_fetch_add(&me->refused, 1);
	} else {
		atomic_fetch_add(&n_errors, 1);
	}
	atomic_fetch_add(&me->ops, 1);
	atomic_fetch_sub(&me->busy, 1);
	return rc == CUDA_SUCCESS;
}

static void give_back(struct block *b)
{
	atomic_fetch_add(&me->busy, 1);
	if (sh)
		atomic_fetch_add(&sh->generation, 1);
	atomic_fetch_sub(&me->held, opt_bytes);
	atomic_fetch_sub(&held, opt_bytes);
	if (do_free(b) != CUDA_SUCCESS)
		atomic_fetch_add(&n_errors, 1);
	atomic_fetch_add(&me->ops, 1);
	atomic_fetch_sub(&me->busy, 1);
}

static void *run_rounds(void *arg)
{
	int cap = opt_count * opt_rounds;
	struct block *blocks = calloc((size_t)cap, sizeof(*blocks));
	int n = 0;

	(void)arg;
	cuCtxSetCurrent(ctx);
	pthread_barrier_wait(&start_line);
	for (int r = 0; r < opt_rounds; r++) {
		for (int i = 0; i < opt_count; i++)
			if (take(&blocks[n]))
				n++;
		if (r + 1 < opt_rounds)
			for (int keep = n / 2; n > keep; )
				give_back(&blocks[--n]);
	}
	return NULL; /* the blocks stay allocated */
}

static void *run_forever(void *arg)
{
	struct block *blocks = calloc((size_t)opt_max_blocks, sizeof(*blocks));
	unsigned seed = (unsigned)getpid() * 2654435761u + (unsigned)(uintptr_t)arg;
	int n = 0;

	cuCtxSetCurrent(ctx);
	for (;;) {
		int r = rand_r(&seed) % 100;

		while (atomic_load(&sh->pause))
			usleep(1000);
		if (n < opt_max_blocks && (n == 0 || r < 55)) {
			if (take(&blocks[n]))
				n++;
			else
				usleep(2000);
		} else if (n > 0) {
			int victim = rand_r(&seed) % n;
			struct block b = blocks[victim];

			blocks[victim] = blocks[--n];
			give_back(&b);
		}
		usleep((useconds_t)(rand_r(&seed) % 3000));
	}
	return NULL;
}

#define CLAIMING INT64_MIN

static void claim_slot(void)
{
	int64_t self = getpid();

	for (int i = 0; i < MAX_SLOTS; i++) {
		struct race_slot *s = &sh->slots[i];
		int64_t pid = atomic_load(&s->pid);

		if (pid == CLAIMING || (pid > 0 && alive(pid)))
			continue;
		/* skipped by the sums while its counts are reset: a dead process's count means nothing */
		if (!atomic_compare_exchange_strong(&s->pid, &pid, CLAIMING))
			continue;
		atomic_store(&s->held, 0);
		atomic_store(&s->busy, 0);
		atomic_store(&s->ops, 0);
		atomic_store(&s->granted, 0);
		atomic_store(&s->refused, 0);
		atomic_store(&s->pid, self);
		me = s;
		return;
	}
	fprintf(stderr, "mem_race: no free slot in the shared file\n");
	exit(4);
}

static void map_shared(const char *path)
{
	int fd = open(path, O_RDWR);

	if (fd < 0 || ftruncate(fd, sizeof(struct race_shared)) != 0) {
		fprintf(stderr, "mem_race: %s: %s\n", path, strerror(errno));
		exit(4);
	}
	sh = mmap(NULL, sizeof(struct race_shared), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (sh == MAP_FAILED) {
		fprintf(stderr, "mem_race: mmap %s: %s\n", path, strerror(errno));
		exit(4);
	}
	claim_slot();
}

static void wait_until(long long epoch_ms)
{
	struct timespec ts = { .tv_sec = epoch_ms / 1000, .tv_nsec = (epoch_ms % 1000) * 1000000 };

	while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

int main(int argc, char **argv)
{
	pthread_t threads[MAX_THREADS];
	char line[64];

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "0";

		if (!strcmp(a, "--bytes"))
			opt_bytes = (size_t)strtoull(v, NULL, 10), i++;
		else if (!strcmp(a, "--threads"))
			opt_threads = atoi(v), i++;
		else if (!strcmp(a, "--count"))
			opt_count = atoi(v), i++;
		else if (!strcmp(a, "--rounds"))
			opt_rounds = atoi(v), i++;
		else if (!strcmp(a, "--path"))
			opt_path = v, i++;
		else if (!strcmp(a, "--at"))
			opt_at = atoll(v), i++;
		else if (!strcmp(a, "--shared"))
			map_shared(v), i++;
		else if (!strcmp(a, "--max-blocks"))
			opt_max_blocks = atoi(v), i++;
		else if (!strcmp(a, "--hold"))
			opt_hold = 1;
		else if (!strcmp(a, "--forever"))
			opt_forever = 1;
		else {
			fprintf(stderr, "mem_race: unknown argument %s\n", a);
			return 2;
		}
	}
	if (opt_threads < 1 || opt_threads > MAX_THREADS || opt_count < 0 || opt_rounds < 1 || opt_max_blocks < 1 ||
	    (opt_forever && !sh)) {
		fprintf(stderr, "mem_race: bad arguments\n");
		return 2;
	}
	if (!me)
		me = &local;
	if (opt_at)
		wait_until(opt_at);
	dev = probe_context();
	cuCtxGetCurrent(&ctx);
	pthread_barrier_init(&start_line, NULL, (unsigned)opt_threads);
	for (int i = 0; i < opt_threads; i++)
		if (pthread_create(&threads[i], NULL, opt_forever ? run_forever : run_rounds,
				   (void *)(uintptr_t)i) != 0) {
			fprintf(stderr, "mem_race: cannot start thread %d\n", i);
			return 4;
		}
	if (opt_forever)
		for (;;)
			pause();
	for (int i = 0; i < opt_threads; i++)
		pthread_join(threads[i], NULL);
	printf("{\"pid\":%d,\"granted\":%llu,\"refused\":%llu,\"errors\":%llu,\"held\":%llu,\"peak\":%llu,"
	       "\"job_over\":%llu,\"job_max\":%llu}\n",
	       (int)getpid(), (unsigned long long)n_granted, (unsigned long long)n_refused,
	       (unsigned long long)n_errors, (unsigned long long)held, (unsigned long long)peak,
	       (unsigned long long)job_over, (unsigned long long)job_max);
	fflush(stdout);
	if (opt_hold)
		while (fgets(line, sizeof(line), stdin))
			;
	/* leaving: the exit releases the memory, so the slot stops counting first */
	if (sh)
		atomic_store(&me->pid, -(int64_t)getpid());
	return n_errors ? 1 : 0;
}
