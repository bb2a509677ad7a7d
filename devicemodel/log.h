/*
 * log.h - vdm's logging: levels, a log file, and rate limiting for messages
 * a hostile guest could otherwise make us print without bound.
 */
#ifndef VDM_LOG_H
#define VDM_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level {
	LOG_ERR = 3,
	LOG_WARN = 4,
	LOG_INFO = 6,
	LOG_DEBUG = 7,
};

/* The name each line starts with (a static string).  Default "vdm". */
void log_set_ident(const char *ident);

/* Messages above this level are dropped.  Default LOG_INFO. */
void log_set_level(int level);

/* Send messages to path (appended) instead of stderr.  Returns 0 or -errno. */
int log_open_file(const char *path);
void log_close(void);

void vdm_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...) vdm_log(LOG_ERR, __VA_ARGS__)
#define log_warn(...) vdm_log(LOG_WARN, __VA_ARGS__)
#define log_info(...) vdm_log(LOG_INFO, __VA_ARGS__)
#define log_debug(...) vdm_log(LOG_DEBUG, __VA_ARGS__)

/*
 * A token bucket: at most `burst` messages, then one per `interval_ms`.
 * Zero-initialise and set the two limits (or use RATELIMIT_INIT).
 */
struct ratelimit {
	uint32_t interval_ms;
	uint32_t burst;
	uint32_t tokens;
	uint64_t last_ms;
	uint64_t suppressed;
	bool started;
};

#define RATELIMIT_INIT { .interval_ms = 5000, .burst = 5 }

/* True when a message may be printed now. */
bool ratelimit_ok(struct ratelimit *rl);

/* Log through rl: suppressed messages are counted and reported later. */
#define log_ratelimited(rl, level, ...)                                                            \
	do {                                                                                       \
		if (ratelimit_ok(rl))                                                              \
			vdm_log(level, __VA_ARGS__);                                               \
	} while (0)

#endif /* VDM_LOG_H */
