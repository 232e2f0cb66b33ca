package org.softmig.coordinator.nvml;

/** A process that holds device memory on a GPU, as NVML sees it (contexts and modules included). */
public record ProcessUsage(int pid, long usedBytes) {}
