/*
 * api_client.h - one request to vdm's management API (--api-socket), for
 * the tests that drive it: connect, send the line, skip the greeting,
 * return the reply.  Header-only: each test is one program.
 */
#ifndef VDM_TEST_API_CLIENT_H
#define VDM_TEST_API_CLIENT_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Send request on the API socket at sock; the reply line goes to reply.
 * True when vdm returned ("return"), false on an error reply or no reply. */
static inline bool api_call(const char *sock, const char *request, char *reply, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[8192];
	size_t have = 0;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	reply[0] = 0;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    dprintf(fd, "%s\n", request) < 0) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	for (;;) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
		char *nl;

		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = 0;
		while ((nl = strchr(buf, '\n'))) {
			*nl = 0;
			if (strstr(buf, "\"return\"") || strstr(buf, "\"error\"")) {
				bool ok = strstr(buf, "\"return\"") != NULL;

				size_t l = strnlen(buf, len - 1);

				memcpy(reply, buf, l); /* (a reply longer than len is cut) */
				reply[l] = 0;
				close(fd);
				return ok;
			}
			have -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, have + 1);
		}
		if (have >= sizeof(buf) - 1)
			break;
	}
	close(fd);
	return false;
}

/* set-route for slot:0 to route. */
static inline bool api_set_route(const char *sock, int slot, const char *route, char *reply,
				 size_t len)
{
	char req[400];

	snprintf(req, sizeof(req),
		 "{\"execute\": \"set-route\", \"arguments\": {\"slot\": \"%d:0\", \"route\": \"%s\"}}",
		 slot, route);
	return api_call(sock, req, reply, len);
}

#endif /* VDM_TEST_API_CLIENT_H */
