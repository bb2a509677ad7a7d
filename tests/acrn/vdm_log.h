/*
 * vdm_log.h - what the ACRN tests read of vdm's --log-file, where vdm and
 * the HSM model report: the file as a string, and waiting for a line to
 * appear in it.  Header-only: each test is one program.
 */
#ifndef VDM_TEST_VDM_LOG_H
#define VDM_TEST_VDM_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The log at path into buf (len bytes, the NUL included): as much of it as
 * fits, or "" when it cannot be opened. */
static inline void read_log(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t got = f ? fread(buf, 1, len - 1, f) : 0;

	buf[got] = 0;
	if (f)
		fclose(f);
}

/* Read the log into buf until it holds what, for up to 5 s: whether it
 * did.  buf holds the last read either way. */
static inline bool wait_log(const char *path, char *buf, size_t len, const char *what)
{
	for (int i = 0; i < 500; i++) {
		read_log(path, buf, len);
		if (strstr(buf, what))
			return true;
		usleep(10000);
	}
	return false;
}

#endif /* VDM_TEST_VDM_LOG_H */
