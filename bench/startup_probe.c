/*
 * startup_probe.c - times, step by step, what `astrocald calibrate` does before its first
 * light starts (bench/run-engine.sh --investigate; results in bench/README.md).
 *
 * It links the engine's own static libraries (ac_io, ac_core, ac_common from the build
 * directory) and repeats oneshot.c's startup sequence with a clock around each step:
 *   1. each master: ac_imgio_load_image (cold read + MD5 of the file + ac_image_analyse);
 *      then, on the loaded image, the MD5 and the analysis again on their own, to split the
 *      load into read / MD5 / analysis (the file is warm the second time, as it is for the
 *      MD5 inside the load, which re-reads the file just read);
 *   2. ac_calib_dark_bias_decision;
 *   3. ac_imgio_read_header for every light (planning);
 *   4. ac_calib_prepare_take (analysis again, validation, offset and inverse-flat planes).
 * Drop the page cache before running it to match a cold run.
 *
 * Usage: startup_probe BIAS DARK FLAT LIGHT...
 * Output: one "step SECONDS" line per step, then "total SECONDS".
 * Ownership: single-threaded; everything is freed before exit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "calib.h"
#include "digest.h"
#include "hdr.h"
#include "imgio.h"

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    static const char *const kind[3] = {"bias", "dark", "flat"};
    ac_image_t m[3];
    ac_calset_t cs;
    ac_calib_opts_t o;
    ac_err_t e = {0};
    double t, t0 = now(), load_sum = 0, md5_sum = 0, an_sum = 0;
    char why[256], md5[33];
    bool dhb;

    if (argc < 5) {
        fputs("usage: startup_probe BIAS DARK FLAT LIGHT...\n", stderr);
        return 64;
    }
    ac_calib_opts_default(&o);
    memset(m, 0, sizeof m);
    memset(&cs, 0, sizeof cs);
    for (int i = 0; i < 3; i++) {
        double load, md, an;

        t = now();
        if (ac_imgio_load_image(argv[1 + i], &m[i], &e) != 0) {
            fprintf(stderr, "startup_probe: %s\n", e.msg);
            return 1;
        }
        load = now() - t;
        t = now();
        ac_digest_file(argv[1 + i], AC_DIGEST_MD5, md5, sizeof md5, &e);
        md = now() - t;
        t = now();
        ac_image_analyse(&m[i]);
        an = now() - t;
        printf("load_%s %.4f (read+convert %.4f, md5 %.4f, analyse %.4f)\n", kind[i], load,
               load - md - an, md, an);
        load_sum += load;
        md5_sum += md;
        an_sum += an;
    }
    printf("masters_total %.4f (read+convert %.4f, md5 %.4f, analyse %.4f)\n", load_sum,
           load_sum - md5_sum - an_sum, md5_sum, an_sum);
    t = now();
    dhb = ac_calib_dark_bias_decision(&m[1], &m[0], &o, why, sizeof why);
    printf("dark_bias_decision %.4f (%s)\n", now() - t, why);
    t = now();
    for (int i = 4; i < argc; i++) {
        ac_hdr_t h;
        ac_meta_t meta;
        double k;

        if (ac_imgio_read_header(argv[i], &h, &meta, &e) != 0) {
            fprintf(stderr, "startup_probe: %s\n", e.msg);
            return 1;
        }
        ac_hdr_free(&h);
        ac_calib_dark_scale(meta.exptime, &m[1], true, dhb, &o, &k, NULL, 0, &e);
    }
    printf("plan_%d_lights %.4f\n", argc - 4, now() - t);
    t = now();
    if (ac_calib_prepare_take(&cs, &m[0], &m[1], &m[2], NULL, 1.0, &o, &e) != 0) {
        fprintf(stderr, "startup_probe: %s\n", e.msg);
        return 1;
    }
    printf("prepare_take %.4f\n", now() - t);
    printf("total %.4f\n", now() - t0);
    ac_calset_free(&cs);
    for (int i = 0; i < 3; i++)
        ac_image_free(&m[i]);
    return 0;
}
