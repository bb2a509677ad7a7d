/*
 * api.c - the management socket: listening, clients, line framing, and
 * turning each request line into one reply line (api_cmds.c runs the
 * command).
 *
 * A client is hostile input like a guest: a line longer than API_MAX_LINE,
 * bytes that are not a JSON object, a request without "execute" each get an
 * error reply (an over-long line also ends that client); a client that
 * stops reading while vdm has more than API_MAX_OUT bytes for it is
 * dropped.  Nothing a client does blocks the loop or reaches another
 * client.  vdm's events (events.h) go to every client as
 * {"event": NAME, "data": {...}, "timestamp": {...}} lines, which carry
 * neither "return" nor "error".
 */
#include "api.h"
#include "events.h"
#include "unix_listen.h"
#include "log.h"
#include "vdm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <json-c/json.h>

#define API_MAX_LINE (64 * 1024)
#define API_MAX_OUT (1024 * 1024)
#define API_MAX_CLIENTS 16

struct api_client {
	struct api_client *next;
	struct api *api;
	int fd;
	char *in;             /* API_MAX_LINE bytes */
	size_t in_len;
	char *out;            /* what the socket has not taken yet */
	size_t out_len;
	bool dead;
};

struct api {
	struct vdm *vdm;
	int fd;
	char path[108];
	struct api_client *clients;
	int nclients;
};

static void client_close(struct api_client *c)
{
	struct api *api = c->api;

	for (struct api_client **p = &api->clients; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	api->nclients--;
	evloop_del_fd(api->vdm->loop, c->fd);
	close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
}

static void client_flush(struct api_client *c)
{
	while (c->out_len) {
		ssize_t n = send(c->fd, c->out, c->out_len, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			c->dead = true;
			return;
		}
		memmove(c->out, c->out + n, c->out_len - (size_t)n);
		c->out_len -= (size_t)n;
	}
	evloop_mod_fd(c->api->vdm->loop, c->fd, EPOLLIN | (c->out_len ? EPOLLOUT : 0));
}

/* Queue one line (a JSON object) for c, and send what the socket takes. */
static void client_send(struct api_client *c, struct json_object *obj)
{
	const char *s = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN);
	size_t len = strlen(s);
	char *grown;

	if (c->dead)
		return;
	if (c->out_len + len + 1 > API_MAX_OUT) {
		log_warn("api: a client is not reading its replies; dropping it");
		c->dead = true;
		return;
	}
	grown = realloc(c->out, c->out_len + len + 1);
	if (!grown) {
		c->dead = true;
		return;
	}
	c->out = grown;
	memcpy(c->out + c->out_len, s, len);
	c->out[c->out_len + len] = '\n';
	c->out_len += len + 1;
	client_flush(c);
}

static void send_error(struct api_client *c, struct json_object *id, const char *cls,
		       const char *desc)
{
	struct json_object *reply = json_object_new_object(), *e = json_object_new_object();

	json_object_object_add(e, "class", json_object_new_string(cls));
	json_object_object_add(e, "desc", json_object_new_string(desc));
	json_object_object_add(reply, "error", e);
	if (id)
		json_object_object_add(reply, "id", json_object_get(id));
	client_send(c, reply);
	json_object_put(reply);
}

static void handle_line(struct api_client *c, const char *line)
{
	enum json_tokener_error jerr;
	struct json_object *req = json_tokener_parse_verbose(line, &jerr), *exec, *args = NULL,
			   *id = NULL, *ret = NULL;
	const char *cls = "GenericError";
	char desc[300];

	if (!req) {
		snprintf(desc, sizeof(desc), "not JSON: %s", json_tokener_error_desc(jerr));
		send_error(c, NULL, "GenericError", desc);
		return;
	}
	if (!json_object_is_type(req, json_type_object)) {
		send_error(c, NULL, "GenericError", "a request is a JSON object");
		json_object_put(req);
		return;
	}
	json_object_object_get_ex(req, "id", &id);
	if (!json_object_object_get_ex(req, "execute", &exec) ||
	    !json_object_is_type(exec, json_type_string)) {
		send_error(c, id, "GenericError", "a request needs \"execute\": \"COMMAND\"");
		json_object_put(req);
		return;
	}
	if (json_object_object_get_ex(req, "arguments", &args) &&
	    !json_object_is_type(args, json_type_object)) {
		send_error(c, id, "GenericError", "\"arguments\" must be an object");
		json_object_put(req);
		return;
	}
	json_object_object_foreach(req, key, val)
	{
		(void)val;
		if (strcmp(key, "execute") && strcmp(key, "arguments") && strcmp(key, "id")) {
			snprintf(desc, sizeof(desc), "unknown member \"%.64s\" in the request", key);
			send_error(c, id, "GenericError", desc);
			json_object_put(req);
			return;
		}
	}
	desc[0] = 0;
	if (api_run_command(c->api->vdm, json_object_get_string(exec), args, &ret, &cls, desc,
			    sizeof(desc))) {
		send_error(c, id, cls, desc);
	} else {
		struct json_object *reply = json_object_new_object();

		json_object_object_add(reply, "return", ret);
		if (id)
			json_object_object_add(reply, "id", json_object_get(id));
		client_send(c, reply);
		json_object_put(reply);
	}
	json_object_put(req);
}

/* An event from vdm: one line to every client. */
static void api_event(void *opaque, const struct vdm_event *e)
{
	struct api *api = opaque;
	struct json_object *line = json_object_new_object(), *data = json_object_new_object(),
			   *ts = json_object_new_object();
	char slot[16];

	snprintf(slot, sizeof(slot), "%d:%d", e->slot, e->func);
	json_object_object_add(data, "slot", json_object_new_string(slot));
	json_object_object_add(data, "emulation", json_object_new_string(e->device));
	if (e->kind == VDM_EVENT_NEEDS_RESET) {
		json_object_object_add(line, "event", json_object_new_string("DEVICE_NEEDS_RESET"));
		json_object_object_add(data, "reason", json_object_new_string(e->text));
	} else {
		json_object_object_add(line, "event", json_object_new_string("ROUTE_SWITCHED"));
		json_object_object_add(data, "from", json_object_new_string(e->from));
		json_object_object_add(data, "to", json_object_new_string(e->to));
	}
	json_object_object_add(line, "data", data);
	json_object_object_add(ts, "seconds", json_object_new_int64(e->when_us / 1000000));
	json_object_object_add(ts, "microseconds", json_object_new_int64(e->when_us % 1000000));
	json_object_object_add(line, "timestamp", ts);
	for (struct api_client *c = api->clients, *next; c; c = next) {
		next = c->next;
		client_send(c, line);
		if (c->dead)
			client_close(c);
	}
	json_object_put(line);
}

static void client_cb(void *arg, int fd, uint32_t events)
{
	struct api_client *c = arg;

	if (events & EPOLLOUT)
		client_flush(c);
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		ssize_t n = recv(fd, c->in + c->in_len, API_MAX_LINE - c->in_len, MSG_DONTWAIT);

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			c->dead = true; /* gone, perhaps mid-request: nothing to answer */
		} else if (n > 0) {
			c->in_len += (size_t)n;
			char *start = c->in, *nl;

			while (!c->dead && (nl = memchr(start, '\n', c->in_len - (size_t)(start - c->in)))) {
				*nl = 0;
				if (nl > start && nl[-1] == '\r')
					nl[-1] = 0;
				if (*start) /* empty lines are ignored */
					handle_line(c, start);
				start = nl + 1;
			}
			c->in_len -= (size_t)(start - c->in);
			memmove(c->in, start, c->in_len);
			if (c->in_len == API_MAX_LINE) {
				send_error(c, NULL, "GenericError",
					   "request line longer than 64 KiB; closing");
				client_flush(c);
				c->dead = true;
			}
		}
	}
	if (c->dead)
		client_close(c);
}

static void accept_cb(void *arg, int fd, uint32_t events)
{
	struct api *api = arg;
	int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	struct api_client *c;

	if (cfd < 0)
		return;
	if (api->nclients >= API_MAX_CLIENTS) {
		static const char busy[] = "{\"error\": {\"class\": \"GenericError\", \"desc\": "
					   "\"too many API clients\"}}\n";

		(void)!send(cfd, busy, sizeof(busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
		close(cfd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c || !(c->in = malloc(API_MAX_LINE)) ||
	    evloop_add_fd(api->vdm->loop, cfd, EPOLLIN, client_cb, c)) {
		if (c)
			free(c->in);
		free(c);
		close(cfd);
		return;
	}
	c->fd = cfd;
	c->api = api;
	c->next = api->clients;
	api->clients = c;
	api->nclients++;

	/* The greeting: who we are and what we understand. */
	struct json_object *g = json_object_new_object(), *v = json_object_new_object(),
			   *cmds = json_object_new_array();

	for (int i = 0; api_command_names[i]; i++)
		json_object_array_add(cmds, json_object_new_string(api_command_names[i]));
	json_object_object_add(v, "version", json_object_new_string(PACKAGE_VERSION));
	json_object_object_add(v, "commands", cmds);
	json_object_object_add(g, "vdm", v);
	client_send(c, g);
	json_object_put(g);
	if (c->dead)
		client_close(c);
}

int api_open(struct api **out, struct vdm *vdm, const char *path, char *err, size_t errlen)
{
	char why[200];
	struct api *api;
	int ret;

	api = calloc(1, sizeof(*api));
	if (!api)
		return -ENOMEM;
	api->vdm = vdm;
	snprintf(api->path, sizeof(api->path), "%s", path);
	/* Only the owner may talk to it: the socket is born 0600. */
	api->fd = unix_listen(path, 8, 1, why, sizeof(why));
	ret = api->fd < 0 ? api->fd : evloop_add_fd(vdm->loop, api->fd, EPOLLIN, accept_cb, api);
	if (ret) {
		if (api->fd >= 0) {
			close(api->fd);
			snprintf(why, sizeof(why), "%s", strerror(-ret));
		}
		snprintf(err, errlen, "--api-socket: %s", why);
		free(api);
		return ret;
	}
	log_info("management API on %s", path);
	vdm_events_listen(vdm->events, api_event, api);
	*out = api;
	return 0;
}

void api_close(struct api *api)
{
	if (!api)
		return;
	vdm_events_listen(api->vdm->events, NULL, NULL);
	while (api->clients)
		client_close(api->clients);
	evloop_del_fd(api->vdm->loop, api->fd);
	close(api->fd);
	unlink(api->path);
	free(api);
}
