/*
 * Streams, events and kernel launches on a simulated device timeline.
 *
 * Each simulated GPU has one timeline shared by every process that uses it: a small
 * shared-memory object named after the GPU's UUID (/dev/shm/softmig-fake-GPU-...) holding
 * busy_until_ns, the CLOCK_MONOTONIC time at which the device finishes all work queued so
 * far. A launch of k kernels occupies the device for k x SOFTMIG_FAKE_KERNEL_US (default
 * 100 us) from start = max(now, busy_until, the stream's last end); it returns at once, and
 * synchronisation and event calls sleep until the simulated completion. A stream holds at
 * most QUEUE_DEPTH launches not yet complete: one more blocks until the oldest completes,
 * as a real driver's queue does.
 *
 * Kernels never run and nothing here touches memory; CLOCK_MONOTONIC is common to all
 * processes of a host, so processes sharing a GPU serialise on busy_until_ns.
 */
#include "fake.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "softmig_fake_cuda.h"

#define STREAM_MAGIC 0x73747221u
#define EVENT_MAGIC 0x65766e21u
#define TIMELINE_MAGIC 0x736f66746d696731ULL
#define QUEUE_DEPTH 1024
#define DEFAULT_KERNEL_US 100
#define NANOS_PER_MICRO 1000ULL

struct shared_timeline {
  uint64_t magic;
  _Atomic uint64_t busy_until_ns;
};

struct CUstream_st {
  uint32_t magic;
  CUdevice device;
  unsigned int flags;
  int priority;
  pthread_mutex_t lock;
  uint64_t last_end_ns;            /* when the stream's queued work completes */
  uint64_t pending[QUEUE_DEPTH];   /* end times of launches maybe not complete, oldest first */
  unsigned int pending_head;
  unsigned int pending_count;
  CUgraph capture;                 /* non-NULL while the stream is being captured */
  uint64_t capture_id;
  bool capture_invalidated;        /* an illegal call during capture: it will fail */
};

struct CUevent_st {
  uint32_t magic;
  unsigned int flags;
  _Atomic uint64_t time_ns; /* completion time of the recorded work; 0 = never recorded */
};

static _Atomic(struct shared_timeline *) timelines[FAKE_MAX_GPUS];
static struct shared_timeline private_timelines[FAKE_MAX_GPUS];
static pthread_mutex_t timeline_lock = PTHREAD_MUTEX_INITIALIZER;

static struct CUstream_st default_streams[FAKE_MAX_GPUS];
static _Atomic uint64_t device_last_end_ns[FAKE_MAX_GPUS];
static atomic_int kernels_launched;
static atomic_ullong next_capture_id;

static uint64_t kernel_ns = DEFAULT_KERNEL_US * NANOS_PER_MICRO;
static pthread_once_t settings_once = PTHREAD_ONCE_INIT;

int softmig_fake_kernels_launched(void) {
  return atomic_load(&kernels_launched);
}

uint64_t fake_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t deadline_ns) {
  struct timespec ts = {
      .tv_sec = (time_t)(deadline_ns / 1000000000ULL),
      .tv_nsec = (long)(deadline_ns % 1000000000ULL),
  };
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
  }
}

static uint64_t max_u64(uint64_t a, uint64_t b) {
  return a > b ? a : b;
}

static void load_settings(void) {
  const char *text = getenv("SOFTMIG_FAKE_KERNEL_US");
  char *end;

  for (int i = 0; i < FAKE_MAX_GPUS; i++) {
    pthread_mutex_init(&default_streams[i].lock, NULL);
    default_streams[i].magic = STREAM_MAGIC;
    default_streams[i].device = i;
  }
  if (text == NULL || text[0] == '\0') {
    return;
  }
  errno = 0;
  unsigned long long us = strtoull(text, &end, 10);
  if (errno != 0 || *end != '\0' || text[0] == '-' || us > UINT64_MAX / NANOS_PER_MICRO) {
    fprintf(stderr,
            "softmig fake driver: bad SOFTMIG_FAKE_KERNEL_US '%s' (want microseconds), "
            "using %d\n",
            text, DEFAULT_KERNEL_US);
    return;
  }
  kernel_ns = us * NANOS_PER_MICRO;
}

static void ensure_settings(void) {
  pthread_once(&settings_once, load_settings);
}

/* Maps the GPU's shared timeline; NULL when shared memory is unavailable. */
static struct shared_timeline *map_shared_timeline(const char *uuid_text) {
  char name[64];
  struct stat st;

  snprintf(name, sizeof(name), "/softmig-fake-%s", uuid_text);
  int fd = shm_open(name, O_RDWR | O_CREAT, 0666);
  if (fd < 0) {
    return NULL;
  }
  (void)fchmod(fd, 0666); /* processes of other users may share the GPU too */
  if (fstat(fd, &st) != 0 ||
      (st.st_size < (off_t)sizeof(struct shared_timeline) &&
       ftruncate(fd, sizeof(struct shared_timeline)) != 0)) {
    close(fd);
    return NULL;
  }
  void *mem = mmap(NULL, sizeof(struct shared_timeline), PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                   0);
  close(fd);
  if (mem == MAP_FAILED) {
    return NULL;
  }
  struct shared_timeline *timeline = mem;
  timeline->magic = TIMELINE_MAGIC;
  return timeline;
}

static struct shared_timeline *timeline_of(CUdevice dev) {
  struct shared_timeline *timeline = atomic_load_explicit(&timelines[dev], memory_order_acquire);
  if (timeline != NULL) {
    return timeline;
  }
  pthread_mutex_lock(&timeline_lock);
  timeline = atomic_load_explicit(&timelines[dev], memory_order_relaxed);
  if (timeline == NULL) {
    timeline = map_shared_timeline(fake_device(dev)->uuid_text);
    if (timeline == NULL) {
      fprintf(stderr,
              "softmig fake driver: no shared timeline for %s, its time is per process\n",
              fake_device(dev)->uuid_text);
      timeline = &private_timelines[dev];
    }
    atomic_store_explicit(&timelines[dev], timeline, memory_order_release);
  }
  pthread_mutex_unlock(&timeline_lock);
  return timeline;
}

/* The stream behind a handle; NULL and the two default-stream handles mean the default
 * stream of the current context's device. */
static CUresult resolve_stream(CUstream handle, struct CUstream_st **stream) {
  ensure_settings();
  if (handle == NULL || handle == CU_STREAM_LEGACY || handle == CU_STREAM_PER_THREAD) {
    CUdevice dev;
    CUresult rc = fake_current_device(&dev);
    if (rc != CUDA_SUCCESS) {
      return rc;
    }
    *stream = &default_streams[dev];
    return CUDA_SUCCESS;
  }
  if (handle->magic != STREAM_MAGIC) {
    return CUDA_ERROR_INVALID_HANDLE;
  }
  *stream = handle;
  return CUDA_SUCCESS;
}

CUresult fake_stream_device(CUstream handle, CUdevice *dev) {
  struct CUstream_st *stream;
  CUresult rc = resolve_stream(handle, &stream);
  if (rc == CUDA_SUCCESS) {
    *dev = stream->device;
  }
  return rc;
}

/* Drops completed launches; if the queue is still full, waits for the oldest one. Called
 * with the stream's lock held. */
static void wait_for_queue_slot(struct CUstream_st *stream) {
  uint64_t now = fake_now_ns();
  while (stream->pending_count > 0 && stream->pending[stream->pending_head] <= now) {
    stream->pending_head = (stream->pending_head + 1) % QUEUE_DEPTH;
    stream->pending_count--;
  }
  if (stream->pending_count == QUEUE_DEPTH) {
    sleep_until(stream->pending[stream->pending_head]);
    stream->pending_head = (stream->pending_head + 1) % QUEUE_DEPTH;
    stream->pending_count--;
  }
}

static void record_device_end(CUdevice dev, uint64_t end_ns) {
  uint64_t seen = atomic_load(&device_last_end_ns[dev]);
  while (seen < end_ns && !atomic_compare_exchange_weak(&device_last_end_ns[dev], &seen, end_ns)) {
  }
}

CUresult fake_launch(CUstream handle, uint64_t kernels) {
  struct CUstream_st *stream;
  CUresult rc = resolve_stream(handle, &stream);
  if (rc != CUDA_SUCCESS) {
    return rc;
  }
  pthread_mutex_lock(&stream->lock);
  if (stream->capture != NULL) {
    rc = stream->capture_invalidated ? CUDA_ERROR_STREAM_CAPTURE_INVALIDATED : CUDA_SUCCESS;
    stream->capture->kernel_nodes += kernels;
    pthread_mutex_unlock(&stream->lock);
    return rc;
  }
  if (kernels == 0) {
    pthread_mutex_unlock(&stream->lock);
    return CUDA_SUCCESS;
  }
  wait_for_queue_slot(stream);

  struct shared_timeline *timeline = timeline_of(stream->device);
  uint64_t duration = kernels * kernel_ns;
  uint64_t now = fake_now_ns();
  uint64_t busy = atomic_load(&timeline->busy_until_ns);
  uint64_t start;
  do {
    start = max_u64(max_u64(now, busy), stream->last_end_ns);
  } while (!atomic_compare_exchange_weak(&timeline->busy_until_ns, &busy, start + duration));

  stream->last_end_ns = start + duration;
  stream->pending[(stream->pending_head + stream->pending_count) % QUEUE_DEPTH] =
      stream->last_end_ns;
  stream->pending_count++;
  record_device_end(stream->device, stream->last_end_ns);
  atomic_fetch_add(&kernels_launched, (int)kernels);
  pthread_mutex_unlock(&stream->lock);
  return CUDA_SUCCESS;
}

CUresult fake_device_synchronize(CUdevice dev) {
  sleep_until(atomic_load(&device_last_end_ns[dev]));
  return CUDA_SUCCESS;
}

/* Launches */

static CUresult check_launch(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
                             unsigned int gridDimZ, unsigned int blockDimX,
                             unsigned int blockDimY, unsigned int blockDimZ) {
  if (!fake_function_valid(f)) {
    return CUDA_ERROR_INVALID_HANDLE;
  }
  if (gridDimX == 0 || gridDimY == 0 || gridDimZ == 0 || blockDimX == 0 || blockDimY == 0 ||
      blockDimZ == 0) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  return CUDA_SUCCESS;
}

static CUresult launch_kernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
                              unsigned int gridDimZ, unsigned int blockDimX,
                              unsigned int blockDimY, unsigned int blockDimZ, CUstream hStream) {
  CUresult rc = check_launch(f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ);
  return rc == CUDA_SUCCESS ? fake_launch(hStream, 1) : rc;
}

CUresult cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
                        unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY,
                        unsigned int blockDimZ, unsigned int sharedMemBytes, CUstream hStream,
                        void **kernelParams, void **extra) {
  (void)sharedMemBytes, (void)kernelParams, (void)extra;
  return launch_kernel(f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ, hStream);
}

CUresult cuLaunchKernel_ptsz(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
                             unsigned int gridDimZ, unsigned int blockDimX,
                             unsigned int blockDimY, unsigned int blockDimZ,
                             unsigned int sharedMemBytes, CUstream hStream, void **kernelParams,
                             void **extra) {
  (void)sharedMemBytes, (void)kernelParams, (void)extra;
  return launch_kernel(f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ, hStream);
}

static CUresult launch_kernel_ex(const CUlaunchConfig *config, CUfunction f) {
  if (config == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  return launch_kernel(f, config->gridDimX, config->gridDimY, config->gridDimZ,
                       config->blockDimX, config->blockDimY, config->blockDimZ, config->hStream);
}

CUresult cuLaunchKernelEx(const CUlaunchConfig *config, CUfunction f, void **kernelParams,
                          void **extra) {
  (void)kernelParams, (void)extra;
  return launch_kernel_ex(config, f);
}

CUresult cuLaunchKernelEx_ptsz(const CUlaunchConfig *config, CUfunction f, void **kernelParams,
                               void **extra) {
  (void)kernelParams, (void)extra;
  return launch_kernel_ex(config, f);
}

CUresult cuLaunchCooperativeKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
                                   unsigned int gridDimZ, unsigned int blockDimX,
                                   unsigned int blockDimY, unsigned int blockDimZ,
                                   unsigned int sharedMemBytes, CUstream hStream,
                                   void **kernelParams) {
  (void)sharedMemBytes, (void)kernelParams;
  return launch_kernel(f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ, hStream);
}

CUresult cuLaunchCooperativeKernel_ptsz(CUfunction f, unsigned int gridDimX,
                                        unsigned int gridDimY, unsigned int gridDimZ,
                                        unsigned int blockDimX, unsigned int blockDimY,
                                        unsigned int blockDimZ, unsigned int sharedMemBytes,
                                        CUstream hStream, void **kernelParams) {
  (void)sharedMemBytes, (void)kernelParams;
  return launch_kernel(f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ, hStream);
}

CUresult cuLaunchCooperativeKernelMultiDevice(CUDA_LAUNCH_PARAMS *launchParamsList,
                                              unsigned int numDevices, unsigned int flags) {
  (void)flags;
  if (launchParamsList == NULL || numDevices == 0) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  for (unsigned int i = 0; i < numDevices; i++) {
    const CUDA_LAUNCH_PARAMS *p = &launchParamsList[i];
    CUresult rc = check_launch(p->function, p->gridDimX, p->gridDimY, p->gridDimZ, p->blockDimX,
                               p->blockDimY, p->blockDimZ);
    if (rc != CUDA_SUCCESS) {
      return rc;
    }
  }
  for (unsigned int i = 0; i < numDevices; i++) {
    CUresult rc = fake_launch(launchParamsList[i].hStream, 1);
    if (rc != CUDA_SUCCESS) {
      return rc;
    }
  }
  return CUDA_SUCCESS;
}

/* Streams */

static CUresult create_stream(CUstream *phStream, unsigned int flags, int priority) {
  CUdevice dev;
  if (phStream == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  ensure_settings();
  CUresult rc = fake_current_device(&dev);
  if (rc != CUDA_SUCCESS) {
    return rc;
  }
  CUstream stream = calloc(1, sizeof(*stream));
  if (stream == NULL) {
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  stream->magic = STREAM_MAGIC;
  stream->device = dev;
  stream->flags = flags;
  stream->priority = priority;
  pthread_mutex_init(&stream->lock, NULL);
  *phStream = stream;
  return CUDA_SUCCESS;
}

CUresult cuStreamCreate(CUstream *phStream, unsigned int Flags) {
  return create_stream(phStream, Flags, 0);
}

CUresult cuStreamCreateWithPriority(CUstream *phStream, unsigned int flags, int priority) {
  return create_stream(phStream, flags, priority);
}

CUresult cuStreamDestroy_v2(CUstream hStream) {
  if (hStream == NULL || hStream->magic != STREAM_MAGIC || hStream->device < 0 ||
      hStream == &default_streams[hStream->device]) {
    return CUDA_ERROR_INVALID_HANDLE;
  }
  hStream->magic = 0;
  free(hStream->capture); /* a capture in progress is abandoned */
  pthread_mutex_destroy(&hStream->lock);
  free(hStream);
  return CUDA_SUCCESS;
}

CUresult cuStreamDestroy(CUstream hStream) {
  return cuStreamDestroy_v2(hStream);
}

/*
 * The stream's last end. While the stream is captured the call is illegal: it fails with
 * CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED and invalidates the capture, as the real driver does.
 */
static CUresult stream_end(CUstream hStream, uint64_t *end_ns) {
  struct CUstream_st *stream;
  CUresult rc = resolve_stream(hStream, &stream);
  if (rc != CUDA_SUCCESS) {
    return rc;
  }
  pthread_mutex_lock(&stream->lock);
  *end_ns = stream->last_end_ns;
  if (stream->capture != NULL) {
    stream->capture_invalidated = true;
    rc = CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  }
  pthread_mutex_unlock(&stream->lock);
  return rc;
}

static CUresult stream_synchronize(CUstream hStream) {
  uint64_t end_ns;
  CUresult rc = stream_end(hStream, &end_ns);
  if (rc == CUDA_SUCCESS) {
    sleep_until(end_ns);
  }
  return rc;
}

static CUresult stream_query(CUstream hStream) {
  uint64_t end_ns;
  CUresult rc = stream_end(hStream, &end_ns);
  if (rc != CUDA_SUCCESS) {
    return rc;
  }
  return fake_now_ns() >= end_ns ? CUDA_SUCCESS : CUDA_ERROR_NOT_READY;
}

CUresult cuStreamSynchronize(CUstream hStream) {
  return stream_synchronize(hStream);
}

CUresult cuStreamSynchronize_ptsz(CUstream hStream) {
  return stream_synchronize(hStream);
}

CUresult cuStreamQuery(CUstream hStream) {
  return stream_query(hStream);
}

CUresult cuStreamQuery_ptsz(CUstream hStream) {
  return stream_query(hStream);
}

static CUresult stream_wait_event(CUstream hStream, CUevent hEvent) {
  struct CUstream_st *stream;
  if (hEvent == NULL || hEvent->magic != EVENT_MAGIC) {
    return CUDA_ERROR_INVALID_HANDLE;
  }
  CUresult rc = resolve_stream(hStream, &stream);
  if (rc != CUDA_SUCCESS) {
    return rc;
  }
  pthread_mutex_lock(&stream->lock);
  stream->last_end_ns = max_u64(stream->last_end_ns, atomic_load(&hEvent->time_ns));
  pthread_mutex_unlock(&stream->lock);
  return CUDA_SUCCESS;
}

CUresult cuStreamWaitEvent(CUstream hStream, CUevent hEvent, unsigned int Flags) {
  (void)Flags;
  return stream_wait_event(hStream, hEvent);
}

CUresult cuStreamWaitEvent_ptsz(CUstream hStream, CUevent hEvent, unsigned int Flags) {
  (void)Flags;
  return stream_wait_event(hStream, hEvent);
}

static CUresult stream_get_priority(CUstream hStream, int *priority) {
  struct CUstream_st *stream;
  if (priority == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  CUresult rc = resolve_stream(hStream, &stream);
  if (rc == CUDA_SUCCESS) {
    *priority = stream->priority;
  }
  return rc;
}

CUresult cuStreamGetPriority(CUstream hStream, int *priority) {
  return stream_get_priority(hStream, priority);
}

CUresult cuStreamGetPriority_ptsz(CUstream hStream, int *priority) {
  return stream_get_priority(hStream, priority);
}

static CUresult stream_get_flags(CUstream hStream, unsigned int *flags) {
  struct CUstream_st *stream;
  if (flags == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  CUresult rc = resolve_stream(hStream, &stream);
  if (rc == CUDA_SUCCESS) {
    *flags = stream->flags;
  }
  return rc;
}

CUresult cuStreamGetFlags(CUstream hStream, unsigned int *flags) {
  return stream_get_flags(hStream, flags);
}

CUresult cuStreamGetFlags_ptsz(CUstream hStream, unsigned int *flags) {
  return stream_get_flags(hStream, flags);
}

CUresult cuStreamGetDevice(CUstream hStream, CUdevice *device) {
  if (device == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  return fake_stream_device(hStream, device);
}

CUresult cuStreamGetDevice_ptsz(CUstream hStream, CUdevice *device) {
  return cuStreamGetDevice(hStream, device);
}

/* Stream capture (the graph side is in graph.c) */

CUresult fake_stream_begin_capture(CUstream hStream) {
  struct CUstream_st *stream;
  if (hStream == NULL || hStream == CU_STREAM_LEGACY) {
    return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  }
  CUresult rc = resolve_stream(hStream, &stream);
  if (rc != CUDA_SUCCESS) {
    return rc;
  }
  CUgraph graph = fake_graph_new();
  if (graph == NULL) {
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  pthread_mutex_lock(&stream->lock);
  if (stream->capture != NULL) {
    rc = CUDA_ERROR_ILLEGAL_STATE;
  } else {
    stream->capture = graph;
    stream->capture_id = atomic_fetch_add(&next_capture_id, 1) + 1;
    stream->capture_invalidated = false;
  }
  pthread_mutex_unlock(&stream->lock);
  if (rc != CUDA_SUCCESS) {
    free(graph);
  }
  return rc;
}

CUresult fake_stream_end_capture(CUstream hStream, CUgraph *graph) {
  struct CUstream_st *stream;
  if (graph == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  CUresult rc = resolve_stream(hStream, &stream);
  if (rc != CUDA_SUCCESS) {
    return rc;
  }
  pthread_mutex_lock(&stream->lock);
  if (stream->capture == NULL) {
    rc = CUDA_ERROR_ILLEGAL_STATE;
  } else if (stream->capture_invalidated) {
    free(stream->capture);
    *graph = NULL;
    rc = CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
  } else {
    *graph = stream->capture;
  }
  stream->capture = NULL;
  pthread_mutex_unlock(&stream->lock);
  return rc;
}

CUresult fake_stream_capture_status(CUstream hStream, CUstreamCaptureStatus *status,
                                    uint64_t *id) {
  struct CUstream_st *stream;
  CUresult rc = resolve_stream(hStream, &stream);
  if (rc != CUDA_SUCCESS) {
    return rc;
  }
  pthread_mutex_lock(&stream->lock);
  *status = stream->capture == NULL   ? CU_STREAM_CAPTURE_STATUS_NONE
            : stream->capture_invalidated ? CU_STREAM_CAPTURE_STATUS_INVALIDATED
                                          : CU_STREAM_CAPTURE_STATUS_ACTIVE;
  *id = stream->capture != NULL ? stream->capture_id : 0;
  pthread_mutex_unlock(&stream->lock);
  return CUDA_SUCCESS;
}

/* Events */

CUresult cuEventCreate(CUevent *phEvent, unsigned int Flags) {
  if (phEvent == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (!fake_initialized()) {
    return CUDA_ERROR_NOT_INITIALIZED;
  }
  CUevent event = calloc(1, sizeof(*event));
  if (event == NULL) {
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  event->magic = EVENT_MAGIC;
  event->flags = Flags;
  *phEvent = event;
  return CUDA_SUCCESS;
}

CUresult cuEventDestroy_v2(CUevent hEvent) {
  if (hEvent == NULL || hEvent->magic != EVENT_MAGIC) {
    return CUDA_ERROR_INVALID_HANDLE;
  }
  hEvent->magic = 0;
  free(hEvent);
  return CUDA_SUCCESS;
}

CUresult cuEventDestroy(CUevent hEvent) {
  return cuEventDestroy_v2(hEvent);
}

/* The event completes when the work queued on the stream so far completes. */
static CUresult event_record(CUevent hEvent, CUstream hStream) {
  struct CUstream_st *stream;
  if (hEvent == NULL || hEvent->magic != EVENT_MAGIC) {
    return CUDA_ERROR_INVALID_HANDLE;
  }
  CUresult rc = resolve_stream(hStream, &stream);
  if (rc != CUDA_SUCCESS) {
    return rc;
  }
  pthread_mutex_lock(&stream->lock);
  uint64_t time_ns = max_u64(fake_now_ns(), stream->last_end_ns);
  pthread_mutex_unlock(&stream->lock);
  atomic_store(&hEvent->time_ns, time_ns);
  return CUDA_SUCCESS;
}

CUresult cuEventRecord(CUevent hEvent, CUstream hStream) {
  return event_record(hEvent, hStream);
}

CUresult cuEventRecord_ptsz(CUevent hEvent, CUstream hStream) {
  return event_record(hEvent, hStream);
}

CUresult cuEventRecordWithFlags(CUevent hEvent, CUstream hStream, unsigned int flags) {
  (void)flags;
  return event_record(hEvent, hStream);
}

CUresult cuEventRecordWithFlags_ptsz(CUevent hEvent, CUstream hStream, unsigned int flags) {
  (void)flags;
  return event_record(hEvent, hStream);
}

CUresult cuEventQuery(CUevent hEvent) {
  if (hEvent == NULL || hEvent->magic != EVENT_MAGIC) {
    return CUDA_ERROR_INVALID_HANDLE;
  }
  return fake_now_ns() >= atomic_load(&hEvent->time_ns) ? CUDA_SUCCESS : CUDA_ERROR_NOT_READY;
}

CUresult cuEventSynchronize(CUevent hEvent) {
  if (hEvent == NULL || hEvent->magic != EVENT_MAGIC) {
    return CUDA_ERROR_INVALID_HANDLE;
  }
  sleep_until(atomic_load(&hEvent->time_ns));
  return CUDA_SUCCESS;
}

CUresult cuEventElapsedTime_v2(float *pMilliseconds, CUevent hStart, CUevent hEnd) {
  if (pMilliseconds == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (hStart == NULL || hStart->magic != EVENT_MAGIC || hEnd == NULL ||
      hEnd->magic != EVENT_MAGIC || ((hStart->flags | hEnd->flags) & CU_EVENT_DISABLE_TIMING)) {
    return CUDA_ERROR_INVALID_HANDLE;
  }
  uint64_t start = atomic_load(&hStart->time_ns);
  uint64_t end = atomic_load(&hEnd->time_ns);
  if (start == 0 || end == 0) {
    return CUDA_ERROR_INVALID_HANDLE;
  }
  if (fake_now_ns() < max_u64(start, end)) {
    return CUDA_ERROR_NOT_READY;
  }
  *pMilliseconds = (float)((double)((int64_t)(end - start)) / 1e6);
  return CUDA_SUCCESS;
}

CUresult cuEventElapsedTime(float *pMilliseconds, CUevent hStart, CUevent hEnd) {
  return cuEventElapsedTime_v2(pMilliseconds, hStart, hEnd);
}
