/*
 * SOFTMIG_FAKE_GPUS parsing and the simulated-GPU UUID algorithm (docs/ARCHITECTURE.md,
 * "Simulated GPUs and their UUIDs"): entry i of the spec gets the UUID derived from
 * "softmig-sim:<i>:<name>:<size in bytes>" with two 64-bit FNV-1a hashes.
 */
#include "spec.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FNV_OFFSET_BASIS 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL
#define MAX_FRACTION_DIGITS 18

static uint64_t fnv1a(uint64_t hash, const char *text) {
  for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
    hash ^= *p;
    hash *= FNV_PRIME;
  }
  return hash;
}

static void put_be64(unsigned char *out, uint64_t value) {
  for (int i = 7; i >= 0; i--) {
    out[i] = (unsigned char)(value & 0xff);
    value >>= 8;
  }
}

void fake_uuid(int index, const char *name, uint64_t total_bytes, unsigned char out[16]) {
  char seed[FAKE_NAME_MAX + 64];
  snprintf(seed, sizeof(seed), "softmig-sim:%d:%s:%llu", index, name,
           (unsigned long long)total_bytes);
  uint64_t h1 = fnv1a(FNV_OFFSET_BASIS, seed);
  uint64_t h2 = fnv1a(h1, "#2"); /* fnv1a(seed + "#2") continues from h1 */
  put_be64(out, h1);
  put_be64(out + 8, h2);
}

void fake_uuid_format(const unsigned char u[16], char out[FAKE_UUID_TEXT_LEN]) {
  snprintf(out, FAKE_UUID_TEXT_LEN,
           "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
           u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
           u[13], u[14], u[15]);
}

static uint64_t unit_multiplier(char letter) {
  switch (tolower((unsigned char)letter)) {
  case 'k': return 1ULL << 10;
  case 'm': return 1ULL << 20;
  case 'g': return 1ULL << 30;
  case 't': return 1ULL << 40;
  default: return 0;
  }
}

/* Is text[0..len) empty, "b" or "ib" (case-insensitive)? */
static int is_byte_suffix(const char *text, size_t len) {
  if (len == 0) {
    return 1;
  }
  if (len == 1) {
    return tolower((unsigned char)text[0]) == 'b';
  }
  return len == 2 && tolower((unsigned char)text[0]) == 'i' &&
         tolower((unsigned char)text[1]) == 'b';
}

int fake_parse_size(const char *text, size_t len, uint64_t *out) {
  size_t i = 0;
  unsigned __int128 whole = 0;
  unsigned __int128 fraction = 0;
  unsigned __int128 fraction_scale = 1;

  while (i < len && isdigit((unsigned char)text[i])) {
    whole = whole * 10 + (unsigned)(text[i] - '0');
    if (whole > INT64_MAX) {
      return -1;
    }
    i++;
  }
  if (i == 0) {
    return -1;
  }
  if (i < len && text[i] == '.') {
    size_t first = ++i;
    while (i < len && isdigit((unsigned char)text[i])) {
      if (i - first < MAX_FRACTION_DIGITS) {
        fraction = fraction * 10 + (unsigned)(text[i] - '0');
        fraction_scale *= 10;
      }
      i++;
    }
    if (i == first) {
      return -1;
    }
  }
  uint64_t multiplier = 1;
  if (i < len && unit_multiplier(text[i]) != 0) {
    multiplier = unit_multiplier(text[i]);
    i++;
    if (!is_byte_suffix(text + i, len - i)) {
      return -1;
    }
  } else if (i != len) {
    return -1;
  }
  unsigned __int128 bytes = whole * multiplier + fraction * multiplier / fraction_scale;
  if (bytes > INT64_MAX) {
    return -1;
  }
  *out = (uint64_t)bytes;
  return 0;
}

static void trim(const char **start, const char **end) {
  while (*start < *end && isspace((unsigned char)**start)) {
    (*start)++;
  }
  while (*end > *start && isspace((unsigned char)(*end)[-1])) {
    (*end)--;
  }
}

static int parse_entry(const char *start, const char *end, int index, struct fake_gpu *gpu,
                       char *err, size_t errlen) {
  trim(&start, &end);
  const char *colon = memchr(start, ':', (size_t)(end - start));
  const char *size_start = start;
  const char *name = FAKE_DEFAULT_NAME;
  size_t name_len = strlen(FAKE_DEFAULT_NAME);

  if (colon != NULL) {
    const char *name_end = colon;
    name = start;
    trim(&name, &name_end);
    name_len = (size_t)(name_end - name);
    size_start = colon + 1;
    if (name_len == 0 || name_len >= FAKE_NAME_MAX) {
      snprintf(err, errlen, "entry %d '%.*s': the name must have 1 to %d characters", index,
               (int)(end - start), start, FAKE_NAME_MAX - 1);
      return -1;
    }
  }
  trim(&size_start, &end);
  if (fake_parse_size(size_start, (size_t)(end - size_start), &gpu->total_bytes) != 0 ||
      gpu->total_bytes == 0) {
    snprintf(err, errlen, "entry %d: bad size '%.*s'", index, (int)(end - size_start),
             size_start);
    return -1;
  }
  memcpy(gpu->name, name, name_len);
  gpu->name[name_len] = '\0';
  fake_uuid(index, gpu->name, gpu->total_bytes, gpu->uuid);
  fake_uuid_format(gpu->uuid, gpu->uuid_text);
  return 0;
}

int fake_parse_spec(const char *spec, struct fake_gpu *gpus, int max, char *err, size_t errlen) {
  int count = 0;
  const char *start = spec;

  for (;;) {
    const char *end = strchr(start, ',');
    if (end == NULL) {
      end = start + strlen(start);
    }
    if (count == max) {
      snprintf(err, errlen, "more than %d GPUs", max);
      return -1;
    }
    if (parse_entry(start, end, count, &gpus[count], err, errlen) != 0) {
      return -1;
    }
    count++;
    if (*end == '\0') {
      return count;
    }
    start = end + 1;
  }
}

/* The GPU an entry of CUDA_VISIBLE_DEVICES names, or -1. */
static int visible_entry(const struct fake_gpu *gpus, int count, const char *entry, size_t len) {
  char *end;
  if (len == 0) {
    return -1;
  }
  if (isdigit((unsigned char)entry[0])) {
    long index = strtol(entry, &end, 10);
    return (size_t)(end - entry) == len && index < count ? (int)index : -1;
  }
  int found = -1;
  for (int i = 0; i < count; i++) {
    if (len <= strlen(gpus[i].uuid_text) && strncmp(gpus[i].uuid_text, entry, len) == 0) {
      if (found >= 0) {
        return -1; /* an ambiguous prefix */
      }
      found = i;
    }
  }
  return found;
}

int fake_visible_devices(const struct fake_gpu *gpus, int count, const char *visible, int *map,
                         int max) {
  int visible_count = 0;

  if (visible == NULL) {
    for (int i = 0; i < count && i < max; i++) {
      map[visible_count++] = i;
    }
    return visible_count;
  }
  for (const char *start = visible; visible_count < max;) {
    const char *end = strchr(start, ',');
    const char *entry_end = end != NULL ? end : start + strlen(start);
    trim(&start, &entry_end);
    int index = visible_entry(gpus, count, start, (size_t)(entry_end - start));
    for (int i = 0; i < visible_count && index >= 0; i++) {
      if (map[i] == index) {
        index = -1;
      }
    }
    if (index < 0) {
      break;
    }
    map[visible_count++] = index;
    if (end == NULL) {
      break;
    }
    start = end + 1;
  }
  return visible_count;
}

static struct fake_gpu process_gpus[FAKE_MAX_GPUS];
static int process_gpu_count;
static pthread_once_t process_gpus_once = PTHREAD_ONCE_INIT;

static void load_process_gpus(void) {
  const char *spec = getenv("SOFTMIG_FAKE_GPUS");
  char err[256];

  if (spec == NULL || spec[0] == '\0') {
    spec = FAKE_DEFAULT_SPEC;
  }
  process_gpu_count = fake_parse_spec(spec, process_gpus, FAKE_MAX_GPUS, err, sizeof(err));
  if (process_gpu_count < 0) {
    fprintf(stderr, "softmig fake driver: bad SOFTMIG_FAKE_GPUS '%s': %s\n", spec, err);
  }
}

int fake_gpus(const struct fake_gpu **gpus) {
  pthread_once(&process_gpus_once, load_process_gpus);
  *gpus = process_gpus;
  return process_gpu_count;
}
