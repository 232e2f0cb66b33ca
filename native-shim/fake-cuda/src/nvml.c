/*
 * Fake NVML (libnvidia-ml.so.1): the simulated GPUs of SOFTMIG_FAKE_GPUS, with the same
 * names, UUIDs and totals as the fake CUDA driver. Processes and memory come from what the
 * fake driver's processes publish (proctable.h): every live process with device memory on a
 * GPU is a compute process there, and the card's used memory is their sum. Utilisation is 0.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "nvml_types.h"
#include "proctable.h"
#include "spec.h"

#define FAKE_NVML_DRIVER_VERSION "580.00-softmig-fake"
#define FAKE_NVML_CUDA_VERSION 13000

struct nvmlDevice_st {
  int index;
};

static struct nvmlDevice_st devices[FAKE_MAX_GPUS];
static int init_count;
static pthread_mutex_t nvml_lock = PTHREAD_MUTEX_INITIALIZER;

static int initialized(void) {
  pthread_mutex_lock(&nvml_lock);
  int count = init_count;
  pthread_mutex_unlock(&nvml_lock);
  return count > 0;
}

/* The simulated GPU behind a handle, or NULL when the handle is not one of ours. */
static const struct fake_gpu *gpu_of(nvmlDevice_t device) {
  const struct fake_gpu *gpus;
  int count = fake_gpus(&gpus);
  if (device == NULL || device < devices || device >= devices + count) {
    return NULL;
  }
  return &gpus[device->index];
}

/* NVML_SUCCESS, or why device cannot be used. */
static nvmlReturn_t check_device(nvmlDevice_t device) {
  if (!initialized()) {
    return NVML_ERROR_UNINITIALIZED;
  }
  return gpu_of(device) != NULL ? NVML_SUCCESS : NVML_ERROR_INVALID_ARGUMENT;
}

static nvmlReturn_t copy_text(const char *text, char *out, unsigned int length) {
  if (out == NULL) {
    return NVML_ERROR_INVALID_ARGUMENT;
  }
  if (strlen(text) >= length) {
    return NVML_ERROR_INSUFFICIENT_SIZE;
  }
  memcpy(out, text, strlen(text) + 1);
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlInit_v2(void) {
  const struct fake_gpu *gpus;
  int count = fake_gpus(&gpus);
  if (count < 0) {
    return NVML_ERROR_UNKNOWN;
  }
  pthread_mutex_lock(&nvml_lock);
  for (int i = 0; i < count; i++) {
    devices[i].index = i;
  }
  init_count++;
  pthread_mutex_unlock(&nvml_lock);
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlInit(void) {
  return nvmlInit_v2();
}

nvmlReturn_t nvmlShutdown(void) {
  nvmlReturn_t rc = NVML_SUCCESS;
  pthread_mutex_lock(&nvml_lock);
  if (init_count == 0) {
    rc = NVML_ERROR_UNINITIALIZED;
  } else {
    init_count--;
  }
  pthread_mutex_unlock(&nvml_lock);
  return rc;
}

const char *nvmlErrorString(nvmlReturn_t result) {
  switch (result) {
  case NVML_SUCCESS: return "Success";
  case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
  case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
  case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
  case NVML_ERROR_NOT_FOUND: return "Not Found";
  case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
  case NVML_ERROR_ARGUMENT_VERSION_MISMATCH: return "Argument Version Mismatch";
  default: return "Unknown Error";
  }
}

nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length) {
  if (!initialized()) {
    return NVML_ERROR_UNINITIALIZED;
  }
  return copy_text(FAKE_NVML_DRIVER_VERSION, version, length);
}

nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *cudaDriverVersion) {
  if (cudaDriverVersion == NULL) {
    return NVML_ERROR_INVALID_ARGUMENT;
  }
  *cudaDriverVersion = FAKE_NVML_CUDA_VERSION;
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *cudaDriverVersion) {
  return nvmlSystemGetCudaDriverVersion(cudaDriverVersion);
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *deviceCount) {
  const struct fake_gpu *gpus;
  if (deviceCount == NULL) {
    return NVML_ERROR_INVALID_ARGUMENT;
  }
  if (!initialized()) {
    return NVML_ERROR_UNINITIALIZED;
  }
  *deviceCount = (unsigned int)fake_gpus(&gpus);
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetCount(unsigned int *deviceCount) {
  return nvmlDeviceGetCount_v2(deviceCount);
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device) {
  const struct fake_gpu *gpus;
  if (device == NULL) {
    return NVML_ERROR_INVALID_ARGUMENT;
  }
  if (!initialized()) {
    return NVML_ERROR_UNINITIALIZED;
  }
  if (index >= (unsigned int)fake_gpus(&gpus)) {
    return NVML_ERROR_INVALID_ARGUMENT;
  }
  *device = &devices[index];
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int index, nvmlDevice_t *device) {
  return nvmlDeviceGetHandleByIndex_v2(index, device);
}

nvmlReturn_t nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *device) {
  const struct fake_gpu *gpus;
  if (uuid == NULL || device == NULL) {
    return NVML_ERROR_INVALID_ARGUMENT;
  }
  if (!initialized()) {
    return NVML_ERROR_UNINITIALIZED;
  }
  int count = fake_gpus(&gpus);
  for (int i = 0; i < count; i++) {
    if (strcmp(gpus[i].uuid_text, uuid) == 0) {
      *device = &devices[i];
      return NVML_SUCCESS;
    }
  }
  return NVML_ERROR_NOT_FOUND;
}

nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t device, unsigned int *index) {
  nvmlReturn_t rc = check_device(device);
  if (index == NULL) {
    return NVML_ERROR_INVALID_ARGUMENT;
  }
  if (rc == NVML_SUCCESS) {
    *index = (unsigned int)device->index;
  }
  return rc;
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length) {
  nvmlReturn_t rc = check_device(device);
  return rc == NVML_SUCCESS ? copy_text(gpu_of(device)->uuid_text, uuid, length) : rc;
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length) {
  nvmlReturn_t rc = check_device(device);
  return rc == NVML_SUCCESS ? copy_text(gpu_of(device)->name, name, length) : rc;
}

struct process_list {
  nvmlProcessInfo_t *infos; /* NULL: count only */
  unsigned int capacity;
  unsigned int count;
  unsigned long long used;
};

static void add_process(uint32_t pid, uint64_t used_bytes, void *arg) {
  struct process_list *list = arg;
  if (list->infos != NULL && list->count < list->capacity) {
    list->infos[list->count].pid = pid;
    list->infos[list->count].usedGpuMemory = used_bytes;
    list->infos[list->count].gpuInstanceId = 0xFFFFFFFFu;
    list->infos[list->count].computeInstanceId = 0xFFFFFFFFu;
  }
  list->count++;
  list->used += used_bytes;
}

/* Memory every process holds on the card, capped at its total. */
static unsigned long long card_used(nvmlDevice_t device) {
  struct process_list list = {0};
  const struct fake_gpu *gpu = gpu_of(device);
  fake_proc_scan(gpu->uuid_text, add_process, &list);
  return list.used < gpu->total_bytes ? list.used : gpu->total_bytes;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory) {
  nvmlReturn_t rc = check_device(device);
  if (memory == NULL) {
    return NVML_ERROR_INVALID_ARGUMENT;
  }
  if (rc == NVML_SUCCESS) {
    memory->total = gpu_of(device)->total_bytes;
    memory->used = card_used(device);
    memory->free = memory->total - memory->used;
  }
  return rc;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *memory) {
  nvmlReturn_t rc = check_device(device);
  if (memory == NULL) {
    return NVML_ERROR_INVALID_ARGUMENT;
  }
  if (memory->version != nvmlMemory_v2) {
    return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
  }
  if (rc == NVML_SUCCESS) {
    memory->total = gpu_of(device)->total_bytes;
    memory->reserved = 0;
    memory->used = card_used(device);
    memory->free = memory->total - memory->used;
  }
  return rc;
}

nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *utilization) {
  nvmlReturn_t rc = check_device(device);
  if (utilization == NULL) {
    return NVML_ERROR_INVALID_ARGUMENT;
  }
  if (rc == NVML_SUCCESS) {
    utilization->gpu = 0;
    utilization->memory = 0;
  }
  return rc;
}

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device,
                                                     unsigned int *infoCount,
                                                     nvmlProcessInfo_t *infos) {
  nvmlReturn_t rc = check_device(device);
  if (infoCount == NULL) {
    return NVML_ERROR_INVALID_ARGUMENT;
  }
  if (rc != NVML_SUCCESS) {
    return rc;
  }
  struct process_list list = {.infos = infos, .capacity = infos != NULL ? *infoCount : 0};
  fake_proc_scan(gpu_of(device)->uuid_text, add_process, &list);
  if (list.count > list.capacity) {
    *infoCount = list.count;
    return NVML_ERROR_INSUFFICIENT_SIZE;
  }
  *infoCount = list.count;
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t device,
                                                     unsigned int *infoCount,
                                                     nvmlProcessInfo_t *infos) {
  return nvmlDeviceGetComputeRunningProcesses_v3(device, infoCount, infos);
}

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses(nvmlDevice_t device, unsigned int *infoCount,
                                                  nvmlProcessInfo_t *infos) {
  return nvmlDeviceGetComputeRunningProcesses_v3(device, infoCount, infos);
}
