/*
 * api_cmds.c - the management API's commands: what vdm tells about its
 * devices (query-devices, query-stats), moving a device's data plane
 * (set-route), and stopping (quit).  Arguments are checked here, before
 * anything reaches a device; each error is one line a person can act on.
 */
#include "api.h"
#include "vdm.h"
#include "virtio_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

const char *const api_command_names[] = { "query-devices", "query-stats", "set-route", "quit",
					  NULL };

static struct virtio_dev *as_virtio(struct vdm_device *d)
{
	return d->dev && virtio_pci_function(d->dev) ? to_virtio_dev(d->dev) : NULL;
}

static struct json_object *slot_name(const struct vdm_device *d)
{
	char s[16];

	snprintf(s, sizeof(s), "%d:%d", d->slot, d->func);
	return json_object_new_string(s);
}

/* "5:0" or "5" (function 0) to the device there; NULL with err if none. */
static struct vdm_device *find_slot(struct vdm *vdm, const char *s, char *err, size_t errlen)
{
	char *end;
	long slot = strtol(s, &end, 10), func = 0;

	if (end == s || slot < 0 || slot > 31 || (*end && *end != ':'))
		goto bad;
	if (*end == ':') {
		const char *f = end + 1;

		func = strtol(f, &end, 10);
		if (end == f || *end || func < 0 || func > 7)
			goto bad;
	}
	for (int i = 0; i < vdm->ndevices; i++)
		if (vdm->devices[i].slot == slot && vdm->devices[i].func == func)
			return &vdm->devices[i];
	snprintf(err, errlen, "no device at slot %ld:%ld", slot, func);
	return NULL;
bad:
	snprintf(err, errlen, "slot '%.32s': expected SLOT[:FUNC], e.g. \"5:0\"", s);
	return NULL;
}

/* Takes only the named string arguments; 0 or -1 with err. */
static int string_args(struct json_object *args, const char *const *names, const char **vals,
		       int nreq, char *err, size_t errlen)
{
	int n = 0;

	while (names[n])
		vals[n++] = NULL;
	if (args) {
		json_object_object_foreach(args, key, val)
		{
			int i = 0;

			while (names[i] && strcmp(names[i], key))
				i++;
			if (!names[i]) {
				snprintf(err, errlen, "unknown argument \"%.64s\"", key);
				return -1;
			}
			if (!json_object_is_type(val, json_type_string)) {
				snprintf(err, errlen, "argument \"%s\" must be a string", key);
				return -1;
			}
			vals[i] = json_object_get_string(val);
		}
	}
	for (int i = 0; i < nreq; i++)
		if (!vals[i]) {
			snprintf(err, errlen, "missing argument \"%s\"", names[i]);
			return -1;
		}
	return 0;
}

static struct json_object *queue_info(struct virtio_queue *q)
{
	struct json_object *o = json_object_new_object();
	bool vhost = virtio_vhost_owns(q);

	json_object_object_add(o, "index", json_object_new_int(q->index));
	json_object_object_add(o, "size", json_object_new_int(q->size));
	json_object_object_add(o, "enabled", json_object_new_boolean(q->enabled));
	/* Under a vhost back-end the next avail index is the back-end's. */
	json_object_object_add(o, "last_avail",
			       q->enabled && !vhost ? json_object_new_int(q->vq.last_avail) : NULL);
	/* A packed ring keeps its used position in the device, not in guest
	 * memory: under a vhost back-end it is the back-end's too. */
	json_object_object_add(o, "used",
			       q->enabled && !(vhost && q->vq.packed)
				       ? json_object_new_int(vq_used_idx_in_ring(&q->vq))
				       : NULL);
	return o;
}

static int cmd_query_devices(struct vdm *vdm, struct json_object *args, struct json_object **ret,
			     char *err, size_t errlen)
{
	const char *none[] = { NULL };
	const char *vals[1];
	struct json_object *list;

	if (string_args(args, none, vals, 0, err, errlen))
		return -1;
	list = json_object_new_array();
	for (int i = 0; i < vdm->ndevices; i++) {
		struct vdm_device *d = &vdm->devices[i];
		struct virtio_dev *vd = as_virtio(d);
		struct json_object *o = json_object_new_object();
		char route[160];

		json_object_object_add(o, "slot", slot_name(d));
		json_object_object_add(o, "emulation", json_object_new_string(d->emu->name));
		if (vd) {
			struct json_object *qs = json_object_new_array();

			pci_dev_lock(&vd->pci);
			virtio_route_describe(vd, route, sizeof(route));
			json_object_object_add(o, "route", json_object_new_string(route));
			json_object_object_add(o, "status", json_object_new_int(vd->status));
			json_object_object_add(o, "features",
					       json_object_new_int64((int64_t)vd->guest_features));
			for (int q = 0; q < vd->nqueues; q++)
				json_object_array_add(qs, queue_info(&vd->queues[q]));
			pci_dev_unlock(&vd->pci);
			json_object_object_add(o, "queues", qs);
		} else {
			json_object_object_add(o, "route", NULL);
		}
		json_object_array_add(list, o);
	}
	*ret = list;
	return 0;
}

static int cmd_query_stats(struct vdm *vdm, struct json_object *args, struct json_object **ret,
			   char *err, size_t errlen)
{
	const char *names[] = { "slot", NULL };
	const char *vals[1];
	struct vdm_device *only = NULL;
	struct json_object *list;

	if (string_args(args, names, vals, 0, err, errlen))
		return -1;
	if (vals[0] && !(only = find_slot(vdm, vals[0], err, errlen)))
		return -1;
	list = json_object_new_array();
	for (int i = 0; i < vdm->ndevices; i++) {
		struct vdm_device *d = &vdm->devices[i];
		struct virtio_dev *vd = as_virtio(d);
		struct json_object *o, *qs;

		if ((only && d != only) || !vd)
			continue;
		o = json_object_new_object();
		qs = json_object_new_array();
		pci_dev_lock(&vd->pci);
		json_object_object_add(o, "slot", slot_name(d));
		json_object_object_add(o, "route_switches",
				       json_object_new_int64((int64_t)vd->route_switches));
		for (int qi = 0; qi < vd->nqueues; qi++) {
			struct virtio_queue *q = &vd->queues[qi];
			struct json_object *s = json_object_new_object();

			json_object_object_add(s, "index", json_object_new_int(qi));
			json_object_object_add(s, "requests",
					       json_object_new_int64((int64_t)q->vq.stat_chains));
			json_object_object_add(s, "bytes",
					       json_object_new_int64((int64_t)q->vq.stat_bytes));
			json_object_object_add(s, "errors",
					       json_object_new_int64((int64_t)q->vq.stat_errors));
			json_object_object_add(s, "interrupts",
					       json_object_new_int64((int64_t)q->stats.interrupts));
			json_object_object_add(s, "kicks",
					       json_object_new_int64((int64_t)q->stats.kicks));
			json_object_object_add(s, "time_us",
					       json_object_new_int64((int64_t)(q->stats.busy_ns / 1000)));
			json_object_array_add(qs, s);
		}
		pci_dev_unlock(&vd->pci);
		json_object_object_add(o, "queues", qs);
		json_object_array_add(list, o);
	}
	*ret = list;
	return 0;
}

/* "vbs-u", "vhost-user:PATH", "vhost-kernel[:NODE]" to a route; 0 or -1 with err. */
static int parse_route(const char *s, struct vhost_route *r, char *err, size_t errlen)
{
	char tok[200];

	memset(r, 0, sizeof(*r));
	if (!strcmp(s, "vbs-u"))
		return 0;
	if (!strncmp(s, "vhost-user:", 11) && s[11])
		snprintf(tok, sizeof(tok), "vhost=user:%s", s + 11);
	else if (!strcmp(s, "vhost-kernel") || (!strncmp(s, "vhost-kernel:", 13) && s[13]))
		snprintf(tok, sizeof(tok), "vhost=kernel%s", s + 12);
	else {
		snprintf(err, errlen, "route '%.100s': expected vbs-u, vhost-user:PATH or "
				      "vhost-kernel[:NODE]", s);
		return -1;
	}
	return vhost_route_parse(tok, r, err, errlen) == 1 ? 0 : -1;
}

static int cmd_set_route(struct vdm *vdm, struct json_object *args, struct json_object **ret,
			 char *err, size_t errlen)
{
	const char *names[] = { "slot", "route", NULL };
	const char *vals[2];
	struct vhost_route route;
	struct vdm_device *d;
	struct virtio_dev *vd;
	int r;

	if (string_args(args, names, vals, 2, err, errlen) ||
	    !(d = find_slot(vdm, vals[0], err, errlen)))
		return -1;
	vd = as_virtio(d);
	if (!vd) {
		snprintf(err, errlen, "%s at %s is not a virtio device", d->emu->name, vals[0]);
		return -1;
	}
	if (parse_route(vals[1], &route, err, errlen))
		return -1;
	if (route.kind == VHOST_ROUTE_KERNEL && !route.path && vd->vhost_params &&
	    vd->vhost_params->kernel_node)
		route.path = strdup(vd->vhost_params->kernel_node);
	if (route.kind == VHOST_ROUTE_KERNEL && !route.path) {
		snprintf(err, errlen, "%s has no kernel vhost back-end", vd->ops->name);
		vhost_route_free(&route);
		return -1;
	}
	pci_dev_lock(&vd->pci);
	r = virtio_set_route(vd, &route, err, errlen);
	pci_dev_unlock(&vd->pci);
	vhost_route_free(&route);
	if (r)
		return -1;
	*ret = json_object_new_object();
	return 0;
}

static int cmd_quit(struct vdm *vdm, struct json_object *args, struct json_object **ret,
		    char *err, size_t errlen)
{
	const char *none[] = { NULL };
	const char *vals[1];

	if (string_args(args, none, vals, 0, err, errlen))
		return -1;
	log_info("stopping: quit from the management API");
	evloop_stop(vdm->loop);
	*ret = json_object_new_object();
	return 0;
}

static const struct {
	const char *name;
	int (*run)(struct vdm *vdm, struct json_object *args, struct json_object **ret, char *err,
		   size_t errlen);
} commands[] = {
	{ "query-devices", cmd_query_devices },
	{ "query-stats", cmd_query_stats },
	{ "set-route", cmd_set_route },
	{ "quit", cmd_quit },
};

int api_run_command(struct vdm *vdm, const char *name, struct json_object *args,
		    struct json_object **ret, const char **cls, char *desc, size_t desclen)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(commands[i].name, name))
			continue;
		*cls = "GenericError";
		return commands[i].run(vdm, args, ret, desc, desclen);
	}
	*cls = "CommandNotFound";
	snprintf(desc, desclen, "unknown command '%.64s' (query-devices, query-stats, set-route, "
				"quit)", name);
	return -1;
}
