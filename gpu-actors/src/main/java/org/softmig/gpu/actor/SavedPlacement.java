package org.softmig.gpu.actor;

/**
 * A job's slice as the node keeps it across restarts: what {@code softmig place} asked for and
 * the GPU it went to.
 */
public record SavedPlacement(
    String jobId, String user, long memoryBytes, double smPercent, boolean mps, String gpuUuid) {}
