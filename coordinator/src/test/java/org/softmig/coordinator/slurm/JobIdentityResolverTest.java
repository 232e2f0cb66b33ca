package org.softmig.coordinator.slurm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.softmig.coordinator.os.MapUserDirectory;
import org.softmig.gpu.actor.LimitSource;

class JobIdentityResolverTest {

  static final long GIB = 1L << 30;

  @TempDir Path dir;
  Path proc;
  Path conf;
  int owner;
  JobIdentityResolver resolver;
  // Users as the name service knows them (local files or a directory server alike).
  final MapUserDirectory users =
      new MapUserDirectory().user("root", 0, 0).user("alice", 1000, 1000);

  @BeforeEach
  void setUp() throws Exception {
    proc = Files.createDirectories(dir.resolve("proc"));
    conf = Files.createDirectories(dir.resolve("conf"));
    owner = (Integer) Files.getAttribute(dir, "unix:uid");
    resolver = new JobIdentityResolver(proc, conf, users, owner);
  }

  void process(int pid, String cgroup) throws Exception {
    Files.createDirectories(proc.resolve(Integer.toString(pid)));
    Files.writeString(proc.resolve(pid + "/cgroup"), cgroup);
  }

  Path config(String name, String text) throws Exception {
    Path f = Files.writeString(conf.resolve(name), text);
    Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-r--r--"));
    return f;
  }

  static ProcessClaim claim(String job, String task, long memory) {
    return new ProcessClaim(job, task, new JobLimits(memory, 0, Map.of(), Map.of()));
  }

  @Test
  void kernelJobAndItsConfigFileBeatWhatTheProcessClaims() throws Exception {
    process(42, "0::/system.slice/slurmstepd.scope/job_123/step_0/user/task_0\n");
    config("123.conf", "CUDA_DEVICE_MEMORY_LIMIT=12G\nCUDA_DEVICE_SM_LIMIT=25\n");
    JobIdentity id = resolver.resolve(42, 1000, claim("999", "", 40 * GIB));
    assertThat(id.jobId()).isEqualTo("123");
    assertThat(id.user()).isEqualTo("alice");
    assertThat(id.source()).isEqualTo(LimitSource.ADMIN_CONFIG);
    assertThat(id.limits().memoryFor(0)).isEqualTo(12 * GIB);
    assertThat(id.limits().smFor(0)).isEqualTo(25.0);
  }

  @Test
  void kernelJobWithoutConfigFileUsesTheProcessLimitsButTheKernelJobId() throws Exception {
    process(42, "4:freezer:/slurm_node1/uid_1000/job_123/step_0\n");
    JobIdentity id = resolver.resolve(42, 1000, claim("999", "", 4 * GIB));
    assertThat(id.jobId()).isEqualTo("123");
    assertThat(id.source()).isEqualTo(LimitSource.PROCESS_ENVIRONMENT);
    assertThat(id.limits().memoryFor(0)).isEqualTo(4 * GIB);
    assertThat(id.kernelJob()).isTrue();
  }

  @Test
  void arrayTasksFindTheirOwnConfigFile() throws Exception {
    process(42, "0::/system.slice/slurmstepd.scope/job_500/step_0\n");
    config("500_3.conf", "CUDA_DEVICE_MEMORY_LIMIT=3G\n");
    config("500_4.conf", "CUDA_DEVICE_MEMORY_LIMIT=4G\n");
    JobIdentity id = resolver.resolve(42, 1000, claim("", "4", 0));
    assertThat(id.jobId()).isEqualTo("500_4");
    assertThat(id.limits().memoryFor(0)).isEqualTo(4 * GIB);
  }

  @Test
  void theOnlyArrayFileOfAJobIsFoundWithoutATaskClaim() throws Exception {
    process(42, "0::/system.slice/slurmstepd.scope/job_600/step_0\n");
    config("600_1.conf", "CUDA_DEVICE_MEMORY_LIMIT=1G\n");
    assertThat(resolver.resolve(42, 1000, ProcessClaim.none()).jobId()).isEqualTo("600_1");
  }

  @Test
  void outsideSlurmTheClaimedJobCountsAndItsConfigFileStillWins() throws Exception {
    config("77.conf", "CUDA_DEVICE_MEMORY_LIMIT=2G\n");
    JobIdentity id = resolver.resolve(42, 0, claim("77", "", 40 * GIB));
    assertThat(id.jobId()).isEqualTo("77");
    assertThat(id.user()).isEqualTo("root");
    assertThat(id.source()).isEqualTo(LimitSource.ADMIN_CONFIG);
    assertThat(id.limits().memoryFor(0)).isEqualTo(2 * GIB);
    assertThat(id.kernelJob()).isFalse(); // only a name: the job's first uid owns it

    JobIdentity workstation = resolver.resolve(42, 4321, claim("dev", "", GIB));
    assertThat(workstation.jobId()).isEqualTo("dev");
    assertThat(workstation.user()).isEqualTo("4321");
    assertThat(workstation.limits().memoryFor(0)).isEqualTo(GIB);

    assertThat(resolver.resolve(42, 0, ProcessClaim.none()).jobId()).isEqualTo("local-42");
  }

  @Test
  void anUnsafeConfigFileRefusesTheJobInsteadOfLeavingItOnItsOwnLimits() throws Exception {
    process(42, "0::/system.slice/slurmstepd.scope/job_123/step_0\n");
    Path f = config("123.conf", "CUDA_DEVICE_MEMORY_LIMIT=12G\n");
    Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-rw-rw-"));
    assertThatThrownBy(() -> resolver.resolve(42, 1000, claim("", "", 4 * GIB)))
        .isInstanceOf(JobIdentityResolver.Refused.class)
        .hasMessageContaining("writable by group or others");

    Files.delete(f);
    Path real = config("elsewhere", "CUDA_DEVICE_MEMORY_LIMIT=40G\n");
    Files.createSymbolicLink(conf.resolve("123.conf"), real);
    assertThatThrownBy(() -> resolver.resolve(42, 1000, claim("", "", 4 * GIB)))
        .isInstanceOf(JobIdentityResolver.Refused.class)
        .hasMessageContaining("symbolic link");

    JobIdentityResolver strict =
        new JobIdentityResolver(proc, conf, users, owner + 1);
    Files.delete(conf.resolve("123.conf"));
    config("123.conf", "CUDA_DEVICE_MEMORY_LIMIT=12G\n");
    assertThatThrownBy(() -> strict.resolve(42, 1000, claim("", "", 4 * GIB)))
        .isInstanceOf(JobIdentityResolver.Refused.class)
        .hasMessageContaining("owned by uid");

    // no file at all: the process's own request, as before
    Files.delete(conf.resolve("123.conf"));
    assertThat(resolver.resolve(42, 1000, claim("", "", 4 * GIB)).source())
        .isEqualTo(LimitSource.PROCESS_ENVIRONMENT);
  }

  @Test
  void malformedConfigFileIsAnErrorNamingFileKeyAndValue() throws Exception {
    process(42, "0::/system.slice/slurmstepd.scope/job_123/step_0\n");
    config("123.conf", "CUDA_DEVICE_MEMORY_LIMIT=lots\n");
    assertThatThrownBy(() -> resolver.resolve(42, 1000, ProcessClaim.none()))
        .hasMessageContaining("123.conf")
        .hasMessageContaining("CUDA_DEVICE_MEMORY_LIMIT")
        .hasMessageContaining("lots");
  }

  @Test
  void claimsThatCouldEscapeTheConfigDirAreRefused() {
    assertThatThrownBy(() -> resolver.resolve(42, 0, claim("../../etc/x", "", 0)))
        .hasMessageContaining("../../etc/x");
    assertThatThrownBy(() -> resolver.resolve(42, 0, claim("1", "../2", 0)))
        .hasMessageContaining("../2");
  }
}
