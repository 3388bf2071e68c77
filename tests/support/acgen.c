/*
 * acgen.c - command-line front end of the synthetic data generator (fitsgen.h), for the
 * README demo, benchmarks and integration tests.
 *
 *   acgen night DIR [--width W] [--height H] [--lights N] [--color] [--exposure S]
 *                   [--seed N] [--masters astrofiler|float|none] [--raw-cal N] [--fz]
 *                   [--filter F] [--object O] [--cross-midnight] [--normalised-flat]
 *   acgen bad DIR [--width W] [--height H] [--color] [--seed N]
 *   acgen frame PATH [--type light|dark|flat|bias|flatdark] [--width W] [--height H]
 *                    [--color] [--exposure S] [--seed N] [--index N] [--bitpix B] [--fz]
 *
 * Prints one line per file written. Exit status 0, 64 on usage errors, 1 on failures.
 * Thread: single-threaded program.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "fitsgen.h"
#include "util.h"

#define EX_USAGE 64

static void usage(FILE *fp)
{
    fputs("usage: acgen night DIR [--width W] [--height H] [--lights N] [--color]\n"
          "                 [--exposure S] [--seed N] [--masters astrofiler|float|none]\n"
          "                 [--raw-cal N] [--fz] [--filter F] [--object O]\n"
          "                 [--cross-midnight] [--normalised-flat]\n"
          "       acgen bad DIR [--width W] [--height H] [--color] [--seed N]\n"
          "       acgen frame PATH [--type light|dark|flat|bias|flatdark] [--width W]\n"
          "                 [--height H] [--color] [--exposure S] [--seed N] [--index N]\n"
          "                 [--bitpix 16|32|-32] [--fz]\n",
          fp);
}

static void print_file(const char *path, void *ud)
{
    (void)ud;
    printf("%s\n", path);
    fflush(stdout);
}

/* num parses a number option value or fails with a message. */
static int num(const char *opt, const char *v, double *out)
{
    char *end;
    if (!v) {
        fprintf(stderr, "acgen: %s needs a value\n", opt);
        return -1;
    }
    errno = 0;
    *out = strtod(v, &end);
    if (errno || end == v || *end) {
        fprintf(stderr, "acgen: %s: not a number: '%s'\n", opt, v);
        return -1;
    }
    return 0;
}

static int parse_type(const char *s, ac_gen_type_t *t)
{
    static const char *names[] = {"light", "dark", "flat", "bias", "flatdark"};
    for (int i = 0; i < 5; i++)
        if (s && strcmp(s, names[i]) == 0) {
            *t = (ac_gen_type_t)i;
            return 0;
        }
    fprintf(stderr, "acgen: unknown frame type '%s'\n", s ? s : "");
    return -1;
}

int main(int argc, char **argv)
{
    ac_gen_camera_t cam;
    ac_gen_night_t night;
    ac_gen_frame_t frame;
    ac_gen_type_t type = AC_GEN_LIGHT;
    ac_err_t err = {0};
    ac_gen_t *g = NULL;
    double v, exposure = -1, index = 0, bitpix = 16;
    bool color = false, fz = false;
    const char *filter = NULL, *object = NULL, *badopt = NULL;
    int rc = 0;

    if (argc < 3 ||
        (strcmp(argv[1], "night") && strcmp(argv[1], "bad") && strcmp(argv[1], "frame"))) {
        usage(stderr);
        return EX_USAGE;
    }
    const char *cmd = argv[1], *target = argv[2];
    ac_gen_camera_default(&cam, 1);
    ac_gen_night_default(&night, &cam);
    bool filter_set = false;
    for (int i = 3; i < argc; i++) {
        const char *o = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(o, "--color") == 0 || strcmp(o, "--colour") == 0) {
            color = true;
        } else if (strcmp(o, "--fz") == 0) {
            fz = true;
        } else if (strcmp(o, "--cross-midnight") == 0) {
            night.cross_midnight = true;
        } else if (strcmp(o, "--normalised-flat") == 0) {
            night.flat_normalised = true;
        } else if (strcmp(o, "--masters") == 0 && val) {
            i++;
            if (strcmp(val, "astrofiler") == 0)
                night.masters = AC_GEN_MASTER_ASTROFILER;
            else if (strcmp(val, "float") == 0)
                night.masters = AC_GEN_MASTER_FLOAT;
            else if (strcmp(val, "none") == 0)
                night.masters = AC_GEN_RAW;
            else {
                badopt = o;
                goto bad;
            }
        } else if (strcmp(o, "--filter") == 0 && val) {
            filter = val, filter_set = true, i++;
        } else if (strcmp(o, "--object") == 0 && val) {
            object = val, i++;
        } else if (strcmp(o, "--type") == 0) {
            if (parse_type(val, &type) < 0)
                return EX_USAGE;
            i++;
        } else if (strcmp(o, "--width") == 0 || strcmp(o, "--height") == 0 ||
                   strcmp(o, "--lights") == 0 || strcmp(o, "--exposure") == 0 ||
                   strcmp(o, "--seed") == 0 || strcmp(o, "--raw-cal") == 0 ||
                   strcmp(o, "--index") == 0 || strcmp(o, "--bitpix") == 0) {
            if (num(o, val, &v) < 0)
                return EX_USAGE;
            i++;
            if (o[2] == 'w')
                cam.width = (int)v;
            else if (o[2] == 'h')
                cam.height = (int)v;
            else if (o[2] == 'l')
                night.n_lights = (int)v;
            else if (o[2] == 'e')
                exposure = v;
            else if (o[2] == 's')
                cam.seed = strtoull(val, NULL, 0); /* all 64 bits, not via double */
            else if (o[2] == 'r')
                night.raw_cal = (int)v;
            else if (o[2] == 'i')
                index = v;
            else
                bitpix = v;
        } else {
            badopt = o;
            goto bad;
        }
    }
    if (color) {
        ac_gen_camera_color(&cam, "RGGB");
        if (!filter_set)
            night.filter = NULL;
    }
    if (filter_set)
        night.filter = filter;
    if (object)
        night.object = object;
    if (exposure > 0)
        night.exposure = exposure;
    night.fz = fz;
    night.on_file = print_file;

    if (!(g = ac_gen_new(&cam, &err))) {
        fprintf(stderr, "acgen: %s\n", err.msg);
        return 1;
    }
    if (strcmp(cmd, "night") == 0) {
        rc = ac_gen_write_night(g, &night, target, &err);
    } else if (strcmp(cmd, "bad") == 0) {
        if (mkdir(target, 0755) < 0 && errno != EEXIST) {
            fprintf(stderr, "acgen: mkdir %s: %s\n", target, strerror(errno));
            ac_gen_free(g);
            return 1;
        }
        for (int k = 0; k < AC_GEN_BAD_COUNT && rc == 0; k++) {
            char *p = ac_asprintf("%s/%s", target, ac_gen_bad_name((ac_gen_bad_t)k));
            if (!p) {
                rc = -ENOMEM;
                break;
            }
            rc = ac_gen_write_bad(g, (ac_gen_bad_t)k, p, &err);
            if (rc == 0)
                print_file(p, NULL);
            free(p);
        }
    } else {
        ac_gen_frame_default(&frame, type);
        if (exposure >= 0)
            frame.exptime = exposure;
        if (filter_set || color)
            frame.filter = filter;
        if (object)
            frame.object = object;
        frame.index = (int)index;
        frame.bitpix = (int)bitpix;
        frame.fz = fz;
        rc = ac_gen_write_frame(g, &frame, target, &err);
        if (rc == 0)
            print_file(target, NULL);
    }
    ac_gen_free(g);
    if (rc < 0) {
        fprintf(stderr, "acgen: %s\n", err.msg[0] ? err.msg : ac_strerror(rc));
        return 1;
    }
    return 0;
bad:
    fprintf(stderr, "acgen: unknown or incomplete option '%s'\n", badopt);
    usage(stderr);
    return EX_USAGE;
}
