/*
 * mem_shell: allocation commands read from stdin, one JSON line answered per command, so a
 * test can drive one long-lived CUDA process step by step.
 *
 *   alloc PATH BYTES   -> {"op":"alloc","rc":R,"id":N}     PATH: alloc managed async vmm array
 *   free ID            -> {"op":"free","rc":R}
 *   info               -> {"op":"info","free":F,"total":T,"device_total":D,"device":N,
 *                          "devices":C,"uuid":"GPU-..."}  (of the current device)
 *   device N           -> {"op":"device","rc":R}  makes CUDA ordinal N's primary context current
 *   total N            -> {"op":"total","rc":R,"bytes":B}  cuDeviceTotalMem of CUDA ordinal N
 *   vmmon N BYTES      -> {"op":"vmmon","rc":R}  cuMemCreate on CUDA ordinal N (from any context)
 *   exit               -> leaves (frees nothing: the process's exit releases it)
 */
#include "probe.h"

#include <stdint.h>
#include <unistd.h>

#define MAX_IDS 1024

struct item {
	char path[16];
	CUdeviceptr ptr;
	CUmemGenericAllocationHandle vmm;
	CUarray array;
};

static struct item items[MAX_IDS];
static int nitems;
static CUdevice dev;

static CUresult do_alloc(struct item *it, size_t bytes)
{
	if (!strcmp(it->path, "managed"))
		return cuMemAllocManaged(&it->ptr, bytes, CU_MEM_ATTACH_GLOBAL);
	if (!strcmp(it->path, "async")) {
		CUresult rc = cuMemAllocAsync(&it->ptr, bytes, NULL);

		cuStreamSynchronize(NULL);
		return rc;
	}
	if (!strcmp(it->path, "vmm")) {
		CUmemAllocationProp prop;

		memset(&prop, 0, sizeof(prop));
		prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
		prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
		prop.location.id = dev;
		return cuMemCreate(&it->vmm, bytes, &prop, 0);
	}
	if (!strcmp(it->path, "array")) {
		CUDA_ARRAY_DESCRIPTOR d = { .Width = bytes / (16 * 1024), .Height = 1024, .Format = CU_AD_FORMAT_FLOAT,
					    .NumChannels = 4 };

		return cuArrayCreate_v2(&it->array, &d);
	}
	return cuMemAlloc_v2(&it->ptr, bytes);
}

static CUresult do_free(struct item *it)
{
	if (!strcmp(it->path, "vmm"))
		return cuMemRelease(it->vmm);
	if (!strcmp(it->path, "array"))
		return cuArrayDestroy(it->array);
	if (!strcmp(it->path, "async")) {
		CUresult rc = cuMemFreeAsync(it->ptr, NULL);

		cuStreamSynchronize(NULL);
		return rc;
	}
	return cuMemFree_v2(it->ptr);
}

int main(void)
{
	char line[256];

	dev = probe_context();
	printf("{\"op\":\"ready\",\"pid\":%d}\n", (int)getpid());
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		char op[16] = "", arg1[64] = "", arg2[64] = "";

		sscanf(line, "%15s %63s %63s", op, arg1, arg2);
		if (!strcmp(op, "alloc") && nitems < MAX_IDS) {
			struct item *it = &items[nitems];
			CUresult rc;

			snprintf(it->path, sizeof(it->path), "%s", arg1);
			rc = do_alloc(it, (size_t)strtoull(arg2, NULL, 10));
			printf("{\"op\":\"alloc\",\"rc\":%d,\"id\":%d}\n", (int)rc, rc == CUDA_SUCCESS ? nitems : -1);
			if (rc == CUDA_SUCCESS)
				nitems++;
		} else if (!strcmp(op, "free")) {
			int id = atoi(arg1);

			printf("{\"op\":\"free\",\"rc\":%d}\n",
			       id >= 0 && id < nitems ? (int)do_free(&items[id]) : (int)CUDA_ERROR_INVALID_VALUE);
		} else if (!strcmp(op, "info")) {
			size_t free = 0, total = 0, dtotal = 0;
			int count = 0;
			CUuuid id;
			const unsigned char *u = (const unsigned char *)id.bytes;

			memset(&id, 0, sizeof(id));
			cuMemGetInfo_v2(&free, &total);
			cuDeviceTotalMem_v2(&dtotal, dev);
			cuDeviceGetCount(&count);
			cuDeviceGetUuid(&id, dev);
			printf("{\"op\":\"info\",\"free\":%zu,\"total\":%zu,\"device_total\":%zu,\"device\":%d,"
			       "\"devices\":%d,\"uuid\":\"GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
			       "%02x%02x%02x%02x%02x%02x\"}\n",
			       free, total, dtotal, (int)dev, count, u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7],
			       u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
		} else if (!strcmp(op, "device")) {
			CUdevice next;
			CUcontext ctx;
			CUresult rc = cuDeviceGet(&next, atoi(arg1));

			if (rc == CUDA_SUCCESS)
				rc = cuDevicePrimaryCtxRetain(&ctx, next);
			if (rc == CUDA_SUCCESS)
				rc = cuCtxSetCurrent(ctx);
			if (rc == CUDA_SUCCESS)
				dev = next;
			printf("{\"op\":\"device\",\"rc\":%d}\n", (int)rc);
		} else if (!strcmp(op, "total")) {
			size_t bytes = 0;
			CUresult rc = cuDeviceTotalMem_v2(&bytes, (CUdevice)atoi(arg1));

			printf("{\"op\":\"total\",\"rc\":%d,\"bytes\":%zu}\n", (int)rc, bytes);
		} else if (!strcmp(op, "vmmon")) {
			CUmemAllocationProp prop;
			CUmemGenericAllocationHandle h;
			CUresult rc;

			memset(&prop, 0, sizeof(prop));
			prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
			prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
			prop.location.id = atoi(arg1);
			rc = cuMemCreate(&h, (size_t)strtoull(arg2, NULL, 10), &prop, 0);
			if (rc == CUDA_SUCCESS)
				cuMemRelease(h);
			printf("{\"op\":\"vmmon\",\"rc\":%d}\n", (int)rc);
		} else if (!strcmp(op, "exit")) {
			break;
		} else {
			printf("{\"op\":\"%s\",\"error\":\"unknown command\"}\n", op);
		}
		fflush(stdout);
	}
	return 0;
}
