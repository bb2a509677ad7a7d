/*
 * peer.h - a back-end process for the vhost peer tests (qemu-storage-daemon,
 * virtiofsd, testpmd, vdm-vhost-user): start it with its output in a log,
 * wait for its socket, run it to its end, stop it, read and show its log.
 * Header-only: each test is one program.
 */
#ifndef VDM_TEST_PEER_H
#define VDM_TEST_PEER_H

#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static inline void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Run argv (argv[0] looked up in PATH) with stdout and stderr in log
 * (/dev/null when log is NULL).  Its pid; the test exits 99 if it cannot
 * fork. */
static inline pid_t peer_spawn(char *const argv[], const char *log)
{
	pid_t pid = fork();

	if (pid < 0)
		exit(99);
	if (pid == 0) {
		int fd = log ? open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644)
			     : open("/dev/null", O_WRONLY);

		dup2(fd, 1);
		dup2(fd, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/*
 * Wait up to timeout_ms for the UNIX socket at path to appear.  0 when it
 * did; the peer's exit status when it ended first (*pid is then -1); -1 on
 * timeout.
 */
static inline int peer_wait_socket(pid_t *pid, const char *path, int timeout_ms)
{
	struct stat sb;

	for (int waited = 0; waited <= timeout_ms; waited += 50) {
		int st;

		if (stat(path, &sb) == 0 && S_ISSOCK(sb.st_mode))
			return 0;
		if (*pid > 0 && waitpid(*pid, &st, WNOHANG) == *pid) {
			*pid = -1;
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
		sleep_ms(50);
	}
	return -1;
}

/* Send sig to the peer (if it runs) and reap it. */
static inline void peer_stop(pid_t *pid, int sig)
{
	if (*pid > 0) {
		kill(*pid, sig);
		waitpid(*pid, NULL, 0);
	}
	*pid = -1;
}

/* Print the peer's log under a title (for a failed test's output). */
static inline void peer_dump_log(const char *title, const char *log)
{
	char line[256];
	FILE *f = fopen(log, "r");

	if (!f)
		return;
	printf("---- %s\n", title);
	while (fgets(line, sizeof(line), f))
		fputs(line, stdout);
	fclose(f);
}

/* Whether the log holds what (its first 64 KiB). */
static inline bool peer_log_has(const char *log, const char *what)
{
	static char buf[1 << 16];
	FILE *f = fopen(log, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

	if (f)
		fclose(f);
	buf[n] = 0;
	return strstr(buf, what) != NULL;
}

/*
 * Start argv with its output in log (an old log removed first) and wait up
 * to timeout_ms for ready in that log: a socket file alone could be a stale
 * one, what the peer logs once it listens is not.  true when it came; false
 * when the peer ended first (*pid is then -1) or on timeout.
 */
static inline bool peer_start_ready(pid_t *pid, char *const argv[], const char *log,
				    const char *ready, int timeout_ms)
{
	unlink(log);
	*pid = peer_spawn(argv, log);
	for (int waited = 0; waited <= timeout_ms; waited += 50) {
		if (peer_log_has(log, ready))
			return true;
		if (waitpid(*pid, NULL, WNOHANG) == *pid) {
			*pid = -1;
			return false;
		}
		sleep_ms(50);
	}
	return false;
}

/* Run argv to its end with its output in log: its exit status (128+N for
 * signal N), and the output's start in out. */
static inline int peer_run(char *const argv[], const char *log, char *out, size_t outlen)
{
	pid_t pid = peer_spawn(argv, log);
	int st;
	FILE *f;

	waitpid(pid, &st, 0);
	out[0] = 0;
	f = fopen(log, "r");
	if (f) {
		out[fread(out, 1, outlen - 1, f)] = 0;
		fclose(f);
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The last line of log that starts with prefix, without the prefix and
 * its newline, in buf (empty when there is none): a script's reason for
 * skipping, to go on the test's own SKIP line. */
static inline const char *peer_log_reason(const char *log, const char *prefix, char *buf,
					  size_t size)
{
	char line[256];
	size_t n = strlen(prefix);
	FILE *f = fopen(log, "r");

	buf[0] = '\0';
	if (!f)
		return buf;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, prefix, n)) {
			size_t len = strcspn(line + n, "\n");

			if (len >= size)
				len = size - 1;
			memcpy(buf, line + n, len);
			buf[len] = '\0';
		}
	fclose(f);
	return buf;
}

#endif /* VDM_TEST_PEER_H */
