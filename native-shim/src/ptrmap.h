/*
 * Pointer map: what the shim allocated, by handle, for frees.  Open addressing with linear
 * probing and backward-shift deletion (no tombstones); grows at half load.  Not thread-safe:
 * the caller holds its lock.
 *
 * A key is a value plus a namespace (device pointer, VMM handle, array handle), so handles
 * from different allocation APIs never collide.
 */
#ifndef SOFTMIG_PTRMAP_H
#define SOFTMIG_PTRMAP_H

#include <stddef.h>
#include <stdint.h>

enum ptr_ns { PTR_NS_DEVPTR = 1, PTR_NS_VMM = 2, PTR_NS_ARRAY = 3 };

struct ptr_entry {
	uint64_t key;
	uint64_t bytes;
	int32_t dev;
	uint8_t ns;      /* 0 = empty slot */
	uint8_t kind;    /* AllocationKind of the protocol */
};

struct ptrmap {
	struct ptr_entry *slots;
	size_t cap;      /* power of two, or 0 before the first insert */
	size_t count;
};

/* Inserts or replaces.  Returns 0, or -1 when memory for growing is not available. */
int ptrmap_put(struct ptrmap *m, uint8_t ns, uint64_t key, int32_t dev, uint64_t bytes, uint8_t kind);

/* Removes the entry and copies it to *out.  Returns 0, or -1 when the key is unknown. */
int ptrmap_take(struct ptrmap *m, uint8_t ns, uint64_t key, struct ptr_entry *out);

/* Frees the table. */
void ptrmap_clear(struct ptrmap *m);

#endif
