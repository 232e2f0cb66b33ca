/*
 * Simulated GPU specification shared by the fake CUDA driver and the fake NVML.
 *
 * SOFTMIG_FAKE_GPUS holds a comma list of entries [NAME:]SIZE (e.g. "48G,48G" or
 * "L40S:48G"); unset or empty means one "80G" GPU. Sizes and UUIDs follow the contract in
 * docs/ARCHITECTURE.md, so a coordinator started with --simulate and the same spec talks
 * about the same GPUs.
 */
#ifndef SOFTMIG_FAKE_SPEC_H
#define SOFTMIG_FAKE_SPEC_H

#include <stddef.h>
#include <stdint.h>

#define FAKE_MAX_GPUS 16
#define FAKE_NAME_MAX 96
#define FAKE_UUID_TEXT_LEN 41 /* "GPU-" + 36 characters + NUL */
#define FAKE_DEFAULT_SPEC "80G"
#define FAKE_DEFAULT_NAME "Simulated GPU"

struct fake_gpu {
  char name[FAKE_NAME_MAX];
  uint64_t total_bytes;
  unsigned char uuid[16];
  char uuid_text[FAKE_UUID_TEXT_LEN];
};

/* Parses a size ("24G", "1.5GiB", "12288M", "1073741824"). Returns 0, or -1 when bad. */
int fake_parse_size(const char *text, size_t len, uint64_t *out);

/*
 * Parses a whole spec into gpus[0..max). Returns the number of GPUs, or -1 with a message
 * naming the bad entry in err.
 */
int fake_parse_spec(const char *spec, struct fake_gpu *gpus, int max, char *err, size_t errlen);

/* The 16 UUID bytes of simulated GPU `index` with `name` and `total_bytes`. */
void fake_uuid(int index, const char *name, uint64_t total_bytes, unsigned char out[16]);

/* Formats 16 UUID bytes as "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx". */
void fake_uuid_format(const unsigned char uuid[16], char out[FAKE_UUID_TEXT_LEN]);

/*
 * Applies a CUDA_VISIBLE_DEVICES value to count GPUs, as the real driver does: a comma list
 * of indices or UUIDs ("GPU-..." or a unique prefix of one), read up to the first entry that
 * is invalid or repeated. map[ordinal] receives the GPU index behind each CUDA ordinal.
 * NULL means every GPU. Returns the number of visible GPUs (at most max).
 */
int fake_visible_devices(const struct fake_gpu *gpus, int count, const char *visible, int *map,
                         int max);

/*
 * The GPUs of this process, read once from SOFTMIG_FAKE_GPUS. Returns the count, or -1 when
 * the spec is bad (the reason is printed to stderr once).
 */
int fake_gpus(const struct fake_gpu **gpus);

#endif
