/*
 * calib.h - the calibration math (pure: no cfitsio, no SQLite, no libuv).
 *
 *     out = (L - B - k*Dc) / max(Fn, f_min) + P
 *
 * with L the light, B the master bias, Dc the bias-free dark, k the dark scale, Fn the
 * flat calibrated by its bias or flat-dark and normalised per CFA colour (mono: one
 * plane), f_min the flat floor and P the pedestal. See docs/calibration.md for every rule.
 *
 * Life cycle:
 *  1. The caller loads masters into ac_image_t (float planes + header metadata + MD5).
 *  2. ac_calib_dark_scale() decides k for a light from the masters' metadata (exposure
 *     equal within max(0.5 s, 1 %) -> 1; a bias-free dark with a bias -> t_L / t_D, capped
 *     at opts->dark_k_max; else an error unless opts->force).
 *  3. ac_calib_prepare_take() takes the master planes and builds an ac_calset_t for that k:
 *     an offset plane (B + k*Dc, or the dark with its bias, or B alone) and an inverse flat
 *     plane 1/max(Fn, f_min), plus decisions, scales, dead and hot pixel lists and the
 *     HISTORY text. It works in place in the masters' buffers, so preparing costs no more
 *     memory than the masters themselves. With dark optimisation it keeps B and Dc apart
 *     instead, because k then differs for each light.
 *  4. For each light: ac_calib_check_light() validates geometry and metadata;
 *     ac_calib_rows() runs the per-pixel work on strips of rows (a subtraction and a
 *     multiplication per pixel), accumulating counts for the quality figures.
 *
 * Implementation: daemon/core/calib.c holds steps 1-3 (options, image analysis, the dark
 * decisions, master validation, flat normalisation, offset plane, hot pixel detection);
 * daemon/core/calibrun.c holds step 4 (ac_calib_check_light, ac_rowstats_init, ac_calib_rows,
 * ac_calib_fix_hot, ac_calib_optimize_k, ac_calib_auto_pedestal). Helpers both share are
 * declared in daemon/core/calib_int.h.
 *
 * Ownership: ac_image_t owns its px buffer (free with ac_image_free). ac_calset_t owns its
 * planes and lists (ac_calset_free). A prepared calset is immutable and may be shared
 * read-only by any number of threads.
 * Thread: pure functions, any thread.
 */
#ifndef AC_CALIB_H
#define AC_CALIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "meta.h"

/* A whole image held in memory as float32 (masters). */
typedef struct ac_image {
    int w, h;
    float *px; /* w*h values, row-major, first stored row first; owned */
    ac_meta_t meta;
    char path[4096];
    char md5[33];       /* MD5 of the file, lower-case hex */
    double median, mad; /* of the finite pixels, computed by ac_image_analyse */
    size_t n_nonfinite;
} ac_image_t;

/* ac_image_analyse fills median, mad and n_nonfinite (sampling at most 4 M pixels for the
 * median and MAD). Returns 0 or -ENOMEM. */
int ac_image_analyse(ac_image_t *img);
void ac_image_free(ac_image_t *img); /* frees px, keeps the rest; NULL-safe */

enum ac_tri { AC_TRI_AUTO = -1, AC_TRI_NO = 0, AC_TRI_YES = 1 };
enum ac_pedestal_mode { AC_PEDESTAL_NONE = 0, AC_PEDESTAL_FIXED, AC_PEDESTAL_AUTO };

typedef struct ac_calib_opts {
    double dark_k_max;        /* largest exposure scale allowed (2.0) */
    bool dark_optimize;       /* choose k per light minimising noise, over [0, k_max] */
    double flat_floor;        /* f_min for the normalised flat (0.05) */
    int pedestal_mode;        /* enum ac_pedestal_mode (NONE) */
    double pedestal;          /* for AC_PEDESTAL_FIXED, in ADU */
    double pedestal_max_frac; /* AUTO: at most this fraction of pixels <= 0 (1e-4) */
    int dark_has_bias;        /* enum ac_tri: AUTO reads provenance then measures (AUTO) */
    int flat_is_calibrated;   /* enum ac_tri: AUTO reads provenance then measures (AUTO) */
    bool cosmetic;            /* replace hot pixels found in the master dark (false) */
    double cosmetic_sigma;    /* n in median + n * 1.4826 * MAD (5) */
    double max_temp_diff;     /* temperature tolerance for darks, C (5.0): meta.h's rule */
    bool force;               /* metadata mismatches (exposure, filter, temperature,
                                 gain) become warnings; never geometry */
} ac_calib_opts_t;

/* ac_calib_opts_default fills the defaults above. */
void ac_calib_opts_default(ac_calib_opts_t *o);

/* The decisions and data that calibrate lights with one set of masters and one dark
 * scale. */
typedef struct ac_calset {
    int w, h;
    ac_meta_t geometry; /* size, binning and CFA layout the lights must match */
    /* What is applied. */
    bool has_bias, has_dark, has_flat, has_flatdark;
    bool dark_has_bias;       /* the master dark still contains the bias */
    bool dark_scaled;         /* k != 1 was applied to a bias-free dark */
    bool flat_was_calibrated; /* the master flat already had its offset removed */
    double k;                 /* dark scale used when building offset (1 when no dark) */
    double dark_exptime;      /* of the master dark, NAN when none */
    float *offset;            /* B + k*Dc (or dark with bias, or B), NULL when nothing */
    float *bias;              /* only with dark optimisation: B (may be NULL) */
    float *dark_c;            /* only with dark optimisation: bias-free dark */
    float *inv_flat;          /* 1 / max(Fn, f_min), NULL when no flat */
    double flat_scale[3];     /* mono: [0]; CFA: red, green, blue */
    int n_flat_scales;        /* 0 (no flat), 1 (mono) or 3 (CFA) */
    double flat_floor;
    size_t n_dead;       /* flat pixels at or below the floor (or not finite) */
    uint32_t *dead_rows; /* h counts: dead flat pixels in each row (NULL without flat) */
    uint32_t *hot;       /* sorted pixel indices of hot pixels (cosmetic), owned */
    size_t n_hot;
    size_t n_master_nonfinite; /* NaN/inf pixels found in bias/dark and replaced */
    /* The masters' metadata, for ac_calib_check_light (filter, temperature, gain). */
    ac_meta_t bias_meta, dark_meta, flat_meta;
    /* Provenance for the output header. */
    char bias_name[256], dark_name[256], flat_name[256], flatdark_name[256];
    char bias_md5[33], dark_md5[33], flat_md5[33], flatdark_md5[33];
    char history[16][160]; /* one HISTORY sentence per step and decision */
    int n_history;
    char warnings[8][256]; /* non-fatal notes (e.g. raw flat with nothing to remove) */
    int n_warnings;
    /* After a failed ac_calib_prepare_take: the master at fault, in the order bias, dark,
     * flat, flat-dark (0..3), or -1 when no single file is (masters that disagree with each
     * other, no memory, a dark scale the plan should not have asked for). */
    int bad_master;
} ac_calset_t;

/* ac_calib_dark_scale decides the dark scale k for a light with exposure t_light against
 * dark (may be NULL: k = 1). bias_available says whether a master bias is given (k != 1
 * needs a bias-free dark, which needs the bias unless the dark is already bias-free).
 * A missing exposure (NAN) on either side is AC_EMETADATA naming the keywords tried
 * (EXPTIME, EXPOSURE or EXP): k = 1 would be a guess (o->force: k = 1 and a warning).
 * A scaled dark gives a warning naming k.
 * dark_has_bias is the decision of ac_calib_dark_bias_decision. Returns 0, or
 * AC_EMETADATA with a message naming the exposures when the light cannot use this dark
 * (unless o->force, which gives k = 1 and a warning in *warn when warn is not NULL). */
int ac_calib_dark_scale(double t_light, const ac_image_t *dark, bool bias_available,
                        bool dark_has_bias, const ac_calib_opts_t *o, double *k, char *warn,
                        size_t warn_size, ac_err_t *e);

/* ac_calib_dark_bias_decision says whether the master dark contains the bias: the option
 * when not AUTO, else the dark's provenance (meta.bias_subtracted), else (with a bias whose
 * median is positive) a measurement: the dark contains the bias when median(D) >=
 * 0.5 * median(B), a bias-free dark having a median near 0; without any evidence: yes
 * (AstroFiler's and most tools' darks). The medians come from the pixels when px is set,
 * else from img->median (as filled by ac_image_analyse), so the answer is the same before
 * and inside ac_calib_prepare_take. *why (may be NULL) receives a sentence for HISTORY. */
bool ac_calib_dark_bias_decision(const ac_image_t *dark, const ac_image_t *bias,
                                 const ac_calib_opts_t *o, char *why, size_t why_size);

/* ac_calib_prepare_take builds cs from the masters (each may be NULL, not all) for dark
 * scale k. It TAKES the px buffers of the images it is given (sets them to NULL) and
 * releases them even on failure; metadata, paths and MD5 stay in the caller's structs
 * (their median, mad and n_nonfinite are filled as by ac_image_analyse).
 * Validates the masters: the same size, binning and CFA layout; not truncated (the
 * loader's job), not NaN-filled (more than 1 % non-finite), not all zero; a flat with a
 * positive scale, not saturated, not nearly empty. Failures return AC_EMASTER or
 * AC_EGEOMETRY with a message naming the file and the property; AC_EMETADATA when k != 1
 * is asked for a dark that contains the bias while no bias is given. On failure
 * cs->bad_master names the master at fault (or -1), so a broken file can be kept out.
 * The flat is calibrated by the flat-dark when given (and also by the bias when the
 * flat-dark's provenance says it is bias-free), else by the bias, unless it is already
 * calibrated. With o->dark_optimize the set keeps bias and dark_c (offset NULL) so that
 * k is chosen per light; a dark that contains the bias without a bias cannot be
 * optimised and is used as is (k = 1, a warning). Non-fatal notes go to warnings[]. */
int ac_calib_prepare_take(ac_calset_t *cs, ac_image_t *bias, ac_image_t *dark, ac_image_t *flat,
                          ac_image_t *flatdark, double k, const ac_calib_opts_t *o,
                          ac_err_t *e);

void ac_calset_free(ac_calset_t *cs);

/* ac_calib_check_light validates a light against a prepared set: NAXIS1/NAXIS2, binning
 * and the CFA layout must match exactly (AC_EGEOMETRY, never overridden); the flat's
 * filter must equal the light's and the dark's temperature must be within
 * o->max_temp_diff (AC_EMETADATA unless o->force: then a warning in warn). The message
 * names light_path, the keyword and both values. */
int ac_calib_check_light(const ac_calset_t *cs, const ac_meta_t *light, const char *light_path,
                         const ac_calib_opts_t *o, char *warn, size_t warn_size, ac_err_t *e);

/* Counts accumulated by ac_calib_rows for the quality figures. Zero-initialise. */
typedef struct ac_rowstats {
    uint64_t n, n_negative, n_zero, n_saturated_in, n_dead;
    double min, max; /* of the output; min = +inf, max = -inf initially (set by init) */
} ac_rowstats_t;

void ac_rowstats_init(ac_rowstats_t *s);

/* ac_calib_rows calibrates rows [y0, y0 + nrows) of a light: in holds those rows as float
 * ADU (BZERO/BSCALE applied), out receives the calibrated rows (native float). k is the
 * dark scale for this light when cs was prepared for dark optimisation (ignored
 * otherwise); pedestal is added to every output pixel. sat_level: input values at or
 * above it count as saturated (NAN: none). in and out may be the same buffer (but must
 * not overlap otherwise). n_dead adds the dead flat pixels of those rows (dead_rows). */
void ac_calib_rows(const ac_calset_t *cs, const float *in, float *out, int y0, int nrows,
                   double k, float pedestal, double sat_level, ac_rowstats_t *st);

/* ac_calib_fix_hot replaces hot pixels in rows [y0, y0 + nrows) of calibrated data by the
 * median of their same-colour neighbours (distance 1 for mono, 2 for CFA; the 8 pixels
 * around at that distance, leaving out other hot pixels and non-finite values). buf
 * holds rows [buf_y0, buf_y0 + buf_rows), which must include up to 2 rows of context
 * above and below where the image has them. Returns the number of pixels replaced. */
size_t ac_calib_fix_hot(const ac_calset_t *cs, float *buf, int buf_y0, int buf_rows, int y0,
                        int nrows);

/* ac_calib_optimize_k finds k in [0, o->dark_k_max] minimising the noise (1.4826 MAD) of
 * L - B - k*Dc on the given sample rows of a light (rows: sample_rows rows of width cs->w,
 * their image row numbers in ys). Needs a calset prepared with dark optimisation. Returns
 * 0 or -ENOMEM/-EINVAL. */
int ac_calib_optimize_k(const ac_calset_t *cs, const float *rows, const int *ys,
                        int sample_rows, const ac_calib_opts_t *o, double *k);

/* ac_calib_auto_pedestal returns in *p the smallest non-negative pedestal such that at most
 * o->pedestal_max_frac of the calibrated sample values are <= 0 (rows as above, already
 * calibrated with pedestal 0). Rounded up to a whole ADU. */
int ac_calib_auto_pedestal(const float *calibrated, size_t n, const ac_calib_opts_t *o,
                           double *p);

#endif
