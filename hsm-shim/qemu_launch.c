/*
 * qemu_launch.c - the QEMU child of the qemu back-end: checking that the
 * binary offers x-pci-proxy-dev, starting it with the shared guest RAM and
 * one proxy device per PCI function appended to the user's command line,
 * reporting its end to the device model, and stopping it when vdm stops.
 */
#include "qemu_internal.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#define PROBE_OUTPUT_MAX (1 << 20)
#define STOP_GRACE_MS 5000

extern char **environ;

static int shell_status(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return 1;
}

/* Run `QEMU -device help` and look for the proxy device in its list. */
int qemu_probe(char *const *argv, char *errbuf, size_t errlen)
{
	char *probe_argv[] = { argv[0], "-device", "help", NULL };
	posix_spawn_file_actions_t fa;
	int pipefd[2], ret, wstatus;
	size_t have = 0;
	char *out;
	pid_t pid;
	bool found;

	out = malloc(PROBE_OUTPUT_MAX + 1);
	if (!out || pipe2(pipefd, O_CLOEXEC)) {
		free(out);
		return -ENOMEM;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	ret = posix_spawnp(&pid, argv[0], &fa, NULL, probe_argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	if (ret) {
		close(pipefd[0]);
		free(out);
		snprintf(errbuf, errlen, "cannot run QEMU '%s': %s", argv[0], strerror(ret));
		return -ret;
	}
	for (;;) {
		ssize_t n = read(pipefd[0], out + have, PROBE_OUTPUT_MAX - have);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
		if (have == PROBE_OUTPUT_MAX)
			break;
	}
	close(pipefd[0]);
	while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
		;
	out[have] = '\0';
	found = strstr(out, "\"x-pci-proxy-dev\"") != NULL;
	free(out);
	if (!found) {
		snprintf(errbuf, errlen,
			 "QEMU '%s' has no x-pci-proxy-dev device (QEMU 5.2 or later built "
			 "with multi-process support is needed)", argv[0]);
		return -ENOTSUP;
	}
	return 0;
}

static bool slot_has_other_functions(const struct qemu_vm *q, uint16_t bdf)
{
	for (int i = 0; i < q->nfns; i++)
		if (q->fns[i].bdf != bdf && (q->fns[i].bdf >> 3) == (bdf >> 3))
			return true;
	return false;
}

/*
 * The user's command, then: guest RAM as a shared memfd (the proxy can only
 * hand fd-backed RAM to us) and one proxy device per function, placed where
 * vdm's -s put it.  Strings are allocated in one block with the array.
 */
static int build_argv(struct qemu_vm *q)
{
	char *const *user = q->vm->cfg.hv_argv;
	int nuser = 0, n = 0;
	size_t strspace = 128 + (size_t)q->nfns * 96;
	char **argv, *s, *end;

	while (user[nuser])
		nuser++;
	argv = malloc(sizeof(char *) * (size_t)(nuser + 4 + 2 * q->nfns + 1) + strspace);
	if (!argv)
		return -ENOMEM;
	s = (char *)(argv + nuser + 4 + 2 * q->nfns + 1);
	end = s + strspace;
	for (int i = 0; i < nuser; i++)
		argv[n++] = user[i];
	argv[n++] = "-object";
	argv[n++] = s;
	s += snprintf(s, (size_t)(end - s), "memory-backend-memfd,id=vdm-ram,size=%llu,share=on",
		      (unsigned long long)q->vm->cfg.ram_size) + 1;
	argv[n++] = "-machine";
	argv[n++] = "memory-backend=vdm-ram";
	for (int i = 0; i < q->nfns; i++) {
		const struct qemu_fn *f = &q->fns[i];
		unsigned slot = (f->bdf >> 3) & 0x1f, func = f->bdf & 7;

		argv[n++] = "-device";
		argv[n++] = s;
		if (func)
			s += snprintf(s, (size_t)(end - s), "x-pci-proxy-dev,id=vdm-%u-%u,addr=%x.%x,fd=%d",
				      slot, func, slot, func, f->peer) + 1;
		else
			s += snprintf(s, (size_t)(end - s), "x-pci-proxy-dev,id=vdm-%u,addr=%x.0,fd=%d%s",
				      slot, slot, f->peer,
				      slot_has_other_functions(q, f->bdf) ? ",multifunction=on" : "") + 1;
	}
	argv[n] = NULL;
	q->argv = argv;
	return 0;
}

static void log_command(struct qemu_vm *q)
{
	char line[4096];
	size_t len = 0;

	for (int i = 0; q->argv[i] && len < sizeof(line) - 1; i++)
		len += (size_t)snprintf(line + len, sizeof(line) - len, "%s%s", i ? " " : "",
					q->argv[i]);
	hsm_log(q->vm, HSM_LOG_INFO, "qemu: starting %s", line);
}

/* In the child: keep the proxy sockets across exec, undo vdm's signal
 * blocking (the event loop takes signals through a signalfd), and die with
 * vdm.  Only async-signal-safe calls here. */
static void child_exec(struct qemu_vm *q, int errpipe, pid_t parent)
{
	sigset_t none;
	int err;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(1);
	for (int i = 0; i < q->nfns; i++)
		fcntl(q->fns[i].peer, F_SETFD, 0);
	execvp(q->argv[0], q->argv);
	err = errno;
	(void)!write(errpipe, &err, sizeof(err));
	_exit(127);
}

static void child_exited(void *arg, int fd, uint32_t events)
{
	struct qemu_vm *q = arg;
	struct hsm_vm *vm = q->vm;
	int wstatus, status;
	pid_t r;

	(void)fd;
	(void)events;
	r = waitpid(q->pid, &wstatus, WNOHANG);
	if (r == 0 || (r < 0 && errno == EINTR))
		return;
	status = r < 0 ? 1 : shell_status(wstatus);
	vm->cfg.loop.del_fd(vm->cfg.loop.loop, q->pidfd);
	close(q->pidfd);
	q->pidfd = -1;
	q->pid = 0;
	q->exited = true;
	hsm_log(vm, HSM_LOG_INFO, "qemu: QEMU exited with status %d", status);
	if (vm->cfg.hv_exited)
		vm->cfg.hv_exited(vm->cfg.ioreq_opaque, status, !qemu_all_connected(q));
}

int qemu_launch(struct qemu_vm *q, char *errbuf, size_t errlen)
{
	struct hsm_vm *vm = q->vm;
	pid_t parent = getpid(), pid;
	int errpipe[2], err = 0, ret;
	ssize_t n;

	ret = build_argv(q);
	if (ret)
		return ret;
	log_command(q);
	if (pipe2(errpipe, O_CLOEXEC)) {
		ret = -errno;
		snprintf(errbuf, errlen, "qemu: cannot make a pipe: %s", strerror(-ret));
		return ret;
	}
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		close(errpipe[0]);
		close(errpipe[1]);
		snprintf(errbuf, errlen, "qemu: cannot fork: %s", strerror(-ret));
		return ret;
	}
	if (pid == 0)
		child_exec(q, errpipe[1], parent);
	close(errpipe[1]);
	do
		n = read(errpipe[0], &err, sizeof(err));
	while (n < 0 && errno == EINTR);
	close(errpipe[0]);
	if (n == (ssize_t)sizeof(err)) { /* exec failed */
		waitpid(pid, NULL, 0);
		snprintf(errbuf, errlen, "qemu: cannot run '%s': %s", q->argv[0], strerror(err));
		return -err;
	}
	q->pid = pid;
	for (int i = 0; i < q->nfns; i++) { /* QEMU has them now */
		close(q->fns[i].peer);
		q->fns[i].peer = -1;
	}
	q->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (q->pidfd < 0 ||
	    vm->cfg.loop.add_fd(vm->cfg.loop.loop, q->pidfd, EPOLLIN, child_exited, q)) {
		ret = q->pidfd < 0 ? -errno : -ENOMEM;
		snprintf(errbuf, errlen, "qemu: cannot watch the QEMU process: %s", strerror(-ret));
		qemu_stop(q);
		return ret;
	}
	hsm_log(vm, HSM_LOG_INFO, "qemu: QEMU running as pid %d", (int)pid);
	return 0;
}

void qemu_stop(struct qemu_vm *q)
{
	struct hsm_vm *vm = q->vm;
	int wstatus;

	if (q->pidfd >= 0) {
		vm->cfg.loop.del_fd(vm->cfg.loop.loop, q->pidfd);
	}
	if (q->pid > 0) {
		hsm_log(vm, HSM_LOG_INFO, "qemu: stopping QEMU (pid %d)", (int)q->pid);
		kill(q->pid, SIGTERM);
		if (q->pidfd >= 0) {
			struct pollfd p = { .fd = q->pidfd, .events = POLLIN };

			if (poll(&p, 1, STOP_GRACE_MS) == 0) {
				hsm_log(vm, HSM_LOG_WARN, "qemu: QEMU ignored SIGTERM; killing it");
				kill(q->pid, SIGKILL);
			}
		}
		while (waitpid(q->pid, &wstatus, 0) < 0 && errno == EINTR)
			;
		q->pid = 0;
	}
	if (q->pidfd >= 0)
		close(q->pidfd);
	q->pidfd = -1;
}
