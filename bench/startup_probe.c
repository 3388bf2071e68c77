/*
 * startup_probe.c - times, step by step, what `astrocald calibrate` does before its first
 * light starts (bench/run-engine.sh --investigate; results in bench/README.md).
 *
 * It links the engine's own static libraries (ac_io, ac_core, ac_common from the build
 * directory) and repeats oneshot.c's startup sequence with a clock around each step:
 *   1. the masters: for each, ac_imgio_load_pixels (cold read + conversion) and
 *      ac_digest_file (its MD5) on threads of their own, all started at once as oneshot.c
 *      does on the libuv pool; the step ends when the pixels are loaded (each load
 *      thread's own time is shown too);
 *   2. ac_calib_dark_bias_decision;
 *   3. ac_imgio_read_header for every light (planning);
 *   4. ac_calib_prepare_take (analysis of each master, validation, offset and inverse-flat
 *      planes), while the MD5s go on;
 *   5. waiting for the MD5s still running.
 * With --split it first replays the masters one after another and splits each into the
 * load (ac_imgio_load_pixels), the MD5 (ac_digest_file, warm file) and the analysis
 * (ac_image_analyse, which prepare_take does): these informational timings are not part
 * of the total, and leave the files warm, so drop the page cache before a cold run
 * without --split.
 *
 * Usage: startup_probe [--split] BIAS DARK FLAT LIGHT...
 * Output: one "step SECONDS" line per step, then "total SECONDS".
 * Ownership: everything is freed before exit. Thread: two threads per master in step 1.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "calib.h"
#include "digest.h"
#include "hdr.h"
#include "imgio.h"

static const char *const kind[3] = {"bias", "dark", "flat"};

struct load {
    pthread_t th, md5_th;
    const char *path;
    ac_image_t img;
    ac_err_t err, md5_err;
    int rc, md5_rc;
    double secs;
    char md5[33];
};

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *load_thread(void *arg)
{
    struct load *l = arg;
    double t = now();

    l->rc = ac_imgio_load_pixels(l->path, &l->img, &l->err);
    l->secs = now() - t;
    return NULL;
}

static void *md5_thread(void *arg)
{
    struct load *l = arg;

    l->md5_rc = ac_digest_file(l->path, AC_DIGEST_MD5, l->md5, sizeof l->md5, &l->md5_err);
    return NULL;
}

/* split replays the loads one after another and splits each (informational). */
static int split(char **paths)
{
    for (int i = 0; i < 3; i++) {
        ac_image_t img;
        ac_err_t e = {0};
        char md5[33];
        double t = now(), load, md, an;

        if (ac_imgio_load_pixels(paths[i], &img, &e) != 0) {
            fprintf(stderr, "startup_probe: %s\n", e.msg);
            return 1;
        }
        load = now() - t;
        t = now();
        ac_digest_file(paths[i], AC_DIGEST_MD5, md5, sizeof md5, &e);
        md = now() - t;
        t = now();
        ac_image_analyse(&img);
        an = now() - t;
        printf("split_%s load %.4f, md5 %.4f, analyse %.4f\n", kind[i], load, md, an);
        ac_image_free(&img);
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct load l[3];
    ac_calset_t cs;
    ac_calib_opts_t o;
    ac_err_t e = {0};
    double t, t0;
    char why[256];
    bool dhb;
    int a = 1;

    if (argc > 1 && strcmp(argv[1], "--split") == 0)
        a = 2;
    if (argc - a < 4) {
        fputs("usage: startup_probe [--split] BIAS DARK FLAT LIGHT...\n", stderr);
        return 64;
    }
    if (a == 2 && split(argv + a) != 0)
        return 1;
    ac_calib_opts_default(&o);
    memset(l, 0, sizeof l);
    memset(&cs, 0, sizeof cs);
    t0 = t = now();
    for (int i = 0; i < 3; i++) {
        l[i].path = argv[a + i];
        if (pthread_create(&l[i].th, NULL, load_thread, &l[i]) != 0 ||
            pthread_create(&l[i].md5_th, NULL, md5_thread, &l[i]) != 0) {
            fputs("startup_probe: cannot start a thread\n", stderr);
            return 1;
        }
    }
    for (int i = 0; i < 3; i++)
        pthread_join(l[i].th, NULL);
    for (int i = 0; i < 3; i++) {
        if (l[i].rc != 0) {
            fprintf(stderr, "startup_probe: %s\n", l[i].err.msg);
            return 1;
        }
        printf("load_%s %.4f (its thread)\n", kind[i], l[i].secs);
    }
    printf("masters_loaded %.4f\n", now() - t);
    t = now();
    dhb = ac_calib_dark_bias_decision(&l[1].img, &l[0].img, &o, why, sizeof why);
    printf("dark_bias_decision %.4f (%s)\n", now() - t, why);
    t = now();
    for (int i = a + 3; i < argc; i++) {
        ac_hdr_t h;
        ac_meta_t meta;
        double k;

        if (ac_imgio_read_header(argv[i], &h, &meta, &e) != 0) {
            fprintf(stderr, "startup_probe: %s\n", e.msg);
            return 1;
        }
        ac_hdr_free(&h);
        ac_calib_dark_scale(meta.exptime, &l[1].img, true, dhb, &o, &k, NULL, 0, &e);
    }
    printf("plan_%d_lights %.4f\n", argc - a - 3, now() - t);
    t = now();
    if (ac_calib_prepare_take(&cs, &l[0].img, &l[1].img, &l[2].img, NULL, 1.0, &o, &e) != 0) {
        fprintf(stderr, "startup_probe: %s\n", e.msg);
        return 1;
    }
    printf("prepare_take %.4f\n", now() - t);
    t = now();
    for (int i = 0; i < 3; i++) {
        pthread_join(l[i].md5_th, NULL);
        if (l[i].md5_rc != 0) {
            fprintf(stderr, "startup_probe: %s\n", l[i].md5_err.msg);
            return 1;
        }
    }
    printf("md5_wait %.4f\n", now() - t);
    printf("total %.4f\n", now() - t0);
    ac_calset_free(&cs);
    for (int i = 0; i < 3; i++)
        ac_image_free(&l[i].img);
    return 0;
}
