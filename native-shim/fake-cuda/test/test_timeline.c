/*
 * The simulated device timeline: launches are asynchronous, each occupies the device for
 * SOFTMIG_FAKE_KERNEL_US, events and synchronisation follow the simulated time, graphs
 * occupy (kernel nodes) x the kernel time, and a stream queues at most 1024 launches.
 * Runs with SOFTMIG_FAKE_GPUS=timeline-test:1G and SOFTMIG_FAKE_KERNEL_US=1000.
 *
 * Lower bounds on simulated time hold by construction; the few upper bounds are generous.
 */
#include <cuda.h>
#include <cudaTypedefs.h>
#include <string.h>

#include "check.h"
#include "softmig_fake_cuda.h"

#define KERNEL_MS 1.0f
#define QUEUE_DEPTH 1024

static CUfunction kernel;

static void launch(CUstream stream, int count) {
  for (int i = 0; i < count; i++) {
    CHECK_RC(cuLaunchKernel(kernel, 1, 1, 1, 128, 1, 1, 0, stream, NULL, NULL), CUDA_SUCCESS);
  }
}

/* Simulated milliseconds between two events, after waiting for the end one. */
static float elapsed_ms(CUevent start, CUevent end) {
  float ms = -1;
  CHECK_RC(cuEventSynchronize(end), CUDA_SUCCESS);
  CHECK_RC(cuEventElapsedTime(&ms, start, end), CUDA_SUCCESS);
  return ms;
}

static void test_launches_take_simulated_time(CUstream stream) {
  CUevent start, end;
  int before = softmig_fake_kernels_launched();

  CHECK_RC(cuEventCreate(&start, CU_EVENT_DEFAULT), CUDA_SUCCESS);
  CHECK_RC(cuEventCreate(&end, CU_EVENT_DEFAULT), CUDA_SUCCESS);
  CHECK_RC(cuEventRecord(start, stream), CUDA_SUCCESS);
  launch(stream, 100);
  CHECK_RC(cuEventRecord(end, stream), CUDA_SUCCESS);
  /* 100 ms of work was queued in far less: nothing has finished yet */
  CHECK_RC(cuEventQuery(end), CUDA_ERROR_NOT_READY);
  CHECK_RC(cuStreamQuery(stream), CUDA_ERROR_NOT_READY);
  float ms = -1;
  CHECK_RC(cuEventElapsedTime(&ms, start, end), CUDA_ERROR_NOT_READY);

  ms = elapsed_ms(start, end);
  CHECK(ms >= 100 * KERNEL_MS - 0.01f);
  CHECK(ms < 100 * KERNEL_MS + 500);
  CHECK_RC(cuEventQuery(end), CUDA_SUCCESS);
  CHECK_RC(cuStreamSynchronize(stream), CUDA_SUCCESS);
  CHECK_RC(cuStreamQuery(stream), CUDA_SUCCESS);
  CHECK(softmig_fake_kernels_launched() == before + 100);

  CHECK_RC(cuEventDestroy(start), CUDA_SUCCESS);
  CHECK_RC(cuEventDestroy(end), CUDA_SUCCESS);
}

/* Two streams of one process share the device: their kernels serialise. */
static void test_streams_share_the_device(void) {
  CUstream a, b;
  CUevent start, end_a, end_b, timing_off;

  CHECK_RC(cuStreamCreate(&a, CU_STREAM_NON_BLOCKING), CUDA_SUCCESS);
  CHECK_RC(cuStreamCreateWithPriority(&b, CU_STREAM_NON_BLOCKING, -1), CUDA_SUCCESS);
  CHECK_RC(cuEventCreate(&start, CU_EVENT_DEFAULT), CUDA_SUCCESS);
  CHECK_RC(cuEventCreate(&end_a, CU_EVENT_DEFAULT), CUDA_SUCCESS);
  CHECK_RC(cuEventCreate(&end_b, CU_EVENT_DEFAULT), CUDA_SUCCESS);
  CHECK_RC(cuEventCreate(&timing_off, CU_EVENT_DISABLE_TIMING), CUDA_SUCCESS);

  CHECK_RC(cuEventRecord(start, a), CUDA_SUCCESS);
  launch(a, 10);
  launch(b, 10);
  CHECK_RC(cuEventRecord(end_a, a), CUDA_SUCCESS);
  CHECK_RC(cuEventRecord(end_b, b), CUDA_SUCCESS);
  CHECK_RC(cuEventRecord(timing_off, b), CUDA_SUCCESS);
  CHECK_RC(cuCtxSynchronize(), CUDA_SUCCESS);
  CHECK_RC(cuStreamQuery(a), CUDA_SUCCESS);
  CHECK_RC(cuStreamQuery(b), CUDA_SUCCESS);
  float ms_a = elapsed_ms(start, end_a);
  float ms_b = elapsed_ms(start, end_b);
  CHECK(ms_a >= 10 * KERNEL_MS - 0.01f);
  CHECK(ms_b >= 20 * KERNEL_MS - 0.01f);
  float ms = 0;
  CHECK_RC(cuEventElapsedTime(&ms, start, timing_off), CUDA_ERROR_INVALID_HANDLE);

  /* b waits for a's work before its own */
  CHECK_RC(cuEventRecord(start, b), CUDA_SUCCESS);
  launch(a, 5);
  CHECK_RC(cuEventRecord(end_a, a), CUDA_SUCCESS);
  CHECK_RC(cuStreamWaitEvent(b, end_a, 0), CUDA_SUCCESS);
  launch(b, 1);
  CHECK_RC(cuEventRecord(end_b, b), CUDA_SUCCESS);
  CHECK(elapsed_ms(start, end_b) >= 6 * KERNEL_MS - 0.01f);

  CHECK_RC(cuEventDestroy(start), CUDA_SUCCESS);
  CHECK_RC(cuEventDestroy(end_a), CUDA_SUCCESS);
  CHECK_RC(cuEventDestroy(end_b), CUDA_SUCCESS);
  CHECK_RC(cuEventDestroy(timing_off), CUDA_SUCCESS);
  CHECK_RC(cuStreamDestroy(a), CUDA_SUCCESS);
  CHECK_RC(cuStreamDestroy(b), CUDA_SUCCESS);
}

/* Every launch kind occupies the device for one kernel time. */
static void test_launch_kinds(CUstream stream) {
  CUevent start, end;
  CUlaunchConfig config;
  CUDA_LAUNCH_PARAMS params;
  PFN_cuLaunchKernel_v7000_ptsz launch_ptsz = NULL;
  PFN_cuLaunchKernelEx_v11060_ptsz launch_ex_ptsz = NULL;
  PFN_cuLaunchCooperativeKernel_v9000_ptsz cooperative_ptsz = NULL;
  const cuuint64_t ptds = CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM;
  int before = softmig_fake_kernels_launched();

  CHECK_RC(cuGetProcAddress("cuLaunchKernel", (void **)&launch_ptsz, 12000, ptds, NULL),
           CUDA_SUCCESS);
  CHECK_RC(cuGetProcAddress("cuLaunchKernelEx", (void **)&launch_ex_ptsz, 12000, ptds, NULL),
           CUDA_SUCCESS);
  CHECK_RC(cuGetProcAddress("cuLaunchCooperativeKernel", (void **)&cooperative_ptsz, 12000,
                            ptds, NULL),
           CUDA_SUCCESS);
  if (launch_ptsz == NULL || launch_ex_ptsz == NULL || cooperative_ptsz == NULL) {
    return;
  }

  memset(&config, 0, sizeof(config));
  config.gridDimX = config.gridDimY = config.gridDimZ = 1;
  config.blockDimX = config.blockDimY = config.blockDimZ = 1;
  config.hStream = stream;
  memset(&params, 0, sizeof(params));
  params.function = kernel;
  params.gridDimX = params.gridDimY = params.gridDimZ = 1;
  params.blockDimX = params.blockDimY = params.blockDimZ = 1;
  params.hStream = stream;

  CHECK_RC(cuEventCreate(&start, CU_EVENT_DEFAULT), CUDA_SUCCESS);
  CHECK_RC(cuEventCreate(&end, CU_EVENT_DEFAULT), CUDA_SUCCESS);
  CHECK_RC(cuEventRecord(start, stream), CUDA_SUCCESS);
  CHECK_RC(cuLaunchKernelEx(&config, kernel, NULL, NULL), CUDA_SUCCESS);
  CHECK_RC(launch_ex_ptsz(&config, kernel, NULL, NULL), CUDA_SUCCESS);
  CHECK_RC(cuLaunchCooperativeKernel(kernel, 1, 1, 1, 1, 1, 1, 0, stream, NULL), CUDA_SUCCESS);
  CHECK_RC(cooperative_ptsz(kernel, 1, 1, 1, 1, 1, 1, 0, stream, NULL), CUDA_SUCCESS);
  CHECK_RC(launch_ptsz(kernel, 1, 1, 1, 1, 1, 1, 0, stream, NULL, NULL), CUDA_SUCCESS);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations" /* deprecated, still a launch path */
  CHECK_RC(cuLaunchCooperativeKernelMultiDevice(&params, 1, 0), CUDA_SUCCESS);
#pragma GCC diagnostic pop
  CHECK_RC(cuEventRecord(end, stream), CUDA_SUCCESS);
  CHECK(elapsed_ms(start, end) >= 6 * KERNEL_MS - 0.01f);
  CHECK(softmig_fake_kernels_launched() == before + 6);

  CHECK_RC(cuLaunchKernelEx(NULL, kernel, NULL, NULL), CUDA_ERROR_INVALID_VALUE);
  CHECK_RC(cuLaunchKernel(NULL, 1, 1, 1, 1, 1, 1, 0, stream, NULL, NULL),
           CUDA_ERROR_INVALID_HANDLE);
  CHECK_RC(cuLaunchKernel(kernel, 1, 1, 1, 1, 1, 1, 0, (CUstream)&config, NULL, NULL),
           CUDA_ERROR_INVALID_HANDLE);
  CHECK_RC(cuEventDestroy(start), CUDA_SUCCESS);
  CHECK_RC(cuEventDestroy(end), CUDA_SUCCESS);
}

static void check_graph_time(CUgraph graph, CUstream stream, int kernels) {
  CUgraphExec exec;
  CUevent start, end;
  int before = softmig_fake_kernels_launched();

  CHECK_RC(cuGraphInstantiate(&exec, graph, 0), CUDA_SUCCESS); /* WithFlags */
  CHECK_RC(cuEventCreate(&start, CU_EVENT_DEFAULT), CUDA_SUCCESS);
  CHECK_RC(cuEventCreate(&end, CU_EVENT_DEFAULT), CUDA_SUCCESS);
  CHECK_RC(cuEventRecord(start, stream), CUDA_SUCCESS);
  CHECK_RC(cuGraphLaunch(exec, stream), CUDA_SUCCESS);
  CHECK_RC(cuGraphLaunch(exec, stream), CUDA_SUCCESS);
  CHECK_RC(cuEventRecord(end, stream), CUDA_SUCCESS);
  float ms = elapsed_ms(start, end);
  CHECK(ms >= 2 * kernels * KERNEL_MS - 0.01f);
  CHECK(ms < 2 * kernels * KERNEL_MS + 500);
  CHECK(softmig_fake_kernels_launched() == before + 2 * kernels);
  CHECK_RC(cuGraphExecDestroy(exec), CUDA_SUCCESS);
  CHECK_RC(cuEventDestroy(start), CUDA_SUCCESS);
  CHECK_RC(cuEventDestroy(end), CUDA_SUCCESS);
}

static void test_graphs(CUstream stream) {
  CUgraph graph, captured;
  CUgraphNode node;
  CUDA_KERNEL_NODE_PARAMS params;
  CUstreamCaptureStatus status;

  memset(&params, 0, sizeof(params));
  params.func = kernel;
  params.gridDimX = params.gridDimY = params.gridDimZ = 1;
  params.blockDimX = params.blockDimY = params.blockDimZ = 1;
  CHECK_RC(cuGraphCreate(&graph, 0), CUDA_SUCCESS);
  for (int i = 0; i < 5; i++) {
    CHECK_RC(cuGraphAddKernelNode(&node, graph, NULL, 0, &params), CUDA_SUCCESS);
  }
  CHECK_RC(cuGraphAddEmptyNode(&node, graph, NULL, 0), CUDA_SUCCESS);
  check_graph_time(graph, stream, 5);
  CHECK_RC(cuGraphDestroy(graph), CUDA_SUCCESS);

  int before = softmig_fake_kernels_launched();
  CHECK_RC(cuStreamBeginCapture(NULL, CU_STREAM_CAPTURE_MODE_GLOBAL),
           CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
  CHECK_RC(cuStreamBeginCapture(stream, CU_STREAM_CAPTURE_MODE_GLOBAL), CUDA_SUCCESS);
  CHECK_RC(cuStreamIsCapturing(stream, &status), CUDA_SUCCESS);
  CHECK(status == CU_STREAM_CAPTURE_STATUS_ACTIVE);
  launch(stream, 3);
  CHECK_RC(cuStreamEndCapture(stream, &captured), CUDA_SUCCESS);
  CHECK_RC(cuStreamIsCapturing(stream, &status), CUDA_SUCCESS);
  CHECK(status == CU_STREAM_CAPTURE_STATUS_NONE);
  CHECK(softmig_fake_kernels_launched() == before); /* captured, not run */
  check_graph_time(captured, stream, 3);
  CHECK_RC(cuGraphDestroy(captured), CUDA_SUCCESS);
}

/* A stream queues at most QUEUE_DEPTH launches; the next one waits for the oldest. */
static void test_queue_depth(void) {
  CUstream stream;
  const int extra = 20;

  CHECK_RC(cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING), CUDA_SUCCESS);
  uint64_t t0 = test_now_ns();
  launch(stream, QUEUE_DEPTH);
  uint64_t t1 = test_now_ns();
  launch(stream, extra);
  uint64_t t2 = test_now_ns();
  /* the full queue was accepted at once (it holds ~1 s of work)... */
  CHECK(t1 - t0 < 500 * 1000000ULL);
  /* ...and launch QUEUE_DEPTH + k waited for kernel k to complete */
  CHECK(t2 - t0 >= (uint64_t)(extra * KERNEL_MS * 1e6));
  CHECK_RC(cuStreamSynchronize(stream), CUDA_SUCCESS);
  CHECK(test_now_ns() - t0 >= (uint64_t)((QUEUE_DEPTH + extra) * KERNEL_MS * 1e6));
  CHECK_RC(cuStreamDestroy(stream), CUDA_SUCCESS);
}

static void test_invalid_handles(void) {
  CUevent a, b;
  CUstream stream;
  float ms = 0;

  CHECK_RC(cuEventCreate(&a, CU_EVENT_DEFAULT), CUDA_SUCCESS);
  CHECK_RC(cuEventCreate(&b, CU_EVENT_DEFAULT), CUDA_SUCCESS);
  CHECK_RC(cuEventQuery(a), CUDA_SUCCESS); /* never recorded: nothing to wait for */
  CHECK_RC(cuEventRecord(a, NULL), CUDA_SUCCESS);
  CHECK_RC(cuEventElapsedTime(&ms, a, b), CUDA_ERROR_INVALID_HANDLE); /* b never recorded */
  CHECK_RC(cuEventDestroy(a), CUDA_SUCCESS);
  CHECK_RC(cuEventDestroy(b), CUDA_SUCCESS);
  CHECK_RC(cuStreamCreate(&stream, CU_STREAM_DEFAULT), CUDA_SUCCESS);
  CHECK_RC(cuStreamEndCapture(stream, &(CUgraph){NULL}), CUDA_ERROR_ILLEGAL_STATE);
  CHECK_RC(cuStreamBeginCapture(stream, CU_STREAM_CAPTURE_MODE_RELAXED), CUDA_SUCCESS);
  CHECK_RC(cuStreamBeginCapture(stream, CU_STREAM_CAPTURE_MODE_RELAXED),
           CUDA_ERROR_ILLEGAL_STATE);
  /* synchronising a captured stream is illegal and invalidates the capture */
  CUstreamCaptureStatus status;
  CUgraph graph = (CUgraph)&status;
  CHECK_RC(cuStreamSynchronize(stream), CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
  CHECK_RC(cuStreamIsCapturing(stream, &status), CUDA_SUCCESS);
  CHECK(status == CU_STREAM_CAPTURE_STATUS_INVALIDATED);
  CHECK_RC(cuLaunchKernel(kernel, 1, 1, 1, 1, 1, 1, 0, stream, NULL, NULL),
           CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
  CHECK_RC(cuStreamEndCapture(stream, &graph), CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
  CHECK(graph == NULL);
  CHECK_RC(cuStreamIsCapturing(stream, &status), CUDA_SUCCESS);
  CHECK(status == CU_STREAM_CAPTURE_STATUS_NONE);
  CHECK_RC(cuStreamQuery(stream), CUDA_SUCCESS);
  CHECK_RC(cuStreamDestroy(stream), CUDA_SUCCESS);
  CHECK_RC(cuGraphLaunch(NULL, NULL), CUDA_ERROR_INVALID_VALUE);
  CHECK_RC(cuGraphInstantiate(&(CUgraphExec){NULL}, NULL, 0), CUDA_ERROR_INVALID_VALUE);
}

int main(void) {
  CUcontext ctx;
  CUmodule module;
  CUstream stream;

  CHECK_RC(cuInit(0), CUDA_SUCCESS);
  CHECK_RC(cuCtxCreate(&ctx, NULL, 0, 0), CUDA_SUCCESS);
  CHECK_RC(cuModuleLoadData(&module, "image"), CUDA_SUCCESS);
  CHECK_RC(cuModuleGetFunction(&kernel, module, "spin"), CUDA_SUCCESS);
  CHECK_RC(cuStreamCreate(&stream, CU_STREAM_DEFAULT), CUDA_SUCCESS);

  test_launches_take_simulated_time(stream);
  test_launches_take_simulated_time(NULL);
  test_streams_share_the_device();
  test_launch_kinds(stream);
  test_graphs(stream);
  test_queue_depth();
  test_invalid_handles();

  CHECK_RC(cuStreamDestroy(stream), CUDA_SUCCESS);
  CHECK_RC(cuModuleUnload(module), CUDA_SUCCESS);
  CHECK_RC(cuCtxDestroy(ctx), CUDA_SUCCESS);
  return check_report("test_timeline");
}
