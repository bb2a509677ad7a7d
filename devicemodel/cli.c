/*
 * cli.c - parsing and validating vdm's command line (ACRN style: -s, -U, -m).
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

enum { OPT_HSM = 1000, OPT_HELP, OPT_VERSION, OPT_LOG_FILE, OPT_DUMP, OPT_VIRTIO_POLL, OPT_API };

static const struct option long_opts[] = {
	{ "hsm", required_argument, NULL, OPT_HSM },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "log-file", required_argument, NULL, OPT_LOG_FILE },
	{ "dump-config", required_argument, NULL, OPT_DUMP },
	{ "virtio_poll", required_argument, NULL, OPT_VIRTIO_POLL },
	{ "api-socket", required_argument, NULL, OPT_API },
	{ "slot", required_argument, NULL, 's' },
	{ "uuid", required_argument, NULL, 'U' },
	{ "memsize", required_argument, NULL, 'm' },
	{ "verbose", no_argument, NULL, 'v' },
	{ NULL, 0, NULL, 0 },
};

void cli_usage(FILE *f)
{
	fprintf(f,
		"Usage: vdm [OPTIONS] [-- QEMU-COMMAND...]\n"
		"Emulate virtio PCI devices for a guest through a hypervisor service module.\n\n"
		"  -s, --slot SLOT[:FUNC],EMUL[,OPTIONS]\n"
		"                        add a PCI function at 00:SLOT.FUNC (SLOT 0..31, FUNC 0..7);\n"
		"                        repeatable\n"
		"  -U, --uuid UUID       VM UUID (generated when absent)\n"
		"  -m, --memsize SIZE    guest RAM: bytes, or with a K/M/G suffix; at least 1M\n"
		"                        (default 256M)\n"
		"      --hsm qemu|sim[:SOCKET]|acrn[:/DEVICE]\n"
		"                        hypervisor back-end (default %s).  qemu starts\n"
		"                        QEMU-COMMAND with one x-pci-proxy-dev per function\n"
		"                        and guest RAM of -m SIZE; sim listens for the test\n"
		"                        driver on SOCKET; acrn creates a User VM through\n"
		"                        the ACRN HSM (DEVICE, default /dev/acrn_hsm)\n"
		"      --dump-config DIR write each function's config space to DIR/SS.F.lspci\n"
		"                        in the format `lspci -F` reads, at start\n"
		"  -v, --verbose         more log detail (repeat for more)\n"
		"      --log-file PATH   log to PATH instead of stderr\n"
		"      --api-socket PATH the management API (JSON lines; see vdmctl(1)) on a UNIX\n"
		"                        socket at PATH, mode 0600\n"
		"      --virtio_poll NS  acrn-dm's poll mode: guests do not kick VBS-U queues,\n"
		"                        vdm looks at each every NS nanoseconds (devices with\n"
		"                        their own poll= keep it)\n"
		"      --help            show this help and exit\n"
		"      --version         show the version and exit\n\n"
		"Emulations:\n",
		VDM_DEFAULT_HSM);
	for (int i = 0; devemu_table[i]; i++)
		fprintf(f, "  %s\n", devemu_table[i]->usage);
}

int cli_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	if (!s || !*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case '\0':
		break;
	case 'k': case 'K':
		shift = 10;
		break;
	case 'm': case 'M':
		shift = 20;
		break;
	case 'g': case 'G':
		shift = 30;
		break;
	default:
		return -EINVAL;
	}
	if (*end && end[1] && !((end[1] == 'B' || end[1] == 'b') && !end[2]))
		return -EINVAL;
	if (v == 0 || v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

/* Parse a decimal number in [0, max]; the whole string must be consumed. */
static int parse_index(const char *s, size_t len, int max, int *out)
{
	int v = 0;

	if (len == 0 || len > 3)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	if (v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

static int parse_slot(struct vdm_options *o, const char *arg, char *err, size_t errlen)
{
	const char *comma = strchr(arg, ',');
	const char *colon;
	char name[64];
	const char *opts = NULL;
	struct dev_spec *spec;
	int slot, func = 0, ret;

	if (!comma) {
		snprintf(err, errlen, "-s '%s': expected SLOT[:FUNC],EMUL[,OPTIONS]", arg);
		return -EINVAL;
	}
	colon = memchr(arg, ':', (size_t)(comma - arg));
	ret = parse_index(arg, (size_t)((colon ? colon : comma) - arg), PCI_NUM_SLOTS - 1, &slot);
	if (ret) {
		snprintf(err, errlen, "-s '%s': slot must be a number from 0 to %d", arg,
			 PCI_NUM_SLOTS - 1);
		return -EINVAL;
	}
	if (colon && parse_index(colon + 1, (size_t)(comma - colon - 1), PCI_NUM_FUNCS - 1, &func)) {
		snprintf(err, errlen, "-s '%s': function must be a number from 0 to %d", arg,
			 PCI_NUM_FUNCS - 1);
		return -EINVAL;
	}
	const char *ename = comma + 1;
	const char *ecomma = strchr(ename, ',');
	size_t nlen = ecomma ? (size_t)(ecomma - ename) : strlen(ename);
	if (nlen == 0 || nlen >= sizeof(name)) {
		snprintf(err, errlen, "-s '%s': missing or overlong emulation name", arg);
		return -EINVAL;
	}
	memcpy(name, ename, nlen);
	name[nlen] = '\0';
	if (ecomma)
		opts = ecomma + 1;
	const struct devemu *emu = devemu_find(name);
	if (!emu) {
		snprintf(err, errlen, "-s '%s': unknown emulation '%s'", arg, name);
		return -EINVAL;
	}
	for (int i = 0; i < o->ndevs; i++) {
		if (o->devs[i].slot == slot && o->devs[i].func == func) {
			snprintf(err, errlen, "-s '%s': slot %d:%d is already in use", arg, slot,
				 func);
			return -EINVAL;
		}
	}
	if (o->ndevs >= VDM_MAX_DEVICES) {
		snprintf(err, errlen, "-s '%s': too many devices", arg);
		return -EINVAL;
	}
	spec = &o->devs[o->ndevs];
	*spec = (struct dev_spec){ .slot = slot, .func = func, .emu = emu };
	char why[160] = "";

	if (devemu_parse(emu, opts, &spec->cfg, why, sizeof(why))) {
		snprintf(err, errlen, "-s '%s': %s", arg, why[0] ? why : "bad options");
		return -EINVAL;
	}
	o->ndevs++;
	return 0;
}

/* A hypervisor command after "--" goes with back-ends that run one, and
 * only with them. */
static int check_hv_command(const struct vdm_options *o, char *err, size_t errlen)
{
	struct hsm_caps caps;

	if (hsm_backend_caps(o->hsm, &caps))
		return 0; /* reported by --hsm */
	if (caps.hv_command && !o->extra_argc) {
		snprintf(err, errlen,
			 "--hsm %s: needs the QEMU command after '--' "
			 "(for example: -- qemu-system-x86_64 -accel tcg -nographic ...)", o->hsm);
		return -EINVAL;
	}
	if (!caps.hv_command && o->extra_argc) {
		snprintf(err, errlen, "'%s': a hypervisor command is only taken by --hsm qemu",
			 o->extra_argv[0]);
		return -EINVAL;
	}
	return 0;
}

int cli_parse(int argc, char **argv, struct vdm_options *o, char *err, size_t errlen)
{
	char names[160];
	int c;

	memset(o, 0, sizeof(*o));
	o->ram_size = VDM_DEFAULT_RAM;
	o->hsm = VDM_DEFAULT_HSM;
	opterr = 0; /* we print our own one-line messages */
	optind = 1;
	while ((c = getopt_long(argc, argv, "+:s:U:m:v", long_opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (parse_slot(o, optarg, err, errlen))
				return -EINVAL;
			break;
		case 'U':
			if (uuid_parse(optarg, o->uuid)) {
				snprintf(err, errlen, "-U '%s': not a valid UUID", optarg);
				return -EINVAL;
			}
			o->have_uuid = true;
			break;
		case 'm':
			if (cli_parse_size(optarg, &o->ram_size)) {
				snprintf(err, errlen,
					 "-m '%s': expected a non-zero size such as 512M or 2G",
					 optarg);
				return -EINVAL;
			}
			/*
			 * A bare number is bytes, as acrn-dm reads it; the
			 * minimum catches "-m 256" meant as MiB (QEMU's
			 * reading) before it becomes a guest with no RAM.
			 */
			if (o->ram_size < VDM_MIN_RAM) {
				bool bare = optarg[strspn(optarg, "0123456789")] == '\0';

				snprintf(err, errlen,
					 "-m '%s': %llu bytes of guest RAM is below the 1M minimum%s%s%s",
					 optarg, (unsigned long long)o->ram_size,
					 bare ? " (a size without K, M or G is in bytes: " : "",
					 bare ? optarg : "", bare ? "M?)" : "");
				return -EINVAL;
			}
			break;
		case 'v':
			o->verbosity++;
			break;
		case OPT_HSM:
			if (!hsm_backend_exists(optarg, names, sizeof(names))) {
				snprintf(err, errlen, "--hsm '%s': unknown back-end (this build has: %s)",
					 optarg, names);
				return -EINVAL;
			}
			o->hsm = optarg;
			break;
		case OPT_LOG_FILE:
			o->log_file = optarg;
			break;
		case OPT_DUMP:
			o->dump_dir = optarg;
			break;
		case OPT_API:
			o->api_socket = optarg;
			break;
		case OPT_VIRTIO_POLL: {
			/* acrn-dm's poll mode: the interval in nanoseconds. */
			char *end;
			unsigned long long ns;

			errno = 0;
			ns = strtoull(optarg, &end, 10);
			if (!*optarg || *end || errno || *optarg == '-' || ns < 1000 ||
			    ns > 1000000000ULL) {
				snprintf(err, errlen,
					 "--virtio_poll '%s': expected an interval in nanoseconds, "
					 "1000 to 1000000000",
					 optarg);
				return -EINVAL;
			}
			o->virtio_poll_us = (uint32_t)(ns / 1000);
			break;
		}
		case OPT_HELP:
			o->help = true;
			break;
		case OPT_VERSION:
			o->version = true;
			break;
		case ':':
			snprintf(err, errlen, "option '%s' needs an argument", argv[optind - 1]);
			return -EINVAL;
		default:
			if (optopt)
				snprintf(err, errlen, "unknown option '-%c'", optopt);
			else
				snprintf(err, errlen, "unknown option '%s'", argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		if (strcmp(argv[optind - 1], "--")) {
			snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
			return -EINVAL;
		}
		o->extra_argc = argc - optind;
		o->extra_argv = &argv[optind];
	}
	return o->help || o->version ? 0 : check_hv_command(o, err, errlen);
}

void cli_free(struct vdm_options *o)
{
	for (int i = 0; i < o->ndevs; i++)
		devemu_free_cfg(o->devs[i].emu, o->devs[i].cfg);
	o->ndevs = 0;
}
