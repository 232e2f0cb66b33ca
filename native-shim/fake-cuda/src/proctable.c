/*
 * Per-process device memory in /dev/shm for the fake NVML (see proctable.h).
 *
 * Writer: one object per process, created on its first charge (and again in a forked child,
 * whose pid differs), written with atomic stores; callers serialise publishes (memory.c holds
 * its lock). Reader: scans /dev/shm, maps each object read-only, checks that its process is
 * the one that wrote it.
 */
#include "proctable.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static struct fake_proc_table *table;
static pid_t table_pid;

uint64_t fake_proc_start_ticks(pid_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return 0;
  }
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) {
    return 0;
  }
  buf[n] = '\0';
  /* fields after the command name, which may hold spaces: field 3 is the state */
  char *p = strrchr(buf, ')');
  if (p == NULL) {
    return 0;
  }
  p++;
  for (int field = 3; field < 22 && p != NULL; field++) { /* p: the blank before field `field` */
    p = strchr(p + 1, ' ');
  }
  return p != NULL ? strtoull(p + 1, NULL, 10) : 0;
}

static void object_name(pid_t pid, char *out, size_t len) {
  snprintf(out, len, "/" FAKE_PROC_PREFIX "%d", (int)pid);
}

/* A normal exit removes the object (a killed process's is removed by the next reader). */
static void remove_table(void) {
  char name[64];
  if (table != NULL && table_pid == getpid()) {
    object_name(table_pid, name, sizeof(name));
    shm_unlink(name);
  }
}

static struct fake_proc_table *open_table(void) {
  static bool exit_hook;
  pid_t pid = getpid();
  char name[64];
  if (table != NULL && table_pid == pid) {
    return table;
  }
  table = NULL; /* a forked child: the parent's mapping is not ours to write */
  object_name(pid, name, sizeof(name));
  /*
   * A new object, never a truncated old one (of a dead process whose pid this is now): a reader
   * that has the old one mapped keeps reading it.
   */
  shm_unlink(name);
  int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    return NULL;
  }
  if (ftruncate(fd, sizeof(struct fake_proc_table)) != 0) {
    close(fd);
    return NULL;
  }
  void *mem = mmap(NULL, sizeof(struct fake_proc_table), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (mem == MAP_FAILED) {
    return NULL;
  }
  struct fake_proc_table *t = mem;
  t->pid = (uint32_t)pid;
  t->start_ticks = fake_proc_start_ticks(pid);
  atomic_thread_fence(memory_order_release);
  t->magic = FAKE_PROC_MAGIC;
  table = t;
  table_pid = pid;
  if (!exit_hook) {
    exit_hook = atexit(remove_table) == 0; /* inherited by forked children */
  }
  return t;
}

void fake_proc_publish(int slot, const char *uuid, uint64_t used_bytes) {
  if (slot < 0 || slot >= FAKE_MAX_GPUS) {
    return;
  }
  struct fake_proc_table *t = open_table();
  if (t == NULL) {
    return;
  }
  if (t->slots[slot].uuid[0] == '\0') {
    snprintf(t->slots[slot].uuid, sizeof(t->slots[slot].uuid), "%s", uuid);
  }
  atomic_store_explicit(&t->slots[slot].used_bytes, used_bytes, memory_order_release);
}

/* Whether the object's writer is still the process with that pid. */
static bool alive(const struct fake_proc_table *t) {
  if (kill((pid_t)t->pid, 0) != 0 && errno == ESRCH) {
    return false;
  }
  uint64_t ticks = fake_proc_start_ticks((pid_t)t->pid);
  return ticks != 0 && ticks == t->start_ticks;
}

void fake_proc_scan(const char *uuid, void (*fn)(uint32_t pid, uint64_t used_bytes, void *arg),
                    void *arg) {
  DIR *dir = opendir("/dev/shm");
  if (dir == NULL) {
    return;
  }
  struct dirent *e;
  while ((e = readdir(dir)) != NULL) {
    if (strncmp(e->d_name, FAKE_PROC_PREFIX, strlen(FAKE_PROC_PREFIX)) != 0) {
      continue;
    }
    char name[300];
    snprintf(name, sizeof(name), "/%s", e->d_name);
    int fd = shm_open(name, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
      continue;
    }
    /* a process creating its object has not sized it yet: reading it would raise SIGBUS */
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < (off_t)sizeof(struct fake_proc_table)) {
      close(fd);
      continue;
    }
    void *mem = mmap(NULL, sizeof(struct fake_proc_table), PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (mem == MAP_FAILED) {
      continue;
    }
    const struct fake_proc_table *t = mem;
    if (t->magic == FAKE_PROC_MAGIC && !alive(t)) {
      shm_unlink(name); /* best effort: another user's object stays */
    } else if (t->magic == FAKE_PROC_MAGIC) {
      for (int i = 0; i < FAKE_MAX_GPUS; i++) {
        uint64_t used = atomic_load_explicit(&t->slots[i].used_bytes, memory_order_acquire);
        if (used > 0 && strncmp(t->slots[i].uuid, uuid, sizeof(t->slots[i].uuid)) == 0) {
          fn(t->pid, used, arg);
        }
      }
    }
    munmap(mem, sizeof(struct fake_proc_table));
  }
  closedir(dir);
}
