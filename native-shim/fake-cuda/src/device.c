/*
 * Driver initialisation, device queries and error strings. Devices come from
 * SOFTMIG_FAKE_GPUS (spec.c), filtered and ordered by CUDA_VISIBLE_DEVICES as the real
 * driver does; their attributes are those of an H100-class GPU.
 */
#include "fake.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAKE_DRIVER_VERSION 13000
#define FAKE_SM_COUNT 132
#define FAKE_PCI_BUS_BASE 0x18

static atomic_bool initialized;

/* visible_gpus[ordinal] is the SOFTMIG_FAKE_GPUS index of CUDA device `ordinal`. */
static int visible_gpus[FAKE_MAX_GPUS];
static int visible_count;
static pthread_once_t visible_once = PTHREAD_ONCE_INIT;
static pthread_once_t init_env_once = PTHREAD_ONCE_INIT;

/*
 * SOFTMIG_FAKE_INIT_ENV=FILE: the first cuInit writes the MPS client variables the process had
 * at that moment to FILE, one NAME=VALUE line each (NAME alone when unset), as the real driver
 * reads them when it connects to the MPS control daemon.
 */
static void record_init_env(void) {
  static const char *const names[] = {"CUDA_MPS_PIPE_DIRECTORY", "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE",
                                      "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT"};
  const char *path = getenv("SOFTMIG_FAKE_INIT_ENV");
  FILE *f;
  if (path == NULL || *path == '\0' || (f = fopen(path, "we")) == NULL) {
    return;
  }
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    const char *v = getenv(names[i]);
    if (v != NULL) {
      fprintf(f, "%s=%s\n", names[i], v);
    } else {
      fprintf(f, "%s\n", names[i]);
    }
  }
  fclose(f);
}

static void load_visible_gpus(void) {
  const struct fake_gpu *gpus;
  int count = fake_gpus(&gpus);
  if (count < 0) {
    visible_count = 0;
    return;
  }
  visible_count = fake_visible_devices(gpus, count, getenv("CUDA_VISIBLE_DEVICES"),
                                       visible_gpus, FAKE_MAX_GPUS);
}

bool fake_initialized(void) {
  return atomic_load_explicit(&initialized, memory_order_acquire);
}

CUresult fake_check_device(CUdevice dev) {
  if (!fake_initialized()) {
    return CUDA_ERROR_NOT_INITIALIZED;
  }
  if (dev < 0 || dev >= visible_count) {
    return CUDA_ERROR_INVALID_DEVICE;
  }
  return CUDA_SUCCESS;
}

/* The SOFTMIG_FAKE_GPUS index of a valid ordinal. */
static int gpu_index(CUdevice dev) {
  return visible_gpus[dev];
}

const struct fake_gpu *fake_device(CUdevice dev) {
  const struct fake_gpu *gpus;
  fake_gpus(&gpus);
  return &gpus[gpu_index(dev)];
}

CUresult cuInit(unsigned int flags) {
  if (flags != 0) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  pthread_once(&init_env_once, record_init_env);
  pthread_once(&visible_once, load_visible_gpus);
  if (visible_count == 0) {
    return CUDA_ERROR_NO_DEVICE;
  }
  atomic_store_explicit(&initialized, true, memory_order_release);
  return CUDA_SUCCESS;
}

CUresult cuDriverGetVersion(int *version) {
  if (version == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  *version = FAKE_DRIVER_VERSION;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetCount(int *count) {
  if (count == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (!fake_initialized()) {
    return CUDA_ERROR_NOT_INITIALIZED;
  }
  *count = visible_count;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGet(CUdevice *device, int ordinal) {
  if (device == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  CUresult rc = fake_check_device(ordinal);
  if (rc == CUDA_SUCCESS) {
    *device = ordinal;
  }
  return rc;
}

CUresult cuDeviceGetName(char *name, int len, CUdevice dev) {
  if (name == NULL || len <= 0) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  CUresult rc = fake_check_device(dev);
  if (rc == CUDA_SUCCESS) {
    snprintf(name, (size_t)len, "%s", fake_device(dev)->name);
  }
  return rc;
}

CUresult cuDeviceGetUuid_v2(CUuuid *uuid, CUdevice dev) {
  if (uuid == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  CUresult rc = fake_check_device(dev);
  if (rc == CUDA_SUCCESS) {
    memcpy(uuid->bytes, fake_device(dev)->uuid, sizeof(uuid->bytes));
  }
  return rc;
}

CUresult cuDeviceGetUuid(CUuuid *uuid, CUdevice dev) {
  return cuDeviceGetUuid_v2(uuid, dev);
}

CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev) {
  if (bytes == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  CUresult rc = fake_check_device(dev);
  if (rc == CUDA_SUCCESS) {
    *bytes = (size_t)fake_device(dev)->total_bytes;
  }
  return rc;
}

CUresult cuDeviceGetPCIBusId(char *pciBusId, int len, CUdevice dev) {
  if (pciBusId == NULL || len <= 0) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  CUresult rc = fake_check_device(dev);
  if (rc == CUDA_SUCCESS) {
    snprintf(pciBusId, (size_t)len, "0000:%02X:00.0", FAKE_PCI_BUS_BASE + gpu_index(dev));
  }
  return rc;
}

static int attribute_value(CUdevice_attribute attrib, CUdevice dev) {
  switch (attrib) {
  case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK: return 1024;
  case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X: return 1024;
  case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y: return 1024;
  case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z: return 64;
  case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X: return 2147483647;
  case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y: return 65535;
  case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z: return 65535;
  case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK: return 49152;
  case CU_DEVICE_ATTRIBUTE_TOTAL_CONSTANT_MEMORY: return 65536;
  case CU_DEVICE_ATTRIBUTE_WARP_SIZE: return 32;
  case CU_DEVICE_ATTRIBUTE_MAX_PITCH: return 2147483647;
  case CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK: return 65536;
  case CU_DEVICE_ATTRIBUTE_CLOCK_RATE: return 1755000;
  case CU_DEVICE_ATTRIBUTE_TEXTURE_ALIGNMENT: return 512;
  case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: return FAKE_SM_COUNT;
  case CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY: return 1;
  case CU_DEVICE_ATTRIBUTE_CONCURRENT_KERNELS: return 1;
  case CU_DEVICE_ATTRIBUTE_ECC_ENABLED: return 1;
  case CU_DEVICE_ATTRIBUTE_PCI_BUS_ID: return FAKE_PCI_BUS_BASE + gpu_index(dev);
  case CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE: return 2619000;
  case CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH: return 5120;
  case CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE: return 52428800;
  case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR: return 2048;
  case CU_DEVICE_ATTRIBUTE_ASYNC_ENGINE_COUNT: return 3;
  case CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING: return 1;
  case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: return 9;
  case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: return 0;
  case CU_DEVICE_ATTRIBUTE_STREAM_PRIORITIES_SUPPORTED: return 1;
  case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR: return 233472;
  case CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_MULTIPROCESSOR: return 65536;
  case CU_DEVICE_ATTRIBUTE_MANAGED_MEMORY: return 1;
  case CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS: return 1;
  case CU_DEVICE_ATTRIBUTE_COOPERATIVE_LAUNCH: return 1;
  case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN: return 232448;
  case CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED: return 1;
  case CU_DEVICE_ATTRIBUTE_MAX_BLOCKS_PER_MULTIPROCESSOR: return 32;
  case CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED: return 1;
  default: return 0;
  }
}

CUresult cuDeviceGetAttribute(int *pi, CUdevice_attribute attrib, CUdevice dev) {
  if (pi == NULL || (int)attrib < 0 || attrib >= CU_DEVICE_ATTRIBUTE_MAX) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  CUresult rc = fake_check_device(dev);
  if (rc == CUDA_SUCCESS) {
    *pi = attribute_value(attrib, dev);
  }
  return rc;
}

CUresult cuDeviceComputeCapability(int *major, int *minor, CUdevice dev) {
  if (major == NULL || minor == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  CUresult rc = fake_check_device(dev);
  if (rc == CUDA_SUCCESS) {
    *major = attribute_value(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev);
    *minor = attribute_value(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev);
  }
  return rc;
}

CUresult cuGetExportTable(const void **ppExportTable, const CUuuid *pExportTableId) {
  (void)pExportTableId;
  if (ppExportTable != NULL) {
    *ppExportTable = NULL;
  }
  return CUDA_ERROR_NOT_SUPPORTED;
}

struct error_text {
  CUresult code;
  const char *name;
  const char *text;
};

#define ERROR_TEXT(code, text) {code, #code, text}

static const struct error_text error_texts[] = {
    ERROR_TEXT(CUDA_SUCCESS, "no error"),
    ERROR_TEXT(CUDA_ERROR_INVALID_VALUE, "invalid argument"),
    ERROR_TEXT(CUDA_ERROR_OUT_OF_MEMORY, "out of memory"),
    ERROR_TEXT(CUDA_ERROR_NOT_INITIALIZED, "initialization error"),
    ERROR_TEXT(CUDA_ERROR_DEINITIALIZED, "driver shutting down"),
    ERROR_TEXT(CUDA_ERROR_NO_DEVICE, "no CUDA-capable device is detected"),
    ERROR_TEXT(CUDA_ERROR_INVALID_DEVICE, "invalid device ordinal"),
    ERROR_TEXT(CUDA_ERROR_INVALID_IMAGE, "device kernel image is invalid"),
    ERROR_TEXT(CUDA_ERROR_INVALID_CONTEXT, "invalid device context"),
    ERROR_TEXT(CUDA_ERROR_FILE_NOT_FOUND, "file not found"),
    ERROR_TEXT(CUDA_ERROR_INVALID_HANDLE, "invalid resource handle"),
    ERROR_TEXT(CUDA_ERROR_ILLEGAL_STATE, "the operation cannot be performed in the present state"),
    ERROR_TEXT(CUDA_ERROR_NOT_FOUND, "named symbol not found"),
    ERROR_TEXT(CUDA_ERROR_NOT_READY, "device not ready"),
    ERROR_TEXT(CUDA_ERROR_LAUNCH_FAILED, "unspecified launch failure"),
    ERROR_TEXT(CUDA_ERROR_NOT_PERMITTED, "operation not permitted"),
    ERROR_TEXT(CUDA_ERROR_NOT_SUPPORTED, "operation not supported"),
    ERROR_TEXT(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "operation not permitted when stream is capturing"),
    ERROR_TEXT(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED, "operation failed due to a previous error during capture"),
    ERROR_TEXT(CUDA_ERROR_ILLEGAL_ADDRESS, "an illegal memory access was encountered"),
    ERROR_TEXT(CUDA_ERROR_UNKNOWN, "unknown error"),
};

static const struct error_text *find_error(CUresult error) {
  for (size_t i = 0; i < sizeof(error_texts) / sizeof(error_texts[0]); i++) {
    if (error_texts[i].code == error) {
      return &error_texts[i];
    }
  }
  return NULL;
}

CUresult cuGetErrorName(CUresult error, const char **pStr) {
  const struct error_text *found = find_error(error);
  if (pStr == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  *pStr = found != NULL ? found->name : NULL;
  return found != NULL ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult cuGetErrorString(CUresult error, const char **pStr) {
  const struct error_text *found = find_error(error);
  if (pStr == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  *pStr = found != NULL ? found->text : NULL;
  return found != NULL ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}
