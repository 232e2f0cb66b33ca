/*
 * Logger: one fixed stack buffer per message, one write(2) per line, never allocates, never
 * recurses (a thread-local flag drops messages logged while logging).  Nothing goes to the
 * application's stdout/stderr except log_denied().
 */
#ifndef SOFTMIG_LOG_H
#define SOFTMIG_LOG_H

#include <stddef.h>

enum { LOG_NONE = 0, LOG_ERR = 1, LOG_WARN = 2, LOG_INFO = 3, LOG_DEBUG = 4 };

struct shim_config;

/*
 * Opens the log file chosen by the config (SOFTMIG_LOG_FILE, else the user's directory under
 * cfg->log_dir, else $SLURM_TMPDIR/softmig.log); level and file are fixed until the next call.
 */
void log_init(const struct shim_config *cfg);

/* Closes the file (a forked child reopens it with log_init). */
void log_close(void);

int log_enabled(int level);

__attribute__((format(printf, 2, 3))) void log_msg(int level, const char *fmt, ...);

/* The one line the shim ever prints on stderr: GPU access was denied. */
void log_denied(const char *reason);

/* Writes sec.usec (UTC) as ISO 8601, e.g. 2026-03-01T12:34:56.000789Z; returns its length. */
int log_format_time(char *buf, size_t cap, long long sec, long usec);

/* Days since 1970-01-01 as a Gregorian date. */
void log_civil_date(long long days, int *year, unsigned *month, unsigned *day);

#endif
