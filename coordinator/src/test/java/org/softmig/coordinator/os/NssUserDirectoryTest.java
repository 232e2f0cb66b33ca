package org.softmig.coordinator.os;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.security.auth.module.UnixSystem;
import org.junit.jupiter.api.Test;

/** Real lookups through libc's name service, of accounts every Linux machine has. */
class NssUserDirectoryTest {

  final NssUserDirectory users = NssUserDirectory.open();

  @Test
  void findsRootByUidAndByNameWithItsGroup() {
    UserDirectory.Account root = users.byUid(0).orElseThrow();
    assertThat(root.name()).isEqualTo("root");
    assertThat(root.uid()).isZero();
    assertThat(users.byName("root")).contains(root);
    assertThat(users.groupId("root")).hasValue(root.gid());
    assertThat(users.groups(root)).contains(root.gid());
  }

  @Test
  void findsTheUserThisProcessRunsAs() {
    UnixSystem self = new UnixSystem();
    UserDirectory.Account me = users.byUid((int) self.getUid()).orElseThrow();
    assertThat(me.name()).isEqualTo(self.getUsername());
    assertThat(users.byName(me.name())).contains(me);
    assertThat(users.groups(me)).contains(me.gid());
    assertThat(users.nameOf((int) self.getUid())).isEqualTo(self.getUsername());
  }

  @Test
  void unknownUsersAndGroupsAreEmpty() {
    assertThat(users.byUid(-1)).isEmpty();
    assertThat(users.byUid(2_000_000_017)).isEmpty();
    assertThat(users.nameOf(2_000_000_017)).isEqualTo("2000000017");
    assertThat(users.byName("no-such-user-softmig")).isEmpty();
    assertThat(users.byName("")).isEmpty();
    assertThat(users.byName("ro\0ot")).isEmpty();
    assertThat(users.groupId("no-such-group-softmig")).isEmpty();
    assertThat(users.groups(new UserDirectory.Account("no-such-user-softmig", 4242, 4242)))
        .containsExactly(4242);
  }
}
