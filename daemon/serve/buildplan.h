/*
 * buildplan.h - deciding which master to build from the catalogue's calibration sessions,
 * and recording what a build made (see build.h for the build itself, which runs on the
 * pool).
 *
 * Thread: ac_build_plan is pure (any thread); everything taking an ac_db_t runs on the
 * thread that owns that connection.
 */
#ifndef AC_BUILDPLAN_H
#define AC_BUILDPLAN_H

#include "build.h"
#include "catalog.h"
#include "db.h"

/* ---- Planning (pure) ---- */

enum { AC_BUILD_PLAN_READY = 0, AC_BUILD_PLAN_WAIT = 1, AC_BUILD_PLAN_SKIP = 2 };

/* What the plan looks at: every build unit, the live masters and the queue (any may be
 * NULL: empty). Borrowed. */
typedef struct ac_build_world {
    const ac_calsession_list_t *units;
    const ac_master_list_t *masters;
    const ac_build_row_list_t *builds;
} ac_build_world_t;

/*
 * ac_build_plan decides how to build unit and fills out (owned by the caller) with
 * AC_BUILD_PLAN_READY; or returns AC_BUILD_PLAN_SKIP (a master exists already, or fewer
 * than min_files frames) or AC_BUILD_PLAN_WAIT (a prerequisite master is not registered
 * yet but a unit that will make it is queued or buildable), with the reason in why; or a
 * negative code (-EINVAL, -ENOMEM, -ENAMETOOLONG).
 *
 * A master exists already when the unit's own master is linked (master_rowid), or when a
 * live master would serve the unit, linked to it or not: same kind, instrument, binning,
 * gain and offset (as below), exposure for darks and flat-darks, temperature within
 * max_temp_diff where both are known, filter and telescope for flats, and the same
 * observing night. A master's night is its source session's date (compared with the
 * unit's session date), else the night astrocald read from its DATE-OBS
 * (astrocal_master_night); the unit's is its earliest frame's DATE-OBS at utc_offset_h,
 * else its session date. Matching masters whose night is not known yet go into
 * out->probe_* (at most AC_BUILD_MAX_PROBE): the build reads their DATE-OBS first and
 * ends as AC_BUILD_EXISTS when one is of the unit's night (ac_build_record keeps every
 * night read).
 *
 * Prerequisites, by exact equipment match (documented simplification of match.h): same
 * instrument and binning, and gain and offset where both sides know them (names trimmed
 * and case-folded, "" and "Unknown" unknown; numbers compared numerically); a flat-dark
 * also has the flat's exposure within max(exp_tol_s, exp_tol_pct %). Telescope and
 * temperature are not compared (short exposures; bias and flat-darks belong to the
 * camera). Among matches: the same observing night first, then the fewest nights away,
 * then the newest row. A master's night is its source session's date, else its creation
 * date. Masters that are flat-darks: master_type 'dark' and a file name that says so
 * (ac_catalog_name_is_flatdark). Flats take the flat-dark and the bias (the bias is used
 * only when the flat-dark turns out bias-free); darks take the bias only with
 * dark_subtract_bias. A missing prerequisite makes the plan wait only while a matching
 * unit with enough frames has no master and no failed or rejected build; otherwise the
 * master is built without it (flats raw, darks with the bias kept) and why says so.
 *
 * Output name (astrofiler-db.md): Master-{Bias|Dark|Flat|FlatDark}-{tel}-{cam}[-{filter}]-
 * {YYYYMMDD}-{exp}s-{bx}x{by}-t{temp}.fits in masters_dir, where tel and cam are the
 * frames' TELESCOP and INSTRUME (letters, digits, '.', '+' kept, anything else '_'), the
 * date the session's night (else the first frame's DATE-OBS), exp the exposure (%g), temp
 * the frames' mean CCD-TEMP rounded to a degree. When that path exists on disk or in
 * Masters, "-2", "-3"... is appended before ".fits". reuse_path (may be NULL: the path
 * recorded by an earlier attempt of the same build) is taken as it is unless a live
 * Masters row names it.
 */
int ac_build_plan(const ac_calsession_t *unit, const ac_build_world_t *w,
                  const ac_build_opts_t *o, const char *reuse_path, ac_build_spec_t *out,
                  char *why, size_t why_size);

/* ---- The catalogue side (loop thread) ---- */

/* ac_build_scan queues every unit with at least min_files frames and no master (a unit
 * already in the queue keeps its row). *queued (may be NULL) counts new rows. */
int ac_build_scan(ac_db_t *db, ac_build_opts_t *o, int *queued, ac_err_t *e);

/* ac_build_prepare plans the running build key: reads its unit, the masters and the
 * queue, calls ac_build_plan (reusing the row's recorded path) and records the chosen
 * output path. Returns an AC_BUILD_PLAN_* value (spec filled for READY; why filled for the
 * others) or a negative code (-ENOENT: the unit has no frames any more). The caller then
 * submits ac_build_run for READY; puts the row back for WAIT (ac_catalog_build_defer
 * without counting an attempt, a little later); and ends it for SKIP and -ENOENT
 * (ac_catalog_build_finish: DONE when a master exists, else FAILED with why). */
int ac_build_prepare(ac_db_t *db, const char *key, const ac_build_opts_t *o,
                     ac_build_spec_t *spec, char *why, size_t why_size, ac_err_t *e);

/* What ac_build_record did. */
enum ac_build_recorded {
    AC_BUILD_REGISTERED = 0, /* Masters row made (or found: exactly once), row done */
    AC_BUILD_REJECTED_ROW,   /* row rejected with the reason */
    AC_BUILD_FAILED_ROW,     /* row failed (permanent error, or max_attempts reached) */
    AC_BUILD_DEFERRED_ROW,   /* row back to pending with back-off (transient, cancelled) */
    AC_BUILD_EXISTING_ROW,   /* row done: a probed master is of the unit's night */
};

/*
 * ac_build_record records res for spec's row: AC_BUILT -> ac_catalog_build_register
 * (Masters row with every NOT NULL column, notes with the rejection statistics, quality
 * JSON) ; AC_BUILD_REJECT -> rejected with the reason; AC_BUILD_ERROR -> deferred with
 * backoff_s * 2^attempts seconds when transient (cancelled, AC_EBUSY, -ENOSPC, -ENOMEM,
 * -EIO, -EAGAIN; a cancel does not count an attempt) and attempts remain below
 * max_attempts, else failed. *what (may be NULL) says which. 0 or the catalogue's error.
 */
int ac_build_record(ac_db_t *db, const ac_build_spec_t *spec, const ac_build_result_t *res,
                    int max_attempts, double backoff_s, int *what, ac_err_t *e);

#endif
