package org.softmig.coordinator;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.softmig.coordinator.shim.Peer;

/**
 * Who may change things (place, release): root, the user the coordinator runs as, and members of
 * the admin group (by primary gid or by the group's member list). Anyone may read status. Blocking
 * (reads the group and passwd files): call it off the event loop.
 */
public final class Authorizer {

  private final String adminGroup;
  private final Path groupFile;
  private final Path passwdFile;
  private final int ownUid;

  public Authorizer(String adminGroup, Path groupFile, Path passwdFile, int ownUid) {
    this.adminGroup = adminGroup == null ? "" : adminGroup;
    this.groupFile = groupFile;
    this.passwdFile = passwdFile;
    this.ownUid = ownUid;
  }

  public boolean mayAdminister(Peer peer) {
    if (peer.uid() == 0 || (ownUid >= 0 && peer.uid() == ownUid)) {
      return true;
    }
    if (adminGroup.isEmpty() || peer.uid() < 0) {
      return false;
    }
    String[] group = entry(groupFile, 0, adminGroup);
    if (group == null || group.length < 3) {
      return false;
    }
    if (Integer.toString(peer.gid()).equals(group[2])) {
      return true;
    }
    String[] user = entry(passwdFile, 2, Integer.toString(peer.uid()));
    if (user == null || group.length < 4 || group[3].isEmpty()) {
      return false;
    }
    return Arrays.asList(group[3].split(",")).contains(user[0]);
  }

  /** The first line of a colon-separated file whose field {@code field} equals {@code value}. */
  private static String[] entry(Path file, int field, String value) {
    try {
      for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
        String[] fields = line.split(":", -1);
        if (fields.length > field && fields[field].equals(value)) {
          return fields;
        }
      }
    } catch (IOException e) {
      return null;
    }
    return null;
  }
}
