package org.softmig.coordinator.state;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.softmig.gpu.actor.PlacementStore;
import org.softmig.gpu.actor.SavedPlacement;
import org.softmig.coordinator.state.StateFile.StateFileException;

/**
 * The node's placements on disk ({@link StateFile}): loaded once at start, before the socket
 * opens; saved by one thread of its own, in the order the saves were asked for, so the actors
 * never wait on the disk and the last table asked for is the one on disk.
 */
public final class StateStore implements PlacementStore, AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(StateStore.class);

  private final StateFile file;
  private final ExecutorService writer =
      Executors.newSingleThreadExecutor(
          r -> {
            Thread t = new Thread(r, "softmig-state-writer");
            t.setDaemon(true);
            return t;
          });

  public StateStore(StateFile file) {
    this.file = file;
  }

  /**
   * The placements saved before, or none. A state file that cannot be believed (damaged,
   * unreadable, not ours) is not fatal: the error names the file, the file is moved aside for a
   * person to look at, and the node starts with no placements (docs/ARCHITECTURE.md, State on
   * disk, says why).
   */
  public List<SavedPlacement> load() {
    try {
      List<SavedPlacement> saved = file.read().orElse(List.of());
      log.info("Read [{}] placement(s) from [{}]", saved.size(), file.file());
      return saved;
    } catch (StateFileException e) {
      String aside = file.setAside().map(p -> "moved to " + p).orElse("left where it is");
      log.error(
          "{}; starting without the saved placements (the file is {}). Jobs placed before keep"
              + " running and their processes reconnect, but their slices are not reserved:"
              + " place them again, or drain the node, before new jobs come",
          e.getMessage(),
          aside);
      return List.of();
    }
  }

  @Override
  public CompletionStage<Void> save(List<SavedPlacement> placements) {
    List<SavedPlacement> copy = List.copyOf(placements);
    return CompletableFuture.runAsync(
        () -> {
          try {
            file.write(copy);
          } catch (IOException e) {
            throw new UncheckedIOException(e.getMessage(), e);
          }
        },
        writer);
  }

  /** Lets the saves asked for finish (a few seconds at most), then stops the writer. */
  @Override
  public void close() {
    writer.shutdown();
    try {
      if (!writer.awaitTermination(5, TimeUnit.SECONDS)) {
        log.warn("State writer did not finish within 5 s; the last change may be lost");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
