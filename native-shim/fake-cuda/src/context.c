/*
 * Contexts (a per-thread stack, one primary context per device), modules and libraries.
 * Module and library images are never parsed: any image loads, and any function or
 * kernel name resolves to a launchable handle.
 */
#include "fake.h"
#include "ptxglobals.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONTEXT_MAGIC 0x63747821u
#define MODULE_MAGIC 0x6d6f6421u
#define FUNCTION_MAGIC 0x66756e21u
#define LIBRARY_MAGIC 0x6c696221u
#define CONTEXT_STACK_MAX 64
#define FAKE_CONTEXT_API_VERSION 13000

struct CUctx_st {
  uint32_t magic;
  CUdevice device;
  unsigned int flags;
  bool primary;
  uint64_t charged; /* device memory this context holds (fake_context_bytes when created) */
};

struct CUfunc_st {
  uint32_t magic;
  struct CUfunc_st *next; /* the owner's list, freed with the owner */
};

/* A kernel is a function, so a CUkernel passed where a CUfunction is expected works. */
struct CUkern_st {
  struct CUfunc_st function;
};

struct CUmod_st {
  uint32_t magic;
  bool in_library; /* freed with its library, never by cuModuleUnload */
  struct CUfunc_st *functions;
  CUdevice device;
  uint64_t charged; /* the device memory of its globals */
};

struct CUlib_st {
  uint32_t magic;
  struct CUfunc_st *kernels;
  struct CUmod_st module;
};

static struct CUctx_st primary_contexts[FAKE_MAX_GPUS];
static int primary_refcounts[FAKE_MAX_GPUS];
static pthread_mutex_t primary_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t primary_once = PTHREAD_ONCE_INIT;

static void init_primary_contexts(void) {
  for (int i = 0; i < FAKE_MAX_GPUS; i++) {
    primary_contexts[i].magic = CONTEXT_MAGIC;
    primary_contexts[i].device = i;
    primary_contexts[i].primary = true;
  }
}

static uint64_t context_bytes;
static pthread_once_t context_bytes_once = PTHREAD_ONCE_INIT;

static void load_context_bytes(void) {
  const char *v = getenv("SOFTMIG_FAKE_CONTEXT_BYTES");
  if (v != NULL && *v != '\0' && fake_parse_size(v, strlen(v), &context_bytes) != 0) {
    fprintf(stderr, "fake CUDA: SOFTMIG_FAKE_CONTEXT_BYTES=%s is not a size; using 0\n", v);
    context_bytes = 0;
  }
}

uint64_t fake_context_bytes(void) {
  pthread_once(&context_bytes_once, load_context_bytes);
  return context_bytes;
}

static __thread CUcontext context_stack[CONTEXT_STACK_MAX];
static __thread int context_depth;

static bool context_valid(CUcontext ctx) {
  return ctx != NULL && ctx->magic == CONTEXT_MAGIC;
}

CUresult fake_current_device(CUdevice *dev) {
  if (!fake_initialized()) {
    return CUDA_ERROR_NOT_INITIALIZED;
  }
  if (context_depth == 0 || !context_valid(context_stack[context_depth - 1])) {
    return CUDA_ERROR_INVALID_CONTEXT;
  }
  *dev = context_stack[context_depth - 1]->device;
  return CUDA_SUCCESS;
}

CUresult fake_context_device(CUcontext ctx, CUdevice *dev) {
  if (ctx == NULL) {
    return fake_current_device(dev);
  }
  if (!context_valid(ctx)) {
    return CUDA_ERROR_INVALID_CONTEXT;
  }
  *dev = ctx->device;
  return CUDA_SUCCESS;
}

static CUresult push_context(CUcontext ctx) {
  if (context_depth == CONTEXT_STACK_MAX) {
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  context_stack[context_depth++] = ctx;
  return CUDA_SUCCESS;
}

/* Removes every entry of ctx from the calling thread's stack. */
static void forget_context(CUcontext ctx) {
  int kept = 0;
  for (int i = 0; i < context_depth; i++) {
    if (context_stack[i] != ctx) {
      context_stack[kept++] = context_stack[i];
    }
  }
  context_depth = kept;
}

static CUresult create_context(CUcontext *pctx, unsigned int flags, CUdevice dev) {
  if (pctx == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  CUresult rc = fake_check_device(dev);
  if (rc != CUDA_SUCCESS) {
    return rc;
  }
  CUcontext ctx = calloc(1, sizeof(*ctx));
  if (ctx == NULL) {
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  ctx->magic = CONTEXT_MAGIC;
  ctx->device = dev;
  ctx->flags = flags;
  ctx->charged = fake_context_bytes();
  rc = fake_charge(dev, ctx->charged);
  if (rc != CUDA_SUCCESS) {
    free(ctx);
    return rc;
  }
  rc = push_context(ctx);
  if (rc != CUDA_SUCCESS) {
    fake_uncharge(dev, ctx->charged);
    free(ctx);
    return rc;
  }
  *pctx = ctx;
  return CUDA_SUCCESS;
}

CUresult cuCtxCreate_v4(CUcontext *pctx, CUctxCreateParams *ctxCreateParams, unsigned int flags,
                        CUdevice dev) {
  (void)ctxCreateParams;
  return create_context(pctx, flags, dev);
}

CUresult cuCtxCreate_v3(CUcontext *pctx, CUexecAffinityParam *paramsArray, int numParams,
                        unsigned int flags, CUdevice dev) {
  (void)paramsArray;
  (void)numParams;
  return create_context(pctx, flags, dev);
}

CUresult cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev) {
  return create_context(pctx, flags, dev);
}

CUresult cuCtxCreate(CUcontext *pctx, unsigned int flags, CUdevice dev) {
  return create_context(pctx, flags, dev);
}

CUresult cuCtxDestroy_v2(CUcontext ctx) {
  if (!context_valid(ctx) || ctx->primary) {
    return CUDA_ERROR_INVALID_CONTEXT;
  }
  forget_context(ctx);
  fake_uncharge(ctx->device, ctx->charged);
  ctx->magic = 0;
  free(ctx);
  return CUDA_SUCCESS;
}

CUresult cuCtxDestroy(CUcontext ctx) {
  return cuCtxDestroy_v2(ctx);
}

CUresult cuCtxPushCurrent_v2(CUcontext ctx) {
  if (!context_valid(ctx)) {
    return CUDA_ERROR_INVALID_CONTEXT;
  }
  return push_context(ctx);
}

CUresult cuCtxPushCurrent(CUcontext ctx) {
  return cuCtxPushCurrent_v2(ctx);
}

CUresult cuCtxPopCurrent_v2(CUcontext *pctx) {
  if (context_depth == 0) {
    return CUDA_ERROR_INVALID_CONTEXT;
  }
  CUcontext top = context_stack[--context_depth];
  if (pctx != NULL) {
    *pctx = top;
  }
  return CUDA_SUCCESS;
}

CUresult cuCtxPopCurrent(CUcontext *pctx) {
  return cuCtxPopCurrent_v2(pctx);
}

CUresult cuCtxSetCurrent(CUcontext ctx) {
  if (ctx == NULL) {
    if (context_depth > 0) {
      context_depth--;
    }
    return CUDA_SUCCESS;
  }
  if (!context_valid(ctx)) {
    return CUDA_ERROR_INVALID_CONTEXT;
  }
  if (context_depth == 0) {
    return push_context(ctx);
  }
  context_stack[context_depth - 1] = ctx;
  return CUDA_SUCCESS;
}

CUresult cuCtxGetCurrent(CUcontext *pctx) {
  if (pctx == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (!fake_initialized()) {
    return CUDA_ERROR_NOT_INITIALIZED;
  }
  *pctx = context_depth > 0 ? context_stack[context_depth - 1] : NULL;
  return CUDA_SUCCESS;
}

CUresult cuCtxGetDevice(CUdevice *device) {
  if (device == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  return fake_current_device(device);
}

CUresult cuCtxGetDevice_v2(CUdevice *device, CUcontext ctx) {
  if (device == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  return fake_context_device(ctx, device);
}

CUresult cuCtxGetFlags(unsigned int *flags) {
  if (flags == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (context_depth == 0) {
    return CUDA_ERROR_INVALID_CONTEXT;
  }
  *flags = context_stack[context_depth - 1]->flags;
  return CUDA_SUCCESS;
}

CUresult cuCtxGetApiVersion(CUcontext ctx, unsigned int *version) {
  CUdevice dev;
  if (version == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  CUresult rc = fake_context_device(ctx, &dev);
  if (rc == CUDA_SUCCESS) {
    *version = FAKE_CONTEXT_API_VERSION;
  }
  return rc;
}

CUresult cuCtxGetStreamPriorityRange(int *leastPriority, int *greatestPriority) {
  if (leastPriority != NULL) {
    *leastPriority = 0;
  }
  if (greatestPriority != NULL) {
    *greatestPriority = -5;
  }
  return CUDA_SUCCESS;
}

CUresult cuCtxGetLimit(size_t *pvalue, CUlimit limit) {
  (void)limit;
  if (pvalue == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  *pvalue = 0;
  return CUDA_SUCCESS;
}

CUresult cuCtxSetLimit(CUlimit limit, size_t value) {
  (void)limit;
  (void)value;
  return CUDA_SUCCESS;
}

CUresult cuCtxGetId(CUcontext ctx, unsigned long long *ctxId) {
  CUdevice dev;
  if (ctxId == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  CUresult rc = fake_context_device(ctx, &dev);
  if (rc == CUDA_SUCCESS) {
    *ctxId = (unsigned long long)(uintptr_t)(ctx != NULL ? ctx : context_stack[context_depth - 1]);
  }
  return rc;
}

CUresult cuDeviceCanAccessPeer(int *canAccessPeer, CUdevice dev, CUdevice peerDev) {
  if (canAccessPeer == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  CUresult rc = fake_check_device(dev);
  if (rc == CUDA_SUCCESS) {
    rc = fake_check_device(peerDev);
  }
  if (rc == CUDA_SUCCESS) {
    *canAccessPeer = dev != peerDev;
  }
  return rc;
}

CUresult cuCtxEnablePeerAccess(CUcontext peerContext, unsigned int Flags) {
  return context_valid(peerContext) && Flags == 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult cuCtxDisablePeerAccess(CUcontext peerContext) {
  return context_valid(peerContext) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_CONTEXT;
}

CUresult cuOccupancyMaxActiveBlocksPerMultiprocessor(int *numBlocks, CUfunction func,
                                                     int blockSize, size_t dynamicSMemSize) {
  (void)dynamicSMemSize;
  if (numBlocks == NULL || blockSize <= 0) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (!fake_function_valid(func)) {
    return CUDA_ERROR_INVALID_HANDLE;
  }
  *numBlocks = 2048 / blockSize > 32 ? 32 : 2048 / blockSize;
  return CUDA_SUCCESS;
}

CUresult cuOccupancyMaxPotentialBlockSize(int *minGridSize, int *blockSize, CUfunction func,
                                          CUoccupancyB2DSize blockSizeToDynamicSMemSize,
                                          size_t dynamicSMemSize, int blockSizeLimit) {
  (void)blockSizeToDynamicSMemSize, (void)dynamicSMemSize;
  if (minGridSize == NULL || blockSize == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (!fake_function_valid(func)) {
    return CUDA_ERROR_INVALID_HANDLE;
  }
  *blockSize = blockSizeLimit > 0 && blockSizeLimit < 1024 ? blockSizeLimit : 1024;
  *minGridSize = 132 * (2048 / *blockSize);
  return CUDA_SUCCESS;
}

CUresult cuCtxSynchronize(void) {
  CUdevice dev;
  CUresult rc = fake_current_device(&dev);
  return rc == CUDA_SUCCESS ? fake_device_synchronize(dev) : rc;
}

CUresult cuCtxSynchronize_v2(CUcontext ctx) {
  CUdevice dev;
  CUresult rc = fake_context_device(ctx, &dev);
  return rc == CUDA_SUCCESS ? fake_device_synchronize(dev) : rc;
}

CUresult cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev) {
  if (pctx == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  CUresult rc = fake_check_device(dev);
  if (rc != CUDA_SUCCESS) {
    return rc;
  }
  pthread_once(&primary_once, init_primary_contexts);
  pthread_mutex_lock(&primary_lock);
  if (primary_refcounts[dev] == 0) {
    /* the primary context comes to life: its memory is taken now */
    rc = fake_charge(dev, fake_context_bytes());
    if (rc != CUDA_SUCCESS) {
      pthread_mutex_unlock(&primary_lock);
      return rc;
    }
    primary_contexts[dev].charged = fake_context_bytes();
  }
  primary_refcounts[dev]++;
  pthread_mutex_unlock(&primary_lock);
  *pctx = &primary_contexts[dev];
  return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev) {
  CUresult rc = fake_check_device(dev);
  if (rc != CUDA_SUCCESS) {
    return rc;
  }
  pthread_mutex_lock(&primary_lock);
  if (primary_refcounts[dev] == 0) {
    rc = CUDA_ERROR_INVALID_CONTEXT;
  } else if (--primary_refcounts[dev] == 0) {
    fake_uncharge(dev, primary_contexts[dev].charged);
    primary_contexts[dev].charged = 0;
  }
  pthread_mutex_unlock(&primary_lock);
  return rc;
}

CUresult cuDevicePrimaryCtxRelease(CUdevice dev) {
  return cuDevicePrimaryCtxRelease_v2(dev);
}

CUresult cuDevicePrimaryCtxReset_v2(CUdevice dev) {
  CUresult rc = fake_check_device(dev);
  if (rc != CUDA_SUCCESS) {
    return rc;
  }
  pthread_mutex_lock(&primary_lock);
  if (primary_refcounts[dev] > 0) {
    fake_uncharge(dev, primary_contexts[dev].charged);
    primary_contexts[dev].charged = 0;
  }
  primary_refcounts[dev] = 0;
  pthread_mutex_unlock(&primary_lock);
  return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxReset(CUdevice dev) {
  return cuDevicePrimaryCtxReset_v2(dev);
}

CUresult cuDevicePrimaryCtxGetState(CUdevice dev, unsigned int *flags, int *active) {
  if (flags == NULL || active == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  CUresult rc = fake_check_device(dev);
  if (rc != CUDA_SUCCESS) {
    return rc;
  }
  pthread_mutex_lock(&primary_lock);
  *flags = primary_contexts[dev].flags;
  *active = primary_refcounts[dev] > 0;
  pthread_mutex_unlock(&primary_lock);
  return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxSetFlags_v2(CUdevice dev, unsigned int flags) {
  CUresult rc = fake_check_device(dev);
  if (rc != CUDA_SUCCESS) {
    return rc;
  }
  pthread_mutex_lock(&primary_lock);
  primary_contexts[dev].flags = flags;
  pthread_mutex_unlock(&primary_lock);
  return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxSetFlags(CUdevice dev, unsigned int flags) {
  return cuDevicePrimaryCtxSetFlags_v2(dev, flags);
}

/* Modules and libraries */

bool fake_function_valid(CUfunction f) {
  return f != NULL && f->magic == FUNCTION_MAGIC;
}

static CUfunction new_function(struct CUfunc_st **owner_list, size_t size) {
  CUfunction f = calloc(1, size);
  if (f == NULL) {
    return NULL;
  }
  f->magic = FUNCTION_MAGIC;
  f->next = *owner_list;
  *owner_list = f;
  return f;
}

static void free_functions(struct CUfunc_st *list) {
  while (list != NULL) {
    struct CUfunc_st *next = list->next;
    list->magic = 0;
    free(list);
    list = next;
  }
}

/* The globals of an image (PTX text, NUL-terminated) or of the file it names. */
static uint64_t image_globals(const void *image, bool is_file) {
  if (!is_file) {
    const char *text = image;
    return ptx_global_bytes(text, strnlen(text, 64u << 20));
  }
  FILE *f = fopen((const char *)image, "rb");
  if (f == NULL) {
    return 0;
  }
  size_t cap = 1u << 20, len = 0;
  char *buf = malloc(cap);
  while (buf != NULL) {
    size_t n = fread(buf + len, 1, cap - len, f);
    len += n;
    if (n == 0 || len < cap || cap >= (64u << 20)) {
      break;
    }
    char *bigger = realloc(buf, cap * 2);
    if (bigger == NULL) {
      break;
    }
    buf = bigger;
    cap *= 2;
  }
  fclose(f);
  uint64_t bytes = buf != NULL ? ptx_global_bytes(buf, len) : 0;
  free(buf);
  return bytes;
}

/* Charges an image's globals to the current context's device (none without a context). */
static CUresult charge_globals(const void *image, bool is_file, CUdevice *dev, uint64_t *charged) {
  *charged = 0;
  if (fake_current_device(dev) != CUDA_SUCCESS) {
    return CUDA_SUCCESS;
  }
  uint64_t bytes = image_globals(image, is_file);
  CUresult rc = fake_charge(*dev, bytes);
  if (rc == CUDA_SUCCESS) {
    *charged = bytes;
  }
  return rc;
}

static CUresult load_module(CUmodule *module, const void *image, bool is_file) {
  if (module == NULL || image == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  CUdevice dev;
  CUresult rc = fake_current_device(&dev);
  if (rc != CUDA_SUCCESS) {
    return rc;
  }
  CUmodule mod = calloc(1, sizeof(*mod));
  if (mod == NULL) {
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  rc = charge_globals(image, is_file, &mod->device, &mod->charged);
  if (rc != CUDA_SUCCESS) {
    free(mod);
    return rc;
  }
  mod->magic = MODULE_MAGIC;
  *module = mod;
  return CUDA_SUCCESS;
}

CUresult cuModuleLoad(CUmodule *module, const char *fname) {
  return load_module(module, fname, true);
}

CUresult cuModuleLoadData(CUmodule *module, const void *image) {
  return load_module(module, image, false);
}

CUresult cuModuleLoadDataEx(CUmodule *module, const void *image, unsigned int numOptions,
                            CUjit_option *options, void **optionValues) {
  (void)numOptions;
  (void)options;
  (void)optionValues;
  return load_module(module, image, false);
}

CUresult cuModuleLoadFatBinary(CUmodule *module, const void *fatCubin) {
  return load_module(module, fatCubin, false);
}

CUresult cuModuleUnload(CUmodule hmod) {
  if (hmod == NULL || hmod->magic != MODULE_MAGIC || hmod->in_library) {
    return CUDA_ERROR_INVALID_HANDLE;
  }
  free_functions(hmod->functions);
  fake_uncharge(hmod->device, hmod->charged);
  hmod->magic = 0;
  free(hmod);
  return CUDA_SUCCESS;
}

CUresult cuModuleGetFunction(CUfunction *hfunc, CUmodule hmod, const char *name) {
  if (hfunc == NULL || name == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (hmod == NULL || hmod->magic != MODULE_MAGIC) {
    return CUDA_ERROR_INVALID_HANDLE;
  }
  CUfunction f = new_function(&hmod->functions, sizeof(struct CUfunc_st));
  if (f == NULL) {
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  *hfunc = f;
  return CUDA_SUCCESS;
}

CUresult cuFuncGetAttribute(int *pi, CUfunction_attribute attrib, CUfunction hfunc) {
  if (pi == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (!fake_function_valid(hfunc)) {
    return CUDA_ERROR_INVALID_HANDLE;
  }
  *pi = attrib == CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK ? 1024 : 0;
  return CUDA_SUCCESS;
}

CUresult cuFuncSetAttribute(CUfunction hfunc, CUfunction_attribute attrib, int value) {
  (void)attrib;
  (void)value;
  return fake_function_valid(hfunc) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

CUresult cuFuncSetCacheConfig(CUfunction hfunc, CUfunc_cache config) {
  (void)config;
  return fake_function_valid(hfunc) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

static CUresult load_library(CUlibrary *library, const void *code, bool is_file) {
  if (library == NULL || code == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (!fake_initialized()) {
    return CUDA_ERROR_NOT_INITIALIZED;
  }
  CUlibrary lib = calloc(1, sizeof(*lib));
  if (lib == NULL) {
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  CUresult rc = charge_globals(code, is_file, &lib->module.device, &lib->module.charged);
  if (rc != CUDA_SUCCESS) {
    free(lib);
    return rc;
  }
  lib->magic = LIBRARY_MAGIC;
  lib->module.magic = MODULE_MAGIC;
  lib->module.in_library = true;
  *library = lib;
  return CUDA_SUCCESS;
}

CUresult cuLibraryLoadData(CUlibrary *library, const void *code, CUjit_option *jitOptions,
                           void **jitOptionsValues, unsigned int numJitOptions,
                           CUlibraryOption *libraryOptions, void **libraryOptionValues,
                           unsigned int numLibraryOptions) {
  (void)jitOptions;
  (void)jitOptionsValues;
  (void)numJitOptions;
  (void)libraryOptions;
  (void)libraryOptionValues;
  (void)numLibraryOptions;
  return load_library(library, code, false);
}

CUresult cuLibraryLoadFromFile(CUlibrary *library, const char *fileName,
                               CUjit_option *jitOptions, void **jitOptionsValues,
                               unsigned int numJitOptions, CUlibraryOption *libraryOptions,
                               void **libraryOptionValues, unsigned int numLibraryOptions) {
  (void)jitOptions, (void)jitOptionsValues, (void)numJitOptions;
  (void)libraryOptions, (void)libraryOptionValues, (void)numLibraryOptions;
  return load_library(library, fileName, true);
}

CUresult cuLibraryUnload(CUlibrary library) {
  if (library == NULL || library->magic != LIBRARY_MAGIC) {
    return CUDA_ERROR_INVALID_HANDLE;
  }
  free_functions(library->kernels);
  free_functions(library->module.functions);
  fake_uncharge(library->module.device, library->module.charged);
  library->magic = 0;
  free(library);
  return CUDA_SUCCESS;
}

CUresult cuLibraryGetKernel(CUkernel *pKernel, CUlibrary library, const char *name) {
  if (pKernel == NULL || name == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (library == NULL || library->magic != LIBRARY_MAGIC) {
    return CUDA_ERROR_INVALID_HANDLE;
  }
  CUfunction f = new_function(&library->kernels, sizeof(struct CUkern_st));
  if (f == NULL) {
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  *pKernel = (CUkernel)f;
  return CUDA_SUCCESS;
}

CUresult cuLibraryGetModule(CUmodule *pMod, CUlibrary library) {
  if (pMod == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (library == NULL || library->magic != LIBRARY_MAGIC) {
    return CUDA_ERROR_INVALID_HANDLE;
  }
  *pMod = &library->module;
  return CUDA_SUCCESS;
}

CUresult cuKernelGetFunction(CUfunction *pFunc, CUkernel kernel) {
  if (pFunc == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (kernel == NULL || !fake_function_valid(&kernel->function)) {
    return CUDA_ERROR_INVALID_HANDLE;
  }
  *pFunc = &kernel->function;
  return CUDA_SUCCESS;
}

/* Globals are charged to the device but have no addresses in the fake. */
CUresult cuModuleGetGlobal_v2(CUdeviceptr *dptr, size_t *bytes, CUmodule hmod, const char *name) {
  (void)dptr, (void)bytes;
  if (name == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (hmod == NULL || hmod->magic != MODULE_MAGIC) {
    return CUDA_ERROR_INVALID_HANDLE;
  }
  return CUDA_ERROR_NOT_FOUND;
}
