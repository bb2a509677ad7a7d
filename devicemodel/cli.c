/*
 * cli.c - parsing and validating vdm's command line (ACRN style: -s, -U, -m).
 */
#include "cli.h"

#include "cli_acrn.h"
#include "host_cpus.h"
#include "uart.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

enum {
	OPT_HSM = 1000,
	OPT_HELP,
	OPT_VERSION,
	OPT_LOG_FILE,
	OPT_DUMP,
	OPT_VIRTIO_POLL,
	OPT_API,
	OPT_CPU_AFFINITY,
	OPT_LOGGER,
	OPT_OVMF,
};

static const struct option long_opts[] = {
	{ "hsm", required_argument, NULL, OPT_HSM },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "log-file", required_argument, NULL, OPT_LOG_FILE },
	{ "dump-config", required_argument, NULL, OPT_DUMP },
	{ "virtio_poll", required_argument, NULL, OPT_VIRTIO_POLL },
	{ "api-socket", required_argument, NULL, OPT_API },
	{ "cpu_affinity", required_argument, NULL, OPT_CPU_AFFINITY },
	{ "kernel", required_argument, NULL, 'k' },
	{ "ramdisk", required_argument, NULL, 'r' },
	{ "bootargs", required_argument, NULL, 'B' },
	{ "lpc", required_argument, NULL, 'l' },
	{ "ovmf", required_argument, NULL, OPT_OVMF },
	{ "logger_setting", required_argument, NULL, OPT_LOGGER },
	{ "pci_slot", required_argument, NULL, 's' },
	{ "slot", required_argument, NULL, 's' },
	{ "uuid", required_argument, NULL, 'U' },
	{ "memsize", required_argument, NULL, 'm' },
	{ "verbose", no_argument, NULL, 'v' },
};

/* vdm's options, then acrn-dm's that cli_acrn.c decides on, terminated. */
static const struct option *all_options(void)
{
	static struct option all[sizeof(long_opts) / sizeof(long_opts[0]) + 64];
	size_t n = sizeof(long_opts) / sizeof(long_opts[0]), nacrn;
	const struct option *acrn = cli_acrn_options(&nacrn);

	memcpy(all, long_opts, sizeof(long_opts));
	for (size_t i = 0; i < nacrn && n + 1 < sizeof(all) / sizeof(all[0]); i++)
		all[n++] = acrn[i];
	all[n] = (struct option){ NULL, 0, NULL, 0 };
	return all;
}

void cli_usage(FILE *f)
{
	fprintf(f,
		"Usage: vdm [OPTIONS] [VM-NAME] [-- QEMU-COMMAND...]\n"
		"Emulate virtio PCI devices for a guest through a hypervisor service module.\n\n"
		"  -s, --slot [BUS:]SLOT[:FUNC],EMUL[,OPTIONS]\n"
		"                        add a PCI function at 00:SLOT.FUNC (SLOT 0..31, FUNC 0..7,\n"
		"                        BUS 0; ':', '/' or '.' between them); repeatable\n"
		"  -U, --uuid UUID       VM UUID (generated when absent)\n"
		"  -m, --memsize SIZE    guest RAM with a unit, K, M, G or B (bytes), as acrn-dm\n"
		"                        reads it; at least 1M (default 256M)\n"
		"  -k, --kernel BZIMAGE  ACRN: load this Linux kernel and start the VM in it\n"
		"                        (the x86 boot protocol's 32-bit entry)\n"
		"  -r, --ramdisk INITRD  ... with this initrd\n"
		"  -B, --bootargs ARGS   ... and this kernel command line\n"
		"      --ovmf [w,]PATH | [w,]code=PATH,vars=PATH\n"
		"                        ACRN: start the VM in OVMF, the image ending at 4 GiB\n"
		"                        (vars then code); w writes the vars back to their file\n"
		"  -l, --lpc com1|com2,stdio|pty|socket:PATH|tty:PATH|file:PATH|/PATH\n"
		"                        ACRN: a 16550 UART at COM1 (0x3f8, IRQ 4) or COM2\n"
		"                        (0x2f8, IRQ 3) on that host side\n"
		"      --cpu_affinity LAPIC-ID[,LAPIC-ID...]\n"
		"                        ACRN: the physical CPUs (by local APIC ID, as acrn-dm)\n"
		"                        the VM's vCPUs run on\n"
		"      --hsm qemu|sim[:SOCKET]|acrn[:/DEVICE]\n"
		"                        hypervisor back-end (default %s; acrn when vdm is\n"
		"                        started as acrn-dm).  qemu starts\n"
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
		"      --logger_setting console,level=N[;kmsg,level=N][;disk,level=N]\n"
		"                        acrn-dm's log levels (3 errors .. 7 debug): console's\n"
		"                        is vdm's (stderr or --log-file); kmsg and disk are\n"
		"                        taken and not used\n"
		"  -A, -Y, -i, -G, --vsbl, --part_info, --pm_by_vuart, --mac_seed, --iasl\n"
		"                        acrn-dm's, taken and ignored (noted in the log); its\n"
		"                        other options vdm lacks are refused naming them\n"
		"  VM-NAME               the VM's name, as acrn-dm's last argument (1 to 15\n"
		"                        characters): ACRN looks the VM up by it; in logs\n"
		"  -h, --help            show this help and exit\n"
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
	unsigned shift;

	if (!s || !*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case '\0':
		return -ENODATA; /* no unit: acrn-dm refuses it, so does vdm */
	case 'b': case 'B':
		shift = 0;
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
	/* "256M" and "256MB" alike */
	if (end[1] && !(shift && (end[1] == 'B' || end[1] == 'b') && !end[2]))
		return -EINVAL;
	if (v == 0 || v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

/*
 * --cpu_affinity: local APIC IDs as acrn-dm takes them, each turned into
 * the number of the CPU that has it (/proc/cpuinfo), as the hypervisor's
 * bitmap counts physical CPUs.
 */
static int parse_cpu_affinity(const char *arg, uint64_t *bitmap, char *err, size_t errlen)
{
	const char *p = arg;

	*bitmap = 0;
	while (*p) {
		char *end;
		int cpu;
		unsigned long id;

		errno = 0;
		id = strtoul(p, &end, 10);
		if (end == p || errno || *p == '-' || *p == '+' || (*end && *end != ',') ||
		    (*end == ',' && !end[1])) {
			snprintf(err, errlen,
				 "--cpu_affinity '%s': expected local APIC IDs separated by commas",
				 arg);
			return -EINVAL;
		}
		cpu = host_cpu_of_apic_id(id);
		if (cpu < 0 || cpu >= 64) {
			snprintf(err, errlen, "--cpu_affinity '%s': no CPU here has local APIC ID %lu",
				 arg, id);
			return -EINVAL;
		}
		*bitmap |= 1ULL << cpu;
		p = *end ? end + 1 : end;
	}
	if (!*bitmap) {
		snprintf(err, errlen, "--cpu_affinity: expected at least one local APIC ID");
		return -EINVAL;
	}
	return 0;
}

/* --logger_setting: acrn-dm's "NAME,level=N" entries separated by ';'. */
static int parse_logger(const char *arg, struct vdm_options *o, char *err, size_t errlen)
{
	const char *p = arg;

	while (*p) {
		size_t len = strcspn(p, ";");
		char entry[64], name[16];
		int level, used = 0;

		if (len >= sizeof(entry))
			goto bad;
		memcpy(entry, p, len);
		entry[len] = '\0';
		if (sscanf(entry, "%15[^,],level=%d%n", name, &level, &used) != 2 ||
		    (size_t)used != len || level < 1 || level > 7)
			goto bad;
		if (!strcmp(name, "console"))
			o->log_level = level;
		else if (strcmp(name, "kmsg") && strcmp(name, "disk"))
			goto bad;
		p += len;
		if (*p == ';' && *++p == '\0')
			goto bad;
	}
	return 0;
bad:
	snprintf(err, errlen,
		 "--logger_setting '%s': expected console|kmsg|disk,level=1..7 entries separated "
		 "by ';'",
		 arg);
	return -EINVAL;
}

/* The VM's name: acrn-dm's rule (at most 15 characters, it goes in a
 * 16-byte field of CREATE_VM), printable and without spaces for logs. */
static int check_vm_name(const char *name, char *err, size_t errlen)
{
	size_t len = strlen(name);

	if (len == 0 || len > VDM_MAX_VM_NAME) {
		snprintf(err, errlen, "VM name '%s': expected 1 to %d characters", name,
			 VDM_MAX_VM_NAME);
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++)
		if (name[i] <= ' ' || name[i] > '~') {
			snprintf(err, errlen,
				 "VM name '%s': only printable characters, no spaces", name);
			return -EINVAL;
		}
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

/* acrn-dm's names for emulations vdm has under another name. */
static const char *emulation_alias(const char *name)
{
	return !strcmp(name, "vhost-vsock") ? "virtio-vsock" : name;
}

/* Emulations acrn-dm has and vdm does not, so a launch script naming one
 * gets a line that says so rather than "unknown". */
static bool acrn_only_emulation(const char *name)
{
	static const char *const names[] = {
		"ahci", "ahci-cd", "ahci-hd", "amd_hostbridge", "dummy", "igd-lpc", "ivshmem",
		"npk", "pci-gvt", "uart", "virtio-audio", "virtio-coreu",
		"virtio-gpio", "virtio-gpu", "virtio-hdcp", "virtio-heci", "virtio-hyper_dmabuf",
		"virtio-i2c", "virtio-input", "virtio-ipu", "virtio-rpmb", "wdt-i6300esb", "xhci",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(names[i], name))
			return true;
	return false;
}

/*
 * The address before the first comma of -s: SLOT, SLOT:FUNC or
 * BUS:SLOT:FUNC, each separator one of ':', '/' or '.' as acrn-dm takes
 * them.  vdm has one bus, 0.
 */
static int parse_bdf(const char *arg, size_t len, int *slot, int *func, char *err, size_t errlen)
{
	const char *part[3];
	size_t plen[3];
	int n = 0, bus = 0;
	size_t start = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i < len && !strchr(":/.", arg[i]))
			continue;
		if (n == 3) {
			snprintf(err, errlen, "-s '%s': expected [BUS:]SLOT[:FUNC] before the first comma",
				 arg);
			return -EINVAL;
		}
		part[n] = arg + start;
		plen[n++] = i - start;
		start = i + 1;
	}
	if (n == 3) {
		if (parse_index(part[0], plen[0], 255, &bus)) {
			snprintf(err, errlen, "-s '%s': bus must be a number", arg);
			return -EINVAL;
		}
		if (bus != 0) {
			snprintf(err, errlen, "-s '%s': vdm has one PCI bus, 0, not %d", arg, bus);
			return -EINVAL;
		}
		part[0] = part[1], plen[0] = plen[1];
		part[1] = part[2], plen[1] = plen[2];
		n = 2;
	}
	if (parse_index(part[0], plen[0], PCI_NUM_SLOTS - 1, slot)) {
		snprintf(err, errlen, "-s '%s': slot must be a number from 0 to %d", arg,
			 PCI_NUM_SLOTS - 1);
		return -EINVAL;
	}
	*func = 0;
	if (n == 2 && parse_index(part[1], plen[1], PCI_NUM_FUNCS - 1, func)) {
		snprintf(err, errlen, "-s '%s': function must be a number from 0 to %d", arg,
			 PCI_NUM_FUNCS - 1);
		return -EINVAL;
	}
	return 0;
}

static int parse_slot(struct vdm_options *o, const char *arg, char *err, size_t errlen)
{
	const char *comma = strchr(arg, ',');
	char name[64];
	const char *opts = NULL;
	struct dev_spec *spec;
	int slot, func;

	if (!comma) {
		snprintf(err, errlen, "-s '%s': expected [BUS:]SLOT[:FUNC],EMUL[,OPTIONS]", arg);
		return -EINVAL;
	}
	if (parse_bdf(arg, (size_t)(comma - arg), &slot, &func, err, errlen))
		return -EINVAL;
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
	/* acrn-dm's boot-device mark ("-s 3,virtio-blk,b,IMAGE") orders
	 * firmware's boot list; vdm loads no firmware, so it changes nothing. */
	if (opts && opts[0] == 'b' && (opts[1] == ',' || !opts[1]))
		opts = opts[1] ? opts + 2 : NULL;
	const struct devemu *emu = devemu_find(emulation_alias(name));
	if (!emu) {
		if (acrn_only_emulation(name))
			snprintf(err, errlen,
				 "-s '%s': '%s' is an acrn-dm emulation vdm does not have (see "
				 "vdm --help for the ones it has)",
				 arg, name);
		else
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
	/* Said here, not once the guest runs without the function. */
	for (int i = 0; i < o->ndevs && !caps.passthrough; i++) {
		if (o->devs[i].emu->host_function) {
			snprintf(err, errlen,
				 "-s %d:%d,%s: --hsm %s cannot give the guest a host PCI function "
				 "(passthrough needs --hsm acrn)",
				 o->devs[i].slot, o->devs[i].func, o->devs[i].emu->name, o->hsm);
			return -EINVAL;
		}
	}
	return 0;
}

int cli_parse(int argc, char **argv, struct vdm_options *o, char *err, size_t errlen)
{
	const char *mem_arg = NULL;
	char names[160];
	int c;

	memset(o, 0, sizeof(*o));
	o->ram_size = VDM_DEFAULT_RAM;
	o->hsm = VDM_DEFAULT_HSM;
	/* Started as acrn-dm (a link ACRN's launch scripts find by that
	 * name), vdm is on ACRN: the acrn back-end unless --hsm says else. */
	const char *prog = argc > 0 && argv[0] ? strrchr(argv[0], '/') : NULL;

	if (argc > 0 && argv[0] && !strcmp(prog ? prog + 1 : argv[0], "acrn-dm"))
		o->hsm = "acrn";
	const struct option *opts = all_options();

	opterr = 0; /* we print our own one-line messages */
	optind = 1;
	for (;;) {
		c = getopt_long(argc, argv, "+:hs:U:m:vk:r:B:l:" CLI_ACRN_SHORT, opts, NULL);
		if (c == -1) {
			/* Stopped at a word that is not an option: the VM's name
			 * (acrn-dm's last argument), unless it ended at "--". */
			if (optind >= argc || !strcmp(argv[optind - 1], "--"))
				break;
			if (o->vm_name) {
				snprintf(err, errlen,
					 "unexpected argument '%s' (the VM name is already '%s')",
					 argv[optind], o->vm_name);
				return -EINVAL;
			}
			if (check_vm_name(argv[optind], err, errlen))
				return -EINVAL;
			o->vm_name = argv[optind++];
			continue;
		}
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
		case 'm': {
			int r = cli_parse_size(optarg, &o->ram_size);

			if (r == -ENODATA) {
				snprintf(err, errlen,
					 "-m '%s': a size needs a unit, K, M, G or B for bytes "
					 "(%sM?), as acrn-dm reads it",
					 optarg, optarg);
				return -EINVAL;
			}
			if (r) {
				snprintf(err, errlen,
					 "-m '%s': expected a non-zero size such as 512M or 2G",
					 optarg);
				return -EINVAL;
			}
			mem_arg = optarg;
			break;
		}
		case 'k':
			o->kernel = optarg;
			break;
		case 'r':
			o->initrd = optarg;
			break;
		case 'B':
			o->bootargs = optarg;
			break;
		case 'l': {
			int unit;
			struct chardev_spec spec;

			if (uart_parse(optarg, &unit, &spec, err, errlen))
				return -EINVAL;
			if (o->have_uart[unit]) {
				chardev_spec_free(&spec);
				snprintf(err, errlen, "-l '%s': COM%d is given twice", optarg,
					 unit + 1);
				return -EINVAL;
			}
			o->uart[unit] = spec;
			o->have_uart[unit] = true;
			break;
		}
		case OPT_OVMF:
			if (o->have_ovmf) {
				snprintf(err, errlen, "--ovmf is given twice");
				return -EINVAL;
			}
			if (ovmf_parse(&o->ovmf, optarg, err, errlen))
				return -EINVAL;
			o->have_ovmf = true;
			break;
		case OPT_LOGGER:
			if (parse_logger(optarg, o, err, errlen))
				return -EINVAL;
			break;
		case OPT_CPU_AFFINITY:
			if (parse_cpu_affinity(optarg, &o->cpu_affinity, err, errlen))
				return -EINVAL;
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
		case 'h': /* acrn-dm's spelling */
		case OPT_HELP:
			o->help = true;
			break;
		case OPT_VERSION:
			o->version = true;
			break;
		case ':':
			snprintf(err, errlen, "option '%s' needs an argument", argv[optind - 1]);
			return -EINVAL;
		default: {
			const char *note = NULL;
			int r = cli_acrn_option(c, &note, err, errlen);

			if (r < 0)
				return -EINVAL;
			if (r == 0) {
				bool seen = false;

				for (int i = 0; i < o->nacrn_notes; i++)
					seen |= o->acrn_notes[i] == note;
				if (!seen && o->nacrn_notes < VDM_MAX_ACRN_NOTES)
					o->acrn_notes[o->nacrn_notes++] = note;
				break;
			}
			if (optopt)
				snprintf(err, errlen, "unknown option '-%c'", optopt);
			else
				snprintf(err, errlen, "unknown option '%s'", argv[optind - 1]);
			return -EINVAL;
		}
		}
	}
	if (optind < argc) {
		o->extra_argc = argc - optind;
		o->extra_argv = &argv[optind];
	}
	if (mem_arg && o->ram_size < VDM_MIN_RAM) {
		snprintf(err, errlen, "-m '%s': %llu bytes of guest RAM is below the 1M minimum",
			 mem_arg, (unsigned long long)o->ram_size);
		return -EINVAL;
	}
	if (!strncmp(o->hsm, "acrn", 4) && o->ram_size < HSM_ACRN_MIN_RAM) {
		snprintf(err, errlen, "-m '%s': ACRN needs at least 128M of guest RAM, as acrn-dm",
			 mem_arg ? mem_arg : "default");
		return -EINVAL;
	}
	if ((o->initrd || o->bootargs) && !o->kernel) {
		snprintf(err, errlen, "%s: needs the kernel it belongs to (-k bzImage)",
			 o->initrd ? "-r" : "-B");
		return -EINVAL;
	}
	if ((o->have_uart[0] || o->have_uart[1]) && strncmp(o->hsm, "acrn", 4)) {
		snprintf(err, errlen,
			 "-l: only the ACRN back-end leaves the COM ports to vdm (--hsm %s)", o->hsm);
		return -EINVAL;
	}
	if (o->kernel && strncmp(o->hsm, "acrn", 4)) {
		snprintf(err, errlen,
			 "-k: only the ACRN back-end has vdm load the guest (with --hsm %s the "
			 "hypervisor loads its own)",
			 o->hsm);
		return -EINVAL;
	}
	if (o->have_ovmf && o->kernel) {
		snprintf(err, errlen,
			 "--ovmf and -k: acrn-dm would start OVMF and ignore the kernel; give one");
		return -EINVAL;
	}
	if (o->have_ovmf && strncmp(o->hsm, "acrn", 4)) {
		snprintf(err, errlen,
			 "--ovmf: only the ACRN back-end has vdm load the guest (with --hsm %s the "
			 "hypervisor loads its own firmware)",
			 o->hsm);
		return -EINVAL;
	}
	if (o->cpu_affinity && strncmp(o->hsm, "acrn", 4)) {
		snprintf(err, errlen, "--cpu_affinity: only the ACRN back-end places vCPUs (--hsm %s)",
			 o->hsm);
		return -EINVAL;
	}
	return o->help || o->version ? 0 : check_hv_command(o, err, errlen);
}

void cli_free(struct vdm_options *o)
{
	for (int i = 0; i < 2; i++)
		if (o->have_uart[i])
			chardev_spec_free(&o->uart[i]);
	for (int i = 0; i < o->ndevs; i++)
		devemu_free_cfg(o->devs[i].emu, o->devs[i].cfg);
	o->ndevs = 0;
	if (o->have_ovmf)
		ovmf_close(&o->ovmf);
	o->have_ovmf = false;
}
