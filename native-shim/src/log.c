/*
 * Stack-buffer logger.  The level and file descriptor are set by log_init() before the shim
 * starts any thread and only read afterwards; write(2) of one whole line keeps lines from
 * different threads apart (O_APPEND).
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"

static int log_level = LOG_ERR;
static int log_fd = -1;
static __thread int log_busy;

static int open_log(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
}

void log_init(const struct shim_config *cfg)
{
	char path[512];
	const char *v;

	log_close();
	log_level = cfg->log_level;
	if (log_level <= LOG_NONE)
		return;
	if (cfg->log_file[0]) {
		log_fd = open_log(cfg->log_file);
		return;
	}
	{
		time_t now = time(NULL);
		struct tm tm;
		char date[16] = "unknown";
		const char *user = getenv("USER");
		const char *arr = cfg->array_task_id[0] ? cfg->array_task_id : "0";

		if (localtime_r(&now, &tm))
			strftime(date, sizeof(date), "%Y%m%d", &tm);
		snprintf(path, sizeof(path), "/var/log/softmig/%s_%s_%s_%s.log", user ? user : "unknown",
			 cfg->job_id[0] ? cfg->job_id : "nojob", arr, date);
		log_fd = open_log(path);
	}
	if (log_fd < 0 && (v = getenv("SLURM_TMPDIR")) && *v) {
		snprintf(path, sizeof(path), "%s/softmig.log", v);
		log_fd = open_log(path);
	}
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
	n = snprintf(buf, sizeof(buf), "%lld.%06ld softmig[%d] %s ", (long long)ts.tv_sec, ts.tv_nsec / 1000,
		     (int)getpid(), names[level]);
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
	char buf[384];
	int n = snprintf(buf, sizeof(buf), "softmig: GPU access denied: %s\n", reason);

	if (n > (int)sizeof(buf) - 1)
		n = (int)sizeof(buf) - 1;
	if (write(STDERR_FILENO, buf, (size_t)n) < 0) {
		/* nothing more to do */
	}
	log_msg(LOG_ERR, "GPU access denied: %s", reason);
}
