/*
 * log.c - vdm's log sink: one line per message, with the program's name and
 * a level tag, to stderr or to the --log-file.  Thread-safe (one write per line).
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int log_level = LOG_INFO;
static int log_fd = STDERR_FILENO;
static const char *log_ident = "vdm";

void log_set_ident(const char *ident)
{
	log_ident = ident;
}

void log_set_level(int level)
{
	log_level = level;
}

int log_open_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

	if (fd < 0)
		return -errno;
	log_close();
	log_fd = fd;
	return 0;
}

void log_close(void)
{
	if (log_fd != STDERR_FILENO)
		close(log_fd);
	log_fd = STDERR_FILENO;
}

static const char *level_tag(int level)
{
	switch (level) {
	case LOG_ERR:
		return "error";
	case LOG_WARN:
		return "warning";
	case LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

void vdm_log(int level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	if (level > log_level)
		return;
	n = snprintf(line, sizeof(line), "%s: %s: ", log_ident, level_tag(level));
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* One write per line so lines from several threads do not interleave. */
	if (write(log_fd, line, (size_t)n) < 0) {
		/* Nowhere left to report a failing log sink. */
	}
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

bool ratelimit_ok(struct ratelimit *rl)
{
	uint64_t now = now_ms();

	if (!rl->started) {
		rl->started = true;
		rl->tokens = rl->burst;
		rl->last_ms = now;
	}
	if (rl->interval_ms && now - rl->last_ms >= rl->interval_ms) {
		if (rl->suppressed)
			vdm_log(LOG_WARN, "%llu similar messages suppressed",
				(unsigned long long)rl->suppressed);
		rl->suppressed = 0;
		rl->tokens = rl->burst;
		rl->last_ms = now;
	}
	if (rl->tokens == 0) {
		rl->suppressed++;
		return false;
	}
	rl->tokens--;
	return true;
}
