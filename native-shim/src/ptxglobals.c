/*
 * The device memory a module's globals take, read from its PTX text: the sum of the sizes of
 * the `.global` variables it defines (`.extern` declarations are defined elsewhere). Only
 * PTX is read; a cubin or fatbin image (binary) counts as having none.
 *
 * The shim charges this before the driver loads a PTX module (devmem.c), and the fake driver
 * takes the same figure from its simulated device; pure, thread-safe.
 *
 *   .visible .global .align 4 .b8 big[3221225472];   -> 3221225472 bytes
 *   .global .v4 .f32 table[16][16];                  -> 4096 bytes
 *   .global .u64 counter;                            -> 8 bytes
 */
#include "ptxglobals.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Bytes of a PTX scalar type token (".u32" -> 4), 0 when it is not one. */
static uint64_t type_bytes(const char *t, size_t n) {
  static const struct {
    const char *name;
    uint64_t bytes;
  } types[] = {
      {".b8", 1},  {".u8", 1},  {".s8", 1},  {".b16", 2}, {".u16", 2}, {".s16", 2},
      {".f16", 2}, {".bf16", 2}, {".b32", 4}, {".u32", 4}, {".s32", 4}, {".f32", 4},
      {".b64", 8}, {".u64", 8}, {".s64", 8}, {".f64", 8}, {".pred", 1},
  };
  for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
    if (strlen(types[i].name) == n && memcmp(types[i].name, t, n) == 0) {
      return types[i].bytes;
    }
  }
  return 0;
}

/* The size of one `.global` statement starting after the `.global` token, or 0. */
static uint64_t statement_bytes(const char *p, const char *end) {
  uint64_t element = 0, vector = 1, count = 1;
  while (p < end && *p != ';' && *p != '=') {
    while (p < end && isspace((unsigned char)*p)) {
      p++;
    }
    const char *tok = p;
    while (p < end && !isspace((unsigned char)*p) && *p != ';' && *p != '[' && *p != '=') {
      p++;
    }
    size_t n = (size_t)(p - tok);
    if (n == 0 && p < end && *p == '[') {
      uint64_t dim = strtoull(p + 1, NULL, 10);
      count = dim == 0 || count > UINT64_MAX / dim ? 0 : count * dim;
      while (p < end && *p != ']') {
        p++;
      }
      if (p < end) {
        p++;
      }
      continue;
    }
    if (n == 0) {
      break;
    }
    if (n == 3 && memcmp(tok, ".v2", 3) == 0) {
      vector = 2;
    } else if (n == 3 && memcmp(tok, ".v4", 3) == 0) {
      vector = 4;
    } else if (type_bytes(tok, n) != 0) {
      element = type_bytes(tok, n);
    }
  }
  return element * vector * count;
}

uint64_t ptx_global_bytes(const char *text, size_t len) {
  uint64_t total = 0;
  const char *end = text + len;
  if (len >= 4 && ((unsigned char)text[0] == 0x7f || (unsigned char)text[0] == 0x50 ||
                   (unsigned char)text[0] == 0xba)) {
    return 0; /* ELF (cubin) or fatbin */
  }
  for (const char *line = text; line < end;) {
    const char *eol = memchr(line, '\n', (size_t)(end - line));
    if (eol == NULL) {
      eol = end;
    }
    const char *g = NULL;
    bool external = false;
    for (const char *p = line; p + 7 <= eol; p++) {
      if (memcmp(p, "//", 2) == 0) {
        break;
      }
      if (memcmp(p, ".extern", 7) == 0) {
        external = true;
      }
      if (memcmp(p, ".global", 7) == 0 && (p == line || isspace((unsigned char)p[-1])) &&
          (p + 7 == eol || isspace((unsigned char)p[7]))) {
        g = p + 7;
        break;
      }
    }
    if (g != NULL && !external) {
      uint64_t bytes = statement_bytes(g, eol);
      total = total > UINT64_MAX - bytes ? UINT64_MAX : total + bytes;
    }
    line = eol + 1;
  }
  return total;
}
