package org.softmig.coordinator.os;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.sun.security.auth.module.UnixSystem;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.softmig.coordinator.Authorizer;
import org.softmig.coordinator.shim.Peer;

/**
 * A user and a group that exist only outside {@code /etc/passwd} and {@code /etc/group}, as on a
 * site whose accounts come from LDAP or SSSD: here from systemd's user database ({@code
 * /run/userdb} drop-in records, served by nss-systemd). Runs where the machine allows it (root,
 * nss-systemd in {@code /etc/nsswitch.conf}); skipped elsewhere.
 */
class NssOutsideFilesTest {

  static final Path USERDB = Path.of("/run/userdb");
  static final String USER = "softmig-nss-test";
  static final String GROUP = "softmig-nss-admins";
  static final int UID = 61_234;
  static final int GID = 61_235;
  static final List<Path> written =
      List.of(
          USERDB.resolve(USER + ".user"),
          USERDB.resolve(UID + ".user"),
          USERDB.resolve(GROUP + ".group"),
          USERDB.resolve(GID + ".group"));
  static boolean createdDir;

  @BeforeAll
  static void addRecords() throws Exception {
    assumeTrue(new UnixSystem().getUid() == 0, "needs root to write " + USERDB);
    Path nsswitch = Path.of("/etc/nsswitch.conf");
    assumeTrue(
        Files.isReadable(nsswitch)
            && Files.readAllLines(nsswitch).stream()
                .anyMatch(l -> l.matches("^passwd:.*\\bsystemd\\b.*")),
        "nss-systemd is not in /etc/nsswitch.conf");
    for (String file : List.of("/etc/passwd", "/etc/group")) {
      assumeTrue(
          Files.readAllLines(Path.of(file)).stream()
              .noneMatch(l -> l.startsWith(USER + ":") || l.startsWith(GROUP + ":")),
          "the test's names are in " + file);
    }
    if (!Files.isDirectory(USERDB)) {
      Files.createDirectory(USERDB);
      createdDir = true;
    }
    Files.writeString(
        written.get(0),
        "{\"userName\":\"" + USER + "\",\"uid\":" + UID + ",\"gid\":" + GID
            + ",\"disposition\":\"regular\",\"homeDirectory\":\"/nonexistent\"}\n");
    Files.createSymbolicLink(written.get(1), written.get(0).getFileName());
    Files.writeString(
        written.get(2), "{\"groupName\":\"" + GROUP + "\",\"gid\":" + GID + "}\n");
    Files.createSymbolicLink(written.get(3), written.get(2).getFileName());
    assumeTrue(
        NssUserDirectory.open().byName(USER).isPresent(),
        "nss-systemd does not serve " + USERDB + " here");
  }

  @AfterAll
  static void removeRecords() throws Exception {
    for (Path p : written) {
      Files.deleteIfExists(p);
    }
    if (createdDir) {
      Files.deleteIfExists(USERDB);
    }
  }

  @Test
  void aUserAndGroupOutsideTheLocalFilesAreKnownByNameAndMembership() {
    UserDirectory users = NssUserDirectory.open();
    assertThat(users.byUid(UID)).contains(new UserDirectory.Account(USER, UID, GID));
    assertThat(users.nameOf(UID)).isEqualTo(USER);
    assertThat(users.groupId(GROUP)).hasValue(GID);

    // The process runs with another group (newgrp, sg): the user's primary group still counts.
    Authorizer auth = new Authorizer(GROUP, users, -1);
    assertThat(auth.mayAdminister(new Peer(1, UID, 100))).isTrue();
    assertThat(auth.userName(new Peer(1, UID, 100))).isEqualTo(USER);
    assertThat(new Authorizer("root", users, -1).mayAdminister(new Peer(1, UID, 100))).isFalse();
  }
}
