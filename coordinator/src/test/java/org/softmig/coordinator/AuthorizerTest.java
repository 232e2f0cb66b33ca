package org.softmig.coordinator;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.softmig.coordinator.shim.Peer;

class AuthorizerTest {

  @TempDir Path dir;

  @Test
  void rootTheServiceUserAndTheAdminGroupMayAdministerOthersMayNot() throws Exception {
    Path group = Files.writeString(dir.resolve("group"), "users:x:100:\nhpcadmin:x:900:carol,dave\n");
    Path passwd =
        Files.writeString(
            dir.resolve("passwd"),
            "root:x:0:0::/:/bin/sh\nalice:x:1000:100::/:/bin/sh\ncarol:x:1002:100::/:/bin/sh\n"
                + "svc:x:500:500::/:/bin/sh\n");
    Authorizer auth = new Authorizer("hpcadmin", group, passwd, 500);
    assertThat(auth.mayAdminister(new Peer(1, 0, 0))).isTrue();
    assertThat(auth.mayAdminister(new Peer(1, 500, 500))).isTrue();
    assertThat(auth.mayAdminister(new Peer(1, 1003, 900))).isTrue(); // primary group
    assertThat(auth.mayAdminister(new Peer(1, 1002, 100))).isTrue(); // listed member
    assertThat(auth.mayAdminister(new Peer(1, 1000, 100))).isFalse();
    assertThat(auth.mayAdminister(Peer.UNKNOWN)).isFalse();
    assertThat(new Authorizer("", group, passwd, 500).mayAdminister(new Peer(1, 1002, 900)))
        .isFalse();
  }
}
