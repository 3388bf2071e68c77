/*
 * build.h - building one master bias, dark, flat or flat-dark frame (pool thread): the
 * memory-bounded combination of its sub-frames into a checked, durable FITS file. What to
 * build and recording the outcome live in serve/buildplan.h.
 *
 * One build, every hand-off explicit:
 *   1. loop: ac_build_scan queues (astrocal_build, catalog_build.c) every build unit with
 *      at least min_files frames and no master yet;
 *   2. loop: the scheduler claims a row (ac_catalog_build_claim), then ac_build_prepare
 *      reads the unit, the masters and the queue and calls ac_build_plan, which fills an
 *      immutable ac_build_spec_t (frames, prerequisite masters, output path, options) and
 *      records the output path in the row (so a restarted build rewrites the same file);
 *   3. pool: ac_build_run reads every sub in strips of rows, calibrates flats, combines
 *      (daemon/core/stack.h), writes the float32 master atomically (imgout), checks its quality
 *      and fills an ac_build_result_t; it touches no database and no shared state;
 *   4. loop: ac_build_record registers a good master in Masters and marks the row done in
 *      ONE transaction (the master creation event), or records rejected / failed /
 *      deferred. A crash between 3 and 4 leaves a complete file under its final name and
 *      the row running: recovery requeues it, the rebuild rewrites the same path, and the
 *      Masters row is made once.
 *
 * What the master contains (calibration.md rules 1 and 3):
 *   - bias: the combined biases;
 *   - dark: the combined darks, bias kept (DARKBIAS = T, AstroFiler's convention) or, with
 *     dark_subtract_bias, the bias master subtracted from each dark first (DARKBIAS = F,
 *     BIASSUB = T); ac_meta_from_header reads both back, so a bias is never subtracted
 *     twice;
 *   - flat-dark: the combined flat-darks, bias kept (DARKBIAS = T);
 *   - flat: each flat calibrated by the flat-dark master (and the bias too when that
 *     flat-dark is bias-free), or else by the bias master (BIASSUB = T, DARKSUB = T/F),
 *     then scaled to a common level before combining: sub i is multiplied by L / m_i, m_i
 *     its own calibrated median, L the mean of the m_i (recorded as FLATSCAL; the master
 *     keeps ADU, FLATNORM = F: the calibration normalises it per CFA colour). A flat with
 *     neither prerequisite is combined raw (BIASSUB = F, DARKSUB = F) and calibrated later.
 *
 * Combination: opts.combine (stack.h). For sigma clipping the dispersion estimator is the
 * standard deviation from 11 subs up and 1.4826 MAD for 6 to 10 (a lone outlier cannot
 * exceed kappa standard deviations in fewer than kappa^2 + 1 values); below 6 subs the
 * median is used (stack.h's median_below), for every clipping method.
 *
 * Thread: ac_build_run on any thread (pool; it touches only the files); the rest is pure.
 * Ownership: specs own their strings (ac_build_spec_clear); results are plain values.
 */
#ifndef AC_BUILD_H
#define AC_BUILD_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "err.h"
#include "imgout.h"
#include "meta.h"

typedef struct ac_build_opts {
    char masters_dir[4096];  /* where masters are written (required) */
    int min_files;           /* frames needed to build (min_files_per_master, 3) */
    int combine;             /* AC_STACK_* (AC_STACK_SIGMA_CLIP) */
    double kappa_low;        /* (3.0) */
    double kappa_high;       /* (3.0) */
    int iterations;          /* rejection passes (3) */
    bool dark_subtract_bias; /* subtract the bias master from darks (false) */
    double max_hot_fraction; /* a master dark with more hot pixels is rejected (0.01) */
    double hot_sigma;        /* hot: above median + hot_sigma * 1.4826 MAD (5.0) */
    double min_flat_level;   /* ADU, the calibrated flats' mean level, at least (1000) */
    double max_flat_level;   /* fraction of saturation the raw flats' mean may reach (0.9) */
    double settle_s;         /* build a unit only once none of its frames was written for
                                this long: more may still be arriving (0: at once) */
    double retry_in_s;       /* out of ac_build_scan: seconds until an unsettled unit is
                                ready (0 when none waits) */
    double exp_tol_s;        /* darks: subs agree in exposure within max(exp_tol_s, */
    double exp_tol_pct;      /*   exp_tol_pct % of it); flat-darks match flats so (0.5, 1) */
    size_t job_memory;       /* bytes for strips, readers, writer and samples (128 MiB) */
    double max_temp_diff;    /* max_temperature_difference, C (5), by meta.h's one rule: a
                                master of another temperature still matches a unit within
                                it; a dark or flat-dark sub farther from the subs' median,
                                or without temperature while the others have one, is
                                dropped */
    double utc_offset_h;     /* the site's offset for observing nights ([MATCHING]) */
    ac_imgout_opts_t out;    /* durable by default */
} ac_build_opts_t;

void ac_build_opts_default(ac_build_opts_t *o);

/* The most candidate masters a build reads the night of before it builds. */
#define AC_BUILD_MAX_PROBE 8

/* What to build: immutable once planned; every string owned. */
typedef struct ac_build_spec {
    char *key;          /* build key (astrocal_build.session_id) */
    char *session_id;   /* source session (Masters.source_session_id) */
    char *session_date; /* its fitsSessionDate, or NULL */
    ac_cal_kind_t kind;
    char **subs; /* paths of the frames, earliest first */
    int nsubs;
    char *output_path;   /* absolute, in masters_dir */
    char *bias_path;     /* darks with dark_subtract_bias; flats (see above); else NULL */
    char *flatdark_path; /* flats: the matching flat-dark master, or NULL */
    /* Masters that match the unit but whose observing night astrocald has not read yet
     * (no source session, no astrocal_master_night row): the build first reads each one's
     * DATE-OBS, and ends as AC_BUILD_EXISTS when one is of the unit's night. */
    int nprobe;
    int64_t probe_rowid[AC_BUILD_MAX_PROBE];
    char *probe_path[AC_BUILD_MAX_PROBE];
    char night[12]; /* the unit's observing night 'YYYY-MM-DD' ("" unknown: no probing) */
    ac_build_opts_t opts;
} ac_build_spec_t;

void ac_build_spec_clear(ac_build_spec_t *s); /* frees the strings; NULL-safe */

/* Outcome of ac_build_run. */
enum ac_build_status {
    AC_BUILT = 0,    /* written under output_path; register it */
    AC_BUILD_REJECT, /* combined but failed its quality check: nothing written */
    AC_BUILD_ERROR,  /* could not be built: err says why (err.code the error code) */
    AC_BUILD_EXISTS, /* a probed master is of the unit's night: nothing built (exists_rowid) */
};

typedef struct ac_build_result {
    int status; /* enum ac_build_status */
    ac_err_t err;
    char reason[512];   /* AC_BUILD_REJECT: why */
    char warning[1024]; /* non-fatal notes (dropped subs, raw flat...), "" when none */
    char output_path[4096];
    char md5[33];
    struct stat st; /* AC_BUILT: the file after md5 was computed from it */
    bool same_file; /* ...unchanged while it was read (ac_digest_unchanged) */
    int64_t file_size;
    /* The probed masters (spec->probe_*): each one's night ("" when its DATE-OBS could not
     * be read) and DATE-OBS; exists_rowid the one of the unit's night (AC_BUILD_EXISTS). */
    char probe_night[AC_BUILD_MAX_PROBE][12];
    char probe_date_obs[AC_BUILD_MAX_PROBE][72];
    int64_t exists_rowid;
    int nsubs, nused;     /* subs given, subs combined */
    char dropped[1024];   /* "name: reason; ..." of the subs left out */
    int method;           /* AC_STACK_* actually used */
    int sigma_estimator;  /* AC_STACK_SIGMA_* (sigma clipping) */
    bool bias_subtracted; /* from every sub (darks, flats) */
    bool flatdark_subtracted;
    /* Header facts of the subs, for the Masters row (strings "" when unknown). */
    char telescope[72], instrument[72], filter[72], date_obs[72], bayerpat[16];
    char exptime_text[32], ccd_temp_text[32], gain_text[32], offset_text[32];
    int width, height, xbin, ybin;
    double exptime, ccd_temp, set_temp, gain, offset; /* NAN when unknown */
    /* Quality. */
    double median;       /* of the master (sampled) */
    double noise;        /* 1.4826 MAD of the master, ADU */
    uint64_t hot_pixels; /* darks and flat-darks: above median + hot_sigma * noise */
    double hot_fraction;
    double flat_level;        /* flats: mean of the calibrated subs (before scaling), ADU */
    double flat_raw_level;    /* flats: mean of the raw subs, ADU */
    double saturation;        /* of the subs (SATURATE or their BITPIX range), NAN unknown */
    double flat_scale;        /* flats: the common level L */
    double rej_low, rej_high; /* fractions of the values rejected */
    uint64_t nan_pixels;      /* output pixels without any value */
    double score;             /* 0..100, see build.c */
    /* Timing (seconds) and volume. */
    double t_total, t_read, t_combine, t_write;
    uint64_t in_bytes; /* pixel bytes read from the subs */
    size_t strip_rows;
} ac_build_result_t;

/*
 * ac_build_run builds the master described by spec and fills res (overwritten). cancel
 * (may be NULL) is polled between strips: when it becomes non-zero the build stops with
 * AC_ECANCELED and leaves no file. Runs on a pool thread; touches nothing but the files.
 */
void ac_build_run(const ac_build_spec_t *spec, ac_build_result_t *res, atomic_int *cancel);

/* ac_build_strip_rows returns the rows per strip for nsubs subs of width w (plus
 * nprereq prerequisite masters) within o->job_memory (at least 1). */
int ac_build_strip_rows(const ac_build_opts_t *o, int nsubs, int nprereq, int w);

/* ac_build_result_json describes res (quality, statistics, timing) as a new JSON object
 * (the build row's quality_json), or NULL without memory. */
json_t *ac_build_result_json(const ac_build_result_t *res);

#endif
