/*
 * api.h - vdm's management API: QMP-style JSON lines on a UNIX stream
 * socket (`--api-socket PATH`), and the commands behind it.
 *
 * One JSON object per line each way.  A request is
 * {"execute": "NAME", "arguments": {...}, "id": ANY}; each gets exactly one
 * reply line, {"return": VALUE} or {"error": {"class": "...", "desc": "..."}}
 * (with the request's "id" when it had one).  Other lines vdm sends (the
 * greeting, events) never carry "return" or "error".  Everything runs on
 * the event-loop thread; device code never parses API input.
 */
#ifndef VDM_API_H
#define VDM_API_H

#include <stddef.h>

struct vdm;
struct api;
struct json_object;

/* Listen on path (mode 0600; a stale socket is replaced, any other file
 * refused).  0, or -errno with a one-line reason in err. */
int api_open(struct api **out, struct vdm *vdm, const char *path, char *err, size_t errlen);

/* Close every client and the socket, and remove it.  NULL is fine. */
void api_close(struct api *api);

/* ---- commands (api_cmds.c) ---- */

/*
 * Run command name with args (a JSON object, or NULL).  Returns 0 with the
 * return value in *ret (a new reference, never NULL), or -1 with an error
 * class and a one-line description.
 */
int api_run_command(struct vdm *vdm, const char *name, struct json_object *args,
		    struct json_object **ret, const char **cls, char *desc, size_t desclen);

/* The command names, NULL-terminated, for the greeting. */
extern const char *const api_command_names[];

#endif /* VDM_API_H */
