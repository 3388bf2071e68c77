/*
 * grade.h - judging calibrated lights by their star metrics (issue 11; pure).
 *
 * A light's figures (ac_grade_fig_t) come from the star measurement (work/stars.h) of its
 * calibrated output; ac_grade_judge compares each light of a session with that session's
 * median and MAD under the rules of the [QUALITY] section (ac_grade_rules_t) and gives
 * every light a verdict with every failed rule and its value (docs/grading.md, "Automatic
 * rejection"). The rules:
 *   fwhm         FWHM above median + max(fwhm_mad_k * 1.4826 MAD, fwhm_min_excess * median)
 *   stars        star count below min_star_fraction * the session's median
 *   eccentricity eccentricity above max_eccentricity (absolute)
 *   snr          image SNR below min_snr_fraction * the session's median
 *   nonfinite    fraction of NaN/inf pixels above max_nonfinite_fraction (absolute)
 *   flat         |flat-field residual| above max_flat_residual (absolute, see
 *                ac_grade_flat_residual)
 *   nostars      no star measured at all (absolute)
 * The relative rules (fwhm, stars, snr) need at least min_session_frames measured lights
 * in the session; with fewer only the absolute rules apply.
 *
 * Ownership: the caller owns every array. Thread: any (pure).
 */
#ifndef AC_GRADE_H
#define AC_GRADE_H

#include <stdbool.h>
#include <stddef.h>

#include "hdr.h"

/* Header cards the grading stage writes (FWHM, HFR, ECCENTR, STARCNT, IMGSNR, PIXSCALE,
 * FLATRES, QREJECT) plus two spare; the engine reserves this many blank slots after END so
 * that the cards fit without moving the data. */
#define AC_GRADE_CARDS 10

typedef struct ac_grade_rules {
    double fwhm_mad_k;        /* 3 */
    double fwhm_min_excess;   /* 0.10 of the median */
    double min_star_fraction; /* 0.75 */
    double max_eccentricity;  /* 0.6 */
    double min_snr_fraction;  /* 0.7 */
    double max_nonfinite;     /* 0.01 */
    double max_flat_residual; /* 0.05 */
    int min_session_frames;   /* 3 */
} ac_grade_rules_t;

void ac_grade_rules_default(ac_grade_rules_t *r);

/* One measured light. NAN where a figure is unknown (no stars, no scale). */
typedef struct ac_grade_fig {
    double fwhm, hfr; /* px */
    double ecc;
    int stars;
    double snr;
    double scale;         /* arcsec per px */
    double nonfinite;     /* fraction of pixels */
    double flat_residual; /* signed, see ac_grade_flat_residual */
} ac_grade_fig_t;

/* The verdict of one light. */
typedef struct ac_grade_verdict {
    bool rejected;
    char reasons[512]; /* "fwhm 4.10 > 3.52; stars 120 < 0.75 x 310", "" when accepted */
    double score;      /* 0..100: 100 at the session's medians, lower the further off */
} ac_grade_verdict_t;

/* The session's reference figures (medians over its measured lights). */
typedef struct ac_grade_ref {
    int n;
    double fwhm, fwhm_mad, stars, snr, ecc, hfr;
} ac_grade_ref_t;

/* ac_grade_reference computes the medians and the FWHM's MAD of figs[0..n-1]. */
void ac_grade_reference(const ac_grade_fig_t *figs, size_t n, ac_grade_ref_t *ref);

/* ac_grade_judge judges figs[0..n-1] against their own reference under rules, filling
 * out[0..n-1]. Returns 0, or -ENOMEM. */
int ac_grade_judge(const ac_grade_fig_t *figs, size_t n, const ac_grade_rules_t *rules,
                   ac_grade_verdict_t *out);

/* ac_grade_flat_residual measures a flat-field residual from a background mesh (nx x ny
 * node values, row-major, e.g. SEP's; each node the background of a cell_w x cell_h cell of
 * a width x height image, the last cells cut at the edge): the mesh is fitted by least
 * squares at the cells' centres with c0 + c1 x + c2 y + c3 r^2 (x, y in -1..1 over the
 * frame, r^2 = (x^2 + y^2) / 2, so r^2 = 1 in the corners), one pass with nodes beyond 3 sigma
 * of the fit dropped, and the result is c3 / c0: the relative brightness of the corners against
 * the centre that a plane (a sky gradient) does not explain. Vignetting left by a missing or
 * wrong flat reads negative (dark corners), an over-correction positive. NAN when the mesh is
 * smaller than 3 x 3 or the level c0 is below 5 x rms (a background too close to 0 to be
 * divided by). */
double ac_grade_flat_residual(const float *mesh, int nx, int ny, int cell_w, int cell_h,
                              int width, int height, double rms);

/* ac_grade_cards appends the figures' header cards to h (FWHM, HFR, ECCENTR, STARCNT,
 * IMGSNR, FLATRES, and PIXSCALE when with_scale and the scale is known); unknown figures
 * are left out. 0 or -ENOMEM. */
int ac_grade_cards(ac_hdr_t *h, const ac_grade_fig_t *f, bool with_scale);

/* ac_grade_qreject_value fits reasons into a FITS string value (68 characters, cut at a
 * rule boundary with "..." when longer). */
void ac_grade_qreject_value(const char *reasons, char *out, size_t size);

#endif
