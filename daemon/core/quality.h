/*
 * quality.h - quality figures of a calibrated frame, computed while it streams (pure).
 *
 * The engine feeds each calibrated strip to ac_quality_add_rows(), which keeps a regular
 * grid of samples (bounded: at most AC_QUALITY_MAX_SAMPLES values whatever the frame
 * size; 256 K samples give the background and noise of a frame to well under 1 % of its
 * noise); the per-pixel counts come from ac_calib_rows' ac_rowstats_t. ac_quality_finish()
 * computes background (median), noise (1.4826 * MAD), dynamic range, the negative, zero,
 * saturated and dead fractions, and a score 0-100 (docs/calibration.md, "Quality").
 *
 * Ownership: ac_quality_acc_t owns its sample buffer (ac_quality_acc_free).
 * Thread: one accumulator per job; pure functions.
 */
#ifndef AC_QUALITY_H
#define AC_QUALITY_H

#include <stddef.h>
#include <stdint.h>

#include "calib.h"

#define AC_QUALITY_MAX_SAMPLES (1u << 18)

typedef struct ac_quality_acc {
    float *samples;
    size_t n_samples, cap;
    uint64_t stride; /* keep pixel i (frame order) when i % stride == 0; 1 or odd, so that
                        both column and row parities (every CFA colour) are sampled */
    uint64_t seen;   /* pixels offered so far */
} ac_quality_acc_t;

typedef struct ac_quality {
    double background;    /* median of the output, ADU */
    double noise;         /* 1.4826 * MAD, ADU */
    double dynamic_range; /* log2((max - background) / noise), bits; 0 when undefined */
    double min, max;
    double frac_negative, frac_zero, frac_saturated, frac_dead;
    double score; /* 0..100 */
} ac_quality_t;

/* ac_quality_acc_init prepares an accumulator for a frame of npixels. 0 or -ENOMEM. */
int ac_quality_acc_init(ac_quality_acc_t *q, uint64_t npixels);
void ac_quality_acc_free(ac_quality_acc_t *q);

/* ac_quality_add_rows offers n consecutive output pixels (whole rows, in frame order). */
void ac_quality_add_rows(ac_quality_acc_t *q, const float *px, size_t n);

/* ac_quality_finish computes the figures from the samples and the counts in st. The
 * samples serve as its scratch (their values are lost; add no rows afterwards). 0, or
 * -ERANGE when no finite sample exists. */
int ac_quality_finish(ac_quality_acc_t *q, const ac_rowstats_t *st, ac_quality_t *out);

/* ac_quality_score maps the figures to 0..100 (exposed for tests and docs); the formula
 * is documented above its definition in quality.c. */
double ac_quality_score(const ac_quality_t *q);

#endif
