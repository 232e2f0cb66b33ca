/*
 * The environment and the cgroup (config.c, cfg_apply_env and cfg_cgroup_job): the input,
 * split at NUL bytes, is the environment (NAME=VALUE strings); the whole input is also read as
 * /proc/self/cgroup.  Properties: valid limits stay in their ranges; an invalid one changes
 * nothing and explains itself in printable ASCII; a job id from the cgroup is decimal digits.
 */
#include <math.h>
#include <stdint.h>

#include "config.h"
#include "fuzz_check.h"

#define MAX_VARS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct shim_config before, c;
static char text[1 << 16];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *envp[MAX_VARS + 1], err[384], job[32];
	size_t n = 0;
	int rc;

	if (size >= sizeof(text))
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	for (char *p = text; p < text + size && n < MAX_VARS; p += strlen(p) + 1)
		envp[n++] = p;
	envp[n] = NULL;

	memset(&before, 0, sizeof(before));
	before.log_level = 1;
	c = before;
	err[0] = '\0';
	rc = cfg_apply_env(&c, envp, err, sizeof(err));
	if (rc != 0) {
		FUZZ_ASSERT(rc == -1);
		FUZZ_ASSERT(memcmp(&c, &before, sizeof(c)) == 0);
		FUZZ_ASSERT(fuzz_printable(err, sizeof(err)) && err[0]);
	} else {
		FUZZ_ASSERT(c.mem_limit <= (uint64_t)INT64_MAX);
		FUZZ_ASSERT(isfinite(c.sm_limit) && c.sm_limit >= 0 && c.sm_limit <= 100);
		for (int i = 0; i < CFG_MAX_DEVICES; i++) {
			FUZZ_ASSERT(c.mem_limit_dev[i] <= (uint64_t)INT64_MAX);
			FUZZ_ASSERT(c.sm_limit_dev[i] >= 0 && c.sm_limit_dev[i] <= 100);
		}
		FUZZ_ASSERT(c.log_level >= 0 && c.log_level <= 4);
		FUZZ_ASSERT(c.nnotes >= 0 && c.nnotes <= CFG_MAX_NOTES);
		for (int i = 0; i < c.nnotes; i++)
			FUZZ_ASSERT(fuzz_printable(c.notes[i], sizeof(c.notes[i])));
	}

	if (cfg_cgroup_job((const char *)data, size, job, sizeof(job)) == 0) {
		FUZZ_ASSERT(job[0] != '\0');
		for (char *p = job; *p; p++)
			FUZZ_ASSERT(*p >= '0' && *p <= '9');
	}
	return 0;
}
