/*
 * A stand-in for libnvidia-ml.so.1 used by NvmlLibraryTest to check the JNA layer: struct
 * layouts, out-parameters, the INSUFFICIENT_SIZE re-read and a missing _v3 query.
 *
 * Two GPUs. GPU 0: 100 compute processes (pid 1000+i, i MiB each), utilisation 42 %, no MIG.
 * GPU 1: MIG enabled, one compute process, utilisation not supported.
 * Built with -DFAKE_NVML_NO_V3 it lacks the _v3 process queries, like drivers before R510.
 * Layouts follow nvml.h; only the functions softmig calls exist.
 */
#include <stdio.h>
#include <string.h>

typedef int nvmlReturn_t;
typedef struct fake_device *nvmlDevice_t;

struct fake_device {
	int index;
};

typedef struct {
	char busIdLegacy[16];
	unsigned int domain, bus, device, pciDeviceId, pciSubSystemId;
	char busId[32];
} nvmlPciInfo_t;

typedef struct {
	unsigned long long total, free, used;
} nvmlMemory_t;

typedef struct {
	unsigned int pid;
	unsigned long long usedGpuMemory;
	unsigned int gpuInstanceId, computeInstanceId;
} nvmlProcessInfo_t;

typedef struct {
	unsigned int gpu, memory;
} nvmlUtilization_t;

static struct fake_device devices[2] = { { 0 }, { 1 } };

nvmlReturn_t nvmlInit_v2(void) { return 0; }
nvmlReturn_t nvmlShutdown(void) { return 0; }

const char *nvmlErrorString(nvmlReturn_t r)
{
	switch (r) {
	case 0: return "Success";
	case 2: return "Invalid Argument";
	case 3: return "Not Supported";
	case 7: return "Insufficient Size";
	default: return "Unknown Error";
	}
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count)
{
	*count = 2;
	return 0;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
	if (index > 1)
		return 2;
	*device = &devices[index];
	return 0;
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t d, char *uuid, unsigned int length)
{
	snprintf(uuid, length, "GPU-fake-%d", d->index);
	return 0;
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char *name, unsigned int length)
{
	snprintf(name, length, "Fake GPU %d", d->index);
	return 0;
}

nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t d, nvmlPciInfo_t *pci)
{
	memset(pci, 0, sizeof(*pci));
	pci->bus = 0x3b + d->index;
	snprintf(pci->busIdLegacy, sizeof(pci->busIdLegacy), "0000:%02X:00.0", pci->bus);
	snprintf(pci->busId, sizeof(pci->busId), "00000000:%02X:00.0", pci->bus);
	return 0;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t *mem)
{
	(void)d;
	mem->total = 16ULL << 30;
	mem->used = 1ULL << 30;
	mem->free = mem->total - mem->used;
	return 0;
}

nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t d, unsigned int *current, unsigned int *pending)
{
	if (d->index == 0)
		return 3;
	*current = 1;
	*pending = 1;
	return 0;
}

static nvmlReturn_t compute(nvmlDevice_t d, unsigned int *count, nvmlProcessInfo_t *infos)
{
	unsigned int n = d->index == 0 ? 100 : 1;
	unsigned int i;

	if (*count < n) {
		*count = n;
		return 7;
	}
	for (i = 0; i < n; i++) {
		infos[i].pid = (d->index == 0 ? 1000 : 2000) + i;
		infos[i].usedGpuMemory = (unsigned long long)i << 20;
		infos[i].gpuInstanceId = 0xFFFFFFFF;
		infos[i].computeInstanceId = 0xFFFFFFFF;
	}
	*count = n;
	return 0;
}

static nvmlReturn_t graphics(nvmlDevice_t d, unsigned int *count, nvmlProcessInfo_t *infos)
{
	(void)d;
	(void)infos;
	*count = 0;
	return 0;
}

#ifndef FAKE_NVML_NO_V3
nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t d, unsigned int *count,
						     nvmlProcessInfo_t *infos)
{
	return compute(d, count, infos);
}

nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v3(nvmlDevice_t d, unsigned int *count,
						      nvmlProcessInfo_t *infos)
{
	return graphics(d, count, infos);
}
#endif

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t d, unsigned int *count,
						     nvmlProcessInfo_t *infos)
{
	return compute(d, count, infos);
}

nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v2(nvmlDevice_t d, unsigned int *count,
						      nvmlProcessInfo_t *infos)
{
	return graphics(d, count, infos);
}

nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t d, nvmlUtilization_t *util)
{
	if (d->index == 1)
		return 3;
	util->gpu = 42;
	util->memory = 7;
	return 0;
}
