/*
 * Stack-buffer logger.  The level and file descriptor are set by log_init() before the shim
 * starts any thread and only read afterwards; write(2) of one whole line keeps lines from
 * different threads apart (O_APPEND).
 *
 * A log file never hangs a CUDA call: every file is opened O_NONBLOCK | O_NOFOLLOW and kept
 * only if fstat says it is a regular file (a FIFO, a device or a symlink is refused), and
 * timestamps are computed without locks (no gmtime_r, which takes glibc's time-zone lock).
 */
#define _GNU_SOURCE
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"

#define LOG_OPEN_FLAGS (O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK)

static int log_level = LOG_ERR;
static int log_fd = -1;
static __thread int log_busy;

/*
 * Opens path (relative to dirfd) for appending.  Keeps it only if it is a regular file and,
 * when must_own, one owned by this process's user.  Returns the descriptor or -1.
 */
static int open_log_at(int dirfd, const char *path, bool must_own)
{
	struct stat st;
	int fd = openat(dirfd, path, LOG_OPEN_FLAGS, 0600);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (must_own && st.st_uid != geteuid())) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A user or job name usable as one path component: [A-Za-z0-9._-], not starting with '.'. */
static bool plain_name(const char *s)
{
	size_t n = 0;

	if (!s || !*s || *s == '.')
		return false;
	for (; s[n]; n++) {
		char c = s[n];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		      c == '_' || c == '-'))
			return false;
	}
	return n <= 64;
}

void log_civil_date(long long days, int *y, unsigned *m, unsigned *d)
{
	/* days since 1970-01-01 to a proleptic Gregorian date */
	long long z = days + 719468;
	long long era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;

	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

int log_format_time(char *buf, size_t cap, long long sec, long usec)
{
	long long days = sec / 86400, rem = sec % 86400;
	unsigned m, d;
	int y;

	if (rem < 0) {
		rem += 86400;
		days--;
	}
	log_civil_date(days, &y, &m, &d);
	return snprintf(buf, cap, "%04d-%02u-%02uT%02d:%02d:%02d.%06ldZ", y, m, d, (int)(rem / 3600),
			(int)(rem / 60 % 60), (int)(rem % 60), usec);
}

/*
 * The per-user log file <log_dir>/<user>/<job>[_<task>]_<YYYYMMDD>.log.  The user's directory
 * (made by the SLURM Prolog) counts only if it is a real directory owned by this process's
 * user and not writable by others; the user name the environment offers is only a guess that
 * this ownership check confirms.
 */
static int open_user_log(const struct shim_config *cfg)
{
	static const char *const names[] = { "SLURM_JOB_USER", "USER", "LOGNAME" };
	const char *job = cfg->kernel_job_id[0] ? cfg->kernel_job_id : cfg->job_id;
	char dir[512], file[160], date[16];
	struct timespec ts;
	unsigned m, d;
	int y;

	clock_gettime(CLOCK_REALTIME, &ts);
	log_civil_date((long long)ts.tv_sec / 86400, &y, &m, &d);
	snprintf(date, sizeof(date), "%04d%02u%02u", y, m, d);
	if (!plain_name(job))
		job = "nojob";
	if (plain_name(cfg->array_task_id))
		snprintf(file, sizeof(file), "%s_%s_%s.log", job, cfg->array_task_id, date);
	else
		snprintf(file, sizeof(file), "%s_%s.log", job, date);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *user = secure_getenv(names[i]);
		struct stat st;
		int dfd, fd;

		if (!plain_name(user))
			continue;
		snprintf(dir, sizeof(dir), "%s/%s", cfg->log_dir, user);
		dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dfd < 0)
			continue;
		if (fstat(dfd, &st) || st.st_uid != geteuid() || (st.st_mode & S_IWOTH)) {
			close(dfd);
			continue;
		}
		fd = open_log_at(dfd, file, true);
		close(dfd);
		if (fd >= 0)
			return fd;
	}
	return -1;
}

void log_init(const struct shim_config *cfg)
{
	char path[512];
	const char *v;
	bool refused = false;

	log_close();
	log_level = cfg->log_level;
	if (log_level <= LOG_NONE)
		return;
	if (cfg->log_file[0]) {
		log_fd = open_log_at(AT_FDCWD, cfg->log_file, false);
		if (log_fd >= 0)
			return;
		refused = true;
	}
	log_fd = open_user_log(cfg);
	if (log_fd < 0 && (v = secure_getenv("SLURM_TMPDIR")) && *v) {
		snprintf(path, sizeof(path), "%s/softmig.log", v);
		log_fd = open_log_at(AT_FDCWD, path, true);
	}
	if (refused)
		log_msg(LOG_WARN, "SOFTMIG_LOG_FILE %s is not a regular file that opens without blocking or "
			"following a link: logging here instead", cfg->log_file);
}

void log_close(void)
{
	if (log_fd >= 0)
		close(log_fd);
	log_fd = -1;
}

int log_enabled(int level)
{
	return log_fd >= 0 && level <= log_level;
}

void log_msg(int level, const char *fmt, ...)
{
	static const char *names[] = { "NONE", "ERROR", "WARN", "INFO", "DEBUG" };
	char buf[512];
	struct timespec ts;
	va_list ap;
	int saved = errno;
	int n, m;

	if (!log_enabled(level) || log_busy)
		return;
	log_busy = 1;
	clock_gettime(CLOCK_REALTIME, &ts);
	n = log_format_time(buf, sizeof(buf), (long long)ts.tv_sec, ts.tv_nsec / 1000);
	n += snprintf(buf + n, sizeof(buf) - (size_t)n, " softmig[%d] %s ", (int)getpid(), names[level]);
	va_start(ap, fmt);
	m = vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	if (write(log_fd, buf, (size_t)n) < 0) {
		/* nowhere left to report it */
	}
	log_busy = 0;
	errno = saved;
}

void log_denied(const char *reason)
{
	char buf[512];
	int n = snprintf(buf, sizeof(buf), "softmig: GPU access denied: %s\n", reason);

	if (n > (int)sizeof(buf) - 1) {
		n = (int)sizeof(buf) - 1;
		buf[n - 1] = '\n';
	}
	if (write(STDERR_FILENO, buf, (size_t)n) < 0) {
		/* nothing more to do */
	}
	log_msg(LOG_ERR, "GPU access denied: %s", reason);
}
