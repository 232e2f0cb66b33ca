package org.softmig.gpu.actor;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * Where the node guardian keeps its placements so that a restart finds them again. {@link #save}
 * is called with the whole table after every change, in order; it must not block the caller (the
 * write runs elsewhere) and must apply the saves in the order they were called.
 */
public interface PlacementStore {

  /** Writes the placements; completes when they are on disk, exceptionally when they are not. */
  CompletionStage<Void> save(List<SavedPlacement> placements);

  /** Keeps nothing (tests, nodes without a state directory). */
  PlacementStore NONE = placements -> CompletableFuture.completedFuture(null);
}
