/*
 * quality.c - quality figures of a calibrated frame (see quality.h).
 *
 * The accumulator keeps every stride-th pixel of the frame (a regular grid in frame
 * order, so the samples do not depend on the strip size), at most AC_QUALITY_MAX_SAMPLES
 * of them; background and noise come from those samples, the fractions from the exact
 * per-pixel counts of ac_calib_rows. The stride is odd: with an even stride and an even
 * width every sample would sit in an even column, leaving out a colour of a CFA frame.
 * ac_quality_finish selects the median and the MAD in the sample buffer itself (no copy,
 * no fresh memory per frame).
 *
 * Ownership: the accumulator owns its sample buffer (ac_quality_acc_free).
 * Thread: one accumulator per job; pure functions.
 */
#include "quality.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

int ac_quality_acc_init(ac_quality_acc_t *q, uint64_t npixels)
{
    memset(q, 0, sizeof *q);
    q->stride = npixels > AC_QUALITY_MAX_SAMPLES
                    ? (npixels + AC_QUALITY_MAX_SAMPLES - 1) / AC_QUALITY_MAX_SAMPLES
                    : 1;
    if (q->stride > 1 && q->stride % 2 == 0)
        q->stride++; /* fewer samples, never more */
    q->cap = npixels ? (size_t)((npixels + q->stride - 1) / q->stride) : 1;
    q->samples = malloc(q->cap * sizeof *q->samples);
    return q->samples ? 0 : -ENOMEM;
}

void ac_quality_acc_free(ac_quality_acc_t *q)
{
    if (q == NULL)
        return;
    free(q->samples);
    memset(q, 0, sizeof *q);
}

void ac_quality_add_rows(ac_quality_acc_t *q, const float *px, size_t n)
{
    uint64_t r = q->seen % q->stride;
    size_t j = r ? (size_t)(q->stride - r) : 0;

    for (; j < n && q->n_samples < q->cap; j += q->stride)
        if (isfinite(px[j]))
            q->samples[q->n_samples++] = px[j];
    q->seen += n;
}

/*
 * The score (0..100) starts at 100 and subtracts one penalty per defect, each growing
 * with its figure (so the score never rises when a defect worsens), then clamps:
 *
 *   score = 100 - 500 * (frac_negative + frac_zero)  clipped or below-zero pixels:
 *                                                    1 % costs 5 points, 20 % costs all
 *               - 1000 * frac_saturated             1 % saturated costs 10 points
 *               - 1000 * frac_dead                  1 % dead (floored flat) costs 10
 *               - 5 * max(0, 8 - dynamic_range)     fewer than 8 bits between the
 *                                                    background and the brightest pixel
 *                                                    (in noise units) costs 5 per bit;
 *                                                    only when noise > 0
 *
 * A good frame (no negatives, a few hot or saturated stars, 12 bits of range) scores 100;
 * a frame that is entirely negative scores 0.
 */
double ac_quality_score(const ac_quality_t *q)
{
    double s = 100.0;

    s -= 500.0 * (q->frac_negative + q->frac_zero);
    s -= 1000.0 * q->frac_saturated;
    s -= 1000.0 * q->frac_dead;
    if (q->noise > 0)
        s -= 5.0 * fmax(0.0, 8.0 - q->dynamic_range);
    if (!(s > 0)) /* also NaN figures */
        return 0;
    return s < 100 ? s : 100;
}

int ac_quality_finish(ac_quality_acc_t *q, const ac_rowstats_t *st, ac_quality_t *out)
{
    float *s = q->samples;
    size_t n = q->n_samples;
    double med, total;

    memset(out, 0, sizeof *out);
    if (n == 0)
        return -ERANGE;
    if (st != NULL && st->n > 0 && st->min <= st->max) {
        out->min = st->min;
        out->max = st->max;
    } else {
        out->min = out->max = s[0];
        for (size_t i = 1; i < n; i++) {
            out->min = fmin(out->min, s[i]);
            out->max = fmax(out->max, s[i]);
        }
    }
    /* The samples are all finite (ac_quality_add_rows keeps no other): median, then the
     * median of the absolute deviations, in place (the same values ac_stats_median_mad
     * gives on a copy). */
    med = ac_stats_median_inplace(s, n);
    for (size_t i = 0; i < n; i++)
        s[i] = (float)fabs((double)s[i] - med);
    out->background = med;
    out->noise = 1.4826 * ac_stats_median_inplace(s, n);
    if (out->noise > 0 && out->max > out->background)
        out->dynamic_range = log2((out->max - out->background) / out->noise);
    if (out->dynamic_range < 0)
        out->dynamic_range = 0;
    total = st != NULL ? (double)st->n : 0;
    if (total > 0) {
        out->frac_negative = (double)st->n_negative / total;
        out->frac_zero = (double)st->n_zero / total;
        out->frac_saturated = (double)st->n_saturated_in / total;
        out->frac_dead = (double)st->n_dead / total;
    }
    out->score = ac_quality_score(out);
    return 0;
}
