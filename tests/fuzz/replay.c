/*
 * replay.c - main() for a fuzz target in ordinary builds (gcc, plain or
 * ASan): runs LLVMFuzzerTestOneInput once on every file named on the command
 * line, or in a directory named there.  Without arguments, replay_NAME
 * runs $VDM_SRCDIR/tests/fuzz/corpus/NAME: that is how `make check` replays
 * each target's seeds and the inputs of every bug a fuzzer found, so those
 * stay fixed without clang.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long len;

	if (!f || fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		fprintf(stderr, "replay: cannot read %s\n", path);
		if (f)
			fclose(f);
		return -1;
	}
	/* At least one byte, so an empty input still has a valid pointer. */
	buf = malloc((size_t)len + 1);
	if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		fprintf(stderr, "replay: cannot read %s\n", path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	char dflt[4096];
	char *dflt_argv[] = { argv[0], dflt, NULL };
	int n = 0;

	if (argc == 1) {
		const char *src = getenv("VDM_SRCDIR"), *base = strrchr(argv[0], '/');

		base = base ? base + 1 : argv[0];
		if (!src || strncmp(base, "replay_", 7)) {
			fprintf(stderr, "usage: %s INPUT|DIR... (or run as replay_NAME with VDM_SRCDIR)\n",
				argv[0]);
			return 99;
		}
		snprintf(dflt, sizeof(dflt), "%s/tests/fuzz/corpus/%s", src, base + 7);
		argv = dflt_argv;
		argc = 2;
	}
	for (int i = 1; i < argc; i++) {
		struct stat st;
		DIR *d;
		struct dirent *e;

		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode) && (d = opendir(argv[i]))) {
			while ((e = readdir(d))) {
				char path[4096];

				if (e->d_name[0] == '.')
					continue;
				snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
				if (run_file(path))
					return 99;
				n++;
			}
			closedir(d);
		} else {
			if (run_file(argv[i]))
				return 99;
			n++;
		}
	}
	printf("replay: %d inputs, no failure\n", n);
	return n ? 0 : 99; /* an empty corpus would prove nothing */
}
