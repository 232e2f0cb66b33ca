/*
 * Process-wide state: configuration, the devices the process sees, one-time start of the
 * session on first CUDA use, and fork handling.
 */
#ifndef SOFTMIG_SHIM_H
#define SOFTMIG_SHIM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"

#define SHIM_VERSION "0.1.0"
#define SHIM_UUID_LEN 41   /* "GPU-" + 36 + NUL */

struct shim_device {
	char uuid[SHIM_UUID_LEN];
	uint64_t total_bytes;
};

struct shim_state {
	struct shim_config cfg;
	int ndev;                               /* devices the process sees (CUDA ordinals) */
	struct shim_device dev[CFG_MAX_DEVICES];
	bool active;                            /* false: disabled or no driver, pass everything through */
	atomic_bool denied;                     /* GPU access refused: bad config, or the coordinator said no;
	                                           written by the socket thread, read by every thread */
};

extern struct shim_state shim;

/*
 * Starts the session on first CUDA use: config, devices, coordinator connection (waits briefly
 * for the Welcome).  Cheap once started (one acquire load).  Returns shim.active.
 */
bool shim_ensure(void);

/* Reads the config and opens the log, once; for callers that do not need a session (NVML). */
void shim_config_ensure(void);

/* The CUDA ordinal of the current context, or -1. */
int shim_current_device(void);

/* The CUDA ordinal whose UUID is uuid, or -1. */
int shim_device_by_uuid(const char *uuid);

/* Formats a CUuuid's 16 bytes as GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx. */
void shim_format_uuid(const unsigned char bytes[16], char out[SHIM_UUID_LEN]);

#endif
