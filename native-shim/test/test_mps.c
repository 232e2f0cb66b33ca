/*
 * mps_plan(): which MPS client variables a process gets from its configuration and environment
 * (the fake-driver run of shim_config_test checks that they reach cuInit).
 */
#include <string.h>

#include "check.h"
#include "config.h"
#include "mps.h"

static struct shim_config admin(const char *pipe, double sm, unsigned long long mem)
{
	struct shim_config c;

	memset(&c, 0, sizeof(c));
	c.admin_file = true;
	strcpy(c.mps_pipe_dir, pipe);
	c.sm_limit = sm;
	c.mem_limit = mem;
	return c;
}

int main(void)
{
	struct shim_config c;
	struct mps_plan p;

	/* an MPS job: the file's pipe directory, its SM limit as threads, its memory as pinned limit */
	c = admin("/run/softmig/mps/GPU-1/pipe", 25, 12ULL << 30);
	mps_plan(&c, "/tmp/elsewhere", "100", &p);
	CHECK(p.client && strcmp(p.pipe_dir, "/run/softmig/mps/GPU-1/pipe") == 0);
	CHECK(strcmp(p.threads, "25") == 0);
	CHECK(strcmp(p.pinned, "0=12288M") == 0);

	/* rounded down to a whole percent, at least 1; memory rounded up to a whole MiB */
	c = admin("/p", 12.5, (1ULL << 20) + 1);
	mps_plan(&c, NULL, NULL, &p);
	CHECK(strcmp(p.threads, "12") == 0 && strcmp(p.pinned, "0=2M") == 0);
	c = admin("/p", 0.25, 0);
	mps_plan(&c, NULL, NULL, &p);
	CHECK(strcmp(p.threads, "1") == 0 && p.pinned[0] == '\0');

	/* the ordinal 0 limits count (an MPS client sees its server's one GPU) */
	c = admin("/p", 50, 8ULL << 30);
	c.sm_limit_dev[0] = 20;
	c.sm_limit_set[0] = true;
	c.mem_limit_dev[0] = 4ULL << 30;
	c.mem_limit_set[0] = true;
	mps_plan(&c, NULL, NULL, &p);
	CHECK(strcmp(p.threads, "20") == 0 && strcmp(p.pinned, "0=4096M") == 0);

	/* the user may ask for fewer threads, never more; nonsense is replaced */
	c = admin("/p", 25, 0);
	mps_plan(&c, NULL, "10", &p);
	CHECK(p.threads[0] == '\0');
	mps_plan(&c, NULL, "25", &p);
	CHECK(p.threads[0] == '\0');
	mps_plan(&c, NULL, "26", &p);
	CHECK(strcmp(p.threads, "25") == 0);
	mps_plan(&c, NULL, "0", &p);
	CHECK(strcmp(p.threads, "25") == 0);
	mps_plan(&c, NULL, "-5", &p);
	CHECK(strcmp(p.threads, "25") == 0);
	mps_plan(&c, NULL, "25 ; x", &p);
	CHECK(strcmp(p.threads, "25") == 0);

	/* no SM limit (0 or 100): the thread percentage is left as it is */
	c = admin("/p", 100, 0);
	mps_plan(&c, NULL, "100", &p);
	CHECK(p.client && p.threads[0] == '\0');

	/* a time-slicing job (admin file without a pipe directory): no client, whatever the env says */
	c = admin("", 25, 1ULL << 30);
	mps_plan(&c, "/tmp/mine", "100", &p);
	CHECK(!p.client && p.threads[0] == '\0' && p.pinned[0] == '\0' && p.pipe_dir[0] == '\0');

	/* no admin file: a client by the environment's choice, with the environment's limits */
	memset(&c, 0, sizeof(c));
	c.sm_limit = 40;
	mps_plan(&c, "/tmp/mine", NULL, &p);
	CHECK(p.client && p.pipe_dir[0] == '\0' && strcmp(p.threads, "40") == 0);
	mps_plan(&c, NULL, NULL, &p);
	CHECK(!p.client);
	mps_plan(&c, "", NULL, &p);
	CHECK(!p.client);

	/* disabled, or refused: nothing */
	c = admin("/p", 25, 1ULL << 30);
	c.disabled = true;
	mps_plan(&c, NULL, NULL, &p);
	CHECK(!p.client);
	c = admin("/p", 25, 1ULL << 30);
	strcpy(c.error, "bad");
	mps_plan(&c, NULL, NULL, &p);
	CHECK(!p.client);

	/* the job file's pipe directory: absolute, plain characters, no ".." component */
	CHECK(cfg_valid_pipe_dir("/run/softmig/mps/GPU-ab12-cd/pipe", 33));
	CHECK(cfg_valid_pipe_dir("/a/..b/c.", 9));
	CHECK(!cfg_valid_pipe_dir("run/x", 5));
	CHECK(!cfg_valid_pipe_dir("", 0));
	CHECK(!cfg_valid_pipe_dir("/run/../x", 9));
	CHECK(!cfg_valid_pipe_dir("/run/..", 7));
	CHECK(!cfg_valid_pipe_dir("/run x", 6));
	CHECK(!cfg_valid_pipe_dir("/run;x", 6));
	return check_done();
}
