/*
 * MPS client settings (see mps.h).  mps_plan() is pure; mps_apply() writes the process
 * environment with setenv(), once per process, before the real cuInit: the TaskProlog exports
 * the same values, so in a SLURM job setenv runs only when the user changed one of them.
 */
#define _GNU_SOURCE
#include "mps.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIB (1024ULL * 1024)

static void copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

void mps_plan(const struct shim_config *cfg, const char *env_pipe, const char *env_threads, struct mps_plan *out)
{
	double sm, user;
	uint64_t mem;

	memset(out, 0, sizeof(*out));
	if (cfg->disabled || cfg->error[0])
		return;
	if (cfg->admin_file) {
		if (!cfg->mps_pipe_dir[0])
			return;
		copy_str(out->pipe_dir, sizeof(out->pipe_dir), cfg->mps_pipe_dir);
	} else if (!env_pipe || !*env_pipe) {
		return;
	}
	out->client = true;

	sm = cfg_sm_limit(cfg, 0);
	if (sm > 0 && sm < 100) {
		int pct = (int)sm; /* sm > 0: truncation rounds down */

		if (pct < 1)
			pct = 1;
		if (!env_threads || cfg_parse_percent(env_threads, &user) || user <= 0 || user > pct)
			snprintf(out->threads, sizeof(out->threads), "%d", pct);
	}
	mem = cfg_mem_limit(cfg, 0);
	if (mem > 0)
		snprintf(out->pinned, sizeof(out->pinned), "0=%lluM", (unsigned long long)((mem + MIB - 1) / MIB));
}

static int set_if_different(const char *name, const char *value)
{
	const char *now;

	if (!value[0])
		return 0;
	now = getenv(name);
	if (now && strcmp(now, value) == 0)
		return 0;
	return setenv(name, value, 1) == 0 ? 1 : 0;
}

int mps_apply(const struct mps_plan *plan)
{
	int n = 0;

	if (!plan->client)
		return 0;
	n += set_if_different(CFG_MPS_PIPE_KEY, plan->pipe_dir);
	n += set_if_different(MPS_THREADS_KEY, plan->threads);
	n += set_if_different(MPS_PINNED_KEY, plan->pinned);
	return n;
}
