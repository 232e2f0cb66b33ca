/*
 * Configuration: the environment and the admin config file, parsed once into struct
 * shim_config.  The admin file (<config-dir>/<jobid>_<arrayid>.conf or <jobid>.conf, KEY=VALUE
 * lines) always wins over the environment, and while it exists SOFTMIG_SOCKET and
 * SOFTMIG_SERVICE_UID are ignored.
 */
#ifndef SOFTMIG_CONFIG_H
#define SOFTMIG_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define CFG_MAX_DEVICES 64
#define CFG_DEFAULT_SOCKET "/run/softmig/softmig.sock"
#define CFG_DEFAULT_CONFIG_DIR "/var/run/softmig"

struct shim_config {
	bool disabled;                            /* SOFTMIG_DISABLE=1 */
	char socket_path[108];
	bool admin_file;                          /* an admin config file was found and used */
	char admin_file_path[256];
	bool have_service_uid;
	uid_t service_uid;
	char job_id[64];
	char array_job_id[64];
	char array_task_id[32];
	uint64_t mem_limit;                       /* 0 = none */
	uint64_t mem_limit_dev[CFG_MAX_DEVICES];  /* per CUDA ordinal, valid where mem_limit_set */
	bool mem_limit_set[CFG_MAX_DEVICES];
	double sm_limit;                          /* percent, 0 = none */
	double sm_limit_dev[CFG_MAX_DEVICES];
	bool sm_limit_set[CFG_MAX_DEVICES];
	int log_level;
	char log_file[256];
};

/* Parses a size (24G, 1.5GiB, 12288M, 1073741824).  Returns 0, or -1 for anything else. */
int cfg_parse_size(const char *text, uint64_t *out);

/* Parses a percentage (0..100, fractions allowed).  Returns 0 or -1. */
int cfg_parse_percent(const char *text, double *out);

/*
 * Applies one KEY=VALUE setting.  Unknown keys are ignored (returns 1); a known key with a bad
 * value returns -1 and leaves the config unchanged; 0 when applied.
 */
int cfg_apply(struct shim_config *cfg, const char *key, const char *value);

/*
 * Applies the KEY=VALUE lines of an admin file held in text (NUL terminated).  '#' starts a
 * comment; blank lines and surrounding spaces are ignored.  Returns the number of bad lines.
 */
int cfg_apply_file_text(struct shim_config *cfg, const char *text);

/* Fills cfg from the environment and the admin config file.  Never fails. */
void cfg_load(struct shim_config *cfg);

/* Memory limit of CUDA ordinal dev from this config (0 = none). */
uint64_t cfg_mem_limit(const struct shim_config *cfg, int dev);
double cfg_sm_limit(const struct shim_config *cfg, int dev);

#endif
