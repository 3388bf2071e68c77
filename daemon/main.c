/*
 * main.c - astrocald entry point: the only file that exits.
 *
 *   astrocald calibrate [options] LIGHT...   one-shot calibration (see oneshot.h)
 *   astrocald --version | --help
 *
 * The daemon mode (`astrocald --config FILE`) arrives with the scheduler; until then
 * running without a subcommand explains the available modes.
 */
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "log.h"
#include "oneshot.h"
#include "version.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: astrocald calibrate [options] LIGHT...   calibrate files now\n"
               "       astrocald --version\n"
               "       astrocald calibrate --help               list calibration options\n");
}

int main(int argc, char **argv)
{
    /* Strip and writer buffers are freed and allocated again for every frame; keep them in
     * the heap instead of returning them to the kernel each time (touching fresh pages
     * costs 0.5-3 s per GiB on these machines, performance.md). Masters, larger than
     * this threshold, are still mapped and unmapped on their own. */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);

    if (argc >= 2 && strcmp(argv[1], "calibrate") == 0) {
        ac_log_set_syslog_prefix(false);
        return ac_oneshot_main(argc - 1, argv + 1);
    }
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("%s\n", AC_SOFTWARE);
        return 0;
    }
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    usage(stderr);
    return EX_USAGE;
}
