/* Sizes as docs/ARCHITECTURE.md defines them. */
#include <stdint.h>

#include "check.h"
#include "config.h"

static int size_is(const char *text, uint64_t want)
{
	uint64_t v = 0;

	return cfg_parse_size(text, &v) == 0 && v == want;
}

static int size_bad(const char *text)
{
	uint64_t v = 0;

	return cfg_parse_size(text, &v) == -1;
}

int main(void)
{
	CHECK(size_is("24G", 24ULL << 30));
	CHECK(size_is("24GiB", 24ULL << 30));
	CHECK(size_is("24GB", 24ULL << 30));
	CHECK(size_is("24g", 24ULL << 30));
	CHECK(size_is("1.5G", 3ULL << 29));
	CHECK(size_is("12288M", 12288ULL << 20));
	CHECK(size_is("512K", 512ULL << 10));
	CHECK(size_is("2T", 2ULL << 40));
	CHECK(size_is("1073741824", 1073741824ULL));
	CHECK(size_is("0", 0));
	CHECK(size_is("0.1K", 102));
	CHECK(size_is("7B", 7));
	CHECK(size_bad(""));
	CHECK(size_bad("-1G"));
	CHECK(size_bad("12X"));
	CHECK(size_bad("1.2.3"));
	CHECK(size_bad("G"));
	CHECK(size_bad("9223372036854775808"));
	CHECK(size_bad("8388608T"));
	CHECK(size_bad("99999999999999999999999"));
	CHECK(size_is("9223372036854775807", 9223372036854775807ULL));
	return check_done();
}
