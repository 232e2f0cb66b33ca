package org.softmig.coordinator.state;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.softmig.coordinator.state.StateFile.StateFileException;
import org.softmig.gpu.actor.SavedPlacement;

class StateFileTest {

  private static final long GIB = 1L << 30;
  private static final List<SavedPlacement> TWO =
      List.of(
          new SavedPlacement("a", "alice", 40 * GIB, 50, false, "GPU-0"),
          new SavedPlacement("b_7", "", 12 * GIB, 33.33, true, "GPU-1"));

  @TempDir Path dir;

  @Test
  void whatIsWrittenIsReadBack() throws Exception {
    StateFile state = new StateFile(dir);
    state.write(TWO);
    assertThat(new StateFile(dir).read()).contains(TWO);
    state.write(List.of());
    assertThat(new StateFile(dir).read()).contains(List.of());
  }

  @Test
  void noFileIsNoStateAndAMissingDirectoryIsMadePrivateOnTheFirstWrite() throws Exception {
    Path missing = dir.resolve("var/lib/softmig");
    StateFile state = new StateFile(missing);
    assertThat(state.read()).isEmpty();
    assertThat(Files.exists(missing)).isFalse();
    state.write(TWO);
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(missing)))
        .isEqualTo("rwx------");
    assertThat(state.read()).contains(TWO);
  }

  @Test
  void aWriteReplacesTheFileWholeWithMode0600AndLeavesNoTemporaryFile() throws Exception {
    StateFile state = new StateFile(dir);
    state.write(TWO);
    state.write(TWO.subList(0, 1));
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(state.file())))
        .isEqualTo("rw-------");
    try (Stream<Path> files = Files.list(dir)) {
      assertThat(files.map(p -> p.getFileName().toString())).containsExactly(StateFile.FILE_NAME);
    }
    assertThat(state.read()).contains(TWO.subList(0, 1));
  }

  @Test
  void aTemporaryFileLeftByACrashMidWriteDoesNotMatter() throws Exception {
    StateFile state = new StateFile(dir);
    state.write(TWO);
    Files.write(dir.resolve(".state.123.tmp"), new byte[] {1, 2, 3});
    assertThat(state.read()).contains(TWO);
    state.write(List.of());
    assertThat(state.read()).contains(List.of());
  }

  @Test
  void aTornFileIsRefusedNamingIt() throws Exception {
    byte[] whole = StateFile.encode(TWO, 1);
    StateFile state = new StateFile(dir);
    for (int cut : new int[] {0, 5, 16, 20, whole.length - 1}) {
      Files.write(state.file(), Arrays.copyOf(whole, cut));
      Files.setPosixFilePermissions(state.file(), PosixFilePermissions.fromString("rw-------"));
      assertThatThrownBy(state::read)
          .as("cut at %d", cut)
          .isInstanceOf(StateFileException.class)
          .hasMessageContaining(state.file().toString());
    }
  }

  @Test
  void aFlippedByteOrGarbageIsRefused() throws Exception {
    StateFile state = new StateFile(dir);
    byte[] bytes = StateFile.encode(TWO, 1);
    bytes[bytes.length - 3] ^= 0x40;
    Files.write(state.file(), bytes);
    assertThatThrownBy(state::read)
        .isInstanceOf(StateFileException.class)
        .hasMessageContaining("damaged");
    Files.writeString(state.file(), "{\"placements\": []}\n");
    assertThatThrownBy(state::read)
        .isInstanceOf(StateFileException.class)
        .hasMessageContaining("not a softmig state file");
  }

  @Test
  void aFileOthersCanWriteIsNotBelieved() throws Exception {
    StateFile state = new StateFile(dir);
    state.write(TWO);
    Files.setPosixFilePermissions(state.file(), PosixFilePermissions.fromString("rw-rw-rw-"));
    assertThatThrownBy(state::read)
        .isInstanceOf(StateFileException.class)
        .hasMessageContaining("writable by others");
  }

  @Test
  void aBadFileIsSetAsideAndTheStoreStartsEmptyThenWritesAFreshOne() throws Exception {
    StateFile state = new StateFile(dir);
    Files.writeString(state.file(), "garbage");
    try (StateStore store = new StateStore(state)) {
      assertThat(store.load()).isEmpty();
      try (Stream<Path> files = Files.list(dir)) {
        assertThat(files.map(p -> p.getFileName().toString()))
            .singleElement()
            .asString()
            .startsWith(StateFile.FILE_NAME + ".bad-");
      }
      store.save(TWO).toCompletableFuture().get();
      assertThat(state.read()).contains(TWO);
    }
  }

  @Test
  void aStoreSavesInOrderAndReportsAFailedWrite() throws Exception {
    Path blocked = dir.resolve("file-not-dir");
    Files.writeString(blocked, "x");
    try (StateStore store = new StateStore(new StateFile(blocked))) {
      assertThat(store.save(TWO).toCompletableFuture())
          .failsWithin(java.time.Duration.ofSeconds(10));
    }
    StateFile state = new StateFile(dir);
    try (StateStore store = new StateStore(state)) {
      for (int i = 0; i < 20; i++) {
        store.save(TWO.subList(0, i % 2 + 1));
      }
      store.save(TWO.subList(0, 1)).toCompletableFuture().get();
      assertThat(state.read()).contains(TWO.subList(0, 1));
    }
  }
}
