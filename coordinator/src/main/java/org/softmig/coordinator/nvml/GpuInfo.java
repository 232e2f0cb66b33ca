package org.softmig.coordinator.nvml;

/** A physical GPU of this node. */
public record GpuInfo(
    String uuid,
    int index,
    String name,
    long memoryTotalBytes,
    String pciBusId,
    boolean migEnabled,
    boolean simulated) {}
