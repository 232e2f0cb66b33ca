/*
 * The shim's configuration as a process sees it, with mem_shell under LD_PRELOAD=libsoftmig.so
 * on the fake driver and no coordinator (limits are enforced locally):
 *   - the admin file decides: the environment cannot raise a limit, not even per ordinal;
 *   - an invalid limit, in the environment or the file, refuses GPU access (cuInit fails,
 *     one line on stderr) instead of meaning "no limit";
 *   - SOFTMIG_DISABLE and SOFTMIG_SERVICE_UID are honoured only for root;
 *   - a log file that is a FIFO or a symlink neither hangs nor is written through; the per-user
 *     log directory is used only when it belongs to the process's user;
 *   - an MPS job (its admin file names a pipe directory) has its MPS client variables set from
 *     the admin file before the driver's cuInit (the fake driver records what it saw), and the
 *     environment cannot raise them; a time-slicing job's are left alone.
 * Runs as root (CI); the checks for other users run as nobody (65534).  Not root: the root-only
 * parts are skipped with a note.
 *
 *   shim_config_test SHIM FAKE_CUDA_DIR PROGRAMS_DIR
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define GIB (1024ULL * 1024 * 1024)
#define NOBODY 65534
#define HANG_LIMIT_S 60 /* a hang, not a speed check: a healthy run takes well under a second */

static const char *shim, *fake_cuda, *programs;
static char dir[64];
static bool root;

struct run {
	int status;     /* exit status, -1 when killed for hanging */
	char out[8192]; /* stdout */
	char err[2048]; /* stderr */
};

/*
 * Runs mem_shell with the commands on its stdin and env (a NULL-terminated list added to the
 * basics), as nobody when as_nobody.  Collects stdout and stderr until it exits.
 */
static void run_shell(struct run *r, const char *commands, const char *const *env, bool as_nobody)
{
	int in[2], out[2], err[2];
	size_t no = 0, ne = 0;
	time_t deadline = time(NULL) + HANG_LIMIT_S;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	if (pipe(in) || pipe(out) || pipe(err))
		exit(99);
	pid = fork();
	if (pid == 0) {
		char envs[24][512], *envp[25], path[512];
		int n = 0;

		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		close(in[1]);
		close(out[0]);
		close(err[0]);
		if (as_nobody && root && (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY)))
			_exit(97);
		for (int i = 0; env && env[i] && n < 19; i++)
			snprintf(envs[n++], 512, "%s", env[i]); /* first: getenv finds the first */
		snprintf(envs[n++], 512, "LD_PRELOAD=%s", shim);
		snprintf(envs[n++], 512, "LD_LIBRARY_PATH=%s", fake_cuda);
		snprintf(envs[n++], 512, "SOFTMIG_FAKE_GPUS=%s", as_nobody ? "ShimConfigOther:8G" : "ShimConfigTest:8G");
		snprintf(envs[n++], 512, "SOFTMIG_SOCKET=%s/no-coordinator.sock", dir);
		snprintf(envs[n++], 512, "PATH=/usr/bin:/bin");
		for (int i = 0; i < n; i++)
			envp[i] = envs[i];
		envp[n] = NULL;
		snprintf(path, sizeof(path), "%s/mem_shell", programs);
		execve(path, (char *[]){ "mem_shell", NULL }, envp);
		_exit(98);
	}
	close(in[0]);
	close(out[1]);
	close(err[1]);
	if (write(in[1], commands, strlen(commands)) < 0) {
		/* it exited early: its output says why */
	}
	close(in[1]);
	for (;;) {
		struct pollfd p[2] = { { .fd = out[0], .events = POLLIN }, { .fd = err[0], .events = POLLIN } };
		int open_fds = 0;

		for (int i = 0; i < 2; i++)
			open_fds += p[i].fd >= 0;
		if (!open_fds)
			break;
		if (time(NULL) > deadline) {
			kill(pid, SIGKILL);
			break;
		}
		if (poll(p, 2, 1000) <= 0)
			continue;
		if (p[0].revents) {
			ssize_t k = read(out[0], r->out + no, sizeof(r->out) - 1 - no);

			if (k <= 0) {
				close(out[0]);
				out[0] = -1;
			} else {
				no += (size_t)k;
			}
		}
		if (p[1].revents) {
			ssize_t k = read(err[0], r->err + ne, sizeof(r->err) - 1 - ne);

			if (k <= 0) {
				close(err[0]);
				err[0] = -1;
			} else {
				ne += (size_t)k;
			}
		}
		if (out[0] < 0 && err[0] < 0)
			break;
	}
	if (out[0] >= 0)
		close(out[0]);
	if (err[0] >= 0)
		close(err[0]);
	waitpid(pid, &r->status, 0);
	r->status = WIFEXITED(r->status) ? WEXITSTATUS(r->status) : -1;
}

/* The value of "key":N in the nth JSON line of op `op` (1-based), or -1000. */
static long long field(const struct run *r, const char *op, int nth, const char *key)
{
	char want[32], k[32];
	const char *p = r->out;

	snprintf(want, sizeof(want), "\"op\":\"%s\"", op);
	snprintf(k, sizeof(k), "\"%s\":", key);
	while ((p = strstr(p, want))) {
		const char *eol = strchr(p, '\n'), *v = strstr(p, k);

		if (--nth == 0)
			return v && (!eol || v < eol) ? atoll(v + strlen(k)) : -1000;
		p += strlen(want);
	}
	return -1000;
}

static void write_conf(const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/conf/%s", dir, name);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	chmod(path, 0644);
}

static char conf_env[128];

/* The admin file decides; the environment asks only where there is none. */
static void admin_first(void)
{
	const char *env[] = { conf_env, "SLURM_JOB_ID=7001", "CUDA_DEVICE_MEMORY_LIMIT_0=40G",
			      "CUDA_DEVICE_MEMORY_LIMIT=40G", NULL };
	struct run r;

	write_conf("7001.conf", "CUDA_DEVICE_MEMORY_LIMIT=2G   # the slice\nCUDA_DEVICE_SM_LIMIT=25\n");
	run_shell(&r, "info\nalloc plain 3221225472\nalloc plain 1073741824\nexit\n", env, false);
	CHECK(r.status == 0);
	CHECK(field(&r, "info", 1, "total") == (long long)(2 * GIB));
	CHECK(field(&r, "alloc", 1, "rc") == 2); /* CUDA_ERROR_OUT_OF_MEMORY */
	CHECK(field(&r, "alloc", 2, "rc") == 0);

	/* no file for this job: the environment's limit */
	env[1] = "SLURM_JOB_ID=7002";
	run_shell(&r, "info\nexit\n", env, false);
	CHECK(field(&r, "info", 1, "total") == (long long)(8 * GIB)); /* 40G asked, the card has 8 */
}

/* Each of these refuses GPU access: cuInit says no device, and stderr says why. */
static void invalid_refuses(void)
{
	static const char *const bad[][2] = {
		{ "CUDA_DEVICE_MEMORY_LIMIT=99999999999999999999G", "CUDA_DEVICE_MEMORY_LIMIT" },
		{ "CUDA_DEVICE_MEMORY_LIMIT=-1", "CUDA_DEVICE_MEMORY_LIMIT" },
		{ "CUDA_DEVICE_MEMORY_LIMIT_0=0x10G", "CUDA_DEVICE_MEMORY_LIMIT_0" },
		{ "CUDA_DEVICE_SM_LIMIT=nan", "CUDA_DEVICE_SM_LIMIT" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *env[] = { conf_env, "SLURM_JOB_ID=7003", bad[i][0], NULL };
		struct run r;
		int before = check_failed;

		run_shell(&r, "exit\n", env, false);
		CHECK(r.status == 3 && strstr(r.out, "\"rc\":100")); /* CUDA_ERROR_NO_DEVICE */
		CHECK(strncmp(r.err, "softmig: ", 9) == 0 && strstr(r.err, bad[i][1]));
		if (check_failed > before)
			fprintf(stderr, "  ... with %s: status %d, stdout %s, stderr %s\n", bad[i][0], r.status, r.out,
				r.err);
		if (!root)
			continue;
		/* with an admin file too: an invalid request is an error, not something to ignore */
		env[1] = "SLURM_JOB_ID=7001";
		run_shell(&r, "exit\n", env, false);
		CHECK(r.status == 3 && strstr(r.out, "\"rc\":100"));
	}
	if (root) {
		const char *env[] = { conf_env, "SLURM_JOB_ID=7004", NULL };
		struct run r;

		write_conf("7004.conf", "CUDA_DEVICE_MEMORY_LIMIT=2G\nCUDA_DEVICE_SM_LIMIT=nan\n");
		run_shell(&r, "exit\n", env, false);
		CHECK(r.status == 3 && strstr(r.out, "\"rc\":100"));
		CHECK(strstr(r.err, "7004.conf:2") != NULL);
	}
}

/* Whether the fake driver saw this line at cuInit (the file SOFTMIG_FAKE_INIT_ENV named). */
static bool saw(const char *file, const char *line)
{
	char text[2048], want[256];
	FILE *f = fopen(file, "r");
	size_t n;

	if (!f)
		return false;
	n = fread(text + 1, 1, sizeof(text) - 2, f);
	fclose(f);
	text[0] = '\n';
	text[n + 1] = '\0';
	snprintf(want, sizeof(want), "\n%s\n", line);
	return strstr(text, want) != NULL;
}

/* The MPS client variables at cuInit: the admin file's, never raised by the environment. */
static void mps_client_env(void)
{
	char initenv[200], file[160];
	const char *env[] = { conf_env, "SLURM_JOB_ID=7010", initenv, "CUDA_MPS_PIPE_DIRECTORY=/tmp/my-own-daemon",
			      "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=100", "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=0=40G",
			      "CUDA_DEVICE_SM_LIMIT=100", NULL };
	struct run r;

	snprintf(file, sizeof(file), "%s/init-env", dir);
	snprintf(initenv, sizeof(initenv), "SOFTMIG_FAKE_INIT_ENV=%s", file);
	if (root) {
		write_conf("7010.conf", "CUDA_DEVICE_MEMORY_LIMIT=2G\nCUDA_DEVICE_SM_LIMIT=25\n"
					"CUDA_MPS_PIPE_DIRECTORY=/run/softmig/mps/GPU-1/pipe\n");
		run_shell(&r, "info\nexit\n", env, false);
		CHECK(r.status == 0);
		CHECK(saw(file, "CUDA_MPS_PIPE_DIRECTORY=/run/softmig/mps/GPU-1/pipe"));
		CHECK(saw(file, "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=25"));
		CHECK(saw(file, "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=0=2048M"));

		/* a lower percentage of the user's own stays: MPS lets a client only constrain itself */
		env[4] = "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=10";
		run_shell(&r, "exit\n", env, false);
		CHECK(saw(file, "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=10"));
		env[4] = "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=lots";
		run_shell(&r, "exit\n", env, false);
		CHECK(saw(file, "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=25"));

		/* a time-slicing job (no pipe directory in its file): nothing is touched */
		env[1] = "SLURM_JOB_ID=7001";
		env[4] = "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=100";
		run_shell(&r, "exit\n", env, false);
		CHECK(saw(file, "CUDA_MPS_PIPE_DIRECTORY=/tmp/my-own-daemon"));
		CHECK(saw(file, "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=100"));
		CHECK(saw(file, "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=0=40G"));

		/* a pipe directory that is not a clean absolute path refuses the file */
		write_conf("7012.conf", "CUDA_DEVICE_MEMORY_LIMIT=2G\nCUDA_MPS_PIPE_DIRECTORY=/run/../tmp/x\n");
		env[1] = "SLURM_JOB_ID=7012";
		run_shell(&r, "exit\n", env, false);
		CHECK(r.status == 3 && strstr(r.out, "\"rc\":100"));
		CHECK(strstr(r.err, "CUDA_MPS_PIPE_DIRECTORY") != NULL);
	}

	/* no admin file: the environment's request, for a process that is an MPS client by its own choice */
	{
		const char *own[] = { initenv, "SLURM_JOB_ID=7011", "CUDA_MPS_PIPE_DIRECTORY=/tmp/p",
				      "CUDA_DEVICE_SM_LIMIT=12.5", "CUDA_DEVICE_MEMORY_LIMIT=1G", NULL };

		run_shell(&r, "exit\n", own, false);
		CHECK(r.status == 0);
		CHECK(saw(file, "CUDA_MPS_PIPE_DIRECTORY=/tmp/p"));
		CHECK(saw(file, "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=12"));
		CHECK(saw(file, "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=0=1024M"));
		own[2] = "CUDA_DEVICE_SM_LIMIT=12.5"; /* no pipe directory: no MPS client */
		run_shell(&r, "exit\n", own, false);
		CHECK(saw(file, "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"));
		CHECK(saw(file, "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT"));
	}
}

/* SOFTMIG_DISABLE turns the shim off for root only. */
static void disable_root_only(void)
{
	const char *env[] = { "CUDA_DEVICE_MEMORY_LIMIT=1G", "SOFTMIG_DISABLE=1", NULL };
	struct run r;

	run_shell(&r, "alloc plain 2147483648\nexit\n", env, true);
	CHECK(r.status == 0 && field(&r, "alloc", 1, "rc") == 2); /* still enforced */
	if (!root)
		return;
	run_shell(&r, "alloc plain 2147483648\nexit\n", env, false);
	CHECK(r.status == 0 && field(&r, "alloc", 1, "rc") == 0); /* passed through */
}

/* Whether a shim with env connects to a socket owned by owner (it connects at start-up). */
static bool connects(const char *const *env, uid_t owner, bool as_nobody)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct pollfd p;
	struct run r;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	bool got;

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/svc.sock", dir);
	unlink(addr.sun_path);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) || listen(fd, 4) || chown(addr.sun_path, owner, owner))
		exit(99);
	chmod(addr.sun_path, 0666);
	run_shell(&r, "exit\n", env, as_nobody);
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	got = poll(&p, 1, 0) == 1;
	close(fd);
	return got;
}

/* SOFTMIG_SERVICE_UID makes the shim trust another socket owner, for root only. */
static void service_uid_root_only(void)
{
	char sock[128];
	const char *env[] = { sock, "SOFTMIG_SERVICE_UID=65534", NULL };

	if (!root) {
		printf("SKIP: SOFTMIG_SERVICE_UID checks need root (socket owners)\n");
		return;
	}
	snprintf(sock, sizeof(sock), "SOFTMIG_SOCKET=%s/svc.sock", dir);
	CHECK(!connects(env, NOBODY, true));
	CHECK(connects(env, NOBODY, false));
	env[1] = NULL;
	CHECK(!connects(env, NOBODY, false)); /* without it, only root's socket */
	CHECK(connects(env, 0, false));
}

static off_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) ? -1 : st.st_size;
}

/* A FIFO or a symlink as SOFTMIG_LOG_FILE neither hangs the process nor is written through. */
static void log_file_cannot_hang(void)
{
	char fifo[128], link[128], target[128], envf[160], envl[160];
	const char *env[] = { "CUDA_DEVICE_MEMORY_LIMIT=1G", "LIBCUDA_LOG_LEVEL=4", envf, NULL };
	struct run r;
	int reader;
	char buf[64];

	snprintf(fifo, sizeof(fifo), "%s/log.fifo", dir);
	snprintf(link, sizeof(link), "%s/log.link", dir);
	snprintf(target, sizeof(target), "%s/log.target", dir);
	snprintf(envf, sizeof(envf), "SOFTMIG_LOG_FILE=%s", fifo);
	snprintf(envl, sizeof(envl), "SOFTMIG_LOG_FILE=%s", link);
	CHECK(mkfifo(fifo, 0666) == 0);

	/* no reader: a blocking open would wait for one forever */
	run_shell(&r, "alloc plain 2147483648\nexit\n", env, false);
	CHECK(r.status == 0 && field(&r, "alloc", 1, "rc") == 2);

	/* a reader that never reads: writes would block once the pipe is full */
	reader = open(fifo, O_RDONLY | O_NONBLOCK);
	CHECK(reader >= 0);
	run_shell(&r, "alloc plain 2147483648\nalloc plain 2147483648\nexit\n", env, false);
	CHECK(r.status == 0 && field(&r, "alloc", 2, "rc") == 2);
	CHECK(read(reader, buf, sizeof(buf)) <= 0); /* nothing was written into it */
	close(reader);

	/* a symlink is not followed */
	close(open(target, O_WRONLY | O_CREAT | O_TRUNC, 0666));
	CHECK(symlink(target, link) == 0);
	env[2] = envl;
	run_shell(&r, "alloc plain 2147483648\nexit\n", env, false);
	CHECK(r.status == 0 && field(&r, "alloc", 1, "rc") == 2);
	CHECK(file_size(target) == 0);
}

/* The per-user directory counts only when it belongs to the process's user. */
static void user_log_dir(void)
{
	char logdir[128], userdir[160], other[160], envd[160], file[256];
	const char *env[] = { envd, "USER=alice", "SLURM_JOB_ID=7005", "LIBCUDA_LOG_LEVEL=3", NULL };
	struct run r;
	time_t now = time(NULL);
	struct tm tm;

	if (!root) {
		printf("SKIP: log directory checks need root (SOFTMIG_LOG_DIR)\n");
		return;
	}
	snprintf(logdir, sizeof(logdir), "%s/logs", dir);
	snprintf(userdir, sizeof(userdir), "%s/alice", logdir);
	snprintf(other, sizeof(other), "%s/mallory", logdir);
	snprintf(envd, sizeof(envd), "SOFTMIG_LOG_DIR=%s", logdir);
	mkdir(logdir, 0755);
	mkdir(userdir, 0700);
	mkdir(other, 0777);
	chmod(other, 0777);
	gmtime_r(&now, &tm);
	run_shell(&r, "exit\n", env, false);
	CHECK(r.status == 0);
	snprintf(file, sizeof(file), "%s/7005_%04d%02d%02d.log", userdir, tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday);
	CHECK(file_size(file) > 0);

	/* a directory writable by others is not used */
	env[1] = "USER=mallory";
	run_shell(&r, "exit\n", env, false);
	snprintf(file, sizeof(file), "%s/7005_%04d%02d%02d.log", other, tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday);
	CHECK(file_size(file) == -1);

	/* nor one of another user: nobody claiming to be alice */
	env[1] = "USER=alice";
	env[2] = "SLURM_JOB_ID=7006";
	run_shell(&r, "exit\n", env, true);
	snprintf(file, sizeof(file), "%s/7006_%04d%02d%02d.log", userdir, tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday);
	CHECK(file_size(file) == -1);
}

int main(int argc, char **argv)
{
	char cmd[128];

	if (argc < 4) {
		fprintf(stderr, "usage: shim_config_test SHIM FAKE_CUDA_DIR PROGRAMS_DIR\n");
		return 2;
	}
	shim = argv[1];
	fake_cuda = argv[2];
	programs = argv[3];
	root = getuid() == 0;
	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof(dir), "/tmp/softmig-shim-config-%d", (int)getpid());
	mkdir(dir, 0755);
	chmod(dir, 0755);
	snprintf(cmd, sizeof(cmd), "%s/conf", dir);
	mkdir(cmd, 0755);
	snprintf(conf_env, sizeof(conf_env), "SOFTMIG_CONFIG_DIR=%s/conf", dir);

	if (root)
		admin_first();
	else
		printf("SKIP: admin file checks need root (admin files are root-owned)\n");
	invalid_refuses();
	mps_client_env();
	disable_root_only();
	service_uid_root_only();
	log_file_cannot_hang();
	user_log_dir();

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	return check_done();
}
