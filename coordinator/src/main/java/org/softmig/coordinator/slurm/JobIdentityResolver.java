package org.softmig.coordinator.slurm;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.softmig.coordinator.os.UserDirectory;
import org.softmig.gpu.actor.LimitSource;

/**
 * Decides who a connected process is, from the kernel first: peer pid, then {@code
 * /proc/<pid>/cgroup} ({@code job_<id>}), then the admin config file of that job. Only when no
 * config file exists do the process's own claims count (its job id when the kernel knows none, its
 * limits). User names come from the name service ({@link UserDirectory}). Blocking (reads files,
 * name-service lookups): call it off the event loop and outside actor handlers.
 *
 * <p>Config file lookup for kernel job K: {@code K_T.conf} when the process claims array task T,
 * then {@code K.conf}, then the only {@code K_*.conf} if there is exactly one. The job part of the
 * name always comes from the kernel when it knows the job, so a process can only pick among its own
 * job's files.
 */
public final class JobIdentityResolver {

  private static final Logger log = LoggerFactory.getLogger(JobIdentityResolver.class);
  private static final Pattern DIGITS = Pattern.compile("[0-9]{1,20}");
  private static final Pattern CLAIMED_ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]{0,63}");

  private final Path procRoot;
  private final Path configDir;
  private final UserDirectory users;
  private final int expectedOwnerUid;

  /**
   * @param procRoot usually {@code /proc}
   * @param configDir usually {@code /var/run/softmig}
   * @param users the name service, for user names
   * @param expectedOwnerUid who must own config files, usually 0
   */
  public JobIdentityResolver(
      Path procRoot, Path configDir, UserDirectory users, int expectedOwnerUid) {
    this.procRoot = procRoot;
    this.configDir = configDir;
    this.users = users;
    this.expectedOwnerUid = expectedOwnerUid;
  }

  /**
   * Resolves a peer.
   *
   * @throws IllegalArgumentException when the process claims an unusable job id, or the job's
   *     config file has a malformed value (the message names file, key and value)
   * @throws Refused when the job's config file is there but not safe to use
   */
  public JobIdentity resolve(int pid, int uid, ProcessClaim claim) {
    String user = userName(uid);
    Optional<String> kernelJob = kernelJob(pid);
    String taskId = claim.arrayTaskId().isEmpty() ? "" : claim.arrayTaskId();
    if (!taskId.isEmpty() && !DIGITS.matcher(taskId).matches()) {
      throw new IllegalArgumentException("array task id '" + taskId + "' is not a number");
    }
    String jobId;
    if (kernelJob.isPresent()) {
      jobId = kernelJob.get();
    } else if (!claim.jobId().isEmpty()) {
      if (!CLAIMED_ID.matcher(claim.jobId()).matches()) {
        throw new IllegalArgumentException(
            "job id '" + claim.jobId() + "' is not usable (letters, digits, _ . - only)");
      }
      jobId = claim.jobId();
    } else {
      return new JobIdentity(
          "local-" + pid, user, LimitSource.PROCESS_ENVIRONMENT, claim.limits(), null, false);
    }
    Optional<Path> file = DIGITS.matcher(jobId).matches() ? configFile(jobId, taskId) : Optional.empty();
    if (file.isPresent()) {
      String stem = file.get().getFileName().toString();
      stem = stem.substring(0, stem.length() - ".conf".length());
      JobLimits limits;
      try {
        limits = JobConfigFile.read(file.get());
      } catch (IOException e) {
        throw new IllegalArgumentException("cannot read " + file.get() + ": " + e.getMessage(), e);
      }
      return new JobIdentity(
          stem, user, LimitSource.ADMIN_CONFIG, limits, file.get().toString(),
          kernelJob.isPresent());
    }
    return new JobIdentity(
        jobId, user, LimitSource.PROCESS_ENVIRONMENT, claim.limits(), null, kernelJob.isPresent());
  }

  /** The SLURM job of a process according to its cgroup, if any. */
  public Optional<String> kernelJob(int pid) {
    if (pid <= 0) {
      return Optional.empty();
    }
    try {
      String text = Files.readString(procRoot.resolve(Integer.toString(pid)).resolve("cgroup"), StandardCharsets.UTF_8);
      return CgroupParser.jobId(text);
    } catch (IOException e) {
      return Optional.empty();
    }
  }

  /** The trusted config file for a job, if there is one. */
  public Optional<Path> configFile(String jobId, String taskId) {
    List<Path> candidates = new ArrayList<>();
    if (!taskId.isEmpty()) {
      candidates.add(configDir.resolve(jobId + "_" + taskId + ".conf"));
    }
    candidates.add(configDir.resolve(jobId + ".conf"));
    for (Path candidate : candidates) {
      if (trusted(candidate)) {
        return Optional.of(candidate);
      }
    }
    if (taskId.isEmpty()) {
      List<Path> arrays = new ArrayList<>();
      try (DirectoryStream<Path> dir = Files.newDirectoryStream(configDir, jobId + "_*.conf")) {
        dir.forEach(arrays::add);
      } catch (IOException e) {
        return Optional.empty();
      }
      if (arrays.size() == 1 && trusted(arrays.get(0))) {
        return Optional.of(arrays.get(0));
      }
    }
    return Optional.empty();
  }

  /**
   * Whether a job's config file is there and safe to read.
   *
   * @throws Refused when it is there but unsafe (a symlink, another owner, writable by others):
   *     the job gets no GPU rather than the limits of its own environment
   */
  private boolean trusted(Path file) {
    try {
      JobConfigFile.checkSafe(file, expectedOwnerUid);
      return true;
    } catch (NoSuchFileException e) {
      return false;
    } catch (IOException e) {
      log.warn("Refusing the job of config file {}: {}", file, e.getMessage());
      throw new Refused(
          "the job's config file is not safe to use (" + e.getMessage()
              + "); ask the administrator");
    }
  }

  /**
   * The job has a config file that cannot be trusted: its processes are refused (fail closed), not
   * left to the limits of their own environment.
   */
  public static final class Refused extends IllegalArgumentException {
    public Refused(String message) {
      super(message);
    }
  }

  /** The user name of a uid from the name service, else the uid as text. */
  public String userName(int uid) {
    return users.nameOf(uid);
  }
}
