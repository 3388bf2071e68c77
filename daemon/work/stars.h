/*
 * stars.h - star metrics of one frame: SEP detection, PSF fits, half-flux radii, SNR.
 *
 * What it does (docs/grading.md has the definitions users read):
 *  1. The working image: a mono frame as it is (bin 1), or a 2 x 2 binned copy (bin 2):
 *     always for a CFA frame (the superpixel luminance: the mean of each whole R, G, G, B
 *     cell, the cells starting where the pattern starts, XBAYROFF/YBAYROFF parity, each
 *     colour first scaled to the common sky level so that the four pixels weigh alike:
 *     unequal weights on the R-B and G-G diagonals would elongate every star), and for
 *     a mono frame whose full-resolution copy would exceed opts.max_work_bytes.
 *  2. SEP (the C library of Source Extractor, Debian libsep): sep_background (64 x 64
 *     meshes, 3 x 3 median filter), subtracted in place; sep_extract at opts.thresh times the
 *     global background RMS, minimum area opts.minarea, the 3 x 3 "1 2 1" detection filter,
 *     deblending (32 levels, contrast 0.005) and cleaning on. When SEP's pixel stack or
 *     deblending overflows (a large nebula, a bright trail), the extraction is retried at a
 *     doubled threshold, at most three times (result thresh_used).
 *  3. Objects are rejected (ac_star_t.reject, result counts) when they are blended (SEP's
 *     MERGED flag), touch the edge (TRUNC flag, or the fit box would leave the image),
 *     contain a pixel at or above opts.saturation in the input, are too sharp for a star
 *     (hot pixels, cosmic rays: peak above half the isophotal flux, minor moment axis below
 *     0.3 working px, a fitted FWHM below opts.min_fwhm or a fitted minor axis below 0.7
 *     opts.min_fwhm), or are elongated artefacts
 *     (satellite and aircraft trails: moment or fitted axis ratio above opts.max_elong),
 *     or, among the fitted ones, when the PSF fit does not converge (a streak that
 *     collapses, a blend the deblender missed; about 1 % of real stars on the test fields).
 *  4. Every remaining star: flux and SNR in a circular aperture, the half-flux radius
 *     (sep_flux_radius at 0.5 of that aperture's flux). The opts.max_fit brightest also get
 *     a PSF fit (core/psf.h: elliptical Gaussian or Moffat, model integrated over the
 *     working pixel, so a binned star is fitted as what it is) for FWHM, eccentricity, angle.
 *  5. The frame: star count, medians over the fitted stars of FWHM and HFR, the
 *     eccentricity of the mean star shape (a weighted, clipped mean of the stars' shape
 *     tensors, see frame_ecc in stars.c: round stars read round, not biased up by noise as
 *     a median of per-star eccentricities is, which is reported too as ecc_star), the image
 *     SNR (the SNR of all stars' flux together: sum F / sqrt(sum var F)), and in arcseconds
 *     when the image scale is known.
 * Widths and positions are always in the input's pixels. The HFR is corrected in
 * quadrature for two boxes of side bin (the working pixel's area, and SEP's spreading of a
 * pixel's value evenly over the pixel where the aperture cuts it): HFR^2 - k 2 bin^2 / 12,
 * k = ac_psf_hfr_blur(fitted beta) (2 ln 2 for a Gaussian), so that HFR and FWHM both
 * describe the star, not the star smeared by the pixel.
 *
 * Memory (stated for callers that budget jobs): the working image, 4 bytes per working
 * pixel (26 MP mono at full resolution: 104 MB; binned, or a 26 MP CFA frame: 26 MB), plus
 * SEP's transient buffers during extraction (its pixel stack of 300 000 entries, about
 * 7 MB, and line buffers, O(width)), plus about 150 bytes per detected object (SEP's
 * catalogue with its pixel lists, and our ac_star_t). No per-pixel RMS map is made (the
 * global RMS is the detection noise), which saves another 4 bytes per working pixel.
 * ac_stars_work_bytes() returns the working-image bytes for a frame and options.
 *
 * Ownership: the input pixels are borrowed (read only); the result owns its stars
 * (ac_stars_result_free).
 * Thread: any thread; several measurements may run at once on different frames. SEP 1.2
 * (Debian 12 ships 1.2.1) keeps its per-call state in thread-local storage and is safe on
 * independent inputs from several threads (its changelog for 1.2.0); its only globals, the
 * pixel-stack size and the sub-object limit, are never changed here.
 */
#ifndef AC_STARS_H
#define AC_STARS_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "psf.h"

typedef enum ac_star_reject {
    AC_STAR_OK = 0,
    AC_STAR_BLENDED,
    AC_STAR_EDGE,
    AC_STAR_SATURATED,
    AC_STAR_SHARP,     /* hot pixel, cosmic ray */
    AC_STAR_ELONGATED, /* trail */
    AC_STAR_NOFIT,     /* the PSF fit failed or did not converge: no star's profile */
    AC_STAR_NREASONS
} ac_star_reject_t;

/* ac_star_reject_name returns "ok", "blended", "edge", "saturated", "sharp", "elongated",
 * "nofit". */
const char *ac_star_reject_name(ac_star_reject_t r);

typedef struct ac_stars_image {
    const float *px; /* width x height, row-major */
    int width, height;
    const char *bayerpat; /* NULL or "" for mono, else e.g. "RGGB" (measured on superpixels) */
    int xbayroff, ybayroff;
} ac_stars_image_t;

typedef struct ac_stars_opts {
    ac_psf_opts_t psf;     /* model (default Moffat, beta free), see psf.h */
    double thresh;         /* detection threshold in background RMS (default 5) */
    int minarea;           /* minimum object area, working px (default 5) */
    double saturation;     /* input ADU at which a pixel is saturated; NAN: none */
    double gain;           /* e-/ADU of the input for the Poisson part of the SNR; 0 none */
    int max_fit;           /* PSF fits per frame, the brightest stars (default 500) */
    double min_fwhm;       /* px; narrower fits are not stars (default 1.0) */
    double max_elong;      /* axis ratio a/b above which an object is a trail (default 4) */
    int bin;               /* 0 automatic (see above), 1 full resolution, 2 binned 2 x 2 */
    size_t max_work_bytes; /* automatic binning above this (default 64 MiB) */
    /* Image scale: pixscale (PIXSCALE, arcsec per input pixel) wins; else 206.265 *
     * XPIXSZ / FOCALLEN, times xbin unless xpixsz_binned (the MaxIm DL / N.I.N.A. convention,
     * default true: XPIXSZ already is the binned pixel). NAN or 0: unknown. */
    double pixscale, focallen_mm, xpixsz_um;
    int xbin;
    bool xpixsz_binned;
} ac_stars_opts_t;

void ac_stars_opts_default(ac_stars_opts_t *o);

typedef struct ac_star {
    double x, y;  /* centroid, input pixels (0-based, pixel centres at integers) */
    double flux;  /* background-subtracted ADU in the aperture */
    double snr;   /* flux / its error (background RMS, and Poisson when gain is set) */
    double peak;  /* brightest pixel above background, working ADU */
    double hfr;   /* half-flux radius, px */
    bool fitted;  /* the PSF fields below are set (else NAN) */
    ac_psf_t psf; /* as fitted, in working pixels */
    double fwhm;  /* px, sqrt(major * minor) */
    double fwhm_major, fwhm_minor, ecc, angle;
    ac_star_reject_t reject;
} ac_star_t;

typedef struct ac_stars_result {
    ac_star_t *stars; /* every SEP object, accepted or not, brightest first */
    int nobjects;     /* SEP detections */
    int nstars;       /* accepted: the star count */
    int nfitted;      /* accepted stars with a converged fit (the medians' sample) */
    int nrejected[AC_STAR_NREASONS];
    double fwhm, hfr; /* medians over the fitted stars, px (NAN without any) */
    double ecc;       /* eccentricity of the median star shape (see stars.c) */
    double ecc_star;  /* median of the stars' own eccentricities (PixInsight's figure;
                         noise makes every star's positive, so it reads high) */
    double fwhm_major, fwhm_minor;
    double snr;                     /* image SNR (see above; 0 without stars) */
    double bkg, bkg_rms;            /* SEP's global background and RMS, input ADU */
    double flat_residual;           /* core/grade.h ac_grade_flat_residual of SEP's mesh */
    double scale;                   /* arcsec per input pixel, NAN when unknown */
    double fwhm_arcsec, hfr_arcsec; /* NAN when the scale is unknown */
    int bin;                        /* 1 or 2: what was measured */
    double thresh_used;
    double t_sep, t_fit; /* seconds: background + extraction; per-star work */
} ac_stars_result_t;

/* ac_stars_measure measures img with o (NULL: defaults). Returns 0, -EINVAL (bad image or
 * options, unknown Bayer letters), -ENOMEM, or AC_EFORMAT when SEP fails (its message in
 * e). A frame without stars is not an error (nstars 0). */
int ac_stars_measure(const ac_stars_image_t *img, const ac_stars_opts_t *o,
                     ac_stars_result_t *r, ac_err_t *e);

void ac_stars_result_free(ac_stars_result_t *r);

/* ac_stars_bin_for returns the binning (1 or 2) ac_stars_measure will use. */
int ac_stars_bin_for(const ac_stars_image_t *img, const ac_stars_opts_t *o);

/* ac_stars_work_bytes returns the bytes of the working image for img under o. */
size_t ac_stars_work_bytes(const ac_stars_image_t *img, const ac_stars_opts_t *o);

/* ac_stars_image_scale returns arcsec per input pixel from o's scale fields, or NAN. */
double ac_stars_image_scale(const ac_stars_opts_t *o);

#endif
