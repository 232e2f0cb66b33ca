/*
 * Configuration from the environment and the admin config file (see config.h and
 * docs/ARCHITECTURE.md, "Job config files").
 *
 * cfg_load() runs once per process (and again in a forked child) under the shim's start lock,
 * before any other thread of the shim exists; the result is read-only afterwards.  Parsing
 * works on (pointer, length) slices, never allocates and never logs: problems go to
 * cfg->error (GPU access is refused) or cfg->notes (logged once the log is open).
 */
#define _GNU_SOURCE
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define MAX_FRACTION_DIGITS 12
#define MAX_PERCENT_CHARS 32
#define MEM_KEY "CUDA_DEVICE_MEMORY_LIMIT"
#define SM_KEY "CUDA_DEVICE_SM_LIMIT"

static void copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void add_note(struct shim_config *cfg, const char *fmt, ...)
{
	va_list ap;

	if (cfg->nnotes >= CFG_MAX_NOTES)
		return;
	va_start(ap, fmt);
	vsnprintf(cfg->notes[cfg->nnotes++], sizeof(cfg->notes[0]), fmt, ap);
	va_end(ap);
}

/* Space, tab and CR surround values and keys; nothing else counts as blank. */
static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static void trim(const char **s, const char **e)
{
	while (*s < *e && is_blank(**s))
		(*s)++;
	while (*e > *s && is_blank((*e)[-1]))
		(*e)--;
}

static bool slice_is(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && memcmp(s, word, n) == 0;
}

/*
 * Copies a value into out for a message: at most 64 characters, anything that is not
 * printable ASCII as '?', so a hostile value cannot write control sequences to a terminal.
 */
static void printable(char *out, size_t cap, const char *s, size_t n)
{
	size_t i, o = 0;

	for (i = 0; i < n && o + 4 < cap && i < 64; i++)
		out[o++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (i < n && o + 4 < cap) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

int cfg_parse_size_n(const char *text, size_t len, uint64_t *out)
{
	const char *p = text, *e = text + len;
	uint64_t whole = 0, frac_num = 0, frac_den = 1;
	unsigned shift = 0;

	if (!text)
		return -1;
	trim(&p, &e);
	if (p == e || !is_digit(*p))
		return -1;
	for (; p < e && is_digit(*p); p++) {
		if (whole > (UINT64_MAX - 9) / 10)
			return -1;
		whole = whole * 10 + (uint64_t)(*p - '0');
	}
	if (p < e && *p == '.') {
		int digits = 0;

		for (p++; p < e && is_digit(*p); p++) {
			if (++digits > MAX_FRACTION_DIGITS)
				return -1;
			frac_num = frac_num * 10 + (uint64_t)(*p - '0');
			frac_den *= 10;
		}
		if (digits == 0)
			return -1;
	}
	if (p < e) {
		switch (*p) {
		case 'K': case 'k': shift = 10; p++; break;
		case 'M': case 'm': shift = 20; p++; break;
		case 'G': case 'g': shift = 30; p++; break;
		case 'T': case 't': shift = 40; p++; break;
		default: break;
		}
	}
	if (shift && p < e && (*p == 'i' || *p == 'I')) {
		p++;
		if (p == e || (*p != 'b' && *p != 'B'))
			return -1;
	}
	if (p < e && (*p == 'b' || *p == 'B'))
		p++;
	if (p != e)
		return -1;
	if (whole > (((uint64_t)INT64_MAX) >> shift))
		return -1;
	whole <<= shift;
	/* frac_num / frac_den of one unit, rounded down; frac_den <= 10^12 keeps this exact */
	if (shift) {
		uint64_t part = (uint64_t)(((unsigned __int128)frac_num << shift) / frac_den);

		if (whole > (uint64_t)INT64_MAX - part)
			return -1;
		whole += part;
	}
	*out = whole;
	return 0;
}

int cfg_parse_size(const char *text, uint64_t *out)
{
	return text ? cfg_parse_size_n(text, strlen(text), out) : -1;
}

int cfg_parse_percent_n(const char *text, size_t len, double *out)
{
	const char *p, *s = text, *e = text + len, *num_end;
	char buf[MAX_PERCENT_CHARS + 1];
	double v;

	if (!text)
		return -1;
	trim(&s, &e);
	if (e - s > MAX_PERCENT_CHARS || s == e || !is_digit(*s))
		return -1;
	for (p = s; p < e && is_digit(*p); p++)
		;
	if (p < e && *p == '.') {
		if (++p == e || !is_digit(*p))
			return -1;
		while (p < e && is_digit(*p))
			p++;
	}
	num_end = p;
	if (p < e && *p == '%')
		p++;
	if (p != e)
		return -1;
	/* digits and at most one point: strtod reads exactly these, correctly rounded */
	memcpy(buf, s, (size_t)(num_end - s));
	buf[num_end - s] = '\0';
	v = strtod(buf, NULL);
	if (!(v >= 0 && v <= 100))
		return -1;
	*out = v;
	return 0;
}

int cfg_parse_percent(const char *text, double *out)
{
	return text ? cfg_parse_percent_n(text, strlen(text), out) : -1;
}

/*
 * The CUDA ordinal of a per-device key: suffix is what follows "<KEY>" (e.g. "_1").  Returns
 * -1 when there is no suffix (the all-devices key), the ordinal 0..63, or -2 when the suffix
 * is not "_" and one or two digits naming an ordinal below CFG_MAX_DEVICES.
 */
static int ordinal_suffix(const char *suffix, size_t n)
{
	int v = 0;

	if (n == 0)
		return -1;
	if (suffix[0] != '_' || n < 2 || n > 3)
		return -2;
	for (size_t i = 1; i < n; i++) {
		if (!is_digit(suffix[i]))
			return -2;
		v = v * 10 + (suffix[i] - '0');
	}
	return v < CFG_MAX_DEVICES ? v : -2;
}

static bool has_prefix(const char *s, size_t n, const char *prefix)
{
	size_t p = strlen(prefix);

	return n >= p && memcmp(s, prefix, p) == 0;
}

/*
 * Applies one setting.  Returns 0 (applied or an unknown key, which is ignored) or -1 with
 * a message in err.  where is "<file>:<line>" or "environment".
 */
static int apply_setting(struct shim_config *cfg, const char *where, const char *key, size_t klen, const char *val,
			 size_t vlen, char *err, size_t cap)
{
	char k[72], v[72];
	uint64_t bytes;
	double pct;
	int ord;

	printable(k, sizeof(k), key, klen);
	printable(v, sizeof(v), val, vlen);
	if (has_prefix(key, klen, MEM_KEY)) {
		ord = ordinal_suffix(key + strlen(MEM_KEY), klen - strlen(MEM_KEY));
		if (ord == -2)
			goto bad_ordinal;
		if (cfg_parse_size_n(val, vlen, &bytes)) {
			snprintf(err, cap, "%s: %s='%s' is not a size (e.g. 24G, 1.5G, 12288M)", where, k, v);
			return -1;
		}
		if (ord < 0) {
			cfg->mem_limit = bytes;
		} else {
			cfg->mem_limit_dev[ord] = bytes;
			cfg->mem_limit_set[ord] = true;
		}
		return 0;
	}
	if (has_prefix(key, klen, SM_KEY)) {
		ord = ordinal_suffix(key + strlen(SM_KEY), klen - strlen(SM_KEY));
		if (ord == -2)
			goto bad_ordinal;
		if (cfg_parse_percent_n(val, vlen, &pct)) {
			snprintf(err, cap, "%s: %s='%s' is not a percentage between 0 and 100", where, k, v);
			return -1;
		}
		if (ord < 0) {
			cfg->sm_limit = pct;
		} else {
			cfg->sm_limit_dev[ord] = pct;
			cfg->sm_limit_set[ord] = true;
		}
		return 0;
	}
	if (slice_is(key, klen, CFG_MPS_PIPE_KEY)) {
		if (!cfg_valid_pipe_dir(val, vlen)) {
			snprintf(err, cap, "%s: %s='%s' is not an absolute path of letters, digits, '.', '_', '-' and '/'",
				 where, k, v);
			return -1;
		}
		memcpy(cfg->mps_pipe_dir, val, vlen);
		cfg->mps_pipe_dir[vlen] = '\0';
		return 0;
	}
	if (slice_is(key, klen, "LIBCUDA_LOG_LEVEL")) {
		if (vlen != 1 || val[0] < '0' || val[0] > '4') {
			snprintf(err, cap, "%s: %s='%s' is not a log level 0-4", where, k, v);
			return -1;
		}
		cfg->log_level = val[0] - '0';
		return 0;
	}
	if (slice_is(key, klen, "SOFTMIG_LOG_FILE")) {
		if (vlen == 0 || vlen >= sizeof(cfg->log_file) || memchr(val, '\0', vlen)) {
			snprintf(err, cap, "%s: %s='%s' is not a file name", where, k, v);
			return -1;
		}
		memcpy(cfg->log_file, val, vlen);
		cfg->log_file[vlen] = '\0';
		return 0;
	}
	return 0;

bad_ordinal:
	snprintf(err, cap, "%s: %s is not a limit key (per-device keys end in _N, N a CUDA ordinal 0-%d)", where, k,
		 CFG_MAX_DEVICES - 1);
	return -1;
}

bool cfg_valid_pipe_dir(const char *text, size_t len)
{
	if (len == 0 || len > CFG_MAX_PIPE_DIR || text[0] != '/')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = text[i];

		if (!is_digit(c) && !(c >= 'A' && c <= 'Z') && !(c >= 'a' && c <= 'z') && c != '.' && c != '_' &&
		    c != '-' && c != '/')
			return false;
		/* a ".." component: "/../" inside or "/.." at the end */
		if (c == '/' && i + 2 < len && text[i + 1] == '.' && text[i + 2] == '.' &&
		    (i + 3 == len || text[i + 3] == '/'))
			return false;
	}
	return true;
}

static bool is_key_start(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_key_char(char c)
{
	return is_key_start(c) || is_digit(c);
}

/* One line of a job file, without its '\n'.  Returns 0 or -1 with a message in err. */
static int parse_line(struct shim_config *cfg, const char *name, int lineno, const char *s, const char *e,
		      char *err, size_t cap)
{
	char where[300], shown[72];
	const char *key, *key_end, *val, *val_end, *p;

	snprintf(where, sizeof(where), "%s:%d", name, lineno);
	trim(&s, &e);
	if (s == e || *s == '#')
		return 0;
	p = s;
	if (e - p > 6 && memcmp(p, "export", 6) == 0 && (p[6] == ' ' || p[6] == '\t')) {
		for (p += 6; p < e && is_blank(*p); p++)
			;
		if (p == e || !is_key_start(*p))
			p = s; /* "export =1": export is the key */
	}
	key = p;
	if (p < e && is_key_start(*p))
		while (p < e && is_key_char(*p))
			p++;
	key_end = p;
	while (p < e && is_blank(*p))
		p++;
	if (key == key_end || p == e || *p != '=') {
		printable(shown, sizeof(shown), s, (size_t)(e - s));
		snprintf(err, cap, "%s: expected KEY=VALUE, got '%s'", where, shown);
		return -1;
	}
	p++;
	while (p < e && is_blank(*p))
		p++;
	if (p < e && (*p == '"' || *p == '\'')) {
		const char *close = memchr(p + 1, *p, (size_t)(e - p - 1));

		if (!close) {
			snprintf(err, cap, "%s: a quote is not closed", where);
			return -1;
		}
		val = p + 1;
		val_end = close;
		for (p = close + 1; p < e && is_blank(*p); p++)
			;
		if (p < e && *p != '#') {
			snprintf(err, cap, "%s: text after the closing quote", where);
			return -1;
		}
	} else {
		const char *hash = memchr(p, '#', (size_t)(e - p));

		val = p;
		val_end = hash ? hash : e;
		trim(&val, &val_end);
	}
	return apply_setting(cfg, where, key, (size_t)(key_end - key), val, (size_t)(val_end - val), err, cap);
}

int cfg_parse_job_file(struct shim_config *cfg, const char *name, const char *text, size_t len, char *err,
		       size_t errcap)
{
	struct shim_config next = *cfg;
	const char *p = text, *end = text + len;
	int lineno = 1;

	if (len > CFG_MAX_FILE_BYTES) {
		snprintf(err, errcap, "%s: larger than %d bytes", name, CFG_MAX_FILE_BYTES);
		return -1;
	}
	for (const char *q = text; q < end; q++) {
		unsigned char c = (unsigned char)*q;

		if (c == '\n')
			lineno++;
		else if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f) {
			snprintf(err, errcap, "%s:%d: control character 0x%02x", name, lineno, c);
			return -1;
		}
	}
	for (lineno = 1; p <= end; lineno++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *line_end = nl ? nl : end;

		if (parse_line(&next, name, lineno, p, line_end, err, errcap))
			return -1;
		if (!nl)
			break;
		p = nl + 1;
	}
	*cfg = next;
	return 0;
}

int cfg_apply_env(struct shim_config *cfg, char *const *envp, char *err, size_t errcap)
{
	struct shim_config next = *cfg;

	for (char *const *e = envp; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		size_t klen;

		if (!eq)
			continue;
		klen = (size_t)(eq - *e);
		if (has_prefix(*e, klen, MEM_KEY) || has_prefix(*e, klen, SM_KEY)) {
			if (apply_setting(&next, "environment", *e, klen, eq + 1, strlen(eq + 1), err, errcap))
				return -1;
		} else if (slice_is(*e, klen, "LIBCUDA_LOG_LEVEL") || slice_is(*e, klen, "SOFTMIG_LOG_FILE")) {
			char note[384];

			if (apply_setting(&next, "environment", *e, klen, eq + 1, strlen(eq + 1), note, sizeof(note)))
				add_note(&next, "ignoring %s", note);
		}
	}
	*cfg = next;
	return 0;
}

int cfg_cgroup_job(const char *text, size_t len, char *out, size_t cap)
{
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;
		const char *c1 = memchr(p, ':', (size_t)(e - p));
		const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(e - c1 - 1)) : NULL;

		while (e > p && (unsigned char)e[-1] <= ' ')
			e--;
		for (const char *q = c2; q && q + 5 < e; q++) {
			const char *d = q + 5, *ds = d;

			if (memcmp(q, "/job_", 5) != 0)
				continue;
			while (d < e && is_digit(*d))
				d++;
			if (d == ds || (d < e && *d != '/'))
				continue;
			if ((size_t)(d - ds) >= cap)
				return -1;
			memcpy(out, ds, (size_t)(d - ds));
			out[d - ds] = '\0';
			return 0;
		}
		p = (nl ? nl : end) + 1;
	}
	return -1;
}

/* ------------------------------------------------------------------ cfg_load */

static bool is_root(void)
{
	/* real and effective root: never a set-uid program started by a user */
	return getuid() == 0 && geteuid() == 0;
}

static void env_str(char *dst, size_t cap, const char *name)
{
	const char *v = secure_getenv(name);

	if (v)
		copy_str(dst, cap, v);
}

static bool digits_only(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!is_digit(*s))
			return false;
	return true;
}

static void kernel_job(struct shim_config *cfg)
{
	char text[4096];
	ssize_t n;
	int fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	n = read(fd, text, sizeof(text));
	close(fd);
	if (n > 0 && cfg_cgroup_job(text, (size_t)n, cfg->kernel_job_id, sizeof(cfg->kernel_job_id)))
		cfg->kernel_job_id[0] = '\0';
}

/*
 * Reads an admin config file into buf (at most CFG_MAX_FILE_BYTES + 1 bytes, so an oversized
 * file is seen as one).  It counts only if it is a regular file (not a symlink), owned by root
 * and not writable by group or others.  Returns the length, -1 when there is no such file,
 * or -2 when there is one that cannot be trusted or read (err says why).
 */
static ssize_t read_admin_file(const char *path, char *buf, size_t cap, char *err, size_t errcap)
{
	struct stat st;
	ssize_t n;
	size_t got = 0;
	int fd;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT)
			return -1;
		snprintf(err, errcap, "config file %s cannot be used: %s", path,
			 errno == ELOOP ? "it is a symbolic link" : strerror(errno));
		return -2;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		snprintf(err, errcap, "config file %s cannot be used: not a root-owned regular file writable only by root",
			 path);
		close(fd);
		return -2;
	}
	while (got < cap && (n = read(fd, buf + got, cap - got)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errcap, "config file %s cannot be read: %s", path, strerror(errno));
			close(fd);
			return -2;
		}
		got += (size_t)n;
	}
	close(fd);
	return (ssize_t)got;
}

/*
 * The job's one <job>_<task>.conf when the task id is unknown or wrong (as the coordinator
 * does).  Returns 0 with the path, -1 when there is none, -2 when there are several.
 */
static int unique_array_file(const char *dir, const char *job, char *path, size_t cap)
{
	DIR *d = opendir(dir);
	struct dirent *ent;
	size_t jl = strlen(job);
	int found = 0;

	if (!d)
		return -1;
	while ((ent = readdir(d))) {
		const char *n = ent->d_name, *q;
		size_t len = strlen(n);

		if (len <= jl + 6 || strncmp(n, job, jl) != 0 || n[jl] != '_' || strcmp(n + len - 5, ".conf") != 0)
			continue;
		for (q = n + jl + 1; q < n + len - 5 && is_digit(*q); q++)
			;
		if (q != n + len - 5 || q == n + jl + 1)
			continue;
		if (found++ == 0)
			snprintf(path, cap, "%s/%s", dir, n);
	}
	closedir(d);
	return found == 0 ? -1 : found == 1 ? 0 : -2;
}

/*
 * Finds and applies the job's admin config file: <job>_<task>.conf, <job>.conf, or the job's
 * only <job>_<n>.conf; the job is the one the kernel says (cgroup), else the one the
 * environment claims.  A file that exists but cannot be trusted or parsed sets cfg->error.
 */
static void load_admin_file(struct shim_config *cfg, const char *dir)
{
	static char text[CFG_MAX_FILE_BYTES + 1]; /* under the start lock */
	const char *job = cfg->kernel_job_id[0] ? cfg->kernel_job_id : cfg->job_id;
	char path[sizeof(cfg->admin_file_path)];
	ssize_t n = -1;
	int r;

	if (!digits_only(job))
		return;
	if (digits_only(cfg->array_task_id)) {
		snprintf(path, sizeof(path), "%s/%s_%s.conf", dir, job, cfg->array_task_id);
		n = read_admin_file(path, text, sizeof(text), cfg->error, sizeof(cfg->error));
	}
	if (n == -1) {
		snprintf(path, sizeof(path), "%s/%s.conf", dir, job);
		n = read_admin_file(path, text, sizeof(text), cfg->error, sizeof(cfg->error));
	}
	if (n == -1) {
		r = unique_array_file(dir, job, path, sizeof(path));
		if (r == -2) {
			snprintf(cfg->error, sizeof(cfg->error), "several config files for job %s in %s", job, dir);
			return;
		}
		if (r == 0)
			n = read_admin_file(path, text, sizeof(text), cfg->error, sizeof(cfg->error));
	}
	if (n == -1)
		return;
	copy_str(cfg->admin_file_path, sizeof(cfg->admin_file_path), path);
	cfg->admin_file = true;
	if (n >= 0)
		cfg_parse_job_file(cfg, path, text, (size_t)n, cfg->error, sizeof(cfg->error));
}

static void clear_limits(struct shim_config *cfg)
{
	cfg->mem_limit = 0;
	cfg->sm_limit = 0;
	memset(cfg->mem_limit_dev, 0, sizeof(cfg->mem_limit_dev));
	memset(cfg->mem_limit_set, 0, sizeof(cfg->mem_limit_set));
	memset(cfg->sm_limit_dev, 0, sizeof(cfg->sm_limit_dev));
	memset(cfg->sm_limit_set, 0, sizeof(cfg->sm_limit_set));
	cfg->mps_pipe_dir[0] = '\0';
}

static bool any_limit(const struct shim_config *cfg)
{
	for (int i = 0; i < CFG_MAX_DEVICES; i++)
		if (cfg->mem_limit_set[i] || cfg->sm_limit_set[i])
			return true;
	return cfg->mem_limit || cfg->sm_limit;
}

/* A variable that only root may set: honoured for root, otherwise a note. */
static const char *root_only(struct shim_config *cfg, const char *name, bool root)
{
	const char *v = secure_getenv(name);

	if (!v || !*v)
		return NULL;
	if (!root) {
		add_note(cfg, "ignoring %s: honoured only for root", name);
		return NULL;
	}
	return v;
}

void cfg_load(struct shim_config *cfg)
{
	extern char **environ;
	struct shim_config env;
	bool root = is_root();
	const char *v, *dir = CFG_DEFAULT_CONFIG_DIR;
	char env_error[sizeof(cfg->error)] = "";

	memset(cfg, 0, sizeof(*cfg));
	cfg->log_level = LOG_ERR;
	copy_str(cfg->socket_path, sizeof(cfg->socket_path), CFG_DEFAULT_SOCKET);
	copy_str(cfg->log_dir, sizeof(cfg->log_dir), CFG_DEFAULT_LOG_DIR);

	env_str(cfg->job_id, sizeof(cfg->job_id), "SOFTMIG_JOB_ID");
	env_str(cfg->job_id, sizeof(cfg->job_id), "SLURM_JOB_ID");
	env_str(cfg->array_task_id, sizeof(cfg->array_task_id), "SLURM_ARRAY_TASK_ID");
	kernel_job(cfg);

	/* limits of the environment, validated always, applied only without an admin file */
	env = *cfg;
	cfg_apply_env(&env, environ, env_error, sizeof(env_error));
	if (!secure_getenv("SOFTMIG_LOG_FILE"))
		env.log_file[0] = '\0'; /* a set-uid program: not the caller's to choose */
	cfg->log_level = env.log_level;
	copy_str(cfg->log_file, sizeof(cfg->log_file), env.log_file);
	memcpy(cfg->notes, env.notes, sizeof(cfg->notes));
	cfg->nnotes = env.nnotes;

	if ((v = root_only(cfg, "SOFTMIG_CONFIG_DIR", root)))
		dir = v;
	if ((v = root_only(cfg, "SOFTMIG_LOG_DIR", root)))
		copy_str(cfg->log_dir, sizeof(cfg->log_dir), v);
	load_admin_file(cfg, dir);
	if (!cfg->error[0] && env_error[0])
		copy_str(cfg->error, sizeof(cfg->error), env_error);
	if (!cfg->admin_file) {
		memcpy(cfg->mem_limit_dev, env.mem_limit_dev, sizeof(cfg->mem_limit_dev));
		memcpy(cfg->mem_limit_set, env.mem_limit_set, sizeof(cfg->mem_limit_set));
		memcpy(cfg->sm_limit_dev, env.sm_limit_dev, sizeof(cfg->sm_limit_dev));
		memcpy(cfg->sm_limit_set, env.sm_limit_set, sizeof(cfg->sm_limit_set));
		cfg->mem_limit = env.mem_limit;
		cfg->sm_limit = env.sm_limit;
	} else if (any_limit(&env)) {
		add_note(cfg, "ignoring the CUDA_DEVICE_* limits of the environment: %s decides", cfg->admin_file_path);
	}
	if (cfg->error[0])
		clear_limits(cfg);

	v = root_only(cfg, "SOFTMIG_DISABLE", root);
	cfg->disabled = v && strcmp(v, "1") == 0;
	if (cfg->admin_file)
		return;
	v = secure_getenv("SOFTMIG_SOCKET");
	if (v && *v)
		copy_str(cfg->socket_path, sizeof(cfg->socket_path), v);
	v = root_only(cfg, "SOFTMIG_SERVICE_UID", root);
	if (v) {
		char *end;
		unsigned long uid;

		errno = 0;
		uid = strtoul(v, &end, 10);
		if (digits_only(v) && errno == 0 && uid < UINT_MAX) {
			cfg->have_service_uid = true;
			cfg->service_uid = (uid_t)uid;
		} else {
			char shown[72];

			printable(shown, sizeof(shown), v, strlen(v));
			add_note(cfg, "ignoring SOFTMIG_SERVICE_UID='%s': not a uid", shown);
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
