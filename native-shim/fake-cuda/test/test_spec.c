/* SOFTMIG_FAKE_GPUS parsing, sizes and the UUID test vectors of docs/ARCHITECTURE.md. */
#include <string.h>

#include "check.h"
#include "spec.h"

static void check_uuid(int index, const char *name, uint64_t bytes, const char *expected) {
  unsigned char uuid[16];
  char text[FAKE_UUID_TEXT_LEN];
  fake_uuid(index, name, bytes, uuid);
  fake_uuid_format(uuid, text);
  if (strcmp(text, expected) != 0) {
    fprintf(stderr, "uuid of %d:%s:%llu is %s, expected %s\n", index, name,
            (unsigned long long)bytes, text, expected);
    check_failures++;
  }
}

static uint64_t size_of(const char *text) {
  uint64_t bytes = UINT64_MAX;
  CHECK_RC(fake_parse_size(text, strlen(text), &bytes), 0);
  return bytes;
}

static void check_bad_size(const char *text) {
  uint64_t bytes;
  if (fake_parse_size(text, strlen(text), &bytes) == 0) {
    fprintf(stderr, "size '%s' was accepted as %llu\n", text, (unsigned long long)bytes);
    check_failures++;
  }
}

static void test_uuid_vectors(void) {
  const uint64_t gib48 = 48ULL << 30;
  check_uuid(0, "Simulated GPU", gib48, "GPU-51dc187a-af0f-2fa8-127c-46fedfac9019");
  check_uuid(1, "Simulated GPU", gib48, "GPU-cae8b510-42c5-392f-81d1-aa5a0543af22");
  check_uuid(0, "L40S", gib48, "GPU-4d782f5b-c20b-b089-1357-40d9d2da2104");
}

static void test_sizes(void) {
  CHECK(size_of("24G") == 24ULL << 30);
  CHECK(size_of("24GiB") == 24ULL << 30);
  CHECK(size_of("24gb") == 24ULL << 30);
  CHECK(size_of("1.5G") == 3ULL << 29);
  CHECK(size_of("12288M") == 12ULL << 30);
  CHECK(size_of("512K") == 512ULL << 10);
  CHECK(size_of("2T") == 2ULL << 40);
  CHECK(size_of("1073741824") == 1ULL << 30);
  CHECK(size_of("0.3K") == 307); /* 307.2 rounds down */
  check_bad_size("");
  check_bad_size("-1G");
  check_bad_size("12X");
  check_bad_size("1.2.3");
  check_bad_size("G");
  check_bad_size("1.G");
  check_bad_size("10B");
  check_bad_size("9223372036854775808");
  check_bad_size("8388608T");
}

static void test_specs(void) {
  struct fake_gpu gpus[FAKE_MAX_GPUS];
  char err[256];

  CHECK_RC(fake_parse_spec("48G,48G", gpus, FAKE_MAX_GPUS, err, sizeof(err)), 2);
  CHECK(strcmp(gpus[0].name, "Simulated GPU") == 0);
  CHECK(strcmp(gpus[1].uuid_text, "GPU-cae8b510-42c5-392f-81d1-aa5a0543af22") == 0);
  CHECK(gpus[1].total_bytes == 48ULL << 30);

  CHECK_RC(fake_parse_spec(" L40S : 48G ", gpus, FAKE_MAX_GPUS, err, sizeof(err)), 1);
  CHECK(strcmp(gpus[0].name, "L40S") == 0);
  CHECK(strcmp(gpus[0].uuid_text, "GPU-4d782f5b-c20b-b089-1357-40d9d2da2104") == 0);

  CHECK_RC(fake_parse_spec("48G,12X", gpus, FAKE_MAX_GPUS, err, sizeof(err)), -1);
  CHECK(strstr(err, "12X") != NULL);
  CHECK_RC(fake_parse_spec("48G,", gpus, FAKE_MAX_GPUS, err, sizeof(err)), -1);
  CHECK_RC(fake_parse_spec(":48G", gpus, FAKE_MAX_GPUS, err, sizeof(err)), -1);
  CHECK_RC(fake_parse_spec("0", gpus, FAKE_MAX_GPUS, err, sizeof(err)), -1);
  CHECK_RC(fake_parse_spec("1G,1G,1G", gpus, 2, err, sizeof(err)), -1);
}

static int visible(const struct fake_gpu *gpus, int count, const char *value, int *map) {
  return fake_visible_devices(gpus, count, value, map, FAKE_MAX_GPUS);
}

static void test_visible_devices(void) {
  struct fake_gpu gpus[FAKE_MAX_GPUS];
  int map[FAKE_MAX_GPUS];
  char err[256];
  int count = fake_parse_spec("48G,48G,L40S:48G", gpus, FAKE_MAX_GPUS, err, sizeof(err));

  CHECK(count == 3);
  CHECK_RC(visible(gpus, count, NULL, map), 3);
  CHECK(map[0] == 0 && map[1] == 1 && map[2] == 2);
  CHECK_RC(visible(gpus, count, "2,0", map), 2);
  CHECK(map[0] == 2 && map[1] == 0);
  CHECK_RC(visible(gpus, count, "GPU-cae8b510-42c5-392f-81d1-aa5a0543af22", map), 1);
  CHECK(map[0] == 1);
  char prefixes[64];
  snprintf(prefixes, sizeof(prefixes), "%.10s, 0", gpus[2].uuid_text); /* a unique prefix */
  CHECK_RC(visible(gpus, count, prefixes, map), 2);
  CHECK(map[0] == 2 && map[1] == 0);
  CHECK_RC(visible(gpus, count, "GPU-", map), 0);        /* ambiguous */
  CHECK_RC(visible(gpus, count, "1,7,0", map), 1);       /* stops at the invalid entry */
  CHECK_RC(visible(gpus, count, "1,1", map), 1);         /* and at a repeated one */
  CHECK_RC(visible(gpus, count, "", map), 0);
  CHECK_RC(visible(gpus, count, "-1", map), 0);
}

int main(void) {
  test_uuid_vectors();
  test_sizes();
  test_specs();
  test_visible_devices();
  return check_report("test_spec");
}
