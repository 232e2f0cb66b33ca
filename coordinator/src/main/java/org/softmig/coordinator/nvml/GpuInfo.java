package org.softmig.coordinator.nvml;

/** One physical GPU of this node, as NVML (or the simulation) describes it. */
public record GpuInfo(
    String uuid,
    int index,
    String name,
    long memoryTotalBytes,
    String pciBusId,
    boolean migEnabled,
    boolean simulated) {}
