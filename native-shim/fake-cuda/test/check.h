/* Minimal checks for the fake driver's test programs: count failures, report them, go on. */
#ifndef SOFTMIG_FAKE_TEST_CHECK_H
#define SOFTMIG_FAKE_TEST_CHECK_H

#include <stdio.h>
#include <stdint.h>
#include <time.h>

static int check_failures;

#define CHECK(cond)                                                             \
  do {                                                                          \
    if (!(cond)) {                                                              \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      check_failures++;                                                         \
    }                                                                           \
  } while (0)

#define CHECK_RC(call, expected)                                                         \
  do {                                                                                   \
    long long rc_ = (long long)(call);                                                   \
    if (rc_ != (long long)(expected)) {                                                  \
      fprintf(stderr, "%s:%d: %s returned %lld, expected %lld\n", __FILE__, __LINE__, \
              #call, rc_, (long long)(expected));                                        \
      check_failures++;                                                                  \
    }                                                                                    \
  } while (0)

static inline int check_report(const char *name) {
  if (check_failures > 0) {
    fprintf(stderr, "%s: %d check(s) failed\n", name, check_failures);
    return 1;
  }
  printf("%s: all checks passed\n", name);
  return 0;
}

static inline uint64_t test_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

#endif
