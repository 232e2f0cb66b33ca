/* Varint framing and a ClientFrame/ServerFrame round trip through protobuf-c. */
#include <string.h>

#include "check.h"
#include "frame.h"
#include "softmig.pb-c.h"

int main(void)
{
	uint8_t buf[256];
	size_t prefix;
	uint32_t body;

	CHECK(frame_put_varint32(buf, 0) == 1 && buf[0] == 0);
	CHECK(frame_put_varint32(buf, 300) == 2 && buf[0] == 0xac && buf[1] == 0x02);
	CHECK(frame_put_varint32(buf, 0xffffffffu) == 5);

	/* incomplete prefix, incomplete body, complete */
	buf[0] = 0xac;
	CHECK(frame_peek(buf, 1, FRAME_MAX_BODY, &prefix, &body) == 0);
	buf[0] = 3;
	CHECK(frame_peek(buf, 3, FRAME_MAX_BODY, &prefix, &body) == 0);
	CHECK(frame_peek(buf, 4, FRAME_MAX_BODY, &prefix, &body) == 1 && prefix == 1 && body == 3);
	/* too long, and a varint that never ends */
	frame_put_varint32(buf, FRAME_MAX_BODY + 1);
	CHECK(frame_peek(buf, 8, FRAME_MAX_BODY, &prefix, &body) == -1);
	memset(buf, 0xff, 8);
	CHECK(frame_peek(buf, 8, FRAME_MAX_BODY, &prefix, &body) == -1);

	{
		Softmig__V1__ClientFrame f = SOFTMIG__V1__CLIENT_FRAME__INIT;
		Softmig__V1__MemReserve m = SOFTMIG__V1__MEM_RESERVE__INIT;
		Softmig__V1__ClientFrame *back;
		size_t n;

		m.device_index = 1;
		m.bytes = 3ULL << 30;
		m.kind = SOFTMIG__V1__ALLOCATION_KIND__VMM;
		f.request_id = 77;
		f.body_case = SOFTMIG__V1__CLIENT_FRAME__BODY_MEM_RESERVE;
		f.mem_reserve = &m;
		n = frame_put_varint32(buf, (uint32_t)softmig__v1__client_frame__get_packed_size(&f));
		n += softmig__v1__client_frame__pack(&f, buf + n);
		CHECK(frame_peek(buf, n, FRAME_MAX_BODY, &prefix, &body) == 1 && prefix + body == n);
		back = softmig__v1__client_frame__unpack(NULL, body, buf + prefix);
		CHECK(back && back->request_id == 77 && back->body_case == SOFTMIG__V1__CLIENT_FRAME__BODY_MEM_RESERVE);
		CHECK(back && back->mem_reserve->bytes == 3ULL << 30 && back->mem_reserve->device_index == 1);
		softmig__v1__client_frame__free_unpacked(back, NULL);
	}
	{
		/* bytes that are not a ServerFrame are refused by the decoder */
		static const uint8_t junk[] = { 0x0a, 0xff, 0xff, 0xff };

		CHECK(softmig__v1__server_frame__unpack(NULL, sizeof(junk), junk) == NULL);
	}
	return check_done();
}
