/*
 * Sizes and percentages (config.c): the first byte picks the parser, the rest is the text,
 * not NUL-terminated.  Properties: a size is at most 2^63-1, a percentage is in [0, 100], and
 * the NUL-terminated entry points agree with the (pointer, length) ones.
 */
#include <stdint.h>

#include "config.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char copy[256];
	const char *text = (const char *)data + 1;
	size_t len;

	if (size < 1)
		return 0;
	len = size - 1;
	if (data[0] & 1) {
		uint64_t v = 0, w = 0;
		int rc = cfg_parse_size_n(text, len, &v);

		FUZZ_ASSERT(rc == 0 || rc == -1);
		if (rc == 0)
			FUZZ_ASSERT(v <= (uint64_t)INT64_MAX);
		if (len < sizeof(copy) && !memchr(text, '\0', len)) {
			memcpy(copy, text, len);
			copy[len] = '\0';
			FUZZ_ASSERT(cfg_parse_size(copy, &w) == rc);
			FUZZ_ASSERT(rc != 0 || w == v);
		}
	} else {
		double v = -1, w = -1;
		int rc = cfg_parse_percent_n(text, len, &v);

		FUZZ_ASSERT(rc == 0 || rc == -1);
		if (rc == 0)
			FUZZ_ASSERT(v >= 0 && v <= 100);
		if (len < sizeof(copy) && !memchr(text, '\0', len)) {
			memcpy(copy, text, len);
			copy[len] = '\0';
			FUZZ_ASSERT(cfg_parse_percent(copy, &w) == rc);
			FUZZ_ASSERT(rc != 0 || w == v);
		}
	}
	return 0;
}
