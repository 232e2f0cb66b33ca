package org.softmig.gpu.actor;

/** A physical GPU as the actors know it. */
public record GpuDescriptor(String uuid, int index, String name, long memoryTotalBytes) {}
