/*
 * main.c - astrocald entry point: the only file that exits.
 *
 *   astrocald [--config FILE] [--drain] [--create] [--log-level LEVEL]
 *                                                             run the daemon (foreground,
 *                                                             systemd style)
 *   astrocald --check-config [--config FILE]                  validate the configuration
 *   astrocald calibrate [options] LIGHT...                    one-shot calibration
 *   astrocald --version | --help
 *
 * Exit statuses (sysexits): 0 stopped cleanly, 64 usage, 78 configuration error (also: the
 * catalogue is missing where astrocald used one before, without --create), 73 cannot
 * create the database, socket or state directory, 75 another instance holds the lock (or
 * the catalogue stayed locked by another program through start-up), 65 the database is not
 * one astrocald can use. systemd/astrocald.service does not restart on 64 and 78.
 */
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "conffile.h"
#include "rclone.h"
#include "config.h"
#include "ctlauth.h"
#include "daemon.h"
#include "log.h"
#include "oneshot.h"
#include "sdnotify.h"
#include "unconfigured.h"
#include "version.h"

#ifndef AC_DEFAULT_CONFIG
#define AC_DEFAULT_CONFIG "/etc/astrocald/astrocald.conf"
#endif

static void usage(FILE *f)
{
    fprintf(f,
            "usage: astrocald [--config FILE] [--astrofiler-ini FILE] [--drain] [--create]\n"
            "                 [--log-level LEVEL]\n"
            "       astrocald --check-config [--config FILE] [--astrofiler-ini FILE]\n"
            "       astrocald calibrate [options] LIGHT...   (astrocald calibrate --help)\n"
            "       astrocald --version\n"
            "\n"
            "  --config FILE      configuration (default " AC_DEFAULT_CONFIG ")\n"
            "  --check-config     validate the configuration, print every key with where its\n"
            "                     value came from, and exit (0 valid, 78 not)\n"
            "  --astrofiler-ini FILE  AstroFiler's astrofiler.ini: its [DEFAULT] repo, source\n"
            "                     and bucket_url fill the keys the file does not set\n"
            "                     (overrides [DAEMON] astrofiler_ini)\n"
            "  --drain            calibrate everything that can be, then exit 0\n"
            "  --create           create a new, empty catalogue when [DAEMON] database is\n"
            "                     missing, even though astrocald used one there before\n"
            "                     (without it astrocald refuses to start, exit 78)\n"
            "  --log-level LEVEL  err, warning, notice, info or debug (overrides the file)\n");
}

static int run_daemon(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'},
        {"check-config", no_argument, 0, 'k'},
        {"drain", no_argument, 0, 'd'},
        {"create", no_argument, 0, 'C'},
        {"log-level", required_argument, 0, 'l'},
        {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},
        {"astrofiler-ini", required_argument, 0, 'A'},
        {0, 0, 0, 0},
    };
    const char *config = AC_DEFAULT_CONFIG, *level = NULL;
    bool check = false, drain = false, create = false;
    static ac_daemon_t d;
    uv_loop_t loop;
    static ac_config_origin_t origins[AC_CONFIG_MAX_KEYS];
    ac_err_t e = {0};
    int ch, rc;

    opterr = 0;
    while ((ch = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            config = optarg;
            break;
        case 'k':
            check = true;
            break;
        case 'd':
            drain = true;
            break;
        case 'C':
            create = true;
            break;
        case 'l':
            level = optarg;
            break;
        case 'A':
            ac_config_set_ini_override(optarg);
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("%s\n", AC_SOFTWARE);
            return 0;
        default:
            fprintf(stderr, "astrocald: %s option '%s'\n",
                    optopt == 0 ? "unknown" : "incomplete", argv[optind - 1]);
            usage(stderr);
            return EX_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "astrocald: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return EX_USAGE;
    }
    ac_sd_log_setup();
    ac_config_default(&d.cfg);
    if (ac_config_load_origins(&d.cfg, config, origins, &e) != 0) {
        if (check)
            fprintf(stderr, "astrocald: %s\n", e.msg);
        else
            ac_log_err("%s", e.msg);
        return EX_CONFIG;
    }
    if (level != NULL) {
        int l = ac_log_parse_level(level);
        if (l < 0) {
            fprintf(stderr, "astrocald: --log-level: unknown level '%s'\n", level);
            return EX_USAGE;
        }
        d.cfg.log_level = l;
    }
    d.log_level_override = level != NULL ? d.cfg.log_level : -1;
    if (check) {
        ac_ctlauth_group_t g;

        if (ac_conffile_check_paths(&d.cfg, &e) != 0 ||
            (d.cfg.reader_group[0] != '\0' &&
             ac_ctlauth_group_resolve("[DAEMON] reader_group", d.cfg.reader_group, &g, &e) !=
                 0) ||
            (d.cfg.admin_group[0] != '\0' &&
             ac_ctlauth_group_resolve("[DAEMON] admin_group", d.cfg.admin_group, &g, &e) !=
                 0)) {
            fprintf(stderr, "astrocald: %s: %s\n", config, e.msg);
            return EX_CONFIG;
        }
        /* The remote answers a listing: a missing bucket or bad credentials are found now,
         * not at the first upload. */
        if (d.cfg.enabled && ac_rclone_check(&d.cfg, 120, &e) != 0) {
            fprintf(stderr, "astrocald: %s: %s\n", config, e.msg);
            return EX_CONFIG;
        }
        ac_config_print_origins(stdout, &d.cfg, config, origins);
        printf("%s: configuration is valid\n", config);
        if (d.cfg.enabled)
            printf("%s: [CLOUD] remote %s answers\n", config, d.cfg.remote);
        if (d.cfg.database[0] == '\0')
            printf("%s: no [DAEMON] database configured: astrocald will wait\n", config);
        return 0;
    }
    if (d.cfg.database[0] == '\0')
        return ac_unconfigured_run(&d.cfg, config, drain);
    if (uv_loop_init(&loop) != 0) {
        ac_log_err("cannot create the event loop");
        return EX_OSERR;
    }
    d.create_catalogue = create;
    rc = ac_daemon_init(&d, &loop, config, drain, &e);
    if (rc != 0) {
        ac_log_err("cannot start: %s", e.msg);
        ac_daemon_free(&d);
        uv_loop_close(&loop); /* frees the loop when start-up failed before any handle */
        return rc;
    }
    rc = ac_daemon_run(&d);
    ac_daemon_free(&d);
    uv_loop_close(&loop);
    ac_log_notice("stopped");
    return rc;
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
    return run_daemon(argc, argv);
}
