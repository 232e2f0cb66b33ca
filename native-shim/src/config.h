/*
 * Configuration: the environment and the admin config file (the job file), parsed once into
 * struct shim_config.
 *
 * The job file's format and the value syntax (sizes, percentages) are defined once, in
 * docs/ARCHITECTURE.md ("Job config files"), and implemented twice: here and in the
 * coordinator's JobConfigFile; both are tested against test-data/config-cases.txt.
 *
 * Admin first: when the job has an admin file, its limits are the only ones; nothing in the
 * environment changes a limit, and SOFTMIG_SOCKET and SOFTMIG_SERVICE_UID are ignored.  An
 * invalid limit anywhere (file or environment) is an error: cfg->error says why, and the shim
 * refuses GPU access with that message; it never means "no limit".
 */
#ifndef SOFTMIG_CONFIG_H
#define SOFTMIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CFG_MAX_DEVICES 64
#define CFG_DEFAULT_SOCKET "/run/softmig/softmig.sock"
#define CFG_DEFAULT_CONFIG_DIR "/var/run/softmig"
#define CFG_DEFAULT_LOG_DIR "/var/log/softmig/users"
#define CFG_MAX_FILE_BYTES 65536
#define CFG_MAX_NOTES 4
#define CFG_MPS_PIPE_KEY "CUDA_MPS_PIPE_DIRECTORY"
#define CFG_MAX_PIPE_DIR 200

struct shim_config {
	bool disabled;                            /* SOFTMIG_DISABLE=1, honoured only for root */
	char socket_path[108];
	bool admin_file;                          /* an admin config file was found and used */
	char admin_file_path[256];
	bool have_service_uid;                    /* SOFTMIG_SERVICE_UID, honoured only for root */
	uid_t service_uid;
	char job_id[64];                          /* as the environment claims it */
	char kernel_job_id[32];                   /* from /proc/self/cgroup; empty outside SLURM */
	char array_task_id[32];
	uint64_t mem_limit;                       /* 0 = none */
	uint64_t mem_limit_dev[CFG_MAX_DEVICES];  /* per CUDA ordinal, valid where mem_limit_set */
	bool mem_limit_set[CFG_MAX_DEVICES];
	double sm_limit;                          /* percent, 0 = none */
	double sm_limit_dev[CFG_MAX_DEVICES];
	bool sm_limit_set[CFG_MAX_DEVICES];
	char mps_pipe_dir[CFG_MAX_PIPE_DIR + 1];  /* the admin file's CUDA_MPS_PIPE_DIRECTORY: an MPS job */
	int log_level;
	char log_file[256];                       /* SOFTMIG_LOG_FILE */
	char log_dir[256];                        /* base of the per-user log directories */
	char error[384];                          /* non-empty: GPU access is refused, this is why */
	char notes[CFG_MAX_NOTES][192];           /* warnings, logged once the log is open */
	int nnotes;
};

/* Parses a size (24G, 1.5GiB, 12288M, 1073741824).  Returns 0, or -1 for anything else. */
int cfg_parse_size(const char *text, uint64_t *out);
int cfg_parse_size_n(const char *text, size_t len, uint64_t *out);

/* Parses a percentage (0..100, fractions and a trailing % allowed).  Returns 0 or -1. */
int cfg_parse_percent(const char *text, double *out);
int cfg_parse_percent_n(const char *text, size_t len, double *out);

/*
 * Parses the text of a job file (len bytes, NULs included) and, when all of it is valid,
 * applies its settings to cfg.  Returns 0, or -1 with a message naming `name`, the line, the
 * key and the value in err; cfg is then unchanged.
 */
int cfg_parse_job_file(struct shim_config *cfg, const char *name, const char *text, size_t len, char *err,
		       size_t errcap);

/*
 * Applies the CUDA_DEVICE_* and log variables of envp (NAME=VALUE strings, NULL terminated).
 * Returns 0, or -1 with a message in err for the first invalid limit (cfg then keeps the
 * limits it had); a bad log setting is only a note.
 */
int cfg_apply_env(struct shim_config *cfg, char *const *envp, char *err, size_t errcap);

/*
 * The SLURM job id in the text of /proc/<pid>/cgroup (".../job_<id>/..." after the second
 * colon of a line), as the coordinator's CgroupParser finds it.  Returns 0 and the id in out,
 * or -1.
 */
int cfg_cgroup_job(const char *text, size_t len, char *out, size_t cap);

/*
 * Whether text (len bytes) is a pipe directory the job file may name: an absolute path of at most
 * CFG_MAX_PIPE_DIR characters from [A-Za-z0-9._/-], without a ".." component.
 */
bool cfg_valid_pipe_dir(const char *text, size_t len);

/* Fills cfg from the environment and the admin config file.  Never fails: see cfg->error. */
void cfg_load(struct shim_config *cfg);

/* Memory limit of CUDA ordinal dev from this config (0 = none). */
uint64_t cfg_mem_limit(const struct shim_config *cfg, int dev);
double cfg_sm_limit(const struct shim_config *cfg, int dev);

#endif
