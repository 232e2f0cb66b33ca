/*
 * What the shim reads from the coordinator's socket: varint32 framing (frame.c) and the
 * protobuf-c decoding of each ServerFrame, then every field the socket thread's dispatch
 * reads, as it reads them.  The input is a byte stream as a read(2) might return it, cut into
 * frames by frame_peek.  Properties: frame_peek never reports a frame beyond the bytes it was
 * given or over the limit; a decoded frame's oneof body is set exactly when its case says so,
 * and its strings and repeated fields are all there.
 */
#include <stdint.h>

#include "frame.h"
#include "fuzz_check.h"
#include "softmig.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t sink;

static void touch_str(const char *s)
{
	FUZZ_ASSERT(s != NULL);
	sink += strlen(s);
}

static void touch_limits(size_t n, Softmig__V1__DeviceLimits **limits)
{
	FUZZ_ASSERT(n == 0 || limits != NULL);
	for (size_t i = 0; i < n; i++) {
		FUZZ_ASSERT(limits[i] != NULL);
		sink += limits[i]->device_index + limits[i]->memory_limit_bytes + (uint64_t)limits[i]->gated;
		sink += limits[i]->sm_limit_percent > 0; /* any double, NaN too: never cast it */
	}
}

/* Every field the shim's dispatch reads for the frames it handles. */
static void walk(const Softmig__V1__ServerFrame *sf)
{
	sink += sf->request_id;
	switch (sf->body_case) {
	case SOFTMIG__V1__SERVER_FRAME__BODY__NOT_SET:
		break;
	case SOFTMIG__V1__SERVER_FRAME__BODY_WELCOME:
		FUZZ_ASSERT(sf->welcome);
		touch_limits(sf->welcome->n_limits, sf->welcome->limits);
		touch_str(sf->welcome->job_id);
		touch_str(sf->welcome->node);
		sink += sf->welcome->session_id + sf->welcome->lease_us;
		break;
	case SOFTMIG__V1__SERVER_FRAME__BODY_MEM_REPLY:
		FUZZ_ASSERT(sf->mem_reply);
		sink += sf->mem_reply->granted + sf->mem_reply->job_used_bytes + sf->mem_reply->job_limit_bytes +
			sf->mem_reply->device_free_bytes;
		break;
	case SOFTMIG__V1__SERVER_FRAME__BODY_ERROR:
		FUZZ_ASSERT(sf->error);
		touch_str(sf->error->message);
		sink += (uint64_t)sf->error->code;
		break;
	case SOFTMIG__V1__SERVER_FRAME__BODY_CREDIT_GRANT:
		FUZZ_ASSERT(sf->credit_grant);
		sink += sf->credit_grant->device_index + sf->credit_grant->ceiling_bytes + sf->credit_grant->epoch;
		break;
	case SOFTMIG__V1__SERVER_FRAME__BODY_CREDIT_REVOKE:
		FUZZ_ASSERT(sf->credit_revoke);
		sink += sf->credit_revoke->device_index + sf->credit_revoke->epoch;
		break;
	case SOFTMIG__V1__SERVER_FRAME__BODY_LEASE_GRANT:
		FUZZ_ASSERT(sf->lease_grant);
		sink += sf->lease_grant->device_index + sf->lease_grant->lease_id + sf->lease_grant->duration_us +
			(uint64_t)sf->lease_grant->gpu_free_mono_ns;
		break;
	case SOFTMIG__V1__SERVER_FRAME__BODY_LEASE_REVOKE:
		FUZZ_ASSERT(sf->lease_revoke);
		sink += sf->lease_revoke->device_index + sf->lease_revoke->lease_id;
		break;
	case SOFTMIG__V1__SERVER_FRAME__BODY_LIMITS_UPDATE:
		FUZZ_ASSERT(sf->limits_update);
		touch_limits(sf->limits_update->n_limits, sf->limits_update->limits);
		break;
	default:
		/* CLI replies: the shim ignores them */
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;
	uint8_t prefix_buf[FRAME_MAX_PREFIX];

	while (off < size) {
		size_t prefix = 0;
		uint32_t body = 0;
		Softmig__V1__ServerFrame *sf;
		int r = frame_peek(data + off, size - off, FRAME_MAX_BODY, &prefix, &body);

		FUZZ_ASSERT(r >= -1 && r <= 1);
		if (r <= 0)
			break;
		FUZZ_ASSERT(prefix >= 1 && prefix <= FRAME_MAX_PREFIX);
		FUZZ_ASSERT(body <= FRAME_MAX_BODY && prefix + body <= size - off);
		/* the prefix is the one frame_put_varint32 writes for that length, or a longer form */
		FUZZ_ASSERT(frame_put_varint32(prefix_buf, body) <= prefix);
		sf = softmig__v1__server_frame__unpack(NULL, body, data + off + prefix);
		if (sf) {
			walk(sf);
			softmig__v1__server_frame__free_unpacked(sf, NULL);
		}
		off += prefix + body;
	}
	return 0;
}
