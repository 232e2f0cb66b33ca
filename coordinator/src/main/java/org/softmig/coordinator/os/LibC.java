package org.softmig.coordinator.os;

import com.sun.jna.Library;
import com.sun.jna.NativeLong;
import com.sun.jna.Pointer;
import com.sun.jna.Structure;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.PointerByReference;

/**
 * The reentrant name-service calls of libc that softmig uses, with the C names and the Linux
 * layouts of {@code struct passwd} and {@code struct group}. The {@code _r} calls return 0 (with
 * {@code *result} NULL when there is no such entry) or an errno value; {@code ERANGE} means the
 * buffer was too small. Nothing outside {@link NssUserDirectory} calls this interface.
 */
interface LibC extends Library {

  int ERANGE = 34;

  int getpwuid_r(int uid, Passwd pwd, Pointer buf, NativeLong buflen, PointerByReference result);

  int getpwnam_r(
      String name, Passwd pwd, Pointer buf, NativeLong buflen, PointerByReference result);

  int getgrnam_r(String name, Group grp, Pointer buf, NativeLong buflen, PointerByReference result);

  /** Returns the number of groups, or -1 when {@code *ngroups} was too small (then set to it). */
  int getgrouplist(String user, int group, int[] groups, IntByReference ngroups);

  /** {@code struct passwd}. */
  @Structure.FieldOrder({"pw_name", "pw_passwd", "pw_uid", "pw_gid", "pw_gecos", "pw_dir", "pw_shell"})
  class Passwd extends Structure {
    public String pw_name;
    public String pw_passwd;
    public int pw_uid;
    public int pw_gid;
    public String pw_gecos;
    public String pw_dir;
    public String pw_shell;
  }

  /** {@code struct group}. */
  @Structure.FieldOrder({"gr_name", "gr_passwd", "gr_gid", "gr_mem"})
  class Group extends Structure {
    public String gr_name;
    public String gr_passwd;
    public int gr_gid;
    public Pointer gr_mem;
  }
}
