package org.softmig.gpu.domain;

import java.util.HashMap;
import java.util.Map;

/**
 * Who each job on the node belongs to, and the limits a job without an admin source set for
 * itself.
 *
 * <p>A job belongs to its SLURM job when the kernel knows it (the process is in the job's cgroup):
 * every process in that cgroup is the job's, whatever its uid, and the first such process's uid
 * owns it. Outside SLURM a job id is only a name the process chose: it belongs to the uid of its
 * first session, and a session of another uid (root excepted) is refused. A job the administrator
 * placed for a user admits, outside its cgroup, only that user's processes. The kernel beats a
 * name: a job claimed by name first is taken over by the first process the kernel puts in it.
 *
 * <p>Limits of a job without an admin source (no config file, no placement) are set, GPU by GPU,
 * by the first of its sessions to use the GPU; later sessions get the same, whatever they ask, and
 * a session leaving changes nothing. Everything about a job is forgotten when the node forgets the
 * job ({@link #forget}: its last session ended), except its placement.
 */
public final class JobOwnership {

  /** The uid that may join any job. */
  public static final int ROOT = 0;

  /**
   * A session asking to join a job.
   *
   * @param user the uid's user name (for messages, and to match a placement's user)
   * @param kernelJob true when the job id comes from the process's cgroup, not from the process
   */
  public record Claim(String jobId, int uid, String user, boolean kernelJob) {}

  /** A job's limits on one GPU: 0 = none. */
  public record Limits(long memoryBytes, double smPercent) {}

  public sealed interface Decision permits Admitted, Refused {}

  public record Admitted() implements Decision {}

  public record Refused(String reason) implements Decision {}

  private static final class Owner {
    int uid = -1;
    String user = "";
    boolean kernel;
    final Map<String, Limits> ownLimits = new HashMap<>();
  }

  private final Map<String, Owner> owners = new HashMap<>();
  private final Map<String, String> placedFor = new HashMap<>();

  /**
   * Decides whether a session may join its job; when it may, the job is recorded as its owner's
   * (if it had none). A refusal changes nothing.
   */
  public Decision admit(Claim claim) {
    Owner owner = owners.get(claim.jobId());
    if (claim.uid() == ROOT) {
      if (owner == null) {
        owners.put(claim.jobId(), new Owner());
      }
      return new Admitted();
    }
    if (claim.kernelJob()) {
      if (owner == null) {
        owner = new Owner();
        owners.put(claim.jobId(), owner);
      }
      if (!owner.kernel) {
        // nobody or only a name-claimer was there: the kernel says whose job this is
        owner.uid = claim.uid();
        owner.user = claim.user();
        owner.kernel = true;
        owner.ownLimits.clear();
      }
      return new Admitted();
    }
    String placedUser = placedFor.getOrDefault(claim.jobId(), "");
    if (!placedUser.isEmpty() && !placedUser.equals(claim.user())) {
      return new Refused(
          "job " + claim.jobId() + " is placed for user " + placedUser + ", not "
              + claim.user() + " (uid " + claim.uid() + ")");
    }
    if (owner != null && owner.uid >= 0 && owner.uid != claim.uid()) {
      return new Refused(
          "job " + claim.jobId() + " belongs to " + owner.user + " (uid " + owner.uid
              + "), not to " + claim.user() + " (uid " + claim.uid() + ")");
    }
    if (owner == null) {
      owner = new Owner();
      owners.put(claim.jobId(), owner);
    }
    if (owner.uid < 0) {
      owner.uid = claim.uid();
      owner.user = claim.user();
    }
    return new Admitted();
  }

  /**
   * The limits on GPU {@code uuid} for a session of an admitted job that has no admin source:
   * what the job's first session on that GPU asked for ({@code requested} when this session is
   * the first).
   */
  public Limits ownLimits(String jobId, String uuid, Limits requested) {
    Owner owner = owners.get(jobId);
    if (owner == null) {
      return requested;
    }
    return owner.ownLimits.computeIfAbsent(uuid, u -> requested);
  }

  /** The uid that owns the job, -1 when none (unknown job, or only root joined it). */
  public int ownerUid(String jobId) {
    Owner owner = owners.get(jobId);
    return owner == null ? -1 : owner.uid;
  }

  /** The administrator placed the job for {@code user} ("" = any user). */
  public void placed(String jobId, String user) {
    if (!user.isEmpty() || !placedFor.containsKey(jobId)) {
      placedFor.put(jobId, user); // a re-place that names no user keeps the job's user
    }
  }

  public void unplaced(String jobId) {
    placedFor.remove(jobId);
  }

  /** The job has no session left on the node: its owner and its own limits are forgotten. */
  public void forget(String jobId) {
    owners.remove(jobId);
  }

  /** Jobs with an owner record (tests, bounds). */
  public int size() {
    return owners.size();
  }
}
