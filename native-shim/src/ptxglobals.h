/* The static device memory (.global variables) a PTX text defines; see ptxglobals.c. */
#ifndef SOFTMIG_PTXGLOBALS_H
#define SOFTMIG_PTXGLOBALS_H

#include <stddef.h>
#include <stdint.h>

/* Bytes of the .global variables text[0..len) defines; 0 for a binary (cubin, fatbin) image. */
uint64_t ptx_global_bytes(const char *text, size_t len);

#endif
