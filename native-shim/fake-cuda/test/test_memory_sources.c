/*
 * Device memory that comes from no allocation call: contexts (SOFTMIG_FAKE_CONTEXT_BYTES),
 * module globals (from PTX), graph memory allocation nodes (on first launch), and the fake
 * NVML's view of this process. Runs with SOFTMIG_FAKE_GPUS=sources-test:8G and
 * SOFTMIG_FAKE_CONTEXT_BYTES=300M (set by CMakeLists.txt).
 */
#include <cuda.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../src/nvml_types.h"
#include "check.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

static const char PTX[] =
    "// a module with 3 GiB of globals\n"
    ".version 8.0\n.target sm_90\n.address_size 64\n"
    ".visible .global .align 4 .b8 big[3221225472];\n"
    ".global .v4 .f32 table[16][16];\n"
    ".extern .global .u32 elsewhere[1024];\n"
    "// .global .b8 commented[99999];\n";

static size_t used_bytes(void) {
  size_t free = 0, total = 0;
  CHECK_RC(cuMemGetInfo(&free, &total), CUDA_SUCCESS);
  return total - free;
}

/* This process's usage as the fake NVML lists it (0 when it is not listed). */
static unsigned long long nvml_used(nvmlDevice_t dev) {
  nvmlProcessInfo_t infos[64];
  unsigned int n = 64;
  CHECK_RC(nvmlDeviceGetComputeRunningProcesses_v3(dev, &n, infos), NVML_SUCCESS);
  for (unsigned int i = 0; i < n; i++) {
    if (infos[i].pid == (unsigned int)getpid()) {
      return infos[i].usedGpuMemory;
    }
  }
  return 0;
}

int main(void) {
  CUdevice dev;
  CUcontext primary, extra;
  CUmodule mod;
  CUlibrary lib;
  nvmlDevice_t nvdev;
  unsigned int count = 0;

  CHECK_RC(cuInit(0), CUDA_SUCCESS);
  CHECK_RC(cuDeviceGet(&dev, 0), CUDA_SUCCESS);
  CHECK_RC(nvmlInit_v2(), NVML_SUCCESS);
  CHECK_RC(nvmlDeviceGetHandleByIndex_v2(0, &nvdev), NVML_SUCCESS);

  /* contexts: the primary one costs its memory while retained, extra ones while they live */
  CHECK_RC(cuDevicePrimaryCtxRetain(&primary, dev), CUDA_SUCCESS);
  CHECK_RC(cuCtxSetCurrent(primary), CUDA_SUCCESS);
  CHECK(used_bytes() == 300 * MiB);
  CHECK(nvml_used(nvdev) == 300 * MiB);
  CHECK_RC(cuCtxCreate(&extra, NULL, 0, dev), CUDA_SUCCESS);
  CHECK(used_bytes() == 600 * MiB);
  CHECK(nvml_used(nvdev) == 600 * MiB);
  CHECK_RC(cuCtxDestroy(extra), CUDA_SUCCESS);
  CHECK_RC(cuCtxSetCurrent(primary), CUDA_SUCCESS);
  CHECK(used_bytes() == 300 * MiB);

  /* module globals: 3 GiB + 4 KiB; the .extern and the comment are not counted */
  CHECK_RC(cuModuleLoadData(&mod, PTX), CUDA_SUCCESS);
  CHECK(used_bytes() == 300 * MiB + 3 * GiB + 4096);
  CHECK(nvml_used(nvdev) == 300 * MiB + 3 * GiB + 4096);
  CHECK_RC(cuModuleUnload(mod), CUDA_SUCCESS);
  CHECK(used_bytes() == 300 * MiB);
  CHECK_RC(cuLibraryLoadData(&lib, PTX, NULL, NULL, 0, NULL, NULL, 0), CUDA_SUCCESS);
  CHECK(used_bytes() == 300 * MiB + 3 * GiB + 4096);
  CHECK_RC(cuLibraryUnload(lib), CUDA_SUCCESS);
  CHECK(used_bytes() == 300 * MiB);

  /* a module whose globals do not fit */
  CUdeviceptr big;
  CHECK_RC(cuMemAlloc(&big, 5 * GiB), CUDA_SUCCESS);
  CHECK_RC(cuModuleLoadData(&mod, PTX), CUDA_ERROR_OUT_OF_MEMORY);
  CHECK_RC(cuMemFree(big), CUDA_SUCCESS);

  /* graph memory: listed as nodes, taken on the first launch, given back with the exec */
  CUgraph graph;
  CUgraphNode node, nodes[4];
  CUgraphExec exec;
  CUgraphNodeType type;
  CUDA_MEM_ALLOC_NODE_PARAMS params, got;
  size_t n = 0;
  memset(&params, 0, sizeof(params));
  params.poolProps.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
  params.poolProps.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  params.poolProps.location.id = dev;
  params.bytesize = 3 * GiB;
  CHECK_RC(cuGraphCreate(&graph, 0), CUDA_SUCCESS);
  CHECK_RC(cuGraphAddMemAllocNode(&node, graph, NULL, 0, &params), CUDA_SUCCESS);
  CHECK(params.dptr != 0);
  CHECK_RC(cuGraphAddMemFreeNode(&nodes[0], graph, &node, 1, params.dptr), CUDA_SUCCESS);
  CHECK_RC(cuGraphGetNodes(graph, NULL, &n), CUDA_SUCCESS);
  CHECK(n == 2);
  n = 4;
  CHECK_RC(cuGraphGetNodes(graph, nodes, &n), CUDA_SUCCESS);
  CHECK(n == 2);
  CHECK_RC(cuGraphNodeGetType(node, &type), CUDA_SUCCESS);
  CHECK(type == CU_GRAPH_NODE_TYPE_MEM_ALLOC);
  CHECK_RC(cuGraphMemAllocNodeGetParams(node, &got), CUDA_SUCCESS);
  CHECK(got.bytesize == 3 * GiB && got.dptr == params.dptr && got.poolProps.location.id == dev);
  CHECK_RC(cuGraphInstantiateWithFlags(&exec, graph, 0), CUDA_SUCCESS);
  CHECK(used_bytes() == 300 * MiB);
  CHECK_RC(cuGraphLaunch(exec, NULL), CUDA_SUCCESS);
  CHECK_RC(cuStreamSynchronize(NULL), CUDA_SUCCESS);
  CHECK(used_bytes() == 300 * MiB + 3 * GiB);
  CHECK(nvml_used(nvdev) == 300 * MiB + 3 * GiB);
  CHECK_RC(cuGraphLaunch(exec, NULL), CUDA_SUCCESS);
  CHECK(used_bytes() == 300 * MiB + 3 * GiB);
  CHECK_RC(cuGraphExecDestroy(exec), CUDA_SUCCESS);
  CHECK(used_bytes() == 300 * MiB);
  CHECK_RC(cuMemAlloc(&big, 5 * GiB), CUDA_SUCCESS);
  CHECK_RC(cuGraphInstantiateWithFlags(&exec, graph, 0), CUDA_SUCCESS);
  CHECK_RC(cuGraphLaunch(exec, NULL), CUDA_ERROR_OUT_OF_MEMORY);
  CHECK_RC(cuGraphExecDestroy(exec), CUDA_SUCCESS);
  CHECK_RC(cuMemFree(big), CUDA_SUCCESS);
  CHECK_RC(cuGraphDestroy(graph), CUDA_SUCCESS);

  /* the primary context's memory goes with its last reference */
  CHECK_RC(cuDevicePrimaryCtxRelease(dev), CUDA_SUCCESS);
  CHECK(nvml_used(nvdev) == 0);
  CHECK_RC(nvmlDeviceGetComputeRunningProcesses_v3(nvdev, &count, NULL), NVML_SUCCESS);
  CHECK(count == 0);
  CHECK_RC(nvmlShutdown(), NVML_SUCCESS);
  return check_report("test_memory_sources");
}
