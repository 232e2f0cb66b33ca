package org.softmig.coordinator.nvml;

/** Device memory one process holds on a GPU, as the driver sees it. */
public record ProcessUsage(int pid, long usedBytes) {}
