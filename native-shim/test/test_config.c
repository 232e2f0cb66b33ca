/*
 * What the shared cases (test_config_cases) do not cover: the environment, the cgroup,
 * cfg_load's precedence (admin file first, invalid anywhere refuses, root-only variables)
 * and the log's timestamps.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "log.h"

static char dir[64];

static void env_cases(void)
{
	char *good[] = { "CUDA_DEVICE_MEMORY_LIMIT=12G", "CUDA_DEVICE_MEMORY_LIMIT_1=4G", "CUDA_DEVICE_SM_LIMIT=25%",
			 "CUDA_DEVICE_SM_LIMIT_0=12.5", "CUDA_DEVICE_ORDER=PCI_BUS_ID", "LIBCUDA_LOG_LEVEL=3",
			 "PATH=/bin", "NOEQUALS", NULL };
	const char *bad[] = { "CUDA_DEVICE_MEMORY_LIMIT=99999999999999999999G", "CUDA_DEVICE_MEMORY_LIMIT=-1",
			      "CUDA_DEVICE_MEMORY_LIMIT_0=0x10G", "CUDA_DEVICE_SM_LIMIT=nan", "CUDA_DEVICE_SM_LIMIT=",
			      "CUDA_DEVICE_SM_LIMIT_1=inf", "CUDA_DEVICE_MEMORY_LIMIT_64=1G",
			      "CUDA_DEVICE_MEMORY_LIMIT=\"1G\"", "CUDA_DEVICE_MEMORY_LIMIT=1G # one" };
	struct shim_config c;
	char err[384];

	memset(&c, 0, sizeof(c));
	CHECK(cfg_apply_env(&c, good, err, sizeof(err)) == 0);
	CHECK(c.mem_limit == 12ULL << 30);
	CHECK(cfg_mem_limit(&c, 1) == 4ULL << 30);
	CHECK(cfg_mem_limit(&c, 0) == 12ULL << 30);
	CHECK(c.sm_limit == 25.0);
	CHECK(cfg_sm_limit(&c, 0) == 12.5);
	CHECK(cfg_sm_limit(&c, 3) == 25.0);
	CHECK(c.log_level == 3);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *envp[] = { "CUDA_DEVICE_MEMORY_LIMIT=1G", (char *)bad[i], NULL };

		memset(&c, 0, sizeof(c));
		err[0] = '\0';
		CHECK(cfg_apply_env(&c, envp, err, sizeof(err)) == -1);
		CHECK(err[0] != '\0');
		CHECK(c.mem_limit == 0); /* nothing of it applied */
	}

	/* a bad log setting is not a limit: noted, ignored */
	{
		char *envp[] = { "LIBCUDA_LOG_LEVEL=loud", "CUDA_DEVICE_MEMORY_LIMIT=1G", NULL };

		memset(&c, 0, sizeof(c));
		c.log_level = 1;
		CHECK(cfg_apply_env(&c, envp, err, sizeof(err)) == 0);
		CHECK(c.log_level == 1);
		CHECK(c.nnotes == 1);
		CHECK(c.mem_limit == 1ULL << 30);
	}
}

static void size_limit_cases(void)
{
	static char text[CFG_MAX_FILE_BYTES + 2];
	struct shim_config c;
	char err[384];

	memset(text, '#', sizeof(text));
	memset(&c, 0, sizeof(c));
	CHECK(cfg_parse_job_file(&c, "big.conf", text, CFG_MAX_FILE_BYTES, err, sizeof(err)) == 0);
	CHECK(cfg_parse_job_file(&c, "big.conf", text, CFG_MAX_FILE_BYTES + 1, err, sizeof(err)) == -1);
}

static void cgroup_cases(void)
{
	char id[32];
	const char *v1 = "12:memory:/slurm_node1/uid_1000/job_123/step_0\n4:freezer:/slurm_node1/uid_1000/job_123/step_0\n";

	CHECK(cfg_cgroup_job(v1, strlen(v1), id, sizeof(id)) == 0 && strcmp(id, "123") == 0);
	CHECK(cfg_cgroup_job("0::/system.slice/slurmstepd.scope/job_4567/step_0/user/task_0\n", 60, id, sizeof(id)) ==
		      0 &&
	      strcmp(id, "4567") == 0);
#define NO_JOB(s) CHECK(cfg_cgroup_job(s, strlen(s), id, sizeof(id)) == -1)
#define JOB(s, want) CHECK(cfg_cgroup_job(s, strlen(s), id, sizeof(id)) == 0 && strcmp(id, want) == 0)
	JOB("0::/system.slice/slurmstepd.scope/job_89\n", "89");
	JOB("0::/system.slice/slurmstepd.scope/job_89", "89");
	JOB("0::/x/job_abc/job_7/y", "7");
	NO_JOB("0::/user.slice/user-1000.slice/session-3.scope\n");
	NO_JOB("0::/system.slice/job_abc/x\n");
	NO_JOB("0::/system.slice/myjob_12/x\n");
	NO_JOB("0::/system.slice/job_12x/y\n");
	NO_JOB("/job_12/ no colons\n");
	NO_JOB("garbage");
	NO_JOB("");
	NO_JOB("0::/job_123456789012345678901234567890123456/");
}

static void write_file(const char *name, const char *text, mode_t mode)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static void clear_env(void)
{
	const char *names[] = { "SLURM_JOB_ID", "SLURM_ARRAY_TASK_ID", "SOFTMIG_JOB_ID", "CUDA_DEVICE_MEMORY_LIMIT",
				"CUDA_DEVICE_MEMORY_LIMIT_0", "CUDA_DEVICE_SM_LIMIT", "SOFTMIG_DISABLE",
				"SOFTMIG_SERVICE_UID", "SOFTMIG_SOCKET", "SOFTMIG_LOG_FILE", "LIBCUDA_LOG_LEVEL" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		unsetenv(names[i]);
}

/* cfg_load as root: the admin file decides, an invalid limit anywhere refuses. */
static void load_cases(void)
{
	struct shim_config c;
	char path[128];

	if (getuid() != 0) {
		printf("SKIP: cfg_load cases need root (admin files are root-owned)\n");
		return;
	}
	clear_env();
	setenv("SOFTMIG_CONFIG_DIR", dir, 1);
	write_file("4242.conf", "CUDA_DEVICE_MEMORY_LIMIT=2G   # from the admin\nCUDA_DEVICE_SM_LIMIT=25\n", 0644);

	/* the environment cannot raise a limit, not even per ordinal */
	setenv("SLURM_JOB_ID", "4242", 1);
	setenv("CUDA_DEVICE_MEMORY_LIMIT_0", "40G", 1);
	setenv("CUDA_DEVICE_SM_LIMIT", "100", 1);
	setenv("SOFTMIG_SOCKET", "/tmp/elsewhere.sock", 1);
	setenv("SOFTMIG_SERVICE_UID", "1000", 1);
	cfg_load(&c);
	CHECK(c.admin_file && c.error[0] == '\0');
	CHECK(cfg_mem_limit(&c, 0) == 2ULL << 30);
	CHECK(cfg_mem_limit(&c, 1) == 2ULL << 30);
	CHECK(cfg_sm_limit(&c, 0) == 25.0);
	CHECK(strcmp(c.socket_path, CFG_DEFAULT_SOCKET) == 0);
	CHECK(!c.have_service_uid);

	/* without a file, the environment asks */
	setenv("SLURM_JOB_ID", "4243", 1);
	cfg_load(&c);
	CHECK(!c.admin_file && c.error[0] == '\0');
	CHECK(cfg_mem_limit(&c, 0) == 40ULL << 30);
	CHECK(cfg_sm_limit(&c, 0) == 100.0);
	CHECK(strcmp(c.socket_path, "/tmp/elsewhere.sock") == 0);
	CHECK(c.have_service_uid && c.service_uid == 1000); /* root may */

	/* an invalid limit in the environment refuses, with or without an admin file */
	setenv("CUDA_DEVICE_MEMORY_LIMIT_0", "-1", 1);
	cfg_load(&c);
	CHECK(c.error[0] != '\0' && strstr(c.error, "CUDA_DEVICE_MEMORY_LIMIT_0"));
	CHECK(cfg_mem_limit(&c, 0) == 0 && cfg_sm_limit(&c, 0) == 0);
	setenv("SLURM_JOB_ID", "4242", 1);
	cfg_load(&c);
	CHECK(c.error[0] != '\0');
	unsetenv("CUDA_DEVICE_MEMORY_LIMIT_0");
	unsetenv("CUDA_DEVICE_SM_LIMIT");

	/* an invalid admin file refuses */
	write_file("4244.conf", "CUDA_DEVICE_MEMORY_LIMIT=lots\n", 0644);
	setenv("SLURM_JOB_ID", "4244", 1);
	cfg_load(&c);
	CHECK(c.admin_file && c.error[0] != '\0' && strstr(c.error, "4244.conf:1"));
	CHECK(cfg_mem_limit(&c, 0) == 0);

	/* a file that cannot be trusted refuses (nobody but root writes the directory) */
	write_file("4245.conf", "CUDA_DEVICE_MEMORY_LIMIT=1G\n", 0664);
	setenv("SLURM_JOB_ID", "4245", 1);
	cfg_load(&c);
	CHECK(c.error[0] != '\0');
	snprintf(path, sizeof(path), "%s/4246.conf", dir);
	CHECK(symlink("4242.conf", path) == 0);
	setenv("SLURM_JOB_ID", "4246", 1);
	cfg_load(&c);
	CHECK(c.error[0] != '\0');

	/* an array task: <job>_<task>.conf, also found when the task id is missing or wrong */
	write_file("4247_3.conf", "CUDA_DEVICE_MEMORY_LIMIT=3G\n", 0644);
	setenv("SLURM_JOB_ID", "4247", 1);
	setenv("SLURM_ARRAY_TASK_ID", "3", 1);
	cfg_load(&c);
	CHECK(c.admin_file && cfg_mem_limit(&c, 0) == 3ULL << 30);
	unsetenv("SLURM_ARRAY_TASK_ID");
	cfg_load(&c);
	CHECK(c.admin_file && cfg_mem_limit(&c, 0) == 3ULL << 30);
	setenv("SLURM_ARRAY_TASK_ID", "9", 1);
	cfg_load(&c);
	CHECK(c.admin_file && cfg_mem_limit(&c, 0) == 3ULL << 30);
	write_file("4247_4.conf", "CUDA_DEVICE_MEMORY_LIMIT=4G\n", 0644);
	cfg_load(&c);
	CHECK(c.error[0] != '\0'); /* two candidates: which one is not ours to guess */
	unsetenv("SLURM_ARRAY_TASK_ID");

	/* a job id that is not a number never reaches a path */
	setenv("SLURM_JOB_ID", "../4242", 1);
	cfg_load(&c);
	CHECK(!c.admin_file && c.error[0] == '\0');

	/* root may disable the shim */
	setenv("SOFTMIG_DISABLE", "1", 1);
	cfg_load(&c);
	CHECK(c.disabled);
	clear_env();
	unsetenv("SOFTMIG_CONFIG_DIR");
}

static void time_cases(void)
{
	char buf[64];

	CHECK(log_format_time(buf, sizeof(buf), 0, 0) == 27 && strcmp(buf, "1970-01-01T00:00:00.000000Z") == 0);
	log_format_time(buf, sizeof(buf), 951827696, 789);
	CHECK(strcmp(buf, "2000-02-29T12:34:56.000789Z") == 0);
	log_format_time(buf, sizeof(buf), 4107542399LL, 999999);
	CHECK(strcmp(buf, "2100-02-28T23:59:59.999999Z") == 0);
	log_format_time(buf, sizeof(buf), 1709251199, 5);
	CHECK(strcmp(buf, "2024-02-29T23:59:59.000005Z") == 0);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/softmig-test-config-%d", (int)getpid());
	mkdir(dir, 0755);
	env_cases();
	size_limit_cases();
	cgroup_cases();
	load_cases();
	time_cases();
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", dir);
	}
	return check_done();
}
