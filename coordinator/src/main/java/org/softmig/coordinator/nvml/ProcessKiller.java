package org.softmig.coordinator.nvml;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Ends a process found on a sliced GPU without a session, or over its job's limit in NVML's eyes
 * (see {@code org.softmig.gpu.domain.Reconciler}). Blocking in principle (a syscall): call it from
 * the NVML thread, not from an actor.
 */
@FunctionalInterface
public interface ProcessKiller {

  /** True when the kill was sent; false when the pid is gone, refused or not permitted. */
  boolean kill(int pid);

  /** SIGKILL through {@link ProcessHandle}; never pid 0, pid 1 or the coordinator itself. */
  static ProcessKiller sigkill() {
    Logger log = LoggerFactory.getLogger(ProcessKiller.class);
    long self = ProcessHandle.current().pid();
    return pid -> {
      if (pid <= 1 || pid == self) {
        log.warn("Refusing to kill pid [{}]", pid);
        return false;
      }
      boolean sent = ProcessHandle.of(pid).map(ProcessHandle::destroyForcibly).orElse(false);
      if (sent) {
        log.warn("Killed pid [{}] (SIGKILL)", pid);
      } else {
        log.info("Could not kill pid [{}]: gone or not permitted", pid);
      }
      return sent;
    };
  }
}
