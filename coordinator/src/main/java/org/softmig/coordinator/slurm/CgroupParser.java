package org.softmig.coordinator.slurm;

import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Finds the SLURM job of a process in the text of {@code /proc/<pid>/cgroup}: cgroup v1 lines such
 * as {@code 4:freezer:/slurm_node1/uid_1000/job_123/step_0} and v2 lines such as {@code
 * 0::/system.slice/slurmstepd.scope/job_123/step_0/user/task_0}.
 */
public final class CgroupParser {

  private static final Pattern JOB = Pattern.compile("/job_([0-9]+)(?=/|$)");

  private CgroupParser() {}

  /** The job id, or empty when the process is not in a SLURM job's cgroup. */
  public static Optional<String> jobId(String cgroupFile) {
    for (String line : cgroupFile.split("\n")) {
      int first = line.indexOf(':');
      int second = first < 0 ? -1 : line.indexOf(':', first + 1);
      if (second < 0) {
        continue;
      }
      Matcher m = JOB.matcher(line.substring(second + 1).trim());
      if (m.find()) {
        return Optional.of(m.group(1));
      }
    }
    return Optional.empty();
  }
}
