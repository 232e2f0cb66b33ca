/*
 * The coordinator connection: Unix socket, varint32-framed protobuf, a background thread that
 * reads frames, flushes usage reports, runs the lease idle check and reconnects with backoff.
 */
#ifndef SOFTMIG_CLIENT_H
#define SOFTMIG_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "softmig.pb-c.h"

typedef Softmig__V1__ClientFrame client_frame;

struct client_mem_reply {
	bool granted;
	uint64_t job_used;
	uint64_t job_limit;
	uint64_t device_free;
};

/* Starts the thread and waits briefly for the first Welcome (or a failed connect). */
void client_start(void);
void client_after_fork(void);

/* True while a Welcome has been received on the current connection. */
bool client_welcomed(void);

/* Sends one frame.  Returns 0, or -1 when not connected (the frame is dropped). */
int client_send(const client_frame *f);

/*
 * MemReserve round trip.  Returns 1 granted, 0 refused (reply filled), -1 when the coordinator
 * could not answer (not connected, connection lost, or no answer in time).
 */
int client_mem_reserve(int dev, uint64_t bytes, int kind, struct client_mem_reply *reply);

/* Wakes the socket thread (a lease was taken: start the idle checks). */
void client_wake(void);

#endif
