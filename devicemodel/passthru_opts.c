/*
 * passthru_opts.c - the options of `-s N,passthru,BUS/DEV/FUNC[,keep_gsi]
 * [,no_reset]`, acrn-dm's spelling, checked at command-line time.  The
 * acrn-dm passthru options vdm does not have are refused by name.
 */
#include "passthru.h"
#include "devemu.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* One hexadecimal number of at most 2 digits, up to max. */
static int parse_hex(const char *s, size_t len, unsigned max, unsigned *out)
{
	unsigned v = 0;

	if (len == 0 || len > 2)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return -EINVAL;
		v = v * 16 + d;
	}
	if (v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int passthru_parse_bdf(const char *s, uint16_t *bdf)
{
	static const unsigned max[3] = { 0xff, 0x1f, 7 };
	unsigned part[3];
	int n = 0;

	for (const char *p = s;; n++) {
		size_t len = strcspn(p, "/:.");

		if (n == 3 || parse_hex(p, len, max[n], &part[n]))
			return -EINVAL;
		if (!p[len]) {
			n++;
			break;
		}
		p += len + 1;
	}
	if (n != 3)
		return -EINVAL;
	*bdf = (uint16_t)(part[0] << 8 | part[1] << 3 | part[2]);
	return 0;
}

/* acrn-dm's passthru options that vdm does not have. */
static bool acrn_only_option(const char *opt)
{
	static const char *const names[] = { "d3hot_reset", "vmsix_on_msi", "enable_ptm",
					     "romfile=", "irq=", "dsdt=" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t len = strlen(names[i]);

		if (names[i][len - 1] == '=' ? !strncmp(opt, names[i], len) : !strcmp(opt, names[i]))
			return true;
	}
	return false;
}

int passthru_option(void *cfg, const char *opt, char *err, size_t errlen)
{
	struct passthru_cfg *c = cfg;

	/* The host function comes first, as in acrn-dm. */
	if (!c->have_bdf) {
		if (passthru_parse_bdf(opt, &c->host_bdf)) {
			snprintf(err, errlen,
				 "passthru: '%s' is not a host function; expected BUS/DEV/FUNC or "
				 "BB:DD.F in hexadecimal (e.g. 0/5/0 or 00:05.0)",
				 opt);
			return -EINVAL;
		}
		c->have_bdf = true;
		return 0;
	}
	if (!strcmp(opt, "keep_gsi")) {
		c->keep_gsi = true;
		return 0;
	}
	if (!strcmp(opt, "no_reset")) {
		c->no_reset = true;
		return 0;
	}
	if (acrn_only_option(opt)) {
		snprintf(err, errlen, "passthru: '%s' is an acrn-dm passthru option vdm does not have "
			 "(vdm takes keep_gsi and no_reset)", opt);
		return -EINVAL;
	}
	return DEVEMU_UNKNOWN;
}

int passthru_options_done(void *cfg, char *err, size_t errlen)
{
	const struct passthru_cfg *c = cfg;

	if (!c->have_bdf) {
		snprintf(err, errlen, "passthru needs the host function: -s N,passthru,BUS/DEV/FUNC");
		return -EINVAL;
	}
	return 0;
}
