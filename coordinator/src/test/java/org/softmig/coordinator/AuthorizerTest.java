package org.softmig.coordinator;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.softmig.coordinator.os.MapUserDirectory;
import org.softmig.coordinator.shim.Peer;

class AuthorizerTest {

  // As a directory server (LDAP, SSSD) would answer: none of these is in /etc/passwd.
  final MapUserDirectory users =
      new MapUserDirectory()
          .user("root", 0, 0)
          .user("alice", 1000, 100)
          .user("carol", 1002, 100)
          .user("erin", 1004, 900)
          .user("svc", 500, 500)
          .group("users", 100)
          .group("hpcadmin", 900, "carol", "dave");

  @Test
  void rootTheServiceUserAndTheAdminGroupMayAdministerOthersMayNot() {
    Authorizer auth = new Authorizer("hpcadmin", users, 500);
    assertThat(auth.mayAdminister(new Peer(1, 0, 0))).isTrue();
    assertThat(auth.mayAdminister(new Peer(1, 500, 500))).isTrue();
    assertThat(auth.mayAdminister(new Peer(1, 1003, 900))).isTrue(); // the process's group
    assertThat(auth.mayAdminister(new Peer(1, 1004, 100))).isTrue(); // the user's primary group
    assertThat(auth.mayAdminister(new Peer(1, 1002, 100))).isTrue(); // a listed member
    assertThat(auth.mayAdminister(new Peer(1, 1000, 100))).isFalse();
    assertThat(auth.mayAdminister(new Peer(1, 4242, 100))).isFalse(); // no such user
    assertThat(auth.mayAdminister(Peer.UNKNOWN)).isFalse();
  }

  @Test
  void noAdminGroupOrAnUnknownOneMeansRootAndTheServiceUserOnly() {
    for (String group : new String[] {"", null, "no-such-group"}) {
      Authorizer auth = new Authorizer(group, users, 500);
      assertThat(auth.mayAdminister(new Peer(1, 1002, 900))).isFalse();
      assertThat(auth.mayAdminister(new Peer(1, 0, 0))).isTrue();
      assertThat(auth.mayAdminister(new Peer(1, 500, 500))).isTrue();
    }
  }

  @Test
  void namesComeFromTheDirectoryElseTheUid() {
    Authorizer auth = new Authorizer("hpcadmin", users, 500);
    assertThat(auth.userName(new Peer(1, 1000, 100))).isEqualTo("alice");
    assertThat(auth.userName(new Peer(1, 4242, 100))).isEqualTo("4242");
  }
}
