/*
 * image_lock.c - keeping two writers off one disk image: advisory locks in
 * the scheme QEMU's file driver uses, so that vdm, other vdm processes (or
 * another virtio-blk of the same vdm), QEMU and qemu-storage-daemon all see
 * each other.
 *
 * The scheme: each permission a user of the image can hold has a bit number
 * (0 consistent read, 1 write, 2 write-unchanged, 3 resize).  A user takes a
 * shared open-file-description (OFD) lock on byte 100 + bit for each
 * permission it uses, and on byte 200 + bit for each permission it will not
 * let others have.  Opening is refused when someone else holds 200 + bit of
 * a permission we use, or 100 + bit of one we will not share.  Locks are
 * never exclusive; a conflict is found by asking (F_OFD_GETLK) whether an
 * exclusive lock would be granted.  Locks go first, checks second, so two
 * users opening at once both see each other and both give up rather than
 * both go on.  Closing the descriptor drops the locks.
 *
 * vdm uses consistent read, and write unless read-only; it shares neither
 * write nor resize (its capacity is fixed at open), as a QEMU disk without
 * share-rw does.  So readers share an image, and a writer has it alone.
 */
#include "vbsu.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PERM_BASE 100   /* "I use this permission" */
#define SHARED_BASE 200 /* "I do not let others have it" */
enum { PERM_READ = 0, PERM_WRITE = 1, PERM_RESIZE = 3 };

static int lock_byte(int fd, off_t byte, short type, int cmd, struct flock *out)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1 };

	if (fcntl(fd, cmd, &fl) < 0)
		return -errno;
	if (out)
		*out = fl;
	return 0;
}

/* Does another open file description hold a lock on byte? */
static bool held_elsewhere(int fd, off_t byte)
{
	struct flock fl = { .l_type = F_UNLCK };

	return lock_byte(fd, byte, F_WRLCK, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
}

/* True when /proc/PID/fdinfo/FD lists a lock covering byte. */
static bool fdinfo_locks(const char *pid, const char *fd, off_t byte)
{
	char path[600], line[256];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%s/fdinfo/%s", pid, fd);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *end = strrchr(line, ' '), *start;

		if (strncmp(line, "lock:", 5) || !end)
			continue;
		*end = '\0';
		start = strrchr(line, ' ');
		if (!start)
			continue;
		/* "... START END", END may be EOF. */
		long long s = atoll(start + 1);
		bool to_eof = !strncmp(end + 1, "EOF", 3);
		long long e = to_eof ? 0 : atoll(end + 1);

		found = s <= byte && (to_eof || byte <= e);
	}
	fclose(f);
	return found;
}

/*
 * Name whoever holds a lock on byte of the image (st), for the refusal.  The
 * kernel does not say for OFD locks (l_pid is -1), so look through /proc for
 * a process with the file open and that lock on it; seeing other users'
 * processes needs the privilege to.  Writes "" when nobody was found.
 */
static void find_holder(int own_fd, const struct stat *st, off_t byte, char *who, size_t len)
{
	char self[16];
	DIR *procs = opendir("/proc");
	struct dirent *p;

	who[0] = '\0';
	snprintf(self, sizeof(self), "%d", (int)getpid());
	while (procs && !who[0] && (p = readdir(procs))) {
		char path[600];
		DIR *fds;
		struct dirent *f;

		if (p->d_name[0] < '0' || p->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fd", p->d_name);
		fds = opendir(path);
		while (fds && !who[0] && (f = readdir(fds))) {
			struct stat fst;
			bool mine = !strcmp(p->d_name, self);

			if (f->d_name[0] == '.' || (mine && atoi(f->d_name) == own_fd))
				continue;
			snprintf(path, sizeof(path), "/proc/%s/fd/%s", p->d_name, f->d_name);
			if (stat(path, &fst) || fst.st_dev != st->st_dev ||
			    fst.st_ino != st->st_ino || !fdinfo_locks(p->d_name, f->d_name, byte))
				continue;
			if (mine) {
				snprintf(who, len, "another virtio-blk of this vdm");
				break;
			}
			/* argv[0]'s last part: comm stops at 15 bytes. */
			char cmd[256] = "";
			const char *name;
			FILE *c;

			snprintf(path, sizeof(path), "/proc/%s/cmdline", p->d_name);
			c = fopen(path, "re");
			if (c) {
				size_t n = fread(cmd, 1, sizeof(cmd) - 1, c);

				cmd[n] = '\0';
				fclose(c);
			}
			name = strrchr(cmd, '/') ? strrchr(cmd, '/') + 1 : cmd;
			snprintf(who, len, "%.63s (pid %.20s)", name[0] ? name : "a process",
				 p->d_name);
		}
		if (fds)
			closedir(fds);
	}
	if (procs)
		closedir(procs);
}

int vbsu_image_lock(int fd, const char *path, bool write, char *err, size_t errlen)
{
	/* What others may hold that we cannot live with, and what it means. */
	static const struct {
		off_t byte;
		bool writers_only; /* a conflict only when we write */
		const char *before, *after; /* around the holder's name */
	} conflicts[] = {
		{ PERM_BASE + PERM_WRITE, false, "open for writing by ", "" },
		{ PERM_BASE + PERM_RESIZE, false, "open by ", ", which may resize it" },
		{ SHARED_BASE + PERM_READ, false, "open by ", ", which lets no one else read it" },
		{ SHARED_BASE + PERM_WRITE, true, "open by ", ", which lets no one else write it" },
	};
	const off_t ours[] = { PERM_BASE + PERM_READ, PERM_BASE + PERM_WRITE,
			       SHARED_BASE + PERM_WRITE, SHARED_BASE + PERM_RESIZE };
	struct stat st;
	int ret;

	for (size_t i = 0; i < sizeof(ours) / sizeof(ours[0]); i++) {
		if (ours[i] == PERM_BASE + PERM_WRITE && !write)
			continue;
		ret = lock_byte(fd, ours[i], F_RDLCK, F_OFD_SETLK, NULL);
		/* A file system without OFD locks: nothing to agree on, as
		 * QEMU's locking=auto also concludes. */
		if (ret == -EINVAL || ret == -EOPNOTSUPP || ret == -ENOLCK || ret == -ENOSYS)
			return 0;
		if (ret == -EAGAIN || ret == -EACCES) {
			/* Someone holds the byte exclusively: not QEMU's scheme,
			 * but plainly not ours to share. */
			snprintf(err, errlen, "image %s is locked by another program; "
					      "locking=off opens it anyway", path);
			return -EBUSY;
		}
		if (ret) {
			snprintf(err, errlen, "cannot lock image %s: %s", path, strerror(-ret));
			return ret;
		}
	}
	for (size_t i = 0; i < sizeof(conflicts) / sizeof(conflicts[0]); i++) {
		char who[128];

		if ((conflicts[i].writers_only && !write) || !held_elsewhere(fd, conflicts[i].byte))
			continue;
		if (fstat(fd, &st) == 0)
			find_holder(fd, &st, conflicts[i].byte, who, sizeof(who));
		else
			who[0] = '\0';
		snprintf(err, errlen, "image %s is %s%s%s; locking=off opens it anyway", path,
			 conflicts[i].before, who[0] ? who : "another process (a vdm or a QEMU)",
			 conflicts[i].after);
		return -EBUSY;
	}
	return 0;
}
