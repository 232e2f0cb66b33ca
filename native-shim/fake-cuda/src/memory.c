/*
 * Simulated device memory. Nothing is really allocated: every allocation path charges its
 * size to the device's total and returns a unique fake address (or handle) from a range of
 * its own, remembered with its size so that the matching free gives it back. Usage is per
 * process, as the real driver's is: cuMemGetInfo reports total - this process's usage, and
 * an allocation past the total fails with CUDA_ERROR_OUT_OF_MEMORY.
 *
 * Copies and memsets are no-ops that succeed (device-to-host copies write zeros).
 */
#include "fake.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "proctable.h"

#define LINEAR_BASE 0x100000000000ULL /* device d allocates from (d + 1) * LINEAR_BASE */
#define RESERVE_BASE 0x0200000000000000ULL
#define HANDLE_BASE 0x0300000000000000ULL
#define HANDLE_STRIDE 0x100ULL
#define LINEAR_ALIGNMENT 512ULL
#define PITCH_ALIGNMENT 512ULL
#define VMM_GRANULARITY (2ULL << 20)
#define BUCKET_COUNT 4096
#define POOL_MAGIC 0x706f6f6cu

enum block_kind {
  BLOCK_LINEAR,   /* cuMemAlloc*, managed, async: a device pointer */
  BLOCK_VMM,      /* cuMemCreate: a CUmemGenericAllocationHandle */
  BLOCK_RESERVED, /* cuMemAddressReserve: a virtual range, not charged */
  BLOCK_ARRAY,    /* cuArrayCreate, cuArray3DCreate */
  BLOCK_MIPMAPPED /* cuMipmappedArrayCreate */
};

struct block {
  uint64_t key;
  uint64_t size;    /* the range's length (the charge, except for reserved ranges) */
  uint64_t charged; /* bytes counted against the device */
  CUdevice device;
  enum block_kind kind;
  struct block *next;
};

struct CUmemPoolHandle_st {
  uint32_t magic;
  CUdevice device;
  bool is_default;
};

static pthread_mutex_t memory_lock = PTHREAD_MUTEX_INITIALIZER;
static struct block *buckets[BUCKET_COUNT];
static uint64_t used_bytes[FAKE_MAX_GPUS];
static uint64_t next_linear_offset[FAKE_MAX_GPUS];
static uint64_t next_reserve_offset;
static uint64_t next_handle_offset;
static struct CUmemPoolHandle_st default_pools[FAKE_MAX_GPUS];
static pthread_once_t default_pools_once = PTHREAD_ONCE_INIT;

static void init_default_pools(void) {
  for (int i = 0; i < FAKE_MAX_GPUS; i++) {
    default_pools[i].magic = POOL_MAGIC;
    default_pools[i].device = i;
    default_pools[i].is_default = true;
  }
}

/* Publishes dev's usage for the fake NVML; called with memory_lock held. */
static void publish_locked(CUdevice dev) {
  fake_proc_publish(dev, fake_device(dev)->uuid_text, used_bytes[dev]);
}

CUresult fake_charge(CUdevice dev, uint64_t bytes) {
  pthread_mutex_lock(&memory_lock);
  if (bytes > fake_device(dev)->total_bytes - used_bytes[dev]) {
    pthread_mutex_unlock(&memory_lock);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  used_bytes[dev] += bytes;
  publish_locked(dev);
  pthread_mutex_unlock(&memory_lock);
  return CUDA_SUCCESS;
}

void fake_uncharge(CUdevice dev, uint64_t bytes) {
  pthread_mutex_lock(&memory_lock);
  used_bytes[dev] -= bytes > used_bytes[dev] ? used_bytes[dev] : bytes;
  publish_locked(dev);
  pthread_mutex_unlock(&memory_lock);
}

static uint64_t round_up(uint64_t value, uint64_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}

static struct block **bucket_of(uint64_t key) {
  uint64_t h = key * 0x9e3779b97f4a7c15ULL;
  return &buckets[(h >> 32) % BUCKET_COUNT];
}

/* The next key for a new block; called with memory_lock held. */
static uint64_t next_key(enum block_kind kind, CUdevice dev, uint64_t size, uint64_t alignment) {
  uint64_t key;
  switch (kind) {
  case BLOCK_LINEAR:
    key = (uint64_t)(dev + 1) * LINEAR_BASE + next_linear_offset[dev];
    next_linear_offset[dev] += round_up(size > 0 ? size : 1, LINEAR_ALIGNMENT);
    return key;
  case BLOCK_RESERVED:
    next_reserve_offset = round_up(next_reserve_offset, alignment);
    key = RESERVE_BASE + next_reserve_offset;
    next_reserve_offset += size;
    return key;
  default:
    next_handle_offset += HANDLE_STRIDE;
    return HANDLE_BASE + next_handle_offset;
  }
}

/*
 * Charges `charge` bytes to dev (CUDA_ERROR_OUT_OF_MEMORY past its total) and records a new
 * block of `size` bytes. Its key (address or handle) goes to *key.
 */
static CUresult track(enum block_kind kind, CUdevice dev, uint64_t size, uint64_t charge,
                      uint64_t alignment, uint64_t *key) {
  struct block *b = malloc(sizeof(*b));
  if (b == NULL) {
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  pthread_mutex_lock(&memory_lock);
  if (charge > fake_device(dev)->total_bytes - used_bytes[dev]) {
    pthread_mutex_unlock(&memory_lock);
    free(b);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  used_bytes[dev] += charge;
  publish_locked(dev);
  b->key = next_key(kind, dev, size, alignment);
  b->size = size;
  b->charged = charge;
  b->device = dev;
  b->kind = kind;
  struct block **bucket = bucket_of(b->key);
  b->next = *bucket;
  *bucket = b;
  pthread_mutex_unlock(&memory_lock);
  *key = b->key;
  return CUDA_SUCCESS;
}

/* Forgets the block `key` of `kind` and gives its charge back. */
static CUresult untrack(enum block_kind kind, uint64_t key) {
  pthread_mutex_lock(&memory_lock);
  for (struct block **link = bucket_of(key); *link != NULL; link = &(*link)->next) {
    struct block *b = *link;
    if (b->key == key && b->kind == kind) {
      *link = b->next;
      used_bytes[b->device] -= b->charged;
      publish_locked(b->device);
      pthread_mutex_unlock(&memory_lock);
      free(b);
      return CUDA_SUCCESS;
    }
  }
  pthread_mutex_unlock(&memory_lock);
  return CUDA_ERROR_INVALID_VALUE;
}

static bool is_tracked(enum block_kind kind, uint64_t key) {
  bool found = false;
  pthread_mutex_lock(&memory_lock);
  for (struct block *b = *bucket_of(key); b != NULL; b = b->next) {
    if (b->key == key && b->kind == kind) {
      found = true;
      break;
    }
  }
  pthread_mutex_unlock(&memory_lock);
  return found;
}

static CUresult alloc_linear(CUdeviceptr *dptr, uint64_t size, CUdevice dev) {
  uint64_t key;
  if (dptr == NULL || size == 0) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  CUresult rc = track(BLOCK_LINEAR, dev, size, size, LINEAR_ALIGNMENT, &key);
  if (rc == CUDA_SUCCESS) {
    *dptr = key;
  }
  return rc;
}

static CUresult alloc_on_current(CUdeviceptr *dptr, uint64_t size) {
  CUdevice dev;
  CUresult rc = fake_current_device(&dev);
  return rc == CUDA_SUCCESS ? alloc_linear(dptr, size, dev) : rc;
}

static CUresult free_linear(CUdeviceptr dptr) {
  if (dptr == 0) {
    return CUDA_SUCCESS;
  }
  return untrack(BLOCK_LINEAR, dptr);
}

CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize) {
  return alloc_on_current(dptr, bytesize);
}

CUresult cuMemAllocPitch_v2(CUdeviceptr *dptr, size_t *pPitch, size_t WidthInBytes,
                            size_t Height, unsigned int ElementSizeBytes) {
  if (pPitch == NULL || WidthInBytes == 0 || Height == 0 ||
      (ElementSizeBytes != 4 && ElementSizeBytes != 8 && ElementSizeBytes != 16)) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  uint64_t pitch = round_up(WidthInBytes, PITCH_ALIGNMENT);
  if (Height > UINT64_MAX / pitch) {
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  CUresult rc = alloc_on_current(dptr, pitch * Height);
  if (rc == CUDA_SUCCESS) {
    *pPitch = pitch;
  }
  return rc;
}

CUresult cuMemAllocManaged(CUdeviceptr *dptr, size_t bytesize, unsigned int flags) {
  if (flags != CU_MEM_ATTACH_GLOBAL && flags != CU_MEM_ATTACH_HOST) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  return alloc_on_current(dptr, bytesize);
}

CUresult cuMemFree_v2(CUdeviceptr dptr) {
  return free_linear(dptr);
}

CUresult cuMemGetInfo_v2(size_t *free, size_t *total) {
  CUdevice dev;
  if (free == NULL || total == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  CUresult rc = fake_current_device(&dev);
  if (rc != CUDA_SUCCESS) {
    return rc;
  }
  pthread_mutex_lock(&memory_lock);
  *total = fake_device(dev)->total_bytes;
  *free = fake_device(dev)->total_bytes - used_bytes[dev];
  pthread_mutex_unlock(&memory_lock);
  return CUDA_SUCCESS;
}

/* Finds the linear allocation containing dptr (a scan: for queries, not hot paths). */
static bool find_linear(CUdeviceptr dptr, struct block *found) {
  bool ok = false;
  pthread_mutex_lock(&memory_lock);
  for (int i = 0; i < BUCKET_COUNT && !ok; i++) {
    for (struct block *b = buckets[i]; b != NULL; b = b->next) {
      if (b->kind == BLOCK_LINEAR && dptr >= b->key && dptr - b->key < b->size) {
        *found = *b;
        ok = true;
        break;
      }
    }
  }
  pthread_mutex_unlock(&memory_lock);
  return ok;
}

CUresult cuMemGetAddressRange_v2(CUdeviceptr *pbase, size_t *psize, CUdeviceptr dptr) {
  struct block b;
  if (!find_linear(dptr, &b)) {
    return CUDA_ERROR_NOT_FOUND;
  }
  if (pbase != NULL) {
    *pbase = b.key;
  }
  if (psize != NULL) {
    *psize = b.size;
  }
  return CUDA_SUCCESS;
}

CUresult cuPointerGetAttribute(void *data, CUpointer_attribute attribute, CUdeviceptr ptr) {
  struct block b;
  if (data == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (!find_linear(ptr, &b)) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  switch (attribute) {
  case CU_POINTER_ATTRIBUTE_MEMORY_TYPE:
    *(unsigned int *)data = CU_MEMORYTYPE_DEVICE;
    return CUDA_SUCCESS;
  case CU_POINTER_ATTRIBUTE_DEVICE_POINTER:
    *(CUdeviceptr *)data = ptr;
    return CUDA_SUCCESS;
  case CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL:
    *(int *)data = b.device;
    return CUDA_SUCCESS;
  case CU_POINTER_ATTRIBUTE_RANGE_START_ADDR:
    *(CUdeviceptr *)data = b.key;
    return CUDA_SUCCESS;
  case CU_POINTER_ATTRIBUTE_RANGE_SIZE:
    *(size_t *)data = b.size;
    return CUDA_SUCCESS;
  case CU_POINTER_ATTRIBUTE_IS_MANAGED:
  case CU_POINTER_ATTRIBUTE_MAPPED:
    *(unsigned int *)data = attribute == CU_POINTER_ATTRIBUTE_MAPPED;
    return CUDA_SUCCESS;
  default:
    return CUDA_ERROR_INVALID_VALUE;
  }
}

/* Host memory is real (the caller writes to it) and is not device memory: not charged. */

static CUresult alloc_host(void **pp, size_t bytesize) {
  if (pp == NULL || bytesize == 0) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (!fake_initialized()) {
    return CUDA_ERROR_NOT_INITIALIZED;
  }
  if (posix_memalign(pp, 4096, bytesize) != 0) {
    *pp = NULL;
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  return CUDA_SUCCESS;
}

CUresult cuMemAllocHost_v2(void **pp, size_t bytesize) {
  return alloc_host(pp, bytesize);
}

CUresult cuMemHostAlloc(void **pp, size_t bytesize, unsigned int Flags) {
  (void)Flags;
  return alloc_host(pp, bytesize);
}

CUresult cuMemFreeHost(void *p) {
  free(p);
  return CUDA_SUCCESS;
}

CUresult cuMemHostGetDevicePointer_v2(CUdeviceptr *pdptr, void *p, unsigned int Flags) {
  if (pdptr == NULL || p == NULL || Flags != 0) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  *pdptr = (CUdeviceptr)(uintptr_t)p;
  return CUDA_SUCCESS;
}

CUresult cuMemHostRegister_v2(void *p, size_t bytesize, unsigned int Flags) {
  (void)Flags;
  return p != NULL && bytesize > 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult cuMemHostUnregister(void *p) {
  return p != NULL ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

/* Stream-ordered allocation: memory is charged and given back at once. */

static CUresult alloc_async(CUdeviceptr *dptr, size_t bytesize, CUstream hStream) {
  CUdevice dev;
  CUresult rc = fake_stream_device(hStream, &dev);
  return rc == CUDA_SUCCESS ? alloc_linear(dptr, bytesize, dev) : rc;
}

static CUresult alloc_from_pool(CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool,
                                CUstream hStream) {
  CUdevice dev;
  if (pool == NULL || pool->magic != POOL_MAGIC) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  CUresult rc = fake_stream_device(hStream, &dev);
  return rc == CUDA_SUCCESS ? alloc_linear(dptr, bytesize, pool->device) : rc;
}

static CUresult free_async(CUdeviceptr dptr, CUstream hStream) {
  CUdevice dev;
  CUresult rc = fake_stream_device(hStream, &dev);
  return rc == CUDA_SUCCESS ? free_linear(dptr) : rc;
}

CUresult cuMemAllocAsync(CUdeviceptr *dptr, size_t bytesize, CUstream hStream) {
  return alloc_async(dptr, bytesize, hStream);
}

CUresult cuMemAllocAsync_ptsz(CUdeviceptr *dptr, size_t bytesize, CUstream hStream) {
  return alloc_async(dptr, bytesize, hStream);
}

CUresult cuMemAllocFromPoolAsync(CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool,
                                 CUstream hStream) {
  return alloc_from_pool(dptr, bytesize, pool, hStream);
}

CUresult cuMemAllocFromPoolAsync_ptsz(CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool,
                                      CUstream hStream) {
  return alloc_from_pool(dptr, bytesize, pool, hStream);
}

CUresult cuMemFreeAsync(CUdeviceptr dptr, CUstream hStream) {
  return free_async(dptr, hStream);
}

CUresult cuMemFreeAsync_ptsz(CUdeviceptr dptr, CUstream hStream) {
  return free_async(dptr, hStream);
}

CUresult cuMemPoolCreate(CUmemoryPool *pool, const CUmemPoolProps *poolProps) {
  if (pool == NULL || poolProps == NULL ||
      poolProps->location.type != CU_MEM_LOCATION_TYPE_DEVICE) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  CUresult rc = fake_check_device(poolProps->location.id);
  if (rc != CUDA_SUCCESS) {
    return rc == CUDA_ERROR_INVALID_DEVICE ? CUDA_ERROR_INVALID_VALUE : rc;
  }
  CUmemoryPool p = calloc(1, sizeof(*p));
  if (p == NULL) {
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  p->magic = POOL_MAGIC;
  p->device = poolProps->location.id;
  *pool = p;
  return CUDA_SUCCESS;
}

CUresult cuMemPoolDestroy(CUmemoryPool pool) {
  if (pool == NULL || pool->magic != POOL_MAGIC || pool->is_default) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  pool->magic = 0;
  free(pool);
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetDefaultMemPool(CUmemoryPool *pool_out, CUdevice dev) {
  if (pool_out == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  CUresult rc = fake_check_device(dev);
  if (rc != CUDA_SUCCESS) {
    return rc;
  }
  pthread_once(&default_pools_once, init_default_pools);
  *pool_out = &default_pools[dev];
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetMemPool(CUmemoryPool *pool, CUdevice dev) {
  return cuDeviceGetDefaultMemPool(pool, dev);
}

CUresult cuMemPoolTrimTo(CUmemoryPool pool, size_t minBytesToKeep) {
  (void)minBytesToKeep;
  return pool != NULL && pool->magic == POOL_MAGIC ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult cuMemPoolSetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void *value) {
  (void)attr;
  if (pool == NULL || pool->magic != POOL_MAGIC || value == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  return CUDA_SUCCESS;
}

CUresult cuMemPoolGetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void *value) {
  if (pool == NULL || pool->magic != POOL_MAGIC || value == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (attr <= CU_MEMPOOL_ATTR_REUSE_ALLOW_INTERNAL_DEPENDENCIES) {
    *(int *)value = 0;
  } else {
    *(cuuint64_t *)value = 0;
  }
  return CUDA_SUCCESS;
}

/* Virtual memory management: physical handles are charged, address ranges are not. */

CUresult cuMemGetAllocationGranularity(size_t *granularity, const CUmemAllocationProp *prop,
                                       CUmemAllocationGranularity_flags option) {
  (void)option;
  if (granularity == NULL || prop == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  *granularity = VMM_GRANULARITY;
  return CUDA_SUCCESS;
}

CUresult cuMemCreate(CUmemGenericAllocationHandle *handle, size_t size,
                     const CUmemAllocationProp *prop, unsigned long long flags) {
  uint64_t key;
  (void)flags;
  if (handle == NULL || prop == NULL || size == 0 || size % VMM_GRANULARITY != 0 ||
      prop->location.type != CU_MEM_LOCATION_TYPE_DEVICE) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  CUresult rc = fake_check_device(prop->location.id);
  if (rc != CUDA_SUCCESS) {
    return rc;
  }
  rc = track(BLOCK_VMM, prop->location.id, size, size, 1, &key);
  if (rc == CUDA_SUCCESS) {
    *handle = key;
  }
  return rc;
}

CUresult cuMemRelease(CUmemGenericAllocationHandle handle) {
  return untrack(BLOCK_VMM, handle);
}

CUresult cuMemAddressReserve(CUdeviceptr *ptr, size_t size, size_t alignment, CUdeviceptr addr,
                             unsigned long long flags) {
  uint64_t key;
  (void)addr;
  (void)flags;
  if (ptr == NULL || size == 0 || size % VMM_GRANULARITY != 0) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (!fake_initialized()) {
    return CUDA_ERROR_NOT_INITIALIZED;
  }
  uint64_t align = alignment > VMM_GRANULARITY ? alignment : VMM_GRANULARITY;
  CUresult rc = track(BLOCK_RESERVED, 0, size, 0, align, &key);
  if (rc == CUDA_SUCCESS) {
    *ptr = key;
  }
  return rc;
}

CUresult cuMemAddressFree(CUdeviceptr ptr, size_t size) {
  (void)size;
  return untrack(BLOCK_RESERVED, ptr);
}

CUresult cuMemMap(CUdeviceptr ptr, size_t size, size_t offset,
                  CUmemGenericAllocationHandle handle, unsigned long long flags) {
  (void)offset;
  if (ptr == 0 || size == 0 || flags != 0 || !is_tracked(BLOCK_VMM, handle)) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  return CUDA_SUCCESS;
}

CUresult cuMemUnmap(CUdeviceptr ptr, size_t size) {
  return ptr != 0 && size != 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult cuMemSetAccess(CUdeviceptr ptr, size_t size, const CUmemAccessDesc *desc,
                        size_t count) {
  if (ptr == 0 || size == 0 || desc == NULL || count == 0) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  return CUDA_SUCCESS;
}

CUresult cuMemGetAllocationPropertiesFromHandle(CUmemAllocationProp *prop,
                                                CUmemGenericAllocationHandle handle) {
  CUresult rc = CUDA_ERROR_INVALID_VALUE;
  if (prop == NULL) {
    return rc;
  }
  pthread_mutex_lock(&memory_lock);
  for (struct block *b = *bucket_of(handle); b != NULL; b = b->next) {
    if (b->key == handle && b->kind == BLOCK_VMM) {
      memset(prop, 0, sizeof(*prop));
      prop->type = CU_MEM_ALLOCATION_TYPE_PINNED;
      prop->location.type = CU_MEM_LOCATION_TYPE_DEVICE;
      prop->location.id = b->device;
      rc = CUDA_SUCCESS;
      break;
    }
  }
  pthread_mutex_unlock(&memory_lock);
  return rc;
}

/* Arrays: width x height x depth elements of NumChannels x the format's channel size. */

static uint64_t channel_bytes(CUarray_format format) {
  switch (format) {
  case CU_AD_FORMAT_UNSIGNED_INT16:
  case CU_AD_FORMAT_SIGNED_INT16:
  case CU_AD_FORMAT_HALF:
  case CU_AD_FORMAT_UNORM_INT16X1:
  case CU_AD_FORMAT_UNORM_INT16X2:
  case CU_AD_FORMAT_UNORM_INT16X4:
  case CU_AD_FORMAT_SNORM_INT16X1:
  case CU_AD_FORMAT_SNORM_INT16X2:
  case CU_AD_FORMAT_SNORM_INT16X4:
    return 2;
  case CU_AD_FORMAT_UNSIGNED_INT32:
  case CU_AD_FORMAT_SIGNED_INT32:
  case CU_AD_FORMAT_FLOAT:
    return 4;
  default:
    return 1;
  }
}

static uint64_t at_least_one(uint64_t value) {
  return value > 0 ? value : 1;
}

/* Bytes of one mip level (level 0 is the full array); 0 when the size overflows. */
static uint64_t array_bytes(const CUDA_ARRAY3D_DESCRIPTOR *desc, unsigned int level) {
  uint64_t width = at_least_one(desc->Width >> level);
  uint64_t height = desc->Height > 0 ? at_least_one(desc->Height >> level) : 1;
  uint64_t depth = desc->Depth > 0 ? at_least_one(desc->Depth >> level) : 1;
  unsigned __int128 bytes = (unsigned __int128)width * height * depth *
                            channel_bytes(desc->Format) * desc->NumChannels;
  return bytes > INT64_MAX ? 0 : (uint64_t)bytes;
}

static bool array_descriptor_valid(const CUDA_ARRAY3D_DESCRIPTOR *desc) {
  return desc->Width > 0 &&
         (desc->NumChannels == 1 || desc->NumChannels == 2 || desc->NumChannels == 4);
}

static CUresult create_array(uint64_t *key, enum block_kind kind,
                             const CUDA_ARRAY3D_DESCRIPTOR *desc, unsigned int levels) {
  CUdevice dev;
  uint64_t total = 0;
  if (!array_descriptor_valid(desc) || levels == 0) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  CUresult rc = fake_current_device(&dev);
  if (rc != CUDA_SUCCESS) {
    return rc;
  }
  for (unsigned int level = 0; level < levels; level++) {
    uint64_t bytes = array_bytes(desc, level);
    if (bytes == 0 || total + bytes > INT64_MAX) {
      return CUDA_ERROR_OUT_OF_MEMORY;
    }
    total += bytes;
  }
  return track(kind, dev, total, total, 1, key);
}

CUresult cuArrayCreate_v2(CUarray *pHandle, const CUDA_ARRAY_DESCRIPTOR *pAllocateArray) {
  uint64_t key;
  if (pHandle == NULL || pAllocateArray == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  CUDA_ARRAY3D_DESCRIPTOR desc = {
      .Width = pAllocateArray->Width,
      .Height = pAllocateArray->Height,
      .Depth = 0,
      .Format = pAllocateArray->Format,
      .NumChannels = pAllocateArray->NumChannels,
  };
  CUresult rc = create_array(&key, BLOCK_ARRAY, &desc, 1);
  if (rc == CUDA_SUCCESS) {
    *pHandle = (CUarray)(uintptr_t)key;
  }
  return rc;
}

CUresult cuArray3DCreate_v2(CUarray *pHandle, const CUDA_ARRAY3D_DESCRIPTOR *pAllocateArray) {
  uint64_t key;
  if (pHandle == NULL || pAllocateArray == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  CUresult rc = create_array(&key, BLOCK_ARRAY, pAllocateArray, 1);
  if (rc == CUDA_SUCCESS) {
    *pHandle = (CUarray)(uintptr_t)key;
  }
  return rc;
}

CUresult cuArrayDestroy(CUarray hArray) {
  return untrack(BLOCK_ARRAY, (uint64_t)(uintptr_t)hArray) == CUDA_SUCCESS
             ? CUDA_SUCCESS
             : CUDA_ERROR_INVALID_HANDLE;
}

CUresult cuMipmappedArrayCreate(CUmipmappedArray *pHandle,
                                const CUDA_ARRAY3D_DESCRIPTOR *pMipmappedArrayDesc,
                                unsigned int numMipmapLevels) {
  uint64_t key;
  if (pHandle == NULL || pMipmappedArrayDesc == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  CUresult rc = create_array(&key, BLOCK_MIPMAPPED, pMipmappedArrayDesc, numMipmapLevels);
  if (rc == CUDA_SUCCESS) {
    *pHandle = (CUmipmappedArray)(uintptr_t)key;
  }
  return rc;
}

CUresult cuMipmappedArrayDestroy(CUmipmappedArray hMipmappedArray) {
  return untrack(BLOCK_MIPMAPPED, (uint64_t)(uintptr_t)hMipmappedArray) == CUDA_SUCCESS
             ? CUDA_SUCCESS
             : CUDA_ERROR_INVALID_HANDLE;
}

/* Copies and memsets: no data moves. */

static CUresult copy_to_host(void *dstHost, size_t ByteCount) {
  if (dstHost == NULL && ByteCount > 0) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (ByteCount > 0) {
    memset(dstHost, 0, ByteCount);
  }
  return CUDA_SUCCESS;
}

CUresult cuMemcpy(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount) {
  (void)dst, (void)src, (void)ByteCount;
  return CUDA_SUCCESS;
}

CUresult cuMemcpy_ptds(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount) {
  return cuMemcpy(dst, src, ByteCount);
}

CUresult cuMemcpyAsync(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount, CUstream hStream) {
  (void)dst, (void)src, (void)ByteCount, (void)hStream;
  return CUDA_SUCCESS;
}

CUresult cuMemcpyAsync_ptsz(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount,
                            CUstream hStream) {
  return cuMemcpyAsync(dst, src, ByteCount, hStream);
}

CUresult cuMemcpyHtoD_v2(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount) {
  (void)dstDevice, (void)srcHost, (void)ByteCount;
  return CUDA_SUCCESS;
}

CUresult cuMemcpyHtoD_v2_ptds(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount) {
  return cuMemcpyHtoD_v2(dstDevice, srcHost, ByteCount);
}

CUresult cuMemcpyDtoH_v2(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount) {
  (void)srcDevice;
  return copy_to_host(dstHost, ByteCount);
}

CUresult cuMemcpyDtoH_v2_ptds(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount) {
  return cuMemcpyDtoH_v2(dstHost, srcDevice, ByteCount);
}

CUresult cuMemcpyDtoD_v2(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount) {
  (void)dstDevice, (void)srcDevice, (void)ByteCount;
  return CUDA_SUCCESS;
}

CUresult cuMemcpyDtoD_v2_ptds(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount) {
  return cuMemcpyDtoD_v2(dstDevice, srcDevice, ByteCount);
}

CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount,
                              CUstream hStream) {
  (void)dstDevice, (void)srcHost, (void)ByteCount, (void)hStream;
  return CUDA_SUCCESS;
}

CUresult cuMemcpyHtoDAsync_v2_ptsz(CUdeviceptr dstDevice, const void *srcHost,
                                   size_t ByteCount, CUstream hStream) {
  return cuMemcpyHtoDAsync_v2(dstDevice, srcHost, ByteCount, hStream);
}

CUresult cuMemcpyDtoHAsync_v2(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount,
                              CUstream hStream) {
  (void)srcDevice, (void)hStream;
  return copy_to_host(dstHost, ByteCount);
}

CUresult cuMemcpyDtoHAsync_v2_ptsz(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount,
                                   CUstream hStream) {
  return cuMemcpyDtoHAsync_v2(dstHost, srcDevice, ByteCount, hStream);
}

CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount,
                              CUstream hStream) {
  (void)dstDevice, (void)srcDevice, (void)ByteCount, (void)hStream;
  return CUDA_SUCCESS;
}

CUresult cuMemcpyDtoDAsync_v2_ptsz(CUdeviceptr dstDevice, CUdeviceptr srcDevice,
                                   size_t ByteCount, CUstream hStream) {
  return cuMemcpyDtoDAsync_v2(dstDevice, srcDevice, ByteCount, hStream);
}

CUresult cuMemsetD8_v2(CUdeviceptr dstDevice, unsigned char uc, size_t N) {
  (void)dstDevice, (void)uc, (void)N;
  return CUDA_SUCCESS;
}

CUresult cuMemsetD8_v2_ptds(CUdeviceptr dstDevice, unsigned char uc, size_t N) {
  return cuMemsetD8_v2(dstDevice, uc, N);
}

CUresult cuMemsetD16_v2(CUdeviceptr dstDevice, unsigned short us, size_t N) {
  (void)dstDevice, (void)us, (void)N;
  return CUDA_SUCCESS;
}

CUresult cuMemsetD16_v2_ptds(CUdeviceptr dstDevice, unsigned short us, size_t N) {
  return cuMemsetD16_v2(dstDevice, us, N);
}

CUresult cuMemsetD32_v2(CUdeviceptr dstDevice, unsigned int ui, size_t N) {
  (void)dstDevice, (void)ui, (void)N;
  return CUDA_SUCCESS;
}

CUresult cuMemsetD32_v2_ptds(CUdeviceptr dstDevice, unsigned int ui, size_t N) {
  return cuMemsetD32_v2(dstDevice, ui, N);
}

CUresult cuMemsetD8Async(CUdeviceptr dstDevice, unsigned char uc, size_t N, CUstream hStream) {
  (void)dstDevice, (void)uc, (void)N, (void)hStream;
  return CUDA_SUCCESS;
}

CUresult cuMemsetD8Async_ptsz(CUdeviceptr dstDevice, unsigned char uc, size_t N,
                              CUstream hStream) {
  return cuMemsetD8Async(dstDevice, uc, N, hStream);
}

CUresult cuMemsetD32Async(CUdeviceptr dstDevice, unsigned int ui, size_t N, CUstream hStream) {
  (void)dstDevice, (void)ui, (void)N, (void)hStream;
  return CUDA_SUCCESS;
}

CUresult cuMemsetD32Async_ptsz(CUdeviceptr dstDevice, unsigned int ui, size_t N,
                               CUstream hStream) {
  return cuMemsetD32Async(dstDevice, ui, N, hStream);
}

CUresult cuMemsetD16Async(CUdeviceptr dstDevice, unsigned short us, size_t N, CUstream hStream) {
  (void)dstDevice, (void)us, (void)N, (void)hStream;
  return CUDA_SUCCESS;
}

CUresult cuMemsetD16Async_ptsz(CUdeviceptr dstDevice, unsigned short us, size_t N,
                               CUstream hStream) {
  return cuMemsetD16Async(dstDevice, us, N, hStream);
}

CUresult cuMemcpyPeer(CUdeviceptr dstDevice, CUcontext dstContext, CUdeviceptr srcDevice,
                      CUcontext srcContext, size_t ByteCount) {
  (void)dstDevice, (void)dstContext, (void)srcDevice, (void)srcContext, (void)ByteCount;
  return CUDA_SUCCESS;
}

CUresult cuMemcpyPeer_ptds(CUdeviceptr dstDevice, CUcontext dstContext, CUdeviceptr srcDevice,
                           CUcontext srcContext, size_t ByteCount) {
  return cuMemcpyPeer(dstDevice, dstContext, srcDevice, srcContext, ByteCount);
}

CUresult cuMemcpyPeerAsync(CUdeviceptr dstDevice, CUcontext dstContext, CUdeviceptr srcDevice,
                           CUcontext srcContext, size_t ByteCount, CUstream hStream) {
  (void)dstDevice, (void)dstContext, (void)srcDevice, (void)srcContext, (void)ByteCount;
  (void)hStream;
  return CUDA_SUCCESS;
}

CUresult cuMemcpyPeerAsync_ptsz(CUdeviceptr dstDevice, CUcontext dstContext,
                                CUdeviceptr srcDevice, CUcontext srcContext, size_t ByteCount,
                                CUstream hStream) {
  return cuMemcpyPeerAsync(dstDevice, dstContext, srcDevice, srcContext, ByteCount, hStream);
}

/* 2D and 3D copies: device-to-host ones write zeros into the host rectangle. */

static CUresult copy_2d(const CUDA_MEMCPY2D *pCopy) {
  if (pCopy == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (pCopy->dstMemoryType == CU_MEMORYTYPE_HOST && pCopy->dstHost != NULL) {
    size_t pitch = pCopy->dstPitch > 0 ? pCopy->dstPitch : pCopy->WidthInBytes;
    for (size_t row = 0; row < pCopy->Height; row++) {
      memset((char *)pCopy->dstHost + (pCopy->dstY + row) * pitch + pCopy->dstXInBytes, 0,
             pCopy->WidthInBytes);
    }
  }
  return CUDA_SUCCESS;
}

static CUresult copy_3d(const CUDA_MEMCPY3D *pCopy) {
  if (pCopy == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (pCopy->dstMemoryType == CU_MEMORYTYPE_HOST && pCopy->dstHost != NULL) {
    size_t pitch = pCopy->dstPitch > 0 ? pCopy->dstPitch : pCopy->WidthInBytes;
    size_t height = pCopy->dstHeight > 0 ? pCopy->dstHeight : pCopy->Height;
    for (size_t z = 0; z < pCopy->Depth; z++) {
      for (size_t row = 0; row < pCopy->Height; row++) {
        size_t offset = ((pCopy->dstZ + z) * height + pCopy->dstY + row) * pitch +
                        pCopy->dstXInBytes;
        memset((char *)pCopy->dstHost + offset, 0, pCopy->WidthInBytes);
      }
    }
  }
  return CUDA_SUCCESS;
}

CUresult cuMemcpy2D_v2(const CUDA_MEMCPY2D *pCopy) {
  return copy_2d(pCopy);
}

CUresult cuMemcpy2D_v2_ptds(const CUDA_MEMCPY2D *pCopy) {
  return copy_2d(pCopy);
}

CUresult cuMemcpy2DUnaligned_v2(const CUDA_MEMCPY2D *pCopy) {
  return copy_2d(pCopy);
}

CUresult cuMemcpy2DUnaligned_v2_ptds(const CUDA_MEMCPY2D *pCopy) {
  return copy_2d(pCopy);
}

CUresult cuMemcpy2DAsync_v2(const CUDA_MEMCPY2D *pCopy, CUstream hStream) {
  (void)hStream;
  return copy_2d(pCopy);
}

CUresult cuMemcpy2DAsync_v2_ptsz(const CUDA_MEMCPY2D *pCopy, CUstream hStream) {
  (void)hStream;
  return copy_2d(pCopy);
}

CUresult cuMemcpy3D_v2(const CUDA_MEMCPY3D *pCopy) {
  return copy_3d(pCopy);
}

CUresult cuMemcpy3D_v2_ptds(const CUDA_MEMCPY3D *pCopy) {
  return copy_3d(pCopy);
}

CUresult cuMemcpy3DAsync_v2(const CUDA_MEMCPY3D *pCopy, CUstream hStream) {
  (void)hStream;
  return copy_3d(pCopy);
}

CUresult cuMemcpy3DAsync_v2_ptsz(const CUDA_MEMCPY3D *pCopy, CUstream hStream) {
  (void)hStream;
  return copy_3d(pCopy);
}
