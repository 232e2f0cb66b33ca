/*
 * Framing of the coordinator protocol: a varint32 length prefix, then one protobuf message.
 * Pure functions, no I/O.
 */
#ifndef SOFTMIG_FRAME_H
#define SOFTMIG_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_MAX_BODY 65536
#define FRAME_MAX_PREFIX 5

/* Writes v as a varint into out (at least FRAME_MAX_PREFIX bytes); returns its length. */
size_t frame_put_varint32(uint8_t *out, uint32_t v);

/*
 * Looks at the start of buf for one frame.  Returns 1 when a whole frame is there (*prefix is
 * the length of the prefix, *body that of the message), 0 when more bytes are needed, -1 when
 * the prefix is not a valid varint32 or the body is longer than max_body.
 */
int frame_peek(const uint8_t *buf, size_t len, uint32_t max_body, size_t *prefix, uint32_t *body);

#endif
