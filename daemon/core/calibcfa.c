/*
 * calibcfa.c - the flat's levels per 2x2 position or CFA colour, and the check that a flat
 * saying it is mono is not a colour sensor's (see calib_int.h; used by calib.c's
 * prepare_flat).
 *
 * Thread: pure functions, any thread.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "calib.h"
#include "calib_int.h"
#include "err.h"
#include "stats.h"

/* ac_calib_class_means: see calib_int.h. */
int ac_calib_class_means(const ac_calset_t *cs, const float *F, const int col[2][2], int ncls,
                         double *out)
{
    size_t w = (size_t)cs->w, h = (size_t)cs->h, cells = ((w + 1) / 2) * ((h + 1) / 2);
    size_t r = 1, cap, cnt[4] = {0, 0, 0, 0};
    float *buf[4] = {NULL, NULL, NULL, NULL};
    int rc = 0;

    while (cells / (r * r) > AC_CALIB_SCALE_SAMPLES / 2)
        r++;
    cap = 2 * (cells / (r * r) + w + h + 1);
    for (int c = 0; c < ncls && rc == 0; c++)
        if ((buf[c] = malloc(cap * sizeof(float))) == NULL)
            rc = -ENOMEM;
    for (size_t yc = 0; rc == 0 && 2 * yc < h; yc += r)
        for (size_t y = 2 * yc; y < 2 * yc + 2 && y < h; y++)
            for (size_t xc = 0; 2 * xc < w; xc += r)
                for (size_t x = 2 * xc; x < 2 * xc + 2 && x < w; x++) {
                    int c = col[y & 1][x & 1];
                    buf[c][cnt[c]++] = F[y * w + x];
                }
    for (int c = 0; c < ncls && rc == 0; c++) {
        rc = ac_stats_clipped_mean(buf[c], cnt[c], 0, 3.0, 3, &out[c]);
        if (rc == -ERANGE) {
            out[c] = NAN;
            rc = 0;
        }
    }
    for (int c = 0; c < ncls; c++)
        free(buf[c]);
    return rc;
}

/* MONO_CFA_RATIO: a flat without a Bayer pattern whose four 2x2 positions differ by more
 * than this (largest / smallest robust mean) is a colour camera's flat: a mono flat's
 * neighbouring pixels see the same light (they agree to well under 1 %), a colour
 * sensor's colours differ by 1.5 to 3 times under any flat light. */
#define MONO_CFA_RATIO 1.25

/* check_mono_flat refuses a flat that says it is mono (no BAYERPAT, COLORTYP) but whose 2x2
 * positions differ like a colour sensor's: normalising it by one level would leave the
 * colours' flat levels in the light; per-colour normalisation needs the pattern. */
int ac_calib_check_mono_flat(const ac_calset_t *cs, const ac_image_t *f, const float *F,
                             ac_err_t *e)
{
    static const int pos[2][2] = {{0, 1}, {2, 3}};
    double m[4], lo = INFINITY, hi = 0;
    int rc;

    if (cs->w < 2 || cs->h < 2)
        return 0;
    if ((rc = ac_calib_class_means(cs, F, pos, 4, m)) != 0)
        return ac_err_set(e, rc, "flat %s: no memory for its scale", f->path);
    for (int c = 0; c < 4; c++) {
        if (!(m[c] > 0))
            return 0; /* refused below for its non-positive scale */
        lo = fmin(lo, m[c]);
        hi = fmax(hi, m[c]);
    }
    if (hi / lo <= MONO_CFA_RATIO)
        return 0;
    return ac_err_set(e, AC_EMASTER,
                      "flat %s has no Bayer pattern (BAYERPAT or COLORTYP) but its 2x2 "
                      "positions differ like a colour sensor's (robust means %.1f, %.1f, %.1f, "
                      "%.1f: ratio %.2f > %.2f): a colour flat must be normalised per colour, "
                      "which needs its BAYERPAT (and the lights')",
                      f->path, m[0], m[1], m[2], m[3], hi / lo, MONO_CFA_RATIO);
}
