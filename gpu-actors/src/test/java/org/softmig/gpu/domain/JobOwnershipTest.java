package org.softmig.gpu.domain;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.softmig.gpu.domain.JobOwnership.Admitted;
import org.softmig.gpu.domain.JobOwnership.Claim;
import org.softmig.gpu.domain.JobOwnership.Limits;
import org.softmig.gpu.domain.JobOwnership.Refused;

class JobOwnershipTest {

  static final long GIB = 1L << 30;
  final JobOwnership jobs = new JobOwnership();

  static Claim named(String job, int uid, String user) {
    return new Claim(job, uid, user, false);
  }

  static Claim inCgroup(String job, int uid, String user) {
    return new Claim(job, uid, user, true);
  }

  @Test
  void aNamedJobBelongsToTheUidOfItsFirstSession() {
    assertThat(jobs.admit(named("j", 1000, "alice"))).isInstanceOf(Admitted.class);
    assertThat(jobs.admit(named("j", 1000, "alice"))).isInstanceOf(Admitted.class);
    var refused = jobs.admit(named("j", 1001, "mallory"));
    assertThat(refused).isInstanceOf(Refused.class);
    assertThat(((Refused) refused).reason()).contains("belongs to alice (uid 1000)");
    assertThat(jobs.ownerUid("j")).isEqualTo(1000);
  }

  @Test
  void rootMayJoinAnyJobAndOwnsNone() {
    assertThat(jobs.admit(named("j", 0, "root"))).isInstanceOf(Admitted.class);
    assertThat(jobs.ownerUid("j")).isEqualTo(-1);
    assertThat(jobs.admit(named("j", 1000, "alice"))).isInstanceOf(Admitted.class);
    assertThat(jobs.admit(named("j", 0, "root"))).isInstanceOf(Admitted.class);
    assertThat(jobs.ownerUid("j")).isEqualTo(1000);
  }

  @Test
  void theKernelTakesAJobOverFromANameClaimer() {
    assertThat(jobs.admit(named("42", 1001, "mallory"))).isInstanceOf(Admitted.class);
    jobs.ownLimits("42", "GPU-a", new Limits(GIB, 0));
    assertThat(jobs.admit(inCgroup("42", 1000, "alice"))).isInstanceOf(Admitted.class);
    assertThat(jobs.ownerUid("42")).isEqualTo(1000);
    // the claimer's limits went with it
    assertThat(jobs.ownLimits("42", "GPU-a", new Limits(8 * GIB, 0)))
        .isEqualTo(new Limits(8 * GIB, 0));
    assertThat(jobs.admit(named("42", 1001, "mallory"))).isInstanceOf(Refused.class);
    // every process in the job's cgroup is the job's
    assertThat(jobs.admit(inCgroup("42", 1002, "helper"))).isInstanceOf(Admitted.class);
    assertThat(jobs.ownerUid("42")).isEqualTo(1000);
  }

  @Test
  void aPlacedJobAdmitsOnlyItsUserFromOutsideItsCgroup() {
    jobs.placed("p", "bob");
    var refused = jobs.admit(named("p", 1001, "mallory"));
    assertThat(((Refused) refused).reason()).contains("placed for user bob");
    assertThat(jobs.size()).isZero(); // a refusal records nothing
    assertThat(jobs.admit(named("p", 1000, "bob"))).isInstanceOf(Admitted.class);
    jobs.placed("p", ""); // a re-place without a user keeps bob
    assertThat(jobs.admit(named("p", 1001, "mallory"))).isInstanceOf(Refused.class);
    jobs.unplaced("p");
    jobs.forget("p");
    assertThat(jobs.admit(named("p", 1001, "mallory"))).isInstanceOf(Admitted.class);
  }

  @Test
  void theFirstSessionOnAGpuSetsTheJobsOwnLimitsThere() {
    jobs.admit(named("j", 1000, "alice"));
    assertThat(jobs.ownLimits("j", "GPU-a", new Limits(4 * GIB, 50)))
        .isEqualTo(new Limits(4 * GIB, 50));
    // neither raised nor lowered by a later session
    assertThat(jobs.ownLimits("j", "GPU-a", new Limits(40 * GIB, 100)))
        .isEqualTo(new Limits(4 * GIB, 50));
    assertThat(jobs.ownLimits("j", "GPU-a", new Limits(1, 1))).isEqualTo(new Limits(4 * GIB, 50));
    // another GPU: its own first session
    assertThat(jobs.ownLimits("j", "GPU-b", new Limits(2 * GIB, 0)))
        .isEqualTo(new Limits(2 * GIB, 0));
  }

  @Test
  void aForgottenJobIsNobodysAndItsLimitsGo() {
    jobs.admit(named("j", 1000, "alice"));
    jobs.ownLimits("j", "GPU-a", new Limits(4 * GIB, 0));
    jobs.forget("j");
    assertThat(jobs.size()).isZero();
    assertThat(jobs.admit(named("j", 1001, "carol"))).isInstanceOf(Admitted.class);
    assertThat(jobs.ownLimits("j", "GPU-a", new Limits(GIB, 0))).isEqualTo(new Limits(GIB, 0));
  }
}
