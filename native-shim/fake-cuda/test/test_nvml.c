/* The fake NVML: the same GPUs, names, UUIDs and totals as the fake driver.
 * Runs with SOFTMIG_FAKE_GPUS=48G,48G (set by CMakeLists.txt). */
#include <string.h>

#include "check.h"
#include "nvml_types.h"

int main(void) {
  unsigned int count = 0, index = 9;
  nvmlDevice_t device, by_uuid;
  char text[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
  nvmlMemory_t memory;
  nvmlMemory_v2_t memory_v2;

  CHECK_RC(nvmlDeviceGetCount_v2(&count), NVML_ERROR_UNINITIALIZED);
  CHECK_RC(nvmlInit_v2(), NVML_SUCCESS);
  CHECK_RC(nvmlDeviceGetCount_v2(&count), NVML_SUCCESS);
  CHECK(count == 2);
  CHECK_RC(nvmlDeviceGetHandleByIndex_v2(2, &device), NVML_ERROR_INVALID_ARGUMENT);
  CHECK_RC(nvmlDeviceGetHandleByIndex_v2(1, &device), NVML_SUCCESS);
  CHECK_RC(nvmlDeviceGetUUID(device, text, sizeof(text)), NVML_SUCCESS);
  CHECK(strcmp(text, "GPU-cae8b510-42c5-392f-81d1-aa5a0543af22") == 0);
  CHECK_RC(nvmlDeviceGetUUID(device, text, 10), NVML_ERROR_INSUFFICIENT_SIZE);
  CHECK_RC(nvmlDeviceGetName(device, text, sizeof(text)), NVML_SUCCESS);
  CHECK(strcmp(text, "Simulated GPU") == 0);
  CHECK_RC(nvmlDeviceGetIndex(device, &index), NVML_SUCCESS);
  CHECK(index == 1);

  CHECK_RC(nvmlDeviceGetHandleByUUID("GPU-51dc187a-af0f-2fa8-127c-46fedfac9019", &by_uuid),
           NVML_SUCCESS);
  CHECK_RC(nvmlDeviceGetIndex(by_uuid, &index), NVML_SUCCESS);
  CHECK(index == 0);
  CHECK_RC(nvmlDeviceGetHandleByUUID("GPU-00000000-0000-0000-0000-000000000000", &by_uuid),
           NVML_ERROR_NOT_FOUND);

  CHECK_RC(nvmlDeviceGetMemoryInfo(device, &memory), NVML_SUCCESS);
  CHECK(memory.total == 48ULL << 30 && memory.free == memory.total && memory.used == 0);
  memset(&memory_v2, 0, sizeof(memory_v2));
  CHECK_RC(nvmlDeviceGetMemoryInfo_v2(device, &memory_v2), NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
  memory_v2.version = nvmlMemory_v2;
  CHECK_RC(nvmlDeviceGetMemoryInfo_v2(device, &memory_v2), NVML_SUCCESS);
  CHECK(memory_v2.total == 48ULL << 30 && memory_v2.used == 0);
  CHECK_RC(nvmlDeviceGetMemoryInfo(NULL, &memory), NVML_ERROR_INVALID_ARGUMENT);
  CHECK(strcmp(nvmlErrorString(NVML_ERROR_NOT_FOUND), "Not Found") == 0);

  CHECK_RC(nvmlShutdown(), NVML_SUCCESS);
  CHECK_RC(nvmlDeviceGetUUID(device, text, sizeof(text)), NVML_ERROR_UNINITIALIZED);
  CHECK_RC(nvmlShutdown(), NVML_ERROR_UNINITIALIZED);
  return check_report("test_nvml");
}
