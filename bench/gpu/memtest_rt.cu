/*
 * memtest_rt: the runtime-API memory checks and costs of the GPU suite.
 *
 *   memtest_rt paths LIMIT            every runtime allocation path under and over LIMIT
 *   memtest_rt bench N SIZE           N x (cudaMalloc SIZE + cudaFree), p50/p99 in ns
 *
 * The runtime reaches the driver through cuGetProcAddress, so these checks
 * exercise the shim's answer to it, unlike memtest (direct driver calls).
 */
#include <cuda_runtime.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MIB (1024ULL * 1024ULL)
#define GIB (1024ULL * MIB)

#define CKR(call)                                                                   \
	do {                                                                        \
		cudaError_t ck_rc_ = (call);                                        \
		if (ck_rc_ != cudaSuccess) {                                        \
			printf("{\"error\":\"%s failed: %s (%d)\",\"line\":%d}\n", #call, \
			       cudaGetErrorName(ck_rc_), (int)ck_rc_, __LINE__);    \
			fflush(stdout);                                             \
			exit(2);                                                    \
		}                                                                   \
	} while (0)

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t parse_size(const char *s)
{
	char *end = NULL;
	double v = strtod(s, &end);
	uint64_t mult = 1;

	if (end == s || v < 0)
		goto bad;
	switch (*end) {
	case 'k': case 'K': mult = 1024ULL; end++; break;
	case 'm': case 'M': mult = MIB; end++; break;
	case 'g': case 'G': mult = GIB; end++; break;
	default: break;
	}
	if (*end == 'i')
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end == '\0')
		return (uint64_t)(v * (double)mult);
bad:
	fprintf(stderr, "bad size '%s'\n", s);
	exit(2);
}

static int checks;

static void check(const char *name, bool pass, double value, double target, const char *unit,
		  const char *note)
{
	printf("%s{\"name\":\"%s\",\"pass\":%s,\"value\":%.6g,\"target\":%.6g,\"unit\":\"%s\"",
	       checks++ ? "," : "", name, pass ? "true" : "false", value, target, unit);
	if (note != NULL && note[0] != '\0')
		printf(",\"note\":\"%s\"", note);
	printf("}");
	fflush(stdout);
}

static cudaStream_t stream;
static cudaMemPool_t pool;

enum kind { PLAIN, PITCH, MANAGED, ASYNC, POOL, ARRAY, ARRAY3D, MIPMAP };
static const char *const kind_names[] = {
	"cudaMalloc", "cudaMallocPitch", "cudaMallocManaged", "cudaMallocAsync",
	"cudaMallocFromPoolAsync", "cudaMallocArray", "cudaMalloc3DArray", "cudaMallocMipmappedArray",
};

/* Allocates about `bytes` through path k and frees it again on success. */
static cudaError_t try_path(enum kind k, uint64_t bytes)
{
	cudaChannelFormatDesc f4 = cudaCreateChannelDesc<float4>();
	void *p = NULL;
	cudaArray_t a = NULL;
	cudaMipmappedArray_t m = NULL;
	size_t pitch = 0;
	cudaError_t rc = cudaSuccess;

	switch (k) {
	case PLAIN:
		rc = cudaMalloc(&p, bytes);
		if (rc == cudaSuccess)
			CKR(cudaFree(p));
		break;
	case PITCH:
		rc = cudaMallocPitch(&p, &pitch, MIB, (bytes + MIB - 1) / MIB);
		if (rc == cudaSuccess)
			CKR(cudaFree(p));
		break;
	case MANAGED:
		rc = cudaMallocManaged(&p, bytes, cudaMemAttachGlobal);
		if (rc == cudaSuccess)
			CKR(cudaFree(p));
		break;
	case ASYNC:
		rc = cudaMallocAsync(&p, bytes, stream);
		if (rc == cudaSuccess) {
			CKR(cudaFreeAsync(p, stream));
			CKR(cudaStreamSynchronize(stream));
		}
		break;
	case POOL:
		rc = cudaMallocFromPoolAsync(&p, bytes, pool, stream);
		if (rc == cudaSuccess) {
			CKR(cudaFreeAsync(p, stream));
			CKR(cudaStreamSynchronize(stream));
		}
		break;
	case ARRAY:
		rc = cudaMallocArray(&a, &f4, 32768, (bytes + 32768 * 16 - 1) / (32768 * 16));
		if (rc == cudaSuccess)
			CKR(cudaFreeArray(a));
		break;
	case ARRAY3D:
		rc = cudaMalloc3DArray(&a, &f4,
				       make_cudaExtent(2048, 2048, (bytes + 2048 * 2048 * 16 - 1) / (2048 * 2048 * 16)));
		if (rc == cudaSuccess)
			CKR(cudaFreeArray(a));
		break;
	case MIPMAP: {
		size_t side = (size_t)ceil(sqrt((double)bytes / 16.0));

		side = (side + 1023) / 1024 * 1024;
		rc = cudaMallocMipmappedArray(&m, &f4, make_cudaExtent(side, side, 0), 1);
		if (rc == cudaSuccess)
			CKR(cudaFreeMipmappedArray(m));
		break;
	}
	}
	return rc;
}

static int cmd_paths(uint64_t limit)
{
	size_t free0 = 0, total0 = 0, free1 = 0, total1 = 0;
	char name[128];

	CKR(cudaSetDevice(0));
	CKR(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
	{
		cudaMemPoolProps props;

		memset(&props, 0, sizeof(props));
		props.allocType = cudaMemAllocationTypePinned;
		props.location.type = cudaMemLocationTypeDevice;
		props.location.id = 0;
		CKR(cudaMemPoolCreate(&pool, &props));
	}
	printf("{\"checks\":[");
	CKR(cudaMemGetInfo(&free0, &total0));
	check("rt.cudaMemGetInfo.total_equals_limit", total0 == limit, (double)total0, (double)limit,
	      "bytes", NULL);
	check("rt.cudaMemGetInfo.free_within_limit", free0 <= limit && free0 > 0, (double)free0,
	      (double)limit, "bytes", NULL);
	for (int k = PLAIN; k <= MIPMAP; k++) {
		uint64_t under = k == MANAGED ? 64 * MIB : limit / 4;
		uint64_t over = k == MANAGED ? limit + 64 * MIB : limit + GIB;
		cudaError_t rc;

		rc = try_path((enum kind)k, under);
		(void)cudaGetLastError();
		snprintf(name, sizeof(name), "rt.%s.under_limit_succeeds", kind_names[k]);
		check(name, rc == cudaSuccess, rc, 0, "cudaError_t", cudaGetErrorName(rc));

		rc = try_path((enum kind)k, over);
		(void)cudaGetLastError();
		snprintf(name, sizeof(name), "rt.%s.over_limit_out_of_memory", kind_names[k]);
		check(name, rc == cudaErrorMemoryAllocation, rc, cudaErrorMemoryAllocation,
		      "cudaError_t", cudaGetErrorName(rc));

		rc = try_path(PLAIN, 64 * MIB);
		snprintf(name, sizeof(name), "rt.%s.process_goes_on", kind_names[k]);
		check(name, rc == cudaSuccess, rc, 0, "cudaError_t", NULL);
	}
	CKR(cudaMemGetInfo(&free1, &total1));
	check("rt.frees_return_memory", free1 + 64 * MIB >= free0, (double)free1, (double)free0,
	      "bytes", "free after all paths vs before (64 MiB slack)");
	printf("]}\n");
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int cmd_bench(int n, uint64_t bytes)
{
	uint64_t *alloc_ns = (uint64_t *)calloc((size_t)n, sizeof(uint64_t));
	uint64_t *pair_ns = (uint64_t *)calloc((size_t)n, sizeof(uint64_t));
	void *p = NULL;

	if (alloc_ns == NULL || pair_ns == NULL || n < 1)
		return 2;
	CKR(cudaSetDevice(0));
	CKR(cudaFree(NULL)); /* context */
	for (int i = 0; i < 20; i++) { /* warm-up */
		CKR(cudaMalloc(&p, bytes));
		CKR(cudaFree(p));
	}
	for (int i = 0; i < n; i++) {
		uint64_t t0 = now_ns(), t1;

		CKR(cudaMalloc(&p, bytes));
		t1 = now_ns();
		CKR(cudaFree(p));
		alloc_ns[i] = t1 - t0;
		pair_ns[i] = now_ns() - t0;
	}
	qsort(alloc_ns, (size_t)n, sizeof(uint64_t), cmp_u64);
	qsort(pair_ns, (size_t)n, sizeof(uint64_t), cmp_u64);
	printf("{\"n\":%d,\"bytes\":%llu,\"malloc_p50_ns\":%llu,\"malloc_p99_ns\":%llu,"
	       "\"pair_p50_ns\":%llu,\"pair_p99_ns\":%llu}\n",
	       n, (unsigned long long)bytes, (unsigned long long)alloc_ns[n / 2],
	       (unsigned long long)alloc_ns[(size_t)(n * 0.99)], (unsigned long long)pair_ns[n / 2],
	       (unsigned long long)pair_ns[(size_t)(n * 0.99)]);
	free(alloc_ns);
	free(pair_ns);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "paths") == 0)
		return cmd_paths(parse_size(argv[2]));
	if (argc == 4 && strcmp(argv[1], "bench") == 0)
		return cmd_bench(atoi(argv[2]), parse_size(argv[3]));
	fprintf(stderr, "usage: memtest_rt paths LIMIT | bench N SIZE\n");
	return 2;
}
