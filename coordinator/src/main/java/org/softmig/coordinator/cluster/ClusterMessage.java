package org.softmig.coordinator.cluster;

/**
 * Marks the records that cross nodes: the sharded views' commands and replies. They are bound to
 * {@link ClusterMessageSerializer}, which maps them to the messages of cluster.proto.
 */
public interface ClusterMessage {}
