/*
 * Compares the fake driver's cuGetProcAddress answers with a real driver's, on a machine
 * with an NVIDIA driver installed. For every base name read from stdin (one per line), CUDA
 * version and stream mode, both drivers are asked; when both answer, the real driver must
 * have returned the symbol of the same name as the fake one. Prints each disagreement and
 * exits non-zero if there was one. Usage (from native-shim/fake-cuda/):
 *
 *   cc -I/usr/local/cuda/include tools/compare_proc_address.c -ldl -o compare_proc_address
 *   grep -oE 'PROC(_PER_THREAD)?\(cu[A-Za-z0-9]+' src/proc_address.c | sed 's/.*(//' \
 *     | sort -u | ./compare_proc_address "$PWD/../build/fake-cuda/libcuda.so.1"
 *
 * Answers only the fake gives are listed too (a variant the real driver lacks); answers only
 * the real driver gives are counted (mostly legacy variants the fake does not export).
 */
#define _GNU_SOURCE
#include <cuda.h>
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

typedef CUresult (*get_proc_address_fn)(const char *, void **, int, cuuint64_t,
                                        CUdriverProcAddressQueryResult *);

static const int versions[] = {2000,  2010,  2020,  3000,  3010,  3020,  4000,  4010,  5000,
                               5050,  6000,  6050,  7000,  8000,  9000,  9020,  10000, 10010,
                               10020, 11000, 11010, 11020, 11030, 11040, 11060, 11070, 12000,
                               12010, 12020, 12030, 12040, 12050, 12060, 12080, 13000};
static const cuuint64_t modes[] = {0, CU_GET_PROC_ADDRESS_LEGACY_STREAM,
                                   CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM};

static const char *name_of(const void *pfn) {
  Dl_info info;
  return pfn != NULL && dladdr(pfn, &info) != 0 && info.dli_sname != NULL ? info.dli_sname
                                                                           : "?";
}

int main(int argc, char **argv) {
  char name[128];
  int disagreements = 0, fake_only = 0, real_only = 0, agreements = 0;

  if (argc != 2) {
    fprintf(stderr, "usage: %s FAKE_LIBCUDA < base-names\n", argv[0]);
    return 2;
  }
  void *real = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL); /* first: by name */
  void *fake = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (real == NULL || fake == NULL || real == fake) {
    fprintf(stderr, "cannot open both drivers: %s\n", dlerror());
    return 2;
  }
  get_proc_address_fn real_gpa = (get_proc_address_fn)dlsym(real, "cuGetProcAddress_v2");
  get_proc_address_fn fake_gpa = (get_proc_address_fn)dlsym(fake, "cuGetProcAddress_v2");
  if (real_gpa == NULL || fake_gpa == NULL) {
    fprintf(stderr, "cuGetProcAddress_v2 missing\n");
    return 2;
  }
  while (scanf("%127s", name) == 1) {
    for (size_t v = 0; v < sizeof(versions) / sizeof(versions[0]); v++) {
      for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
        void *real_pfn = NULL, *fake_pfn = NULL;
        CUdriverProcAddressQueryResult real_status, fake_status;
        real_gpa(name, &real_pfn, versions[v], modes[m], &real_status);
        fake_gpa(name, &fake_pfn, versions[v], modes[m], &fake_status);
        if (real_pfn == NULL && fake_pfn == NULL) {
          continue;
        }
        if (real_pfn == NULL) {
          printf("fake only: %s %d mode %llu -> %s\n", name, versions[v],
                 (unsigned long long)modes[m], name_of(fake_pfn));
          fake_only++;
          continue;
        }
        if (fake_pfn == NULL) {
          real_only++;
          continue;
        }
        const char *fake_name = name_of(fake_pfn);
        if (dlsym(real, fake_name) != real_pfn) {
          printf("DISAGREE: %s %d mode %llu: fake %s, real %s\n", name, versions[v],
                 (unsigned long long)modes[m], fake_name, name_of(real_pfn));
          disagreements++;
        } else {
          agreements++;
        }
      }
    }
  }
  printf("%d agreements, %d disagreements, %d answers only the fake gives, "
         "%d only the real driver gives\n",
         agreements, disagreements, fake_only, real_only);
  return disagreements == 0 ? 0 : 1;
}
