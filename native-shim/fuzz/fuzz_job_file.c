/*
 * The job config file (config.c, cfg_parse_job_file): the input is the file's text.
 * Properties: a valid file gives limits within their ranges and changes nothing else than
 * limits and log settings; an invalid one changes nothing and explains itself in printable
 * ASCII; parsing is deterministic.
 */
#include <math.h>
#include <stdint.h>

#include "config.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct shim_config before, a, b;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[384], err2[384];
	int rc, rc2;

	memset(&before, 0, sizeof(before));
	before.log_level = 1;
	a = before;
	b = before;
	rc = cfg_parse_job_file(&a, "fuzz.conf", (const char *)data, size, err, sizeof(err));
	rc2 = cfg_parse_job_file(&b, "fuzz.conf", (const char *)data, size, err2, sizeof(err2));
	FUZZ_ASSERT(rc == rc2 && memcmp(&a, &b, sizeof(a)) == 0);
	if (rc != 0) {
		FUZZ_ASSERT(rc == -1);
		FUZZ_ASSERT(memcmp(&a, &before, sizeof(a)) == 0);
		FUZZ_ASSERT(fuzz_printable(err, sizeof(err)) && err[0]);
		FUZZ_ASSERT(strcmp(err, err2) == 0);
		return 0;
	}
	FUZZ_ASSERT(size <= CFG_MAX_FILE_BYTES);
	FUZZ_ASSERT(a.mem_limit <= (uint64_t)INT64_MAX);
	FUZZ_ASSERT(isfinite(a.sm_limit) && a.sm_limit >= 0 && a.sm_limit <= 100);
	for (int i = 0; i < CFG_MAX_DEVICES; i++) {
		FUZZ_ASSERT(a.mem_limit_dev[i] <= (uint64_t)INT64_MAX);
		FUZZ_ASSERT(a.mem_limit_set[i] || a.mem_limit_dev[i] == 0);
		FUZZ_ASSERT(a.sm_limit_dev[i] >= 0 && a.sm_limit_dev[i] <= 100);
		FUZZ_ASSERT(a.sm_limit_set[i] || a.sm_limit_dev[i] == 0);
	}
	FUZZ_ASSERT(a.log_level >= 0 && a.log_level <= 4);
	FUZZ_ASSERT(strnlen(a.log_file, sizeof(a.log_file)) < sizeof(a.log_file));
	FUZZ_ASSERT(!a.disabled && !a.admin_file && !a.have_service_uid && a.error[0] == '\0');
	return 0;
}
