/*
 * unix_listen.h - a listening UNIX stream socket at a path a user named
 * (a console's socket:PATH, --api-socket): a socket file left by an earlier
 * run is replaced, any other file at the path refused.
 */
#ifndef VDM_UNIX_LISTEN_H
#define VDM_UNIX_LISTEN_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Listen on path (non-blocking, close-on-exec, backlog connections
 * waiting).  With owner_only the socket file is created 0600, else as the
 * umask says.  Returns the fd, or -errno with a one-line reason in err.
 */
int unix_listen(const char *path, int backlog, int owner_only, char *err, size_t errlen);

#endif /* VDM_UNIX_LISTEN_H */
