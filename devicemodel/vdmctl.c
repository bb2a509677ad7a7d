/*
 * vdmctl.c - the management API's command-line client:
 *
 *   vdmctl [--json] SOCKET query-devices
 *   vdmctl [--json] SOCKET query-stats [SLOT]
 *   vdmctl [--json] SOCKET set-route SLOT vbs-u|vhost-user:PATH|vhost-kernel[:NODE]
 *   vdmctl [--json] SOCKET quit
 *   vdmctl [--json] SOCKET events [COUNT]
 *
 * It sends one request, waits for its reply (lines without "return" or
 * "error" — the greeting, events — are skipped) and prints it for a person,
 * or the raw line with --json.  Exit 0 when vdm returned, 1 when it
 * answered with an error (its description on stderr), 2 for a usage or
 * connection problem.  `events` sends nothing: it prints vdm's events as
 * they come, until COUNT of them (default: until vdm closes the socket).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <json-c/json.h>

static int usage(void)
{
	fprintf(stderr, "usage: vdmctl [--json] SOCKET query-devices | query-stats [SLOT] |\n"
			"              set-route SLOT vbs-u|vhost-user:PATH|vhost-kernel[:NODE] | "
			"quit |\n              events [COUNT]\n");
	return 2;
}

/* Read one line from fd into buf (up to len-1 bytes); 0, or -1 at EOF/error. */
static int read_line(int fd, char *buf, size_t len, size_t *have)
{
	for (;;) {
		char *nl = memchr(buf, '\n', *have);

		if (nl) {
			*nl = 0;
			return 0;
		}
		if (*have + 1 >= len)
			return -1;
		ssize_t n = read(fd, buf + *have, len - 1 - *have);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		*have += (size_t)n;
	}
}

static const char *str(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && v ? json_object_get_string(v) : "-";
}

static void print_devices(struct json_object *list)
{
	printf("%-6s %-15s %-40s %-6s %s\n", "SLOT", "EMULATION", "ROUTE", "STATUS",
	       "QUEUES (size avail/used)");
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		struct json_object *d = json_object_array_get_idx(list, i), *qs;

		printf("%-6s %-15s %-40s %-6s", str(d, "slot"), str(d, "emulation"),
		       str(d, "route"), str(d, "status"));
		if (json_object_object_get_ex(d, "queues", &qs))
			for (size_t q = 0; q < json_object_array_length(qs); q++) {
				struct json_object *e = json_object_array_get_idx(qs, q);

				printf(" %s:%s %s/%s", str(e, "index"), str(e, "size"),
				       str(e, "last_avail"), str(e, "used"));
			}
		printf("\n");
	}
}

static void print_stats(struct json_object *list)
{
	printf("%-6s %-5s %10s %12s %7s %10s %10s %10s %8s\n", "SLOT", "QUEUE", "REQUESTS",
	       "BYTES", "ERRORS", "INTERRUPTS", "KICKS", "TIME_US", "SWITCHES");
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		struct json_object *d = json_object_array_get_idx(list, i), *qs;

		if (!json_object_object_get_ex(d, "queues", &qs))
			continue;
		for (size_t q = 0; q < json_object_array_length(qs); q++) {
			struct json_object *e = json_object_array_get_idx(qs, q);

			printf("%-6s %-5s %10s %12s %7s %10s %10s %10s %8s\n", str(d, "slot"),
			       str(e, "index"), str(e, "requests"), str(e, "bytes"),
			       str(e, "errors"), str(e, "interrupts"), str(e, "kicks"),
			       str(e, "time_us"), str(d, "route_switches"));
		}
	}
}

/* One event for a person: "5:0 virtio-net ROUTE_SWITCHED vbs-u -> ...". */
static void print_event(struct json_object *ev)
{
	struct json_object *data = NULL, *name = NULL;

	json_object_object_get_ex(ev, "event", &name);
	json_object_object_get_ex(ev, "data", &data);
	printf("%s %s %s", str(data, "slot"), str(data, "emulation"),
	       name ? json_object_get_string(name) : "-");
	if (json_object_object_get_ex(data, "reason", NULL))
		printf(": %s", str(data, "reason"));
	if (json_object_object_get_ex(data, "to", NULL))
		printf(" %s -> %s", str(data, "from"), str(data, "to"));
	printf("\n");
	fflush(stdout);
}

/* `vdmctl SOCKET events [COUNT]`: print events until COUNT (0: until vdm
 * closes); 0, or 2 when the connection fails. */
static int watch_events(const char *sock, int fd, long count, bool raw)
{
	static char buf[1 << 16];
	size_t have = 0;
	long seen = 0;
	bool greeted = false;

	while (!count || seen < count) {
		if (read_line(fd, buf, sizeof(buf), &have))
			return greeted ? 0 : 2; /* vdm stopped (or never spoke) */
		size_t len = strlen(buf);
		struct json_object *o = json_tokener_parse(buf);

		if (o && json_object_object_get_ex(o, "vdm", NULL) && !greeted) {
			greeted = true; /* from here every event reaches us */
			fprintf(stderr, "vdmctl: watching events on %s\n", sock);
		} else if (o && json_object_object_get_ex(o, "event", NULL)) {
			if (raw) {
				printf("%s\n", buf);
				fflush(stdout);
			} else {
				print_event(o);
			}
			seen++;
		}
		json_object_put(o);
		memmove(buf, buf + len + 1, have - len - 1);
		have -= len + 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct json_object *req, *args, *reply, *ret, *e;
	bool raw = false;
	static char line[1 << 20];
	size_t have = 0;
	int fd, a = 1;

	if (a < argc && !strcmp(argv[a], "--json")) {
		raw = true;
		a++;
	}
	if (argc - a < 2)
		return usage();
	const char *sock = argv[a], *cmd = argv[a + 1];
	int nargs = argc - a - 2;
	char **av = argv + a + 2;

	long count = 0;

	if (!strcmp(cmd, "events")) {
		char *end = NULL;

		if (nargs > 1 || (nargs && ((count = strtol(av[0], &end, 10)) < 1 || *end)))
			return usage();
		if (strlen(sock) >= sizeof(sa.sun_path)) {
			fprintf(stderr, "vdmctl: %s: path too long\n", sock);
			return 2;
		}
		strcpy(sa.sun_path, sock);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
			fprintf(stderr, "vdmctl: cannot connect to %s: %s\n", sock, strerror(errno));
			return 2;
		}
		int st = watch_events(sock, fd, count, raw);

		close(fd);
		return st;
	}
	req = json_object_new_object();
	args = json_object_new_object();
	json_object_object_add(req, "execute", json_object_new_string(cmd));
	if (!strcmp(cmd, "query-devices") || !strcmp(cmd, "quit")) {
		if (nargs)
			goto bad_usage;
	} else if (!strcmp(cmd, "query-stats")) {
		if (nargs > 1)
			goto bad_usage;
		if (nargs)
			json_object_object_add(args, "slot", json_object_new_string(av[0]));
	} else if (!strcmp(cmd, "set-route")) {
		if (nargs != 2)
			goto bad_usage;
		json_object_object_add(args, "slot", json_object_new_string(av[0]));
		json_object_object_add(args, "route", json_object_new_string(av[1]));
	} else {
		fprintf(stderr, "vdmctl: unknown command '%s'\n", cmd);
		goto bad_usage;
	}
	json_object_object_add(req, "arguments", args);

	if (0) {
bad_usage:
		json_object_put(req);
		json_object_put(args);
		return usage();
	}
	if (strlen(sock) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "vdmctl: %s: path too long\n", sock);
		json_object_put(req);
		return 2;
	}
	strcpy(sa.sun_path, sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		fprintf(stderr, "vdmctl: cannot connect to %s: %s\n", sock, strerror(errno));
		json_object_put(req);
		return 2;
	}
	const char *s = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	if (dprintf(fd, "%s\n", s) < 0) {
		fprintf(stderr, "vdmctl: cannot send to %s: %s\n", sock, strerror(errno));
		json_object_put(req);
		return 2;
	}
	for (;;) {
		if (read_line(fd, line, sizeof(line), &have)) {
			fprintf(stderr, "vdmctl: %s closed without a reply\n", sock);
			json_object_put(req);
			return 2;
		}
		size_t len = strlen(line);
		reply = json_tokener_parse(line);
		if (reply && (json_object_object_get_ex(reply, "return", NULL) ||
			      json_object_object_get_ex(reply, "error", NULL)))
			break;
		json_object_put(reply); /* the greeting, or an event */
		memmove(line, line + len + 1, have - len - 1);
		have -= len + 1;
	}
	close(fd);
	json_object_put(req);
	int status = 0;

	if (raw)
		printf("%s\n", line);
	if (json_object_object_get_ex(reply, "error", &e)) {
		if (!raw)
			fprintf(stderr, "vdmctl: %s: %s\n", str(e, "class"), str(e, "desc"));
		status = 1;
	} else if (!raw) {
		json_object_object_get_ex(reply, "return", &ret);
		if (!strcmp(cmd, "query-devices"))
			print_devices(ret);
		else if (!strcmp(cmd, "query-stats"))
			print_stats(ret);
		else if (!strcmp(cmd, "set-route"))
			printf("%s: data plane now on %s\n", av[0], av[1]);
		else
			printf("vdm is stopping\n");
	}
	json_object_put(reply);
	return status;
}
