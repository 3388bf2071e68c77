/*
 * starfield.h - synthetic star fields with a known PSF, in memory (test support; built into
 * the generator library as fitsgen_starfield.c, but needs no cfitsio).
 *
 * A frame of width x height float ADU:
 *   sky + sum over stars of peak_i * P(x - x_i, y - y_i) + artefacts, then noise,
 * P the unit-peak profile of spec.shape (starprofile.h) integrated over each pixel (6 x 6
 * points within 1.5 FWHM of the centre, 2 x 2 beyond, out to 6 FWHM for a Moffat and 3.5 for
 * a Gaussian), noise Gaussian with variance value / gain + read_noise^2 (Poisson-like),
 * from a seeded xoshiro256** stream (same spec, same frame), then clipped at saturation.
 *
 * Stars (spec.nstars, uniform positions at least 24 px from the edges and 30 px from the
 * trail, at least 3 FWHM + 3 px (saturated: 8 FWHM) plus the other's distance apart, so that
 * none blend):
 *  - spec.nsaturated with peaks of 2-10 x saturation (clipped: saturated);
 *  - one in eight faint, peak 0.3-1.5 x the sky noise (below any detection limit);
 *  - the others detectable, peak log-uniform in [20, peak_max_snr] x the sky noise.
 * Artefacts: spec.nhot hot pixels (single pixels, +2000..+20000 ADU), spec.ncosmic cosmic
 * rays (straight 1 px wide streaks of 3-7 px, +3000 ADU), and with spec.trail a satellite
 * trail across the frame (Gaussian cross-section, sigma 1 px, 12 x the sky noise).
 * Variants: cloud > 0 multiplies every second star's peak by cloud ("half the stars
 * dimmed"); drift > 0 trails every star over drift px at drift_angle (the sum of 24 PSF
 * copies along the segment); a 4-letter bayerpat multiplies each pixel, sky included, by
 * the CFA colour's response (R 0.6, G 1.0, B 0.5) before the noise.
 *
 * Truth: ac_starfield_t lists every star (position, peak, class) and counts the
 * detectable ones that are neither saturated nor dimmed below 20 x the noise.
 *
 * Ownership: ac_starfield_t owns its pixels and stars (ac_starfield_free).
 * Thread: pure; any thread.
 */
#ifndef AC_STARFIELD_H
#define AC_STARFIELD_H

#include <stdbool.h>
#include <stdint.h>

#include "starprofile.h"

typedef struct ac_starfield_spec {
    int width, height;
    uint64_t seed;
    ac_star_shape_t shape;
    int nstars, nsaturated, nhot, ncosmic;
    bool trail;
    double sky, gain, read_noise, saturation; /* ADU, e-/ADU, ADU, ADU */
    double peak_max_snr;
    double cloud;
    double drift, drift_angle;
    char bayerpat[8]; /* "" mono */
} ac_starfield_spec_t;

/* ac_starfield_spec_default: 1280 x 1024, 300 stars (8 saturated), 40 hot pixels, 6 cosmic
 * rays, a trail, sky 1000 ADU, gain 1, read noise 5, saturation 65535, peaks up to 400 x the
 * noise, Gaussian FWHM 3.5 round, no cloud, no drift, mono. */
void ac_starfield_spec_default(ac_starfield_spec_t *s, uint64_t seed);

typedef enum ac_starfield_class {
    AC_SF_DETECTABLE = 0,
    AC_SF_FAINT,
    AC_SF_SATURATED,
} ac_starfield_class_t;

typedef struct ac_starfield_star {
    double x, y, peak; /* peak ADU above the sky (after cloud; before the CFA response) */
    ac_starfield_class_t cls;
} ac_starfield_star_t;

typedef struct ac_starfield {
    float *px;
    int width, height;
    ac_starfield_star_t *stars;
    int nstars;
    int ndetectable; /* class DETECTABLE with peak >= 20 x noise */
    double noise;    /* sky noise, ADU (sqrt(sky / gain + rn^2)) */
} ac_starfield_t;

/* ac_starfield_make renders spec into f. 0, -EINVAL or -ENOMEM. */
int ac_starfield_make(const ac_starfield_spec_t *spec, ac_starfield_t *f);
void ac_starfield_free(ac_starfield_t *f);

#endif
