/*
 * CUDA_VISIBLE_DEVICES selects and orders the simulated GPUs, as with the real driver.
 * Runs with SOFTMIG_FAKE_GPUS=48G,48G and CUDA_VISIBLE_DEVICES=GPU-cae8b510 (the second).
 */
#include <cuda.h>
#include <string.h>

#include "check.h"

int main(void) {
  int count = 0;
  CUuuid uuid;
  char bus[32];
  static const unsigned char second[16] = {0xca, 0xe8, 0xb5, 0x10, 0x42, 0xc5, 0x39, 0x2f,
                                           0x81, 0xd1, 0xaa, 0x5a, 0x05, 0x43, 0xaf, 0x22};

  CHECK_RC(cuInit(0), CUDA_SUCCESS);
  CHECK_RC(cuDeviceGetCount(&count), CUDA_SUCCESS);
  CHECK(count == 1);
  CHECK_RC(cuDeviceGetUuid(&uuid, 0), CUDA_SUCCESS);
  CHECK(memcmp(uuid.bytes, second, 16) == 0);
  CHECK_RC(cuDeviceGetPCIBusId(bus, sizeof(bus), 0), CUDA_SUCCESS);
  CHECK(strcmp(bus, "0000:19:00.0") == 0);
  CHECK_RC(cuDeviceGetUuid(&uuid, 1), CUDA_ERROR_INVALID_DEVICE);
  return check_report("test_visible_devices");
}
