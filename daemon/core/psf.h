/*
 * psf.h - fit of a star's point-spread function to a background-subtracted cutout (pure).
 *
 * Two models, as Siril's and PixInsight's PSF fits offer them, each elliptical:
 *   Gaussian  f = B + A * exp(-q)
 *   Moffat    f = B + A * (1 + u q)^(-1/u),  u = 1 / beta
 * with q = cxx dx^2 + cyy dy^2 + cxy dx dy, dx = x - x0, dy = y - y0. The quadratic form's
 * eigenvalues are 1 / (2 sigma^2) for the Gaussian and 1 / (u alpha^2) for the Moffat, whose
 * usual form (1 + r^2/alpha^2)^(-beta) this is; so written the Moffat tends to the Gaussian
 * as beta grows (u -> 0) and a Gaussian star fitted with a free beta converges to beta =
 * infinity (u = 0, reported as INFINITY) instead of wandering off. B is a free local offset
 * (what the background map left), A the peak of the continuous profile. The Moffat's beta is
 * free by default (Siril's "Moffat" and PixInsight DynamicPSF's "Moffat"; fit_beta = false
 * fixes it at opts.beta, like PixInsight's Moffat4..Moffat15 variants).
 *
 * The model is integrated over each pixel (a pixel's value is the mean of the profile on a
 * regular s x s grid of points inside it, s from opts.subpix, 0 = chosen from the start
 * FWHM: 4 below 3 px, 3 below 5 px, else 2), so that the fitted widths are those of the
 * star, not of the star convolved with the pixel. The grid's own residual smoothing (its
 * variance falls short of the pixel's 1/12 px^2 by 1/(12 s^2)) is removed from both axes in
 * quadrature; exact for the Gaussian, within 0.2 % of the FWHM for a Moffat above 2 px.
 *
 * Results, from the eigenvalues l1 <= l2 of the quadratic form (half maximum at
 * q = (2^u - 1) / u, ln 2 for the Gaussian):
 *   Gaussian  FWHM_i = 2 sqrt(ln 2 / l_i)                 (= 2 sqrt(2 ln 2) sigma_i)
 *   Moffat    FWHM_i = 2 sqrt((2^u - 1) / (u l_i))        (= 2 sqrt(2^(1/beta) - 1) alpha_i)
 *   fwhm = sqrt(FWHM_major * FWHM_minor), ecc = sqrt(1 - (minor/major)^2),
 *   angle of the major axis from +x towards +y (the row index), in (-pi/2, pi/2].
 * The fit is Levenberg-Marquardt (Marquardt's diagonal damping, Cholesky solve) on the
 * unweighted squared residuals, at most opts.max_iter iterations; a step that leaves the
 * valid region (A <= 0, not positive definite, FWHM below 0.05 px, centre outside the
 * cutout, beta below 1.05) is refused; a step past
 * beta = infinity stops there (projected) like one that raises the residual.
 *
 * Cost: two model evaluations (one with derivatives) per pixel and grid point per
 * iteration; about 1 ms for a FWHM 3.5 px star (17 x 17 box, 9 points per pixel, 5-10
 * iterations) on one core of the test machine (bench/stars.md).
 * Thread: pure, any thread; no allocation.
 */
#ifndef AC_PSF_H
#define AC_PSF_H

#include <stdbool.h>

typedef enum ac_psf_model { AC_PSF_GAUSSIAN = 0, AC_PSF_MOFFAT = 1 } ac_psf_model_t;

/* The largest cutout side ac_psf_fit accepts. */
#define AC_PSF_MAX_SIDE 96

typedef struct ac_psf_opts {
    ac_psf_model_t model;
    bool fit_beta; /* Moffat: beta free (default true) or fixed at beta */
    double beta;   /* Moffat: start value (default 3) or the fixed value */
    int subpix;    /* points per pixel side; 0 (default) chooses from the start FWHM */
    int max_iter;  /* default 60 */
} ac_psf_opts_t;

void ac_psf_opts_default(ac_psf_opts_t *o);

typedef struct ac_psf {
    double bg, amp;      /* B and A above */
    double x, y;         /* centre in cutout coordinates (pixel centres at integers) */
    double fwhm_major;   /* px */
    double fwhm_minor;   /* px */
    double fwhm;         /* sqrt(major * minor), px */
    double ecc;          /* sqrt(1 - (minor / major)^2) */
    double angle;        /* radians, see above */
    double beta;         /* Moffat beta (INFINITY: the Gaussian limit); NAN for the Gaussian */
    double rms;          /* residual rms per pixel after the fit */
    double rel_residual; /* rms / amp */
    int iters;
    bool converged; /* the residual stopped decreasing within max_iter */
} ac_psf_t;

/* ac_psf_fit fits o->model to the w x h cutout (row-major; NaN pixels ignored), starting
 * from centre (x0, y0) and an estimate of the FWHM (px). Returns 0 with *out filled (read
 * out->converged), or -EINVAL for a cutout smaller than 3 x 3 or larger than
 * AC_PSF_MAX_SIDE, fewer finite pixels than twice the parameters, or a bad estimate. */
int ac_psf_fit(const float *cut, int w, int h, double x0, double y0, double fwhm0,
               const ac_psf_opts_t *o, ac_psf_t *out);

/* ac_psf_hfr_blur returns how much a star's squared half-flux radius grows per px^2 of
 * variance added by a small blur (a pixel, a binning box): -d ln I / d ln r at the HFR.
 * A blur of variance v per axis changes I by (v/2) lap I, the flux inside r by
 * pi v r I'(r), so d(HFR^2) = -v HFR I'(HFR) / I(HFR):
 *   Gaussian (beta infinite or <= 1 given)  2 ln 2
 *   Moffat                                  2 beta s / (1 + s),  s = 2^(1/(beta-1)) - 1. */
double ac_psf_hfr_blur(double beta);

/* ac_psf_fwhm_factor returns FWHM / width for a profile: 2 sqrt(2 ln 2) for the Gaussian
 * (width sigma) and 2 sqrt(2^(1/beta) - 1) for the Moffat (width alpha). */
double ac_psf_fwhm_factor(ac_psf_model_t model, double beta);

#endif
