/*
 * ctlgrade.h - grading in the control protocol's replies (docs/protocol.md: `session`'s
 * per-file "grade", `sessions`' per-session "grading", `grade`).
 *
 * Ownership: the JSON returned is new (the caller owns it). Thread: loop thread.
 */
#ifndef AC_CTLGRADE_H
#define AC_CTLGRADE_H

#include <jansson.h>

#include "catalog_grade.h"

/* ac_ctlgrade_row_json: one light's grade {state, error, fwhm, hfr, fwhm_arcsec,
 * hfr_arcsec, eccentricity, stars, snr, scale, nonfinite, flat_residual, score, verdict,
 * override, reasons, qreject} (numbers null when unknown). */
json_t *ac_ctlgrade_row_json(const ac_grade_row_t *r);

/* ac_ctlgrade_summary_json: {measured, failed, rejected, accepted, unjudged, median:{fwhm,
 * hfr, eccentricity, stars, snr}}. */
json_t *ac_ctlgrade_summary_json(const ac_grade_summary_t *s);

/* ac_ctlgrade_find returns the row of rows whose file_id is file_id, or NULL. */
const ac_grade_row_t *ac_ctlgrade_find(const ac_grade_rows_t *rows, const char *file_id);

/* ac_ctlgrade_session_summary summarises the rows of rows that belong to session_id. */
void ac_ctlgrade_session_summary(const ac_grade_rows_t *rows, const char *session_id,
                                 ac_grade_summary_t *s);

#endif
