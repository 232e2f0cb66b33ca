package org.softmig.coordinator.state;

import com.google.protobuf.InvalidProtocolBufferException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.zip.CRC32C;
import org.softmig.gpu.actor.SavedPlacement;
import org.softmig.proto.v1.state.NodeState;

/**
 * The coordinator's state on the node's disk: {@code <state-dir>/state.pb}, what a restart needs
 * to find the node as it was (the placements; the holdings come back from the processes
 * themselves when they reconnect).
 *
 * <p>Layout: the line {@code "softmig-state 1\n"}, the CRC-32C of the rest (4 bytes, big-endian),
 * then a {@code NodeState} message ({@code proto/src/main/proto/state.proto}). The checksum tells
 * a torn or damaged file from a valid one; protobuf alone would read many damaged files as some
 * other valid message.
 *
 * <p>Writes are atomic: a temporary file in the same directory, mode 0600 from its creation,
 * written and fsynced, renamed over the state file, then the directory fsynced; a crash at any
 * moment leaves the old file or the new one, never a mix. The directory is made (mode 0700) when
 * missing. Only a file owned by this process's user and writable by nobody else is believed.
 *
 * <p>Plain blocking I/O: the caller runs it off the actor threads. Not thread-safe; one writer.
 */
public final class StateFile {

  public static final String FILE_NAME = "state.pb";
  private static final byte[] MAGIC = "softmig-state 1\n".getBytes(StandardCharsets.US_ASCII);
  /** A state file is a few hundred bytes per job; anything far larger is not one. */
  private static final long MAX_BYTES = 64L << 20;

  private static final Set<PosixFilePermission> FILE_MODE =
      PosixFilePermissions.fromString("rw-------");
  private static final Set<PosixFilePermission> DIR_MODE =
      PosixFilePermissions.fromString("rwx------");

  /** A state file that cannot be believed: unreadable, damaged or not ours; names the file. */
  public static final class StateFileException extends Exception {
    StateFileException(String message, Throwable cause) {
      super(message, cause);
    }

    StateFileException(String message) {
      super(message);
    }
  }

  private final Path dir;
  private final Path file;

  public StateFile(Path dir) {
    this.dir = dir;
    this.file = dir.resolve(FILE_NAME);
  }

  public Path file() {
    return file;
  }

  /**
   * The placements saved last; empty when there is no state file yet (a new node, a new state
   * directory).
   *
   * @throws StateFileException naming the file and what is wrong with it
   */
  public Optional<List<SavedPlacement>> read() throws StateFileException {
    byte[] bytes;
    try {
      if (!Files.exists(file, LinkOption.NOFOLLOW_LINKS)) {
        return Optional.empty();
      }
      checkTrusted();
      if (Files.size(file) > MAX_BYTES) {
        throw new StateFileException(
            "state file " + file + " is " + Files.size(file) + " bytes, not a state file");
      }
      bytes = Files.readAllBytes(file);
    } catch (NoSuchFileException e) {
      return Optional.empty();
    } catch (IOException e) {
      throw new StateFileException("state file " + file + " cannot be read: " + e, e);
    }
    return Optional.of(decode(bytes));
  }

  /**
   * Writes the placements atomically (see the class comment).
   *
   * @throws IOException naming the file when it could not be written; the old file is then intact
   */
  public void write(List<SavedPlacement> placements) throws IOException {
    byte[] bytes = encode(placements, System.currentTimeMillis());
    Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(DIR_MODE));
    Path tmp = Files.createTempFile(dir, ".state.", ".tmp", PosixFilePermissions.asFileAttribute(FILE_MODE));
    try {
      try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
        ByteBuffer buf = ByteBuffer.wrap(bytes);
        while (buf.hasRemaining()) {
          ch.write(buf);
        }
        ch.force(true);
      }
      try {
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      } catch (AtomicMoveNotSupportedException e) {
        throw new IOException("state directory " + dir + " does not support an atomic rename", e);
      }
      try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
        d.force(true); // the rename itself is durable
      }
    } catch (IOException e) {
      Files.deleteIfExists(tmp);
      throw new IOException("state file " + file + " not written: " + e.getMessage(), e);
    }
  }

  /**
   * Moves a state file that cannot be believed aside ({@code state.pb.bad-<millis>}), so that it
   * is kept for a person to look at and the next write does not replace it; returns where it went.
   */
  public Optional<Path> setAside() {
    Path aside = dir.resolve(FILE_NAME + ".bad-" + System.currentTimeMillis());
    try {
      Files.move(file, aside, StandardCopyOption.ATOMIC_MOVE);
      return Optional.of(aside);
    } catch (IOException e) {
      return Optional.empty();
    }
  }

  private void checkTrusted() throws IOException, StateFileException {
    if (!Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)) {
      throw new StateFileException("state file " + file + " is not a regular file");
    }
    int owner = (Integer) Files.getAttribute(file, "unix:uid", LinkOption.NOFOLLOW_LINKS);
    int self = (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid");
    if (owner != self) {
      throw new StateFileException(
          "state file " + file + " is owned by uid " + owner + ", not by this coordinator's " + self);
    }
    Set<PosixFilePermission> mode = Files.getPosixFilePermissions(file, LinkOption.NOFOLLOW_LINKS);
    if (mode.contains(PosixFilePermission.GROUP_WRITE)
        || mode.contains(PosixFilePermission.OTHERS_WRITE)) {
      throw new StateFileException(
          "state file " + file + " is writable by others (" + PosixFilePermissions.toString(mode) + ")");
    }
  }

  static byte[] encode(List<SavedPlacement> placements, long nowUnixMs) {
    NodeState.Builder state = NodeState.newBuilder().setWrittenUnixMs(nowUnixMs);
    for (SavedPlacement p : placements) {
      state.addPlacementsBuilder()
          .setJobId(p.jobId())
          .setUser(p.user())
          .setMemoryBytes(p.memoryBytes())
          .setSmPercent(p.smPercent())
          .setMps(p.mps())
          .setGpuUuid(p.gpuUuid());
    }
    byte[] body = state.build().toByteArray();
    CRC32C crc = new CRC32C();
    crc.update(body);
    ByteBuffer out = ByteBuffer.allocate(MAGIC.length + 4 + body.length);
    out.put(MAGIC).putInt((int) crc.getValue()).put(body);
    return out.array();
  }

  private List<SavedPlacement> decode(byte[] bytes) throws StateFileException {
    if (bytes.length < MAGIC.length + 4
        || !Arrays.equals(Arrays.copyOf(bytes, MAGIC.length), MAGIC)) {
      throw new StateFileException(
          "state file " + file + " is not a softmig state file (it does not start with the"
              + " softmig-state line)");
    }
    ByteBuffer in = ByteBuffer.wrap(bytes, MAGIC.length, bytes.length - MAGIC.length);
    int expected = in.getInt();
    CRC32C crc = new CRC32C();
    crc.update(bytes, MAGIC.length + 4, bytes.length - MAGIC.length - 4);
    if ((int) crc.getValue() != expected) {
      throw new StateFileException(
          "state file " + file + " is damaged (checksum mismatch; torn or altered)");
    }
    NodeState state;
    try {
      state =
          NodeState.parseFrom(
              ByteBuffer.wrap(bytes, MAGIC.length + 4, bytes.length - MAGIC.length - 4));
    } catch (InvalidProtocolBufferException e) {
      throw new StateFileException("state file " + file + " is damaged: " + e.getMessage(), e);
    }
    List<SavedPlacement> placements = new ArrayList<>();
    for (var p : state.getPlacementsList()) {
      placements.add(
          new SavedPlacement(
              p.getJobId(), p.getUser(), p.getMemoryBytes(), p.getSmPercent(), p.getMps(),
              p.getGpuUuid()));
    }
    return placements;
  }
}
