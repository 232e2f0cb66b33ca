/*
 * Helpers shared by the GPU suite's test programs: driver-API error checks,
 * a monotonic clock, size parsing and a tiny JSON writer for results on stdout.
 *
 * Every program prints exactly one JSON object on stdout (its last line);
 * diagnostics go to stderr.  A failed setup call (one that must succeed for
 * the measurement to mean anything) prints {"error": ...} and exits 2.
 */
#ifndef SOFTMIG_BENCH_COMMON_H
#define SOFTMIG_BENCH_COMMON_H

#include <cuda.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MIB (1024ULL * 1024ULL)
#define GIB (1024ULL * MIB)

static inline const char *cu_err_name(CUresult rc)
{
	const char *name = NULL;

	if (cuGetErrorName(rc, &name) != CUDA_SUCCESS || name == NULL)
		return "CUDA_ERROR_UNKNOWN_CODE";
	return name;
}

/* A call that must succeed: on failure, report it as JSON and exit. */
#define CK(call)                                                              \
	do {                                                                  \
		CUresult ck_rc_ = (call);                                     \
		if (ck_rc_ != CUDA_SUCCESS) {                                 \
			printf("{\"error\":\"%s failed: %s (%d)\",\"line\":%d}\n", \
			       #call, cu_err_name(ck_rc_), (int)ck_rc_, __LINE__); \
			fflush(stdout);                                       \
			exit(2);                                              \
		}                                                             \
	} while (0)

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static inline double realtime_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sleeps until the wall-clock time `epoch` (seconds); returns at once if past. */
static inline void sleep_until_epoch(double epoch)
{
	double left = epoch - realtime_s();

	if (left <= 0)
		return;
	struct timespec ts = { (time_t)left, (long)((left - (double)(time_t)left) * 1e9) };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Parses "4G", "512M", "1.5G", "1048576"; binary units.  Exits on bad input. */
static inline uint64_t parse_size(const char *s)
{
	char *end = NULL;
	double v = strtod(s, &end);
	uint64_t mult = 1;

	if (end == s || v < 0) {
		fprintf(stderr, "bad size '%s'\n", s);
		exit(2);
	}
	switch (*end) {
	case 'k': case 'K': mult = 1024ULL; end++; break;
	case 'm': case 'M': mult = MIB; end++; break;
	case 'g': case 'G': mult = GIB; end++; break;
	case 't': case 'T': mult = GIB * 1024ULL; end++; break;
	default: break;
	}
	if (*end == 'i')
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end != '\0') {
		fprintf(stderr, "bad size '%s'\n", s);
		exit(2);
	}
	return (uint64_t)(v * (double)mult);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Percentile (0..100) of n samples; sorts them in place. */
static inline uint64_t percentile_u64(uint64_t *v, size_t n, double pct)
{
	size_t idx;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_u64);
	idx = (size_t)((pct / 100.0) * (double)(n - 1) + 0.5);
	return v[idx < n ? idx : n - 1];
}

/*
 * Check list printed as {"checks":[...]} by programs that test several things.
 * check_begin() once, check_add() per check, check_end() once.
 */
static int check_count;

static inline void check_begin(void)
{
	printf("{\"checks\":[");
	check_count = 0;
}

static inline void check_add(const char *name, int pass, double value, double target,
			     const char *unit, const char *note)
{
	printf("%s{\"name\":\"%s\",\"pass\":%s,\"value\":%.6g,\"target\":%.6g,\"unit\":\"%s\"",
	       check_count++ ? "," : "", name, pass ? "true" : "false", value, target, unit);
	if (note != NULL && note[0] != '\0')
		printf(",\"note\":\"%s\"", note);
	printf("}");
	fflush(stdout);
}

static inline void check_end(void)
{
	printf("]}\n");
	fflush(stdout);
}

#endif
