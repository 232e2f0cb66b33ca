package org.softmig.coordinator;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Set;
import org.junit.jupiter.api.Test;
import org.softmig.proto.v1.GpuStatus;
import org.softmig.proto.v1.JobReport;
import org.softmig.proto.v1.JobStatus;
import org.softmig.proto.v1.NodeStatus;
import org.softmig.proto.v1.ReportReply;
import org.softmig.proto.v1.StatusReply;
import org.softmig.proto.v1.UnmanagedProcess;

class JobVisibilityTest {

  static JobStatus job(String id, String user) {
    return JobStatus.newBuilder().setJobId(id).setUser(user).setMemoryUsedBytes(1 << 20).build();
  }

  static final StatusReply ALL =
      StatusReply.newBuilder()
          .addNodes(
              NodeStatus.newBuilder()
                  .setNode("n1")
                  .setReachable(true)
                  .setHealth("ok")
                  .addGpus(
                      GpuStatus.newBuilder()
                          .setUuid("GPU-a")
                          .setMemoryTotalBytes(48L << 30)
                          .setMemoryUsedBytes(30L << 30)
                          .addJobs(job("1", "alice"))
                          .addJobs(job("2", "bob")))
                  .addGpus(GpuStatus.newBuilder().setUuid("GPU-b").addJobs(job("3", "bob")))
                  .addUnmanagedProcesses(UnmanagedProcess.newBuilder().setPid(7).setUser("bob"))
                  .addUnmanagedProcesses(UnmanagedProcess.newBuilder().setPid(8).setUser("1000")))
          .addNodes(NodeStatus.newBuilder().setNode("n2").setReachable(false))
          .build();

  @Test
  void aCallerSeesOnlyJobsAndProcessesUnderOneOfItsNamesButEveryGpuAndNode() {
    StatusReply seen = new JobVisibility(Set.of("alice", "1000")).status(ALL);
    assertThat(seen.getOthersHidden()).isTrue();
    assertThat(seen.getNodesList()).extracting(NodeStatus::getNode).containsExactly("n1", "n2");
    NodeStatus n1 = seen.getNodes(0);
    assertThat(n1.getHealth()).isEqualTo("ok");
    assertThat(n1.getGpusList()).extracting(GpuStatus::getUuid).containsExactly("GPU-a", "GPU-b");
    assertThat(n1.getGpus(0).getMemoryUsedBytes()).isEqualTo(30L << 30);
    assertThat(n1.getGpus(0).getJobsList()).extracting(JobStatus::getJobId).containsExactly("1");
    assertThat(n1.getGpus(1).getJobsList()).isEmpty();
    assertThat(n1.getUnmanagedProcessesList()).extracting(UnmanagedProcess::getPid).containsExactly(8);
  }

  @Test
  void theAnswerSaysOthersAreHiddenEvenWhenNothingWasLeftOut() {
    StatusReply seen = new JobVisibility(Set.of("carol")).status(StatusReply.getDefaultInstance());
    assertThat(seen.getOthersHidden()).isTrue();
    assertThat(seen.getNodesList()).isEmpty();
    assertThat(new JobVisibility(Set.of()).status(ALL).getNodes(0).getGpus(0).getJobsList())
        .isEmpty();
  }

  @Test
  void reportsOfAnotherUsersJobAnswerAsUnknown() {
    ReportReply bobs =
        ReportReply.newBuilder()
            .addReports(JobReport.newBuilder().setJobId("2").setUser("bob").setNode("n1"))
            .addReports(JobReport.newBuilder().setJobId("2").setUser("bob").setNode("n2"))
            .build();
    ReportReply toAlice = new JobVisibility(Set.of("alice", "1000")).report(bobs);
    assertThat(toAlice.getReportsList()).isEmpty();
    assertThat(toAlice.getOthersHidden()).isTrue();
    assertThat(new JobVisibility(Set.of("bob")).report(bobs).getReportsList()).hasSize(2);
  }
}
