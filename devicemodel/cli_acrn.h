/*
 * cli_acrn.h - acrn-dm's command-line options that vdm has no option of
 * its own for (core/main.c's long options in ACRN's tree): each either
 * refused by name, as acrn-dm's and unsupported, or taken because vdm
 * already does what it asks (then only noted in the log).  cli.c parses
 * them with its own options.
 */
#ifndef VDM_CLI_ACRN_H
#define VDM_CLI_ACRN_H

#include <getopt.h>
#include <stddef.h>

/* Values of the long-only ones in getopt_long's answers (cli.c's own stay
 * below); acrn-dm's short letters (-A, -Y, -E, -i, -G) answer as
 * themselves. */
#define CLI_ACRN_OPT_BASE 2000
/* acrn-dm's short options among them, for getopt's option string. */
#define CLI_ACRN_SHORT "AYE:i:G:"

/* The options as getopt_long takes them; n entries, no terminator. */
const struct option *cli_acrn_options(size_t *n);

/*
 * Handle getopt_long's answer c.  Returns 1 when c is none of these
 * options; 0 when vdm takes it, with a sentence for the log in *note (what
 * vdm does instead); -ENOTSUP when vdm refuses it, with one line naming it
 * in err.
 */
int cli_acrn_option(int c, const char **note, char *err, size_t errlen);

#endif /* VDM_CLI_ACRN_H */
