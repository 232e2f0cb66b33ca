/*
 * Configuration from the environment and the admin config file.
 *
 * cfg_load() runs once per process (and again in a forked child), before any other thread of
 * the shim exists; the result is read-only afterwards.  Parsing never allocates.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static void copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

int cfg_parse_size(const char *text, uint64_t *out)
{
	const char *p = text;
	uint64_t whole = 0, frac_num = 0, frac_den = 1;
	unsigned shift = 0;
	bool digits = false;

	if (!text)
		return -1;
	while (isspace((unsigned char)*p))
		p++;
	for (; isdigit((unsigned char)*p); p++) {
		digits = true;
		if (whole > (UINT64_MAX - 9) / 10)
			return -1;
		whole = whole * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		p++;
		for (; isdigit((unsigned char)*p); p++) {
			digits = true;
			if (frac_den < 1000000000000ULL) {
				frac_num = frac_num * 10 + (uint64_t)(*p - '0');
				frac_den *= 10;
			}
		}
	}
	if (!digits)
		return -1;
	switch (toupper((unsigned char)*p)) {
	case 'K': shift = 10; p++; break;
	case 'M': shift = 20; p++; break;
	case 'G': shift = 30; p++; break;
	case 'T': shift = 40; p++; break;
	default: break;
	}
	if (shift && (*p == 'i' || *p == 'I'))
		p++;
	if (*p == 'b' || *p == 'B')
		p++;
	while (isspace((unsigned char)*p))
		p++;
	if (*p != '\0')
		return -1;
	if (shift == 0 && frac_num != 0)
		frac_num = 0; /* fractions of a byte round down */
	if (whole > (((uint64_t)INT64_MAX) >> shift))
		return -1;
	whole <<= shift;
	/* frac_num / frac_den of one unit, rounded down; frac_den <= 10^12 keeps this exact */
	if (shift) {
		uint64_t unit = 1ULL << shift;
		uint64_t part = (uint64_t)(((unsigned __int128)frac_num * unit) / frac_den);

		if (whole > (uint64_t)INT64_MAX - part)
			return -1;
		whole += part;
	}
	*out = whole;
	return 0;
}

int cfg_parse_percent(const char *text, double *out)
{
	char *end;
	double v;

	if (!text || !*text)
		return -1;
	errno = 0;
	v = strtod(text, &end);
	while (isspace((unsigned char)*end))
		end++;
	if (errno || *end != '\0' || end == text || !isfinite(v) || v < 0 || v > 100)
		return -1;
	*out = v;
	return 0;
}

static int parse_ordinal_suffix(const char *key, const char *prefix)
{
	size_t n = strlen(prefix);
	const char *p = key + n;
	int v = 0;

	if (strncmp(key, prefix, n) != 0 || *p == '\0')
		return -1;
	for (; *p; p++) {
		if (!isdigit((unsigned char)*p))
			return -1;
		v = v * 10 + (*p - '0');
		if (v >= CFG_MAX_DEVICES)
			return -1;
	}
	return v;
}

int cfg_apply(struct shim_config *cfg, const char *key, const char *value)
{
	uint64_t bytes;
	double pct;
	int ord;

	if (strcmp(key, "CUDA_DEVICE_MEMORY_LIMIT") == 0) {
		if (cfg_parse_size(value, &bytes))
			return -1;
		cfg->mem_limit = bytes;
		return 0;
	}
	if ((ord = parse_ordinal_suffix(key, "CUDA_DEVICE_MEMORY_LIMIT_")) >= 0) {
		if (cfg_parse_size(value, &bytes))
			return -1;
		cfg->mem_limit_dev[ord] = bytes;
		cfg->mem_limit_set[ord] = true;
		return 0;
	}
	if (strcmp(key, "CUDA_DEVICE_SM_LIMIT") == 0) {
		if (cfg_parse_percent(value, &pct))
			return -1;
		cfg->sm_limit = pct;
		return 0;
	}
	if ((ord = parse_ordinal_suffix(key, "CUDA_DEVICE_SM_LIMIT_")) >= 0) {
		if (cfg_parse_percent(value, &pct))
			return -1;
		cfg->sm_limit_dev[ord] = pct;
		cfg->sm_limit_set[ord] = true;
		return 0;
	}
	if (strcmp(key, "LIBCUDA_LOG_LEVEL") == 0) {
		if (!isdigit((unsigned char)value[0]) || value[1] != '\0')
			return -1;
		cfg->log_level = value[0] - '0';
		return 0;
	}
	if (strcmp(key, "SOFTMIG_LOG_FILE") == 0) {
		copy_str(cfg->log_file, sizeof(cfg->log_file), value);
		return 0;
	}
	return 1;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int cfg_apply_file_text(struct shim_config *cfg, const char *text)
{
	char line[512];
	int bad = 0;

	while (*text) {
		const char *nl = strchr(text, '\n');
		size_t n = nl ? (size_t)(nl - text) : strlen(text);
		char *hash, *eq, *key, *value;

		if (n >= sizeof(line))
			n = sizeof(line) - 1;
		memcpy(line, text, n);
		line[n] = '\0';
		text = nl ? nl + 1 : text + strlen(text);
		if ((hash = strchr(line, '#')))
			*hash = '\0';
		key = trim(line);
		if (*key == '\0')
			continue;
		eq = strchr(key, '=');
		if (!eq) {
			bad++;
			continue;
		}
		*eq = '\0';
		key = trim(key);
		value = trim(eq + 1);
		if (strncmp(key, "export ", 7) == 0)
			key = trim(key + 7);
		if (cfg_apply(cfg, key, value) < 0)
			bad++;
	}
	return bad;
}

static void env_str(char *dst, size_t cap, const char *name)
{
	const char *v = getenv(name);

	if (v)
		copy_str(dst, cap, v);
}

/* Applies every CUDA_DEVICE_* and log variable of the environment. */
static void apply_env(struct shim_config *cfg)
{
	extern char **environ;
	char key[128];

	for (char **e = environ; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		size_t n;

		if (!eq || (strncmp(*e, "CUDA_DEVICE_", 12) != 0 && strncmp(*e, "LIBCUDA_LOG_LEVEL=", 18) != 0 &&
			    strncmp(*e, "SOFTMIG_LOG_FILE=", 17) != 0))
			continue;
		n = (size_t)(eq - *e);
		if (n >= sizeof(key))
			continue;
		memcpy(key, *e, n);
		key[n] = '\0';
		if (cfg_apply(cfg, key, eq + 1) < 0)
			log_msg(LOG_ERR, "ignoring %s: not a valid value: '%s'", key, eq + 1);
	}
}

/*
 * Reads an admin config file into buf.  It counts only if it is a regular file (not a
 * symlink), owned by root and not writable by group or others.  Returns 0 when read.
 */
static int read_admin_file(const char *path, char *buf, size_t cap)
{
	struct stat st;
	ssize_t n;
	size_t got = 0;
	int fd;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		log_msg(LOG_WARN, "ignoring config file %s: not a root-owned regular file writable only by root",
			path);
		close(fd);
		return -1;
	}
	while (got < cap - 1 && (n = read(fd, buf + got, cap - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	close(fd);
	return 0;
}

static void load_admin_file(struct shim_config *cfg)
{
	const char *dir = CFG_DEFAULT_CONFIG_DIR;
	const char *env_dir = getenv("SOFTMIG_CONFIG_DIR");
	char text[8192];
	const char *job = cfg->array_job_id[0] ? cfg->array_job_id : cfg->job_id;

	if (env_dir && *env_dir && geteuid() == 0)
		dir = env_dir;
	if (!job[0])
		return;
	if (cfg->array_task_id[0])
		snprintf(cfg->admin_file_path, sizeof(cfg->admin_file_path), "%s/%s_%s.conf", dir, job,
			 cfg->array_task_id);
	if (!cfg->array_task_id[0] || read_admin_file(cfg->admin_file_path, text, sizeof(text))) {
		snprintf(cfg->admin_file_path, sizeof(cfg->admin_file_path), "%s/%s.conf", dir, cfg->job_id);
		if (read_admin_file(cfg->admin_file_path, text, sizeof(text))) {
			cfg->admin_file_path[0] = '\0';
			return;
		}
	}
	cfg->admin_file = true;
	if (cfg_apply_file_text(cfg, text))
		log_msg(LOG_ERR, "config file %s has lines that are not valid KEY=VALUE settings",
			cfg->admin_file_path);
}

void cfg_load(struct shim_config *cfg)
{
	const char *v;

	memset(cfg, 0, sizeof(*cfg));
	cfg->log_level = LOG_ERR;
	copy_str(cfg->socket_path, sizeof(cfg->socket_path), CFG_DEFAULT_SOCKET);
	v = getenv("SOFTMIG_DISABLE");
	cfg->disabled = v && strcmp(v, "1") == 0;

	env_str(cfg->job_id, sizeof(cfg->job_id), "SOFTMIG_JOB_ID");
	env_str(cfg->job_id, sizeof(cfg->job_id), "SLURM_JOB_ID");
	env_str(cfg->array_job_id, sizeof(cfg->array_job_id), "SLURM_ARRAY_JOB_ID");
	env_str(cfg->array_task_id, sizeof(cfg->array_task_id), "SLURM_ARRAY_TASK_ID");

	apply_env(cfg);
	load_admin_file(cfg);
	if (cfg->admin_file)
		return;
	v = getenv("SOFTMIG_SOCKET");
	if (v && *v)
		copy_str(cfg->socket_path, sizeof(cfg->socket_path), v);
	v = getenv("SOFTMIG_SERVICE_UID");
	if (v && *v) {
		char *end;
		unsigned long uid = strtoul(v, &end, 10);

		if (*end == '\0' && uid < UINT_MAX) {
			cfg->have_service_uid = true;
			cfg->service_uid = (uid_t)uid;
		}
	}
}

uint64_t cfg_mem_limit(const struct shim_config *cfg, int dev)
{
	if (dev >= 0 && dev < CFG_MAX_DEVICES && cfg->mem_limit_set[dev])
		return cfg->mem_limit_dev[dev];
	return cfg->mem_limit;
}

double cfg_sm_limit(const struct shim_config *cfg, int dev)
{
	if (dev >= 0 && dev < CFG_MAX_DEVICES && cfg->sm_limit_set[dev])
		return cfg->sm_limit_dev[dev];
	return cfg->sm_limit;
}
