/*
 * fitsgen.h - deterministic synthetic astrophotography frames (test support, acgen,
 * benchmarks).
 *
 * A camera (ac_gen_camera_t) and its seed define fixed, noiseless per-pixel fields; every
 * frame written from the same camera agrees with every other, so masters and lights match.
 * All values are in ADU. For pixel (x, y) (x the column, y the stored row, 0-based):
 *
 *   bias B(x,y)    = bias_level + col(x) + fpn(x,y)
 *                    col(x): fixed per column, uniform with sd bias_col_sd;
 *                    fpn(x,y): fixed per pixel, uniform with sd bias_fpn_sd.
 *   dark rate D(x,y,T) = dc_base * 2^((T - dc_t_ref) / dc_doubling) * (1 + v(x,y)) * h(x,y)
 *                    v: fixed, uniform in [-dc_var, +dc_var]; h = 1, or for a fraction
 *                    hot_fraction (resolution 1/65536) of pixels ("hot") log-uniform in
 *                    [hot_min, hot_max].
 *   response R(x,y,filter) = V(x,y) * Dust(x,y) * (1 + p(x,y)) * resp_c(filter)
 *                    V = 1 / (1 + k r^2)^2 (cos^4 law), r = distance from the optical centre
 *                    (the image centre plus a seed-dependent offset of at most 3 % of each
 *                    side) divided by half the image diagonal, k = sqrt(1 / vignette_min) - 1
 *                    (V = vignette_min at r = 1; k = 0 when vignette_min >= 1);
 *                    Dust: n_dust donut shadows, 1 - depth (5-20 %) on the ring, 1 - depth/3
 *                    in the hole, 1 outside; p: PRNU, uniform with sd prnu;
 *                    resp_c: the colour response of CFA colour c (mono: c = 0) for the
 *                    filter, ac_gen_color_response().
 *   sky S(x,y)     = sky_level * (1 + sky_gradient * ((x - W/2)/W + (y - H/2)/(2H)))
 *                    + sum over stars of peak * exp(-((x-sx)^2 + (y-sy)^2) / (2 s^2)),
 *                    in ADU collected in sky_t_ref seconds before the flat response.
 *                    Stars: uniform positions, FWHM within 15 % of star_fwhm; one in 40
 *                    (at least one) with a peak of 1.5-6 x 65535 (they saturate), the
 *                    others log-uniform in 0.3-150 x sky_level.
 *
 * Frames, with n Gaussian noise of variance (signal in ADU) / egain + read_noise^2 (Poisson
 * approximated by a Gaussian; the Gaussian is the Irwin-Hall sum of four uniforms, exact in
 * mean and variance, tails cut at 3.46 sigma):
 *   bias      B + n
 *   dark      B + D*t + n
 *   flat      B + D*t + R * F0 + n            F0 = ac_gen_flat_illumination()
 *   flat-dark B + D*t + n
 *   light     B + D*t + R * S * (t / sky_t_ref) + n
 * rounded to the nearest integer and clipped to 0..65535 (16-bit BZERO=32768 by default).
 * T is the frame's CCD-TEMP (the camera set point plus a seed-dependent jitter of at most
 * temp_jitter, rounded to 0.1 C, unless the frame gives one; masters: the set point).
 * Randomness is counter-based per row (seed, stream, row), so any strip of rows is
 * generated on its own and the same arguments always give the same bytes.
 * Speed: about 0.3 s for a 6248 x 4176 16-bit light on one core, written.
 *
 * Ownership: ac_gen_t is owned by the caller of ac_gen_new (ac_gen_free). Strings in the
 * structs below are borrowed for the duration of a call.
 * Thread: an ac_gen_t is used by one thread at a time, except that once ac_gen_flat_mean()
 * has run (it caches the flat means), every function only reads it and several threads
 * may share it (writing different files).
 * Errors: functions return 0 or a negative code (AC_EFITS with the cfitsio message, -errno,
 * -EINVAL for bad arguments) and fill e (may be NULL). Nothing is printed.
 */
#ifndef AC_FITSGEN_H
#define AC_FITSGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* ------------------------------------------------------------------------------------ */
/* The camera and the scene. */

enum ac_gen_keys {
    AC_GEN_KEYS_STANDARD = 0, /* IMAGETYP, EXPTIME, CCD-TEMP, SET-TEMP, XBINNING, OFFSET */
    AC_GEN_KEYS_ALT,          /* FRAME, EXPOSURE, CCD_TEMP, SET_TEMP, BINX, BLKLEVEL */
};

enum ac_gen_typenames {
    AC_GEN_NAMES_LONG = 0, /* 'Light Frame', 'Dark Frame', 'Flat Field', 'Bias Frame',
                              'Flat Dark' (MaxIm DL / SGP / AstroFiler) */
    AC_GEN_NAMES_SHORT,    /* 'LIGHT', 'DARK', 'FLAT', 'BIAS', 'DARKFLAT' (N.I.N.A.) */
};

typedef struct ac_gen_camera {
    int width, height;       /* pixels (640 x 480) */
    char bayerpat[8];        /* "" mono (default), or "RGGB", "GRBG", "GBRG", "BGGR" */
    int xbayroff, ybayroff;  /* written as XBAYROFF / YBAYROFF (0, 0) */
    int xbin, ybin;          /* (1, 1) */
    double bias_level;       /* ADU (1000) */
    double bias_col_sd;      /* column pattern sd, ADU (2.0) */
    double bias_fpn_sd;      /* per-pixel fixed pattern sd, ADU (0.5) */
    double read_noise;       /* per frame, ADU sd (5.0) */
    double egain;            /* e-/ADU for shot noise: variance = signal / egain (1.0) */
    double dc_base;          /* dark current at dc_t_ref, ADU/s (0.02) */
    double dc_t_ref;         /* C (-10) */
    double dc_doubling;      /* C per doubling (6.3) */
    double dc_var;           /* relative per-pixel variation, uniform half width (0.1) */
    double hot_fraction;     /* (1e-4) */
    double hot_min, hot_max; /* hot pixel rate multipliers (50, 500) */
    double set_temp;         /* SET-TEMP, C (-10) */
    double temp_jitter;      /* largest |CCD-TEMP - SET-TEMP| of a frame, C (0.1) */
    double gain, offset;     /* camera settings GAIN and OFFSET (100, 50) */
    double vignette_min;     /* V at half the diagonal (0.6; 1 disables) */
    int n_dust;              /* dust donuts (4) */
    double prnu;             /* PRNU sd (0.01) */
    double flat_level;       /* mean raw ADU of the brightest colour in a flat (25000) */
    double sky_level;        /* ADU in sky_t_ref seconds, before the flat (200) */
    double sky_t_ref;        /* s (300) */
    double sky_gradient;     /* relative (0.05) */
    int n_stars;             /* -1: 20 + W*H / 1500, at most 5000 (default); 0: none */
    double star_fwhm;        /* typical FWHM, px (3.0) */
    int keys;                /* enum ac_gen_keys (STANDARD) */
    int typenames;           /* enum ac_gen_typenames (LONG) */
    char telescop[72], instrume[72], swcreate[72], observer[72];
    double sitelat, sitelong; /* degrees, written when finite (48.0, 11.0) */
    uint64_t seed;
} ac_gen_camera_t;

/* ac_gen_camera_default fills a 640 x 480 mono camera with the defaults above and seed. */
void ac_gen_camera_default(ac_gen_camera_t *cam, uint64_t seed);

/* ac_gen_camera_sized is ac_gen_camera_default with a width x height sensor. */
void ac_gen_camera_sized(ac_gen_camera_t *cam, uint64_t seed, int width, int height);

/* ac_gen_camera_color makes cam a one-shot-colour camera with pattern ("RGGB" when NULL). */
void ac_gen_camera_color(ac_gen_camera_t *cam, const char *pattern);

/* ac_gen_color_response returns resp_c for CFA colour c (0 red, 1 green, 2 blue; mono: 0)
 * and a filter name (case-insensitive; NULL or "" = none). Colour cameras: no filter, "L",
 * "UV/IR" 0.6/1.0/0.5; "Ha", "L-eNhance"-like dual band ("Ha"/"HaOIII"/"L-eXtreme"/"Duo")
 * 0.55/0.25/0.2; anything else 0.6/1.0/0.5. Mono: none/"L" 1.0, "R" 0.75, "G" 0.8, "B" 0.7,
 * "Ha" 0.35, "OIII" 0.4, "SII" 0.3, other 0.6. */
double ac_gen_color_response(const ac_gen_camera_t *cam, const char *filter, int c);

/* ac_gen_cfa_color returns the CFA colour (0 R, 1 G, 2 B) of pixel (x, y), -1 for mono:
 * bayerpat[2 * ((y + ybayroff) & 1) + ((x + xbayroff) & 1)]. */
int ac_gen_cfa_color(const ac_gen_camera_t *cam, int x, int y);

/* ------------------------------------------------------------------------------------ */
/* The model. */

typedef struct ac_gen ac_gen_t;

/* ac_gen_new validates cam and builds the model (stars, dust, column pattern). Returns a
 * new model (owned, ac_gen_free) or NULL with e filled (-EINVAL, -ENOMEM). */
ac_gen_t *ac_gen_new(const ac_gen_camera_t *cam, ac_err_t *e);
void ac_gen_free(ac_gen_t *g);                           /* NULL-safe */
const ac_gen_camera_t *ac_gen_camera(const ac_gen_t *g); /* borrowed */

typedef enum ac_gen_type {
    AC_GEN_LIGHT = 0,
    AC_GEN_DARK,
    AC_GEN_FLAT,
    AC_GEN_BIAS,
    AC_GEN_FLATDARK,
} ac_gen_type_t;

enum ac_gen_master {
    AC_GEN_RAW = 0,           /* a single raw frame */
    AC_GEN_MASTER_ASTROFILER, /* 16-bit; dark contains the bias; flat = raw median (bias
                                 and flat dark current included, not normalised) */
    AC_GEN_MASTER_FLOAT,      /* float32; bias-free dark (DARKBIAS = F, BIASSUB = T); flat
                                 with its flat-dark removed (BIASSUB = T, DARKSUB = T),
                                 normalised to a mean of 1 when flat_normalised (FLATNORM) */
};

typedef struct ac_gen_frame {
    ac_gen_type_t type;
    double exptime;       /* s (light 300, dark 300, flat 2, flat-dark 2, bias 0) */
    double ccd_temp;      /* C; NAN: set_temp + jitter from the seed and index (default) */
    bool no_temperature;  /* write neither CCD-TEMP nor SET-TEMP (the signal uses T) */
    const char *filter;   /* FILTER for lights and flats; NULL or "": no keyword ("L";
                             set NULL for a colour camera without a filter) */
    const char *object;   /* OBJECT for lights (default "M 31") */
    const char *date_obs; /* ISO UTC, fractional seconds allowed; NULL: a fixed date */
    const char *imagetyp; /* overrides the IMAGETYP value; NULL: from the type */
    int index;            /* frame number: selects the noise (and jitter) stream */
    int bitpix;           /* 16 (BZERO 32768), 32 or -32; 0: 16, float masters -32 */
    bool fz;              /* tile-compress (RICE for integers, lossless GZIP for float) */
    /* Masters. */
    int master;           /* enum ac_gen_master (RAW) */
    int ncombine;         /* masters: frames "averaged", noise sd / sqrt(ncombine) (20) */
    bool exptime_string;  /* write EXPTIME as a string, e.g. '300.0' (AstroFiler) */
    bool flat_normalised; /* float flats only */
} ac_gen_frame_t;

/* ac_gen_frame_default fills f for type with the defaults above (a raw frame, index 0,
 * bitpix 0). For a master set f->master (and ncombine). */
void ac_gen_frame_default(ac_gen_frame_t *f, ac_gen_type_t type);

/* ac_gen_optical_centre gives the vignetting centre (x, y) in pixels. */
void ac_gen_optical_centre(const ac_gen_t *g, double *cx, double *cy);

/* ac_gen_flat_illumination returns F0 = (flat_level - bias_level) / max_c m_c, the flat
 * illumination (ADU before the response) that puts the brightest colour's mean raw value
 * at cam->flat_level for filter (plus the flat's small dark signal). NAN without memory. */
double ac_gen_flat_illumination(ac_gen_t *g, const char *filter);

/* ac_gen_flat_mean fills m[0..2] with the exact mean of the noiseless response R over the
 * pixels of each CFA colour (mono: m[0], m[1] = m[2] = m[0]) for filter. The geometric part
 * (V * Dust * (1 + p)) is computed over the whole image once (about 0.2 s at 26 MP) and
 * cached. Returns 0 or -ENOMEM. */
int ac_gen_flat_mean(ac_gen_t *g, const char *filter, double m[3]);

/* The noiseless terms of one pixel for a frame. */
typedef struct ac_gen_terms {
    int color;        /* CFA colour, -1 mono */
    double bias;      /* B */
    double dark_rate; /* D at the frame's temperature, ADU/s */
    bool hot;         /* a hot pixel */
    double response;  /* R for the frame's filter */
    double sky;       /* S (in sky_t_ref) */
    double mean;      /* the noiseless value of the frame before rounding and clipping */
    double sigma;     /* its noise sd (masters: reduced by sqrt(ncombine)) */
    double truth;     /* lights: S * (t / sky_t_ref) * m_c, see ac_gen_truth_rows */
} ac_gen_terms_t;

/* ac_gen_pixel_terms fills t for pixel (x, y) of frame f (raw or master). */
int ac_gen_pixel_terms(ac_gen_t *g, const ac_gen_frame_t *f, int x, int y, ac_gen_terms_t *t,
                       ac_err_t *e);

/*
 * ac_gen_truth_rows fills rows [y0, y0 + nrows) (width values each) with the NOISELESS value
 * that a perfect calibration of light f produces:
 *
 *     truth(x,y) = (R * S * t/t_ref) / (R / m_c) = S(x,y) * (t / sky_t_ref) * m_c
 *
 * where m_c = ac_gen_flat_mean() for the light's filter and the pixel's colour: the flat
 * normalised by the exact mean of the noiseless response per colour, with no pedestal.
 * A calibration that divides by Fn = Fc / s_c with Fc = R * F0 (+ a negligible flat dark
 * current) and its own scale s_c produces truth * s_c / (F0 * m_c) instead; robust means
 * (trimmed, clipped, median) differ from the exact mean by a fraction of a percent.
 * Pixels whose noiseless raw light exceeds 65535 - 5 sigma (saturated star cores) are NAN.
 * sigma (may be NULL) receives the expected noise sd of the calibrated pixel from the
 * light alone: sqrt(var_light) * m_c / R (masters add var/ncombine of their own).
 * Dark current mismatches (CCD-TEMP jitter between the light and the dark) are not part of
 * the truth: they leave residuals of about 1 % of the dark signal (visible on hot pixels).
 * Returns 0, -EINVAL or -ENOMEM.
 */
int ac_gen_truth_rows(ac_gen_t *g, const ac_gen_frame_t *f, int y0, int nrows, float *truth,
                      float *sigma, ac_err_t *e);

/* ------------------------------------------------------------------------------------ */
/* Writing. */

/* ac_gen_write_frame writes frame f (raw or master per f->master) to path, replacing it.
 * Headers: IMAGETYP (or FRAME), EXPTIME (or EXPOSURE), DATE-OBS, CCD-TEMP, SET-TEMP,
 * XBINNING, YBINNING, GAIN, OFFSET, EGAIN, FILTER (lights, flats), TELESCOP, INSTRUME,
 * OBSERVER, OBJECT (lights), SITELAT/SITELONG, BAYERPAT/XBAYROFF/YBAYROFF/ROWORDER
 * (colour), SWCREATE; masters: IMAGETYP 'Master Bias' etc., NCOMBINE and provenance. No
 * time-dependent keyword: the same arguments give the same bytes. */
int ac_gen_write_frame(ac_gen_t *g, const ac_gen_frame_t *f, const char *path, ac_err_t *e);

/* ac_gen_write_masters writes a bias, a dark and a flat master of style master
 * (AC_GEN_MASTER_ASTROFILER or AC_GEN_MASTER_FLOAT) from the default frames (dark 300 s;
 * flat through "L", through no filter for a colour camera) to dir/bias.fits, dir/dark.fits
 * and dir/flat.fits. */
int ac_gen_write_masters(ac_gen_t *g, int master, const char *dir, ac_err_t *e);

/* ac_gen_frame_rows generates rows [y0, y0 + nrows) of frame f as the values
 * ac_gen_write_frame stores (ADU, rounded and clipped for integer output; masters as
 * float). out holds nrows * width floats. */
int ac_gen_frame_rows(ac_gen_t *g, const ac_gen_frame_t *f, int y0, int nrows, float *out,
                      ac_err_t *e);

/* Deliberately broken files. */
typedef enum ac_gen_bad {
    AC_GEN_BAD_TRUNCATED = 0, /* a 16-bit light cut in the middle of its data */
    AC_GEN_BAD_HEADER_ONLY,   /* a light's header declaring data, and no data */
    AC_GEN_BAD_WRONG_SIZE,    /* a valid light 4 columns wider than the camera */
    AC_GEN_BAD_NAN_MASTER,    /* a float32 'Master Dark' filled with NaN */
    AC_GEN_BAD_ZERO_FLAT,     /* a float32 'Master Flat' of zeros */
    AC_GEN_BAD_NOT_FITS,      /* a text file */
    AC_GEN_BAD_RGB_CUBE,      /* a 16-bit light with NAXIS3 = 3 */
    AC_GEN_BAD_COUNT
} ac_gen_bad_t;

/* ac_gen_bad_name returns the file name acgen uses for kind, e.g. "truncated.fits". */
const char *ac_gen_bad_name(ac_gen_bad_t kind);

/* ac_gen_write_bad writes a broken file of the given kind to path. */
int ac_gen_write_bad(ac_gen_t *g, ac_gen_bad_t kind, const char *path, ac_err_t *e);

/* A night: masters/ and lights/ (and optionally raw calibration frames). */
typedef struct ac_gen_night {
    int n_lights;         /* (8) */
    double exposure;      /* light exposure, s (300) */
    double gap;           /* s between the end of a light and the next start (5) */
    const char *object;   /* ("M 31") */
    const char *filter;   /* (mono "L", colour NULL: no FILTER) */
    const char *start;    /* DATE-OBS of the first light ("2024-03-15T21:30:00.250") */
    bool cross_midnight;  /* move the start so that n_lights / 2 lights start before the
                             00:00 UTC following `start` and the rest after it */
    int masters;          /* AC_GEN_RAW (none), ASTROFILER (default) or FLOAT */
    int ncombine;         /* NCOMBINE of the masters (20) */
    bool exptime_string;  /* AstroFiler masters write EXPTIME as a string (true) */
    bool flat_normalised; /* float flats (false) */
    double flat_exposure; /* s (2) */
    int raw_cal;          /* write N raw frames in bias/, darks/, flats/, flatdarks/ (0) */
    bool fz;              /* lights (and raw frames) as .fits.fz */
    int bitpix;           /* of the lights (16) */
    /* Called after each file is written (may be NULL). */
    void (*on_file)(const char *path, void *ud);
    void *ud;
} ac_gen_night_t;

void ac_gen_night_default(ac_gen_night_t *n, const ac_gen_camera_t *cam);

/* ac_gen_write_night creates dir (and parents) and writes the night: masters/master_bias.fits,
 * master_dark.fits (the lights' exposure) and master_flat.fits (the lights' filter), dated a
 * day (bias, dark) or an hour (flat) before the first light; lights/<OBJECT>_<FILTER>_<EXP>s_
 * <NNNN>.fits[.fz] (characters other than letters, digits, '.', '+', '-' become '_'); with
 * raw_cal, bias/Bias_NNNN, darks/Dark_<EXP>s_NNNN, flats/Flat_<FILTER>_<EXP>s_NNNN and
 * flatdarks/FlatDark_<EXP>s_NNNN, dated before the lights (bias 1 s apart, darks an
 * exposure plus gap apart, flats and flat-darks a flat exposure plus 1 s apart). Raw
 * frames use index 1..N, lights index 1..n_lights (distinct noise). on_file reports each
 * file. */
int ac_gen_write_night(ac_gen_t *g, const ac_gen_night_t *n, const char *dir, ac_err_t *e);

/* ac_gen_date_add adds seconds to an ISO date ("YYYY-MM-DDTHH:MM:SS[.fff]") and writes
 * the result with 3 fractional digits into out. Returns 0 or -EINVAL. */
int ac_gen_date_add(const char *iso, double seconds, char *out, size_t size);

#endif
