/*
 * catalog_grade.h - the grading stage's rows (issue 11): astrocald's astrocal_grade table
 * (schema migration 4, docs/grading.md "Where the figures go") and AstroFiler's quality
 * columns of the calibrated fitsfile row (fitsFileAvgFWHMArcsec, fitsFileAvgEccentricity,
 * fitsFileAvgHFRArcsec, fitsFileImageSNR, fitsFileStarCount, fitsFileImageScale, AstroFiler's
 * migration 009) and of fitssession (fitsSessionAvg..., migration 010), each written only
 * where the catalogue has the column.
 *
 * Work: a light needs measuring once its astrocal_file row is done with an output and it
 * has no astrocal_grade row (newest first: its output is most likely still in the page
 * cache); a measured light needs its header marked when the QREJECT value it should carry
 * (the effective verdict: the override, else the verdict) differs from header_reasons.
 * A session is judged (ac_catalog_grade_judge) once none of its lights is pending, running
 * or done but unmeasured; judging sets verdict, reasons and score of every measured light
 * (only with judge true: calibration_quality_check; else the verdicts are cleared) and the
 * session's averages on fitssession (means over its measured lights that are not rejected).
 *
 * Ownership: lists and rows are owned by the caller (the _free functions). Thread: the
 * owner of the ac_db_t (the loop thread).
 */
#ifndef AC_CATALOG_GRADE_H
#define AC_CATALOG_GRADE_H

#include <stdbool.h>
#include <stddef.h>

#include "db.h"
#include "err.h"
#include "grade.h"

enum { AC_GRADE_TASK_MEASURE = 1, AC_GRADE_TASK_MARK = 2 };

/* One piece of work for the grading stage. */
typedef struct ac_grade_task {
    int kind; /* AC_GRADE_TASK_* */
    char file_id[64], session_id[64], output_file_id[64];
    char output_path[4096];
    char sha256[65];    /* the output's fitsFileHash ("" when unknown) */
    bool reject;        /* MARK: write QREJECT (true) or remove it */
    char reasons[1024]; /* MARK: the QREJECT value to write */
} ac_grade_task_t;

/* ac_catalog_grade_next finds the next task (marks first, then measures); *found false
 * when there is none. */
int ac_catalog_grade_next(ac_db_t *db, ac_grade_task_t *t, bool *found, ac_err_t *e);

/* ac_catalog_grade_measured records t's figures (r from work/grading.h, passed as its
 * parts), the output's new hash and AstroFiler's file quality columns, in one
 * transaction. */
int ac_catalog_grade_measured(ac_db_t *db, const ac_grade_task_t *t, const ac_grade_fig_t *f,
                              double fwhm_arcsec, double hfr_arcsec, const char *sha256,
                              double seconds, ac_err_t *e);

/* ac_catalog_grade_failed records that t could not be measured (error), so that it is not
 * tried again (astrocalctl grade SESSION --again clears it). */
int ac_catalog_grade_failed(ac_db_t *db, const ac_grade_task_t *t, const char *error,
                            ac_err_t *e);

/* ac_catalog_grade_marked records the QREJECT value now in t's header (NULL: none) and the
 * output's new hash. */
int ac_catalog_grade_marked(ac_db_t *db, const ac_grade_task_t *t, const char *header_reasons,
                            const char *sha256, ac_err_t *e);

/* ac_catalog_grade_session_ready says whether session_id's grading is complete (no light
 * pending, running, or done and unmeasured) and it has at least one measured light. */
int ac_catalog_grade_session_ready(ac_db_t *db, const char *session_id, bool *ready,
                                   ac_err_t *e);

/* ac_catalog_grade_judge judges session_id's measured lights under rules (judge false:
 * verdicts cleared, nothing rejected) and writes the session averages. *rejected receives
 * the lights now rejected (override included; may be NULL). */
int ac_catalog_grade_judge(ac_db_t *db, const char *session_id, bool judge,
                           const ac_grade_rules_t *rules, int *rejected, ac_err_t *e);

/* One light as `astrocalctl session` and `grade` show it. TEXT members owned. */
typedef struct ac_grade_row {
    char *file_id, *session_id, *path, *output_path, *state, *error;
    double fwhm, hfr, ecc, snr, scale, fwhm_arcsec, hfr_arcsec, nonfinite, flat_residual;
    double score, seconds;
    int stars;
    char *verdict, *reasons, *override, *header_reasons;
} ac_grade_row_t;

typedef struct ac_grade_rows {
    ac_grade_row_t *items;
    size_t n;
} ac_grade_rows_t;

/* ac_catalog_grade_rows lists the astrocal_grade rows of session_id (NULL: every session),
 * in the order of the lights' paths. */
int ac_catalog_grade_rows(ac_db_t *db, const char *session_id, ac_grade_rows_t *out,
                          ac_err_t *e);
void ac_catalog_grade_rows_free(ac_grade_rows_t *l);

/* The grading summary of one session. */
typedef struct ac_grade_summary {
    int measured, failed, rejected, accepted, unjudged;
    ac_grade_ref_t median; /* over the measured lights */
} ac_grade_summary_t;

/* ac_grade_summarise computes a session's summary from its rows (pure). The verdict that
 * counts is the override, else the verdict. */
void ac_grade_summarise(const ac_grade_rows_t *rows, ac_grade_summary_t *s);

/* ac_catalog_grade_rejected counts the lights of session_id rejected by grading (the
 * override included): for the session states (done with rejected lights). */
int ac_catalog_grade_rejected(ac_db_t *db, const char *session_id, int *count, ac_err_t *e);

/* ac_catalog_grade_override sets or clears (verdict NULL) the operator's verdict of the
 * light named by file (its raw or output fitsFileId, or its raw or output path). *session
 * (size 64) receives its session. 0, -ENOENT (no measured light by that name), or an error. */
int ac_catalog_grade_override(ac_db_t *db, const char *file, const char *verdict, char *session,
                              ac_err_t *e);

/* ac_catalog_grade_forget deletes session_id's grading rows (failed only, or all), so that
 * the stage measures them again. *changes may be NULL. */
int ac_catalog_grade_forget(ac_db_t *db, const char *session_id, bool failed_only, int *changes,
                            ac_err_t *e);

#endif
