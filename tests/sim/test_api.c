/*
 * test_api.c - vdm's management API (--api-socket) as a client sees it:
 * the socket is 0600; a greeting that carries neither "return" nor
 * "error"; exactly one reply per request, with its "id"; query-devices and
 * query-stats describe the devices; every bad input gets an error and
 * changes nothing: garbage, a JSON value that is not an object, an unknown
 * command, unknown or missing arguments, a bad slot or route, half a line
 * followed by a disconnect, 1 MiB without a newline (that client is
 * dropped); meanwhile a second client keeps being answered.  Events: a
 * route switch (virtio-rnd to vdm-vhost-user and back) and a device the
 * guest broke (also on a disk served by an I/O thread) each reach every
 * client as an {"event": ...} line naming the slot (and the routes, or the
 * reason), with no "return" or "error" in it; `vdmctl events` prints them;
 * query-stats counts the switches.  quit stops vdm with status 0.
 */
#include "blk_guest.h"
#include "peer.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

static char api[100];

static int api_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", api);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Next line from fd into buf (NUL-terminated, newline dropped); false on
 * EOF, error or 3 s of silence. */
static bool read_line(int fd, char *buf, size_t len)
{
	size_t n = 0;

	while (n + 1 < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char c;

		if (poll(&p, 1, 3000) != 1 || read(fd, &c, 1) != 1)
			return false;
		if (c == '\n') {
			buf[n] = 0;
			return true;
		}
		buf[n++] = c;
	}
	return false;
}

static bool is_event(const char *line)
{
	return !strncmp(line, "{\"event\":", 9);
}

/* Send line and return the reply (the next line that is not an event). */
static bool ask(int fd, const char *line, char *reply, size_t len)
{
	if (dprintf(fd, "%s\n", line) <= 0)
		return false;
	while (read_line(fd, reply, len))
		if (!is_event(reply))
			return true;
	return false;
}

/* The next event line called name on fd, into buf; false after 3 s without one. */
static bool next_event(int fd, const char *name, char *buf, size_t len)
{
	char want[64];

	snprintf(want, sizeof(want), "{\"event\":\"%s\"", name);
	while (read_line(fd, buf, len))
		if (!strncmp(buf, want, strlen(want)))
			return true;
	return false;
}

/* The events part: a route switch and a broken device, seen by clients a
 * (which asked) and b (which did not). */
static void events(struct vdm_proc *p, int a, int b, const char *dir)
{
	const char *bdir = getenv("VDM_BUILDDIR");
	char bin[512], sock[128], log[128], req[300], r[8192];
	pid_t daemon;

	/* vdmctl watches too, for a person: three events, then it exits. */
	char ctl[512], ctl_log[128];
	snprintf(ctl, sizeof(ctl), "%s/devicemodel/vdmctl", bdir ? bdir : ".");
	snprintf(ctl_log, sizeof(ctl_log), "%s/vdmctl.log", dir);
	pid_t watcher = peer_spawn((char *const[]){ ctl, (char *)api, "events", "3", NULL },
				   ctl_log);
	bool watching = false;
	for (int i = 0; i < 300 && !watching; i++) {
		FILE *f = fopen(ctl_log, "r");

		watching = f && fgets(r, sizeof(r), f) && strstr(r, "watching events");
		if (f)
			fclose(f);
		if (!watching)
			sleep_ms(10);
	}
	drv_check(watching, "vdmctl events is connected and waiting");

	snprintf(bin, sizeof(bin), "%s/devicemodel/vdm-vhost-user", bdir ? bdir : ".");
	snprintf(sock, sizeof(sock), "%s/rng.sock", dir);
	snprintf(log, sizeof(log), "%s/rng.log", dir);
	daemon = peer_spawn((char *const[]){ bin, "--socket", sock, "virtio-rnd", NULL }, log);
	if (!drv_check(peer_wait_socket(&daemon, sock, 5000) == 0, "vdm-vhost-user starts"))
		return;
	snprintf(req, sizeof(req), "{\"execute\": \"set-route\", \"arguments\": {\"slot\": "
		 "\"4:0\", \"route\": \"vhost-user:%s\"}}", sock);
	drv_check(ask(a, req, r, sizeof(r)) && strstr(r, "\"return\""), "set-route 4:0 to "
		  "vdm-vhost-user: %s", r);
	for (int fd = a, i = 0; i < 2; fd = b, i++)
		drv_check(next_event(fd, "ROUTE_SWITCHED", r, sizeof(r)) &&
				  strstr(r, "\"slot\":\"4:0\"") && strstr(r, "\"from\":\"vbs-u\"") &&
				  strstr(r, "\"to\":\"vhost-user:") && strstr(r, "\"timestamp\"") &&
				  !strstr(r, "\"return\"") && !strstr(r, "\"error\""),
			  "client %c hears ROUTE_SWITCHED from vbs-u, with no return or error: %s",
			  i ? 'b' : 'a', r);
	drv_check(ask(b, "{\"execute\": \"set-route\", \"arguments\": {\"slot\": \"4\", "
			 "\"route\": \"vbs-u\"}}", r, sizeof(r)) && strstr(r, "\"return\""),
		  "and back to vbs-u");
	drv_check(next_event(a, "ROUTE_SWITCHED", r, sizeof(r)) && strstr(r, "\"to\":\"vbs-u\""),
		  "client a hears that one too: %s", r);
	drv_check(ask(a, "{\"execute\": \"query-stats\", \"arguments\": {\"slot\": \"4\"}}", r,
		      sizeof(r)) && strstr(r, "\"route_switches\":2"),
		  "query-stats counts 2 route switches: %s", r);
	peer_stop(&daemon, SIGTERM);
	unlink(log);

	/* The guest breaks virtio-rnd's ring: every client hears why. */
	struct drv d;
	struct drv_func funcs[8];
	struct drv_virtio v;
	uint64_t mmio = 0xc0000000;
	uint32_t io = 0xc000;

	drv_connect(&d, p->sock);
	int nf = drv_enumerate(&d, funcs, 8);
	if (!drv_check(virtio_guest_up(&v, &d, funcs, nf, 4, 16 << 20, 0, 1, &mmio, &io) == 0,
		       "the driver brings virtio-rnd up"))
		return;
	uint16_t *avail = drv_gpa(&d, v.vq[0].avail_gpa, 4);
	avail[1] = (uint16_t)(avail[1] + 1000); /* more than the ring holds */
	drv_virtio_kick(&v, 0);
	for (int fd = a, i = 0; i < 2; fd = b, i++)
		drv_check(next_event(fd, "DEVICE_NEEDS_RESET", r, sizeof(r)) &&
				  strstr(r, "\"slot\":\"4:0\"") && strstr(r, "\"reason\":") &&
				  strstr(r, "\"emulation\":\"virtio-rnd\"") && !strstr(r, "\"return\"") &&
				  !strstr(r, "\"error\""),
			  "client %c hears DEVICE_NEEDS_RESET with the reason: %s", i ? 'b' : 'a', r);
	drv_virtio_fini(&v);

	/* The same from the disk whose queue runs on an I/O thread. */
	if (drv_check(virtio_guest_up(&v, &d, funcs, nf, 6, 32 << 20, 0, 1, &mmio, &io) == 0,
		      "the driver brings the disk on an I/O thread up")) {
		avail = drv_gpa(&d, v.vq[0].avail_gpa, 4);
		avail[1] = (uint16_t)(avail[1] + 1000);
		drv_virtio_kick(&v, 0);
		drv_check(next_event(a, "DEVICE_NEEDS_RESET", r, sizeof(r)) &&
				  strstr(r, "\"slot\":\"6:0\"") &&
				  strstr(r, "\"emulation\":\"virtio-blk\""),
			  "... and DEVICE_NEEDS_RESET from that thread: %s", r);
		drv_virtio_fini(&v);
	}
	drv_disconnect(&d);

	int wst = -1;
	for (int i = 0; i < 300 && waitpid(watcher, &wst, WNOHANG) != watcher; i++)
		sleep_ms(10);
	char all[4096] = "";
	FILE *f = fopen(ctl_log, "r");
	size_t got = f ? fread(all, 1, sizeof(all) - 1, f) : 0;
	all[got] = 0;
	if (f)
		fclose(f);
	drv_check(WIFEXITED(wst) && WEXITSTATUS(wst) == 0 &&
			  strstr(all, "4:0 virtio-rnd ROUTE_SWITCHED vbs-u -> vhost-user:") &&
			  strstr(all, "4:0 virtio-rnd DEVICE_NEEDS_RESET: avail idx"),
		  "vdmctl events printed the three events for a person and exited: %s", all);
	if (!WIFEXITED(wst))
		peer_stop(&watcher, SIGKILL);
	unlink(ctl_log);
}

static bool error_with(const char *reply, const char *cls, const char *words)
{
	return strstr(reply, "\"error\"") && strstr(reply, cls) && strstr(reply, words) &&
	       !strstr(reply, "\"return\"");
}

int main(void)
{
	char dir[] = "/tmp/vdm-api-XXXXXX", img[96], img2[96], spec[160], spec2[160], r[65536];
	struct vdm_proc p;
	struct stat st;
	int s;

	if (!mkdtemp(dir))
		return 99;
	snprintf(img, sizeof(img), "%s/disk.img", dir);
	snprintf(api, sizeof(api), "%s/api.sock", dir);
	snprintf(img2, sizeof(img2), "%s/disk2.img", dir);
	blk_image_create(img, 4 << 20);
	blk_image_create(img2, 4 << 20);
	snprintf(spec, sizeof(spec), "3,virtio-blk,%s", img);
	/* (a disk on an I/O thread: its events come from that thread; the
	 * entropy device is offered the split ring only, which is all
	 * vdm-vhost-user serves it on) */
	snprintf(spec2, sizeof(spec2), "6,virtio-blk,%s,iothread", img2);
	if (vdm_spawn(&p, (const char *const[]){ "--api-socket", api, "-s", spec, "-s",
						 "4,virtio-rnd,packed=off", "-s", spec2, NULL },
		      &s)) {
		drv_check(false, "vdm starts (%d)", s);
		return drv_result();
	}
	/* (vdm_spawn waits for the simulator's socket; the API's comes a moment
	 * later, once the devices exist.) */
	for (int i = 0; i < 500 && stat(api, &st); i++)
		usleep(10000);
	drv_check(stat(api, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0600,
		  "the API socket exists with mode 0600 (%o)", st.st_mode & 0777);

	int a = api_connect(), b = api_connect();
	drv_check(a >= 0 && b >= 0, "two clients connect");
	drv_check(read_line(a, r, sizeof(r)) && strstr(r, "\"vdm\"") && strstr(r, "set-route") &&
			  !strstr(r, "\"return\"") && !strstr(r, "\"error\""),
		  "the greeting names the commands and is no reply: %s", r);
	read_line(b, r, sizeof(r));

	drv_check(ask(a, "{\"execute\": \"query-devices\", \"id\": 7}", r, sizeof(r)) &&
			  strstr(r, "\"return\"") && strstr(r, "\"slot\":\"3:0\"") &&
			  strstr(r, "\"emulation\":\"virtio-blk\"") && strstr(r, "\"route\":\"vbs-u\"") &&
			  strstr(r, "\"slot\":\"4:0\"") && strstr(r, "\"queues\"") &&
			  strstr(r, "\"id\":7"),
		  "query-devices lists both functions, with the request's id: %s", r);
	drv_check(ask(a, "{\"execute\": \"query-stats\", \"arguments\": {\"slot\": \"4\"}}", r,
		      sizeof(r)) &&
			  strstr(r, "\"return\"") && strstr(r, "\"slot\":\"4:0\"") &&
			  !strstr(r, "\"slot\":\"3:0\"") && strstr(r, "\"route_switches\":0"),
		  "query-stats for one slot: %s", r);

	/* Bad input: each gets an error, and the client stays. */
	static const struct {
		const char *line, *cls, *words, *what;
	} bad[] = {
		{ "this is not json", "GenericError", "not JSON", "garbage" },
		{ "[1, 2, 3]", "GenericError", "object", "a JSON array" },
		{ "{\"arguments\": {}}", "GenericError", "execute", "no execute" },
		{ "{\"execute\": \"frobnicate\"}", "CommandNotFound", "frobnicate", "unknown command" },
		{ "{\"execute\": \"query-devices\", \"arguments\": {\"x\": \"1\"}}", "GenericError",
		  "unknown argument", "unknown argument" },
		{ "{\"execute\": \"set-route\", \"arguments\": {\"slot\": \"3\"}}", "GenericError",
		  "missing argument", "missing argument" },
		{ "{\"execute\": \"set-route\", \"arguments\": {\"slot\": \"9\", \"route\": \"vbs-u\"}}",
		  "GenericError", "no device at slot", "absent slot" },
		{ "{\"execute\": \"set-route\", \"arguments\": {\"slot\": \"x:y\", \"route\": \"vbs-u\"}}",
		  "GenericError", "expected SLOT", "malformed slot" },
		{ "{\"execute\": \"set-route\", \"arguments\": {\"slot\": \"3\", \"route\": \"teleport\"}}",
		  "GenericError", "expected vbs-u", "unknown route" },
		{ "{\"execute\": \"query-stats\", \"arguments\": {\"slot\": 3}}", "GenericError",
		  "must be a string", "a number where a string goes" },
		{ "{\"execute\": \"quit\", \"bogus\": 1}", "GenericError", "unknown member",
		  "an unknown request member" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		drv_check(ask(a, bad[i].line, r, sizeof(r)) &&
				  error_with(r, bad[i].cls, bad[i].words),
			  "%s gets %s naming it: %s", bad[i].what, bad[i].cls, r);

	/* Half a line, then gone: nothing to answer, nothing broken. */
	int c = api_connect();
	read_line(c, r, sizeof(r));
	drv_check(c >= 0 && write(c, "{\"execute\": \"qu", 15) == 15, "a client sends half a line");
	close(c);
	/* 1 MiB without a newline: an error, then that client is dropped. */
	c = api_connect();
	read_line(c, r, sizeof(r));
	static char junk[1 << 20];
	memset(junk, 'x', sizeof(junk));
	size_t sent = 0;
	while (sent < sizeof(junk)) {
		ssize_t n = send(c, junk + sent, sizeof(junk) - sent, MSG_NOSIGNAL);

		if (n <= 0)
			break;
		sent += (size_t)n;
	}
	bool got_error = read_line(c, r, sizeof(r)) && error_with(r, "GenericError", "longer");
	drv_check(got_error, "1 MiB without a newline gets an error: %s", r);
	drv_check(!read_line(c, r, sizeof(r)), "and that client is dropped");
	close(c);

	/* The other clients were never disturbed. */
	drv_check(ask(b, "{\"execute\": \"query-devices\"}", r, sizeof(r)) && strstr(r, "\"return\""),
		  "the second client is still answered");
	drv_check(ask(a, "{\"execute\": \"query-stats\"}", r, sizeof(r)) && strstr(r, "\"return\""),
		  "the first client is still answered after its bad requests");
	drv_check(ask(a, "{\"execute\": \"set-route\", \"arguments\": {\"slot\": \"3:0\", \"route\": "
			 "\"vbs-u\"}}",
		      r, sizeof(r)) &&
			  strstr(r, "\"return\""),
		  "set-route to the route a device is on returns at once");
	events(&p, a, b, dir);
	drv_check(ask(b, "{\"execute\": \"quit\"}", r, sizeof(r)) && strstr(r, "\"return\""),
		  "quit is acknowledged");
	close(a);
	close(b);
	/* vdm ends by itself: no signal from us. */
	int status = -1, wst;
	for (int i = 0; i < 500; i++) {
		if (waitpid(p.pid, &wst, WNOHANG) == p.pid) {
			status = WIFEXITED(wst) ? WEXITSTATUS(wst) : 128 + WTERMSIG(wst);
			p.pid = 0;
			unlink(p.sock);
			rmdir(p.dir);
			break;
		}
		usleep(10000);
	}
	if (p.pid > 0)
		vdm_stop(&p);
	drv_check(status == 0, "vdm exited by itself with status 0 after quit (%d)", status);
	drv_check(stat(api, &st) != 0, "and removed its socket");
	unlink(img);
	rmdir(dir);
	return drv_result();
}
