/*
 * stars.c - times the star measurement (work/stars.h) on a full-size synthetic frame
 * (results and method in bench/stars.md).
 *
 *   stars_bench [--size WxH] [--stars N] [--reps K] [--fwhm F]
 *
 * Makes one star field with tests/support/starfield.h (default 6248 x 4176, 3000 stars,
 * Moffat FWHM 3.5 px, saturated stars, hot pixels, cosmic rays and a trail) in memory, then
 * measures it K times (default 3) in each mode: mono at full resolution (bin 1), mono on
 * the 2 x 2-binned copy (bin 2), the same pixels as an RGGB CFA frame (superpixels), and
 * full resolution with every star fitted (max_fit unlimited). Prints one line per mode with
 * the median wall and CPU time, SEP's part (background + extraction) and the per-star part, the
 * working-image bytes, the star count and the medians.
 *
 * Exit status 0, or 1 when a measurement fails, 64 on usage errors. Single-threaded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "starfield.h"
#include "stars.h"

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double clock_s(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double now_s(void)
{
    return clock_s(CLOCK_MONOTONIC);
}

static int run(const char *name, const ac_starfield_t *f, const char *bayer, int bin,
               int max_fit, int reps)
{
    double wall[16], cpu[16], sep[16], fit[16];
    ac_stars_result_t r = {0};
    ac_stars_opts_t o;
    ac_err_t e = {0};
    ac_stars_image_t img = {
        .px = f->px, .width = f->width, .height = f->height, .bayerpat = bayer};

    ac_stars_opts_default(&o);
    o.saturation = 65535;
    o.bin = bin;
    o.max_fit = max_fit;
    for (int i = 0; i < reps; i++) {
        double t0 = now_s(), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        if (ac_stars_measure(&img, &o, &r, &e) != 0) {
            fprintf(stderr, "%s: %s\n", name, e.msg);
            return 1;
        }
        wall[i] = now_s() - t0;
        cpu[i] = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
        sep[i] = r.t_sep;
        fit[i] = r.t_fit;
        if (i + 1 < reps)
            ac_stars_result_free(&r);
    }
    qsort(wall, (size_t)reps, sizeof *wall, cmpd);
    qsort(cpu, (size_t)reps, sizeof *cpu, cmpd);
    qsort(sep, (size_t)reps, sizeof *sep, cmpd);
    qsort(fit, (size_t)reps, sizeof *fit, cmpd);
    printf(
        "%-20s wall %6.3f s cpu %6.3f s (sep %6.3f s, stars %6.3f s) work %5.1f MB  stars %5d "
        "fitted %5d fwhm %.3f hfr %.3f ecc %.3f\n",
        name, wall[reps / 2], cpu[reps / 2], sep[reps / 2], fit[reps / 2],
        ac_stars_work_bytes(&img, &o) / 1e6, r.nstars, r.nfitted, r.fwhm, r.hfr, r.ecc);
    ac_stars_result_free(&r);
    return 0;
}

int main(int argc, char **argv)
{
    ac_starfield_spec_t sp;
    ac_starfield_t f;
    int reps = 3, w = 6248, h = 4176, n = 3000;
    double fwhm = 3.5;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--size") == 0 && i + 1 < argc &&
            sscanf(argv[++i], "%dx%d", &w, &h) == 2)
            continue;
        if (strcmp(argv[i], "--stars") == 0 && i + 1 < argc) {
            n = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            reps = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--fwhm") == 0 && i + 1 < argc) {
            fwhm = atof(argv[++i]);
        } else {
            fprintf(stderr,
                    "usage: stars_bench [--size WxH] [--stars N] [--reps K] [--fwhm F]\n");
            return 64;
        }
    }
    if (reps < 1 || reps > 16)
        reps = 3;
    ac_starfield_spec_default(&sp, 2026);
    sp.width = w;
    sp.height = h;
    sp.nstars = n;
    sp.nsaturated = n / 40;
    sp.nhot = 2000;
    sp.ncosmic = 50;
    sp.shape =
        (ac_star_shape_t){.moffat = true, .fwhm = fwhm, .ecc = 0.2, .angle = 0.3, .beta = 3.0};
    double t0 = now_s();
    if (ac_starfield_make(&sp, &f) != 0)
        return 1;
    printf(
        "frame %d x %d, %d stars placed (%d detectable), FWHM %.2f px; generated in %.1f s\n",
        w, h, f.nstars, f.ndetectable, fwhm, now_s() - t0);
    int rc = run("mono full resolution", &f, NULL, 1, 500, reps) ||
             run("mono 2x2 binned", &f, NULL, 2, 500, reps) ||
             run("CFA superpixel", &f, "RGGB", 2, 500, reps) ||
             run("mono full, fit all", &f, NULL, 1, 1 << 30, reps);
    ac_starfield_free(&f);
    return rc;
}
