/* Varint32 framing (see frame.h). */
#include "frame.h"

size_t frame_put_varint32(uint8_t *out, uint32_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		out[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	out[n++] = (uint8_t)v;
	return n;
}

int frame_peek(const uint8_t *buf, size_t len, uint32_t max_body, size_t *prefix, uint32_t *body)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < FRAME_MAX_PREFIX; i++) {
		if (i == len)
			return 0;
		v |= (uint64_t)(buf[i] & 0x7f) << (7 * i);
		if (!(buf[i] & 0x80))
			break;
	}
	if (i == FRAME_MAX_PREFIX || v > UINT32_MAX || v > max_body)
		return -1;
	if (len - (i + 1) < v)
		return 0;
	*prefix = i + 1;
	*body = (uint32_t)v;
	return 1;
}
