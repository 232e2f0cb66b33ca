package org.softmig.coordinator.slurm;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class CgroupParserTest {

  @Test
  void findsTheJobInCgroupV1Lines() {
    String text =
        "12:memory:/slurm_node1/uid_1000/job_123/step_0\n"
            + "4:freezer:/slurm_node1/uid_1000/job_123/step_0\n"
            + "1:name=systemd:/user.slice\n";
    assertThat(CgroupParser.jobId(text)).contains("123");
  }

  @Test
  void findsTheJobInCgroupV2Lines() {
    assertThat(CgroupParser.jobId("0::/system.slice/slurmstepd.scope/job_4567/step_0/user/task_0\n"))
        .contains("4567");
    assertThat(CgroupParser.jobId("0::/system.slice/slurmstepd.scope/job_89\n")).contains("89");
  }

  @Test
  void findsNothingOutsideSlurm() {
    assertThat(CgroupParser.jobId("0::/user.slice/user-1000.slice/session-3.scope\n")).isEmpty();
    assertThat(CgroupParser.jobId("0::/system.slice/job_abc/x\n")).isEmpty();
    assertThat(CgroupParser.jobId("0::/system.slice/myjob_12/x\n")).isEmpty();
    assertThat(CgroupParser.jobId("garbage")).isEmpty();
    assertThat(CgroupParser.jobId("")).isEmpty();
  }
}
