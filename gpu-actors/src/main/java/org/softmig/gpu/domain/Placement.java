package org.softmig.gpu.domain;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * Decides which physical GPU of a node a job's slice (memory + SM share) goes to, and remembers
 * the reservations.
 *
 * <p>A slice fits a GPU when the GPU's committed memory plus the slice's memory stays within the
 * GPU's total, and its committed SM percent plus the slice's stays within 100. Among the GPUs that
 * fit, {@link #place} picks the best fit: the one with the least memory left after placing (then
 * the least SM left, then the lowest index), so empty GPUs stay free for jobs that need a whole
 * card.
 *
 * <p>A node may share some GPUs through MPS: an MPS slice goes only to an MPS GPU and any other
 * slice only to a time-slicing GPU, so a site can keep some GPUs for small co-running jobs.
 *
 * <p>Placing is idempotent: the same job with the same slice gets the same GPU back. Plain Java,
 * not thread-safe; the owner serialises calls.
 */
public final class Placement {

  /** A GPU; {@code mps}: shared through MPS, it takes only MPS slices. */
  public record Gpu(String uuid, int index, long memoryTotalBytes, boolean mps) {
    public Gpu(String uuid, int index, long memoryTotalBytes) {
      this(uuid, index, memoryTotalBytes, false);
    }
  }

  /** A job's slice; {@code mps}: it co-runs through MPS, so it goes only to an MPS GPU. */
  public record Slice(String jobId, long memoryBytes, double smPercent, boolean mps) {
    public Slice(String jobId, long memoryBytes, double smPercent) {
      this(jobId, memoryBytes, smPercent, false);
    }
  }

  public sealed interface Decision permits Placed, Refused {}

  public record Placed(String uuid, int index, boolean alreadyPlaced) implements Decision {}

  public record Refused(String reason) implements Decision {}

  /** Tolerance for sums of SM percentages such as 3 x 33.33 + 0.01. */
  private static final double SM_EPSILON = 1e-9;

  private final List<Gpu> gpus;
  private final Map<String, Gpu> gpusByUuid = new HashMap<>();
  private final Map<String, Slice> slices = new LinkedHashMap<>();
  private final Map<String, Gpu> gpuOfJob = new HashMap<>();

  /**
   * @throws IllegalArgumentException if a GPU has an empty uuid, a negative index or no memory,
   *     or two GPUs share a uuid or an index
   */
  public Placement(List<Gpu> gpus) {
    Objects.requireNonNull(gpus, "gpus");
    Map<Integer, Gpu> byIndex = new HashMap<>();
    for (Gpu gpu : gpus) {
      Objects.requireNonNull(gpu, "gpu");
      if (gpu.uuid() == null || gpu.uuid().isEmpty()) {
        throw new IllegalArgumentException("GPU at index " + gpu.index() + " has no uuid");
      }
      if (gpu.index() < 0) {
        throw new IllegalArgumentException(
            "GPU " + gpu.uuid() + " has a negative index " + gpu.index());
      }
      if (gpu.memoryTotalBytes() <= 0) {
        throw new IllegalArgumentException(
            "GPU " + gpu.uuid() + " has no memory (" + ByteSizes.format(gpu.memoryTotalBytes()) + ")");
      }
      if (gpusByUuid.putIfAbsent(gpu.uuid(), gpu) != null) {
        throw new IllegalArgumentException("GPU uuid " + gpu.uuid() + " appears twice");
      }
      if (byIndex.putIfAbsent(gpu.index(), gpu) != null) {
        throw new IllegalArgumentException("GPU index " + gpu.index() + " appears twice");
      }
    }
    List<Gpu> sorted = new ArrayList<>(gpus);
    sorted.sort(Comparator.comparingInt(Gpu::index));
    this.gpus = List.copyOf(sorted);
  }

  /**
   * Places a job's slice on the best-fitting GPU and records it.
   *
   * @return {@link Placed} (with {@code alreadyPlaced} when the job already had exactly this
   *     slice), or {@link Refused} with a reason naming what was wrong or what room is left
   */
  public Decision place(Slice slice) {
    Objects.requireNonNull(slice, "slice");
    Optional<String> invalid = validate(slice);
    if (invalid.isPresent()) {
      return new Refused(invalid.get());
    }

    Slice existing = slices.get(slice.jobId());
    if (existing != null) {
      Gpu gpu = gpuOfJob.get(slice.jobId());
      if (sameSize(existing, slice)) {
        return new Placed(gpu.uuid(), gpu.index(), true);
      }
      return new Refused(
          "job "
              + slice.jobId()
              + " is already placed on GPU "
              + gpu.index()
              + " ("
              + gpu.uuid()
              + ") with "
              + describe(existing)
              + "; the request for "
              + describe(slice)
              + " differs: release the job first");
    }

    Gpu best = null;
    for (Gpu gpu : gpus) {
      if (fits(gpu, slice) && (best == null || betterFit(gpu, best, slice))) {
        best = gpu;
      }
    }
    if (best == null) {
      return new Refused(noRoomReason(slice));
    }
    slices.put(slice.jobId(), slice);
    gpuOfJob.put(slice.jobId(), best);
    return new Placed(best.uuid(), best.index(), false);
  }

  /**
   * Puts back a slice that was placed on the GPU {@code uuid} before a restart, without choosing
   * again: the job keeps its GPU.
   *
   * @return {@link Placed}, or {@link Refused} when the slice is not valid, the job is placed
   *     already, the GPU is not on this node (any more) or is of the other kind (MPS or not), or
   *     the slice no longer fits there
   */
  public Decision restore(Slice slice, String uuid) {
    Objects.requireNonNull(slice, "slice");
    Optional<String> invalid = validate(slice);
    if (invalid.isPresent()) {
      return new Refused(invalid.get());
    }
    if (slices.containsKey(slice.jobId())) {
      return new Refused("job " + slice.jobId() + " is placed already");
    }
    Gpu gpu = gpusByUuid.get(uuid);
    if (gpu == null) {
      return new Refused(
          "job " + slice.jobId() + " was placed on GPU " + uuid + ", which this node does not have");
    }
    if (!fits(gpu, slice)) {
      return new Refused(
          "job "
              + slice.jobId()
              + " ("
              + describe(slice)
              + ") no longer fits GPU "
              + gpu.index()
              + " ("
              + gpu.uuid()
              + "): "
              + ByteSizes.format(freeBytes(gpu))
              + " and "
              + String.format(Locale.ROOT, "%.1f", freeSmPercent(gpu))
              + " % SM free"
              + (gpu.mps() == slice.mps() ? "" : ", and it is of the other kind (MPS or not)"));
    }
    slices.put(slice.jobId(), slice);
    gpuOfJob.put(slice.jobId(), gpu);
    return new Placed(gpu.uuid(), gpu.index(), false);
  }

  /** Forgets the job's slice. Returns false when nothing was placed for it. */
  public boolean release(String jobId) {
    gpuOfJob.remove(jobId);
    return slices.remove(jobId) != null;
  }

  public Optional<Slice> sliceOf(String jobId) {
    return Optional.ofNullable(slices.get(jobId));
  }

  public Optional<Gpu> gpuOf(String jobId) {
    return Optional.ofNullable(gpuOfJob.get(jobId));
  }

  /**
   * Why a session of {@code jobId} gets none of GPU {@code uuid}, or empty when it may use it.
   *
   * <ul>
   *   <li>A placed job is held to its GPU: it gets nothing on any other GPU of the node, wherever
   *       its limits come from.
   *   <li>Fail closed: a job without admin limits (no valid config file, no placement) gets none
   *       of a GPU that holds slices, whose memory and time are promised to them.
   * </ul>
   *
   * @param adminLimits whether the job's limits come from the administrator (a config file or a
   *     placement)
   */
  public Optional<String> refusal(String jobId, String uuid, boolean adminLimits) {
    Gpu gpu = find(uuid);
    if (gpu == null) {
      return Optional.empty(); // not one of this node's GPUs
    }
    Gpu placed = gpuOfJob.get(jobId);
    if (placed != null) {
      return placed == gpu
          ? Optional.empty()
          : Optional.of(
              "job " + jobId + " is placed on GPU " + placed.index() + " (" + placed.uuid()
                  + "): it gets nothing on GPU " + gpu.index() + " (" + uuid + ")");
    }
    if (!adminLimits && !slicesOn(uuid).isEmpty()) {
      return Optional.of(
          "GPU " + gpu.index() + " (" + uuid + ") holds slices placed by the administrator and"
              + " job " + jobId + " has no limits of the administrator's (no valid config file,"
              + " no placement): it gets none of this GPU");
    }
    return Optional.empty();
  }

  private Gpu find(String uuid) {
    for (Gpu gpu : gpus) {
      if (gpu.uuid().equals(uuid)) {
        return gpu;
      }
    }
    return null;
  }

  /** The GPUs this placement chooses from, by index. */
  public List<Gpu> gpus() {
    return gpus;
  }

  /** The slices placed on a GPU, in the order they were placed. */
  public List<Slice> slicesOn(String uuid) {
    Gpu gpu = requireGpu(uuid);
    List<Slice> result = new ArrayList<>();
    for (Slice slice : slices.values()) {
      if (gpuOfJob.get(slice.jobId()) == gpu) {
        result.add(slice);
      }
    }
    return result;
  }

  /** @throws IllegalArgumentException for a uuid that is not one of this node's GPUs */
  public long committedBytes(String uuid) {
    long total = 0;
    for (Slice slice : slicesOn(uuid)) {
      total += slice.memoryBytes();
    }
    return total;
  }

  /** @throws IllegalArgumentException for a uuid that is not one of this node's GPUs */
  public double committedSmPercent(String uuid) {
    double total = 0;
    for (Slice slice : slicesOn(uuid)) {
      total += slice.smPercent();
    }
    return total;
  }

  private static Optional<String> validate(Slice slice) {
    if (slice.jobId() == null || slice.jobId().isBlank()) {
      return Optional.of("job id must not be empty");
    }
    if (slice.memoryBytes() <= 0) {
      return Optional.of(
          "memory for job " + slice.jobId() + " must be positive, got " + slice.memoryBytes());
    }
    double sm = slice.smPercent();
    if (Double.isNaN(sm) || sm <= 0 || sm > 100) {
      return Optional.of(
          "SM percent for job " + slice.jobId() + " must be in (0, 100], got " + sm);
    }
    return Optional.empty();
  }

  private static boolean sameSize(Slice a, Slice b) {
    return a.memoryBytes() == b.memoryBytes()
        && a.mps() == b.mps()
        && Math.abs(a.smPercent() - b.smPercent()) <= SM_EPSILON;
  }

  private boolean fits(Gpu gpu, Slice slice) {
    return gpu.mps() == slice.mps()
        && slice.memoryBytes() <= freeBytes(gpu)
        && committedSmPercent(gpu.uuid()) + slice.smPercent() <= 100 + SM_EPSILON;
  }

  /** True when placing on {@code candidate} leaves less room than placing on {@code best}. */
  private boolean betterFit(Gpu candidate, Gpu best, Slice slice) {
    long memLeftCandidate = freeBytes(candidate) - slice.memoryBytes();
    long memLeftBest = freeBytes(best) - slice.memoryBytes();
    if (memLeftCandidate != memLeftBest) {
      return memLeftCandidate < memLeftBest;
    }
    double smLeftCandidate = freeSmPercent(candidate);
    double smLeftBest = freeSmPercent(best);
    if (Math.abs(smLeftCandidate - smLeftBest) > SM_EPSILON) {
      return smLeftCandidate < smLeftBest;
    }
    return candidate.index() < best.index();
  }

  private long freeBytes(Gpu gpu) {
    return gpu.memoryTotalBytes() - committedBytes(gpu.uuid());
  }

  private double freeSmPercent(Gpu gpu) {
    return Math.max(0, 100 - committedSmPercent(gpu.uuid()));
  }

  private String noRoomReason(Slice slice) {
    if (gpus.isEmpty()) {
      return "no GPU on this node for job " + slice.jobId() + " (" + describe(slice) + ")";
    }
    List<Gpu> kind = gpus.stream().filter(g -> g.mps() == slice.mps()).toList();
    if (kind.isEmpty()) {
      return "no "
          + (slice.mps() ? "GPU shared through MPS" : "time-slicing GPU")
          + " on this node for job "
          + slice.jobId()
          + " ("
          + describe(slice)
          + ")";
    }
    Gpu mostMemory = kind.get(0);
    Gpu mostSm = kind.get(0);
    for (Gpu gpu : kind) {
      if (freeBytes(gpu) > freeBytes(mostMemory)) {
        mostMemory = gpu;
      }
      if (freeSmPercent(gpu) > freeSmPercent(mostSm) + SM_EPSILON) {
        mostSm = gpu;
      }
    }
    return "no GPU has room for job "
        + slice.jobId()
        + " ("
        + describe(slice)
        + "): the largest free memory is "
        + ByteSizes.format(freeBytes(mostMemory))
        + " on GPU "
        + mostMemory.index()
        + " ("
        + String.format(Locale.ROOT, "%.1f", freeSmPercent(mostMemory))
        + " % SM free there), the most free SM is "
        + String.format(Locale.ROOT, "%.1f", freeSmPercent(mostSm))
        + " % on GPU "
        + mostSm.index()
        + " ("
        + ByteSizes.format(freeBytes(mostSm))
        + " free there)";
  }

  private static String describe(Slice slice) {
    return ByteSizes.format(slice.memoryBytes())
        + " and "
        + String.format(Locale.ROOT, "%.1f", slice.smPercent())
        + " % SM"
        + (slice.mps() ? " through MPS" : "");
  }


  private Gpu requireGpu(String uuid) {
    Gpu gpu = gpusByUuid.get(uuid);
    if (gpu == null) {
      throw new IllegalArgumentException("unknown GPU uuid " + uuid);
    }
    return gpu;
  }
}
