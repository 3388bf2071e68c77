/*
 * catalog_grade.c - the grading stage's rows (see catalog_grade.h).
 *
 * Thread: loop thread (the owner of the connection).
 */
#include "catalog_grade.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog_int.h"
#include "util.h"

/* The QREJECT value a measured row g should carry: the override wins; NULL: no card. */
#define WANT_SQL                                                                               \
    "(CASE WHEN g.override = 'accepted' THEN NULL "                                            \
    "WHEN g.override = 'rejected' THEN 'rejected by the operator' || "                         \
    "CASE WHEN g.verdict = 'rejected' THEN '; ' || g.reasons ELSE '' END "                     \
    "WHEN g.verdict = 'rejected' THEN g.reasons ELSE NULL END)"
/* The effective verdict of g. */
#define EFFECTIVE_SQL "COALESCE(g.override, g.verdict)"

static int read_task(sqlite3_stmt *st, void *arg, ac_err_t *e)
{
    ac_grade_task_t *t = arg;

    (void)e;
    ac_catalog_column_copy(st, 0, t->file_id, sizeof t->file_id);
    ac_catalog_column_copy(st, 1, t->session_id, sizeof t->session_id);
    ac_catalog_column_copy(st, 2, t->output_file_id, sizeof t->output_file_id);
    ac_catalog_column_copy(st, 3, t->output_path, sizeof t->output_path);
    ac_catalog_column_copy(st, 4, t->sha256, sizeof t->sha256);
    if (sqlite3_column_count(st) > 5) {
        t->reject = sqlite3_column_type(st, 5) != SQLITE_NULL;
        ac_catalog_column_copy(st, 5, t->reasons, sizeof t->reasons);
    }
    return AC_CATALOG_STOP;
}

int ac_catalog_grade_next(ac_db_t *db, ac_grade_task_t *t, bool *found, ac_err_t *e)
{
    int rc;

    memset(t, 0, sizeof *t);
    *found = false;
    rc = ac_catalog_run(db,
                        "SELECT g.file_id, g.session_id, g.output_file_id, g.output_path, "
                        "ff.fitsFileHash, " WANT_SQL " FROM astrocal_grade g "
                        "LEFT JOIN fitsfile ff ON ff.fitsFileId = g.output_file_id "
                        "WHERE g.state = 'measured' AND g.error IS NULL AND " WANT_SQL
                        " IS NOT g.header_reasons LIMIT 1",
                        NULL, 0, "find a header to mark", read_task, t, e);
    if (rc != 0)
        return rc;
    if (t->file_id[0] != '\0') {
        t->kind = AC_GRADE_TASK_MARK;
        *found = true;
        return 0;
    }
    rc = ac_catalog_run(db,
                        "SELECT f.file_id, f.session_id, f.output_file_id, f.output_path, "
                        "ff.fitsFileHash FROM astrocal_file f "
                        "LEFT JOIN fitsfile ff ON ff.fitsFileId = f.output_file_id "
                        "WHERE f.state = 'done' AND f.output_path IS NOT NULL AND NOT EXISTS "
                        "(SELECT 1 FROM astrocal_grade g WHERE g.file_id = f.file_id) "
                        "ORDER BY f.finished_at DESC LIMIT 1",
                        NULL, 0, "find a light to grade", read_task, t, e);
    if (rc == 0 && t->file_id[0] != '\0') {
        t->kind = AC_GRADE_TASK_MEASURE;
        *found = true;
    }
    return rc;
}

struct measured_ctx {
    const ac_grade_task_t *t;
    const ac_grade_fig_t *f;
    double fwhm_arcsec, hfr_arcsec, seconds;
    const char *sha256;
};

static double finite_or_nan(double v)
{
    return isfinite(v) ? v : NAN;
}

static int measured_txn(ac_db_t *db, void *arg, ac_err_t *e)
{
    const struct measured_ctx *m = arg;
    const ac_grade_fig_t *f = m->f;
    const ac_schema_info_t *si = ac_db_schema(db);
    char now[40];
    int rc;

    ac_now_utc_iso(now, sizeof now, 0);
    {
        const ac_bind_t b[] = {
            AC_BIND_TEXT(m->t->file_id),
            AC_BIND_TEXT(m->t->session_id),
            AC_BIND_TEXT(m->t->output_file_id[0] ? m->t->output_file_id : NULL),
            AC_BIND_TEXT(m->t->output_path),
            AC_BIND_NUMBER(finite_or_nan(f->fwhm)),
            AC_BIND_NUMBER(finite_or_nan(f->hfr)),
            AC_BIND_NUMBER(finite_or_nan(f->ecc)),
            AC_BIND_INT(f->stars),
            AC_BIND_NUMBER(finite_or_nan(f->snr)),
            AC_BIND_NUMBER(finite_or_nan(f->scale)),
            AC_BIND_NUMBER(finite_or_nan(m->fwhm_arcsec)),
            AC_BIND_NUMBER(finite_or_nan(m->hfr_arcsec)),
            AC_BIND_NUMBER(finite_or_nan(f->nonfinite)),
            AC_BIND_NUMBER(finite_or_nan(f->flat_residual)),
            AC_BIND_NUMBER(m->seconds),
            AC_BIND_TEXT(now),
        };
        rc = ac_catalog_exec(
            db,
            "INSERT OR REPLACE INTO astrocal_grade (file_id, session_id, output_file_id, "
            "output_path, state, fwhm, hfr, ecc, stars, snr, scale, fwhm_arcsec, hfr_arcsec, "
            "nonfinite, flat_residual, seconds, measured_at, updated_at) VALUES (?1, ?2, ?3, "
            "?4, 'measured', ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?16)",
            b, AC_BIND_N(b), "record a light's grade", NULL, e);
        if (rc != 0)
            return rc;
    }
    if (m->t->output_file_id[0] == '\0')
        return 0;
    {
        const ac_bind_t b[] = {
            AC_BIND_TEXT(m->t->output_file_id),
            AC_BIND_TEXT(m->sha256 && m->sha256[0] ? m->sha256 : NULL),
            AC_BIND_NUMBER(finite_or_nan(m->fwhm_arcsec)),
            AC_BIND_NUMBER(finite_or_nan(f->ecc)),
            AC_BIND_NUMBER(finite_or_nan(m->hfr_arcsec)),
            AC_BIND_NUMBER(finite_or_nan(f->snr)),
            AC_BIND_INT(f->stars),
            AC_BIND_NUMBER(finite_or_nan(f->scale)),
        };
        if (si != NULL && (si->cols & AC_COL_FILE_QUALITY))
            rc = ac_catalog_exec(
                db,
                "UPDATE fitsfile SET fitsFileHash = COALESCE(?2, fitsFileHash), "
                "fitsFileAvgFWHMArcsec = ?3, fitsFileAvgEccentricity = ?4, "
                "fitsFileAvgHFRArcsec = ?5, fitsFileImageSNR = ?6, "
                "fitsFileStarCount = ?7, fitsFileImageScale = ?8 "
                "WHERE fitsFileId = ?1",
                b, AC_BIND_N(b), "write the file's quality columns", NULL, e);
        else
            rc =
                ac_catalog_exec(db,
                                "UPDATE fitsfile SET fitsFileHash = COALESCE(?2, fitsFileHash) "
                                "WHERE fitsFileId = ?1",
                                b, 2, "write the file's hash", NULL, e);
    }
    return rc;
}

int ac_catalog_grade_measured(ac_db_t *db, const ac_grade_task_t *t, const ac_grade_fig_t *f,
                              double fwhm_arcsec, double hfr_arcsec, const char *sha256,
                              double seconds, ac_err_t *e)
{
    struct measured_ctx m = {t, f, fwhm_arcsec, hfr_arcsec, seconds, sha256};

    return ac_db_transact(db, measured_txn, &m, e);
}

int ac_catalog_grade_failed(ac_db_t *db, const ac_grade_task_t *t, const char *error,
                            ac_err_t *e)
{
    char now[40];

    ac_now_utc_iso(now, sizeof now, 0);
    if (t->kind == AC_GRADE_TASK_MARK) {
        const ac_bind_t b[] = {AC_BIND_TEXT(t->file_id), AC_BIND_TEXT(error),
                               AC_BIND_TEXT(now)};
        return ac_catalog_exec_txn(db,
                                   "UPDATE astrocal_grade SET error = ?2, updated_at = ?3 "
                                   "WHERE file_id = ?1",
                                   b, AC_BIND_N(b), "record a failed header update", NULL, e);
    }
    const ac_bind_t b[] = {AC_BIND_TEXT(t->file_id),
                           AC_BIND_TEXT(t->session_id),
                           AC_BIND_TEXT(t->output_file_id[0] ? t->output_file_id : NULL),
                           AC_BIND_TEXT(t->output_path),
                           AC_BIND_TEXT(error),
                           AC_BIND_TEXT(now)};
    return ac_catalog_exec_txn(db,
                               "INSERT OR REPLACE INTO astrocal_grade (file_id, session_id, "
                               "output_file_id, output_path, state, error, measured_at, "
                               "updated_at) VALUES (?1, ?2, ?3, ?4, 'failed', ?5, ?6, ?6)",
                               b, AC_BIND_N(b), "record a failed grading", NULL, e);
}

struct marked_ctx {
    const ac_grade_task_t *t;
    const char *reasons, *sha256;
};

static int marked_txn(ac_db_t *db, void *arg, ac_err_t *e)
{
    const struct marked_ctx *m = arg;
    char now[40];
    int rc;

    ac_now_utc_iso(now, sizeof now, 0);
    const ac_bind_t b[] = {AC_BIND_TEXT(m->t->file_id), AC_BIND_TEXT(m->reasons),
                           AC_BIND_TEXT(now)};
    rc = ac_catalog_exec(db,
                         "UPDATE astrocal_grade SET header_reasons = ?2, updated_at = ?3 "
                         "WHERE file_id = ?1",
                         b, AC_BIND_N(b), "record a header mark", NULL, e);
    if (rc != 0 || m->t->output_file_id[0] == '\0' || m->sha256 == NULL || !m->sha256[0])
        return rc;
    const ac_bind_t h[] = {AC_BIND_TEXT(m->t->output_file_id), AC_BIND_TEXT(m->sha256)};
    return ac_catalog_exec(db, "UPDATE fitsfile SET fitsFileHash = ?2 WHERE fitsFileId = ?1", h,
                           AC_BIND_N(h), "write the file's hash", NULL, e);
}

int ac_catalog_grade_marked(ac_db_t *db, const ac_grade_task_t *t, const char *header_reasons,
                            const char *sha256, ac_err_t *e)
{
    struct marked_ctx m = {t, header_reasons, sha256};

    return ac_db_transact(db, marked_txn, &m, e);
}

static int select_int(ac_db_t *db, const char *sql, const char *arg, int *out, const char *op,
                      ac_err_t *e)
{
    static const ac_row_col_t col[] = {AC_ROW_VALUE(INT)};
    const ac_bind_t b[] = {AC_BIND_TEXT(arg)};
    bool found = false;

    *out = 0;
    return ac_catalog_select_row(db, sql, b, AC_BIND_N(b), col, 1, out, &found, op, e);
}

int ac_catalog_grade_session_ready(ac_db_t *db, const char *session_id, bool *ready,
                                   ac_err_t *e)
{
    int open = 0, measured = 0, rc;

    *ready = false;
    rc = select_int(db,
                    "SELECT COUNT(*) FROM astrocal_file f WHERE f.session_id = ?1 AND "
                    "(f.state IN ('pending', 'running') OR (f.state = 'done' AND "
                    "f.output_path IS NOT NULL AND NOT EXISTS (SELECT 1 FROM astrocal_grade g "
                    "WHERE g.file_id = f.file_id)))",
                    session_id, &open, "count a session's ungraded lights", e);
    if (rc == 0)
        rc = select_int(db,
                        "SELECT COUNT(*) FROM astrocal_grade WHERE session_id = ?1 AND "
                        "state = 'measured'",
                        session_id, &measured, "count a session's graded lights", e);
    *ready = rc == 0 && open == 0 && measured > 0;
    return rc;
}

/* clang-format off */
static const ac_row_col_t grade_cols[] = {
    AC_ROW(ac_grade_row_t, file_id, TEXT),     AC_ROW(ac_grade_row_t, session_id, TEXT),
    AC_ROW(ac_grade_row_t, path, TEXT),        AC_ROW(ac_grade_row_t, output_path, TEXT),
    AC_ROW(ac_grade_row_t, state, TEXT),       AC_ROW(ac_grade_row_t, error, TEXT),
    AC_ROW(ac_grade_row_t, fwhm, NUMBER),      AC_ROW(ac_grade_row_t, hfr, NUMBER),
    AC_ROW(ac_grade_row_t, ecc, NUMBER),       AC_ROW(ac_grade_row_t, snr, NUMBER),
    AC_ROW(ac_grade_row_t, scale, NUMBER),     AC_ROW(ac_grade_row_t, fwhm_arcsec, NUMBER),
    AC_ROW(ac_grade_row_t, hfr_arcsec, NUMBER), AC_ROW(ac_grade_row_t, nonfinite, NUMBER),
    AC_ROW(ac_grade_row_t, flat_residual, NUMBER), AC_ROW(ac_grade_row_t, score, NUMBER),
    AC_ROW(ac_grade_row_t, seconds, NUMBER),   AC_ROW(ac_grade_row_t, stars, INT),
    AC_ROW(ac_grade_row_t, verdict, TEXT),     AC_ROW(ac_grade_row_t, reasons, TEXT),
    AC_ROW(ac_grade_row_t, override, TEXT),    AC_ROW(ac_grade_row_t, header_reasons, TEXT),
};
/* clang-format on */

#define GRADE_SELECT                                                                           \
    "SELECT g.file_id, g.session_id, f.path, g.output_path, g.state, g.error, g.fwhm, "        \
    "g.hfr, g.ecc, g.snr, g.scale, g.fwhm_arcsec, g.hfr_arcsec, g.nonfinite, "                 \
    "g.flat_residual, g.score, g.seconds, g.stars, g.verdict, g.reasons, g.override, "         \
    "g.header_reasons FROM astrocal_grade g LEFT JOIN astrocal_file f ON f.file_id = "         \
    "g.file_id "

int ac_catalog_grade_rows(ac_db_t *db, const char *session_id, ac_grade_rows_t *out,
                          ac_err_t *e)
{
    const ac_bind_t b[] = {AC_BIND_TEXT(session_id)};

    memset(out, 0, sizeof *out);
    return AC_CATALOG_SELECT_ROWS(db,
                                  GRADE_SELECT "WHERE ?1 IS NULL OR g.session_id = ?1 "
                                               "ORDER BY g.session_id, f.path, g.file_id",
                                  b, AC_BIND_N(b), grade_cols, out, "list graded lights", e);
}

void ac_catalog_grade_rows_free(ac_grade_rows_t *l)
{
    AC_CATALOG_ROWS_FREE(l, grade_cols);
}

static bool is_measured(const ac_grade_row_t *r)
{
    return r->state != NULL && strcmp(r->state, "measured") == 0;
}

static const char *effective(const ac_grade_row_t *r)
{
    return r->override != NULL ? r->override : r->verdict;
}

void ac_grade_summarise(const ac_grade_rows_t *rows, ac_grade_summary_t *s)
{
    ac_grade_fig_t *figs = calloc(rows->n ? rows->n : 1, sizeof *figs);
    size_t n = 0;

    memset(s, 0, sizeof *s);
    for (size_t i = 0; i < rows->n; i++) {
        const ac_grade_row_t *r = &rows->items[i];
        const char *v = effective(r);
        if (!is_measured(r)) {
            s->failed++;
            continue;
        }
        s->measured++;
        if (v == NULL)
            s->unjudged++;
        else if (strcmp(v, "rejected") == 0)
            s->rejected++;
        else
            s->accepted++;
        if (figs != NULL)
            figs[n++] = (ac_grade_fig_t){.fwhm = r->fwhm,
                                         .hfr = r->hfr,
                                         .ecc = r->ecc,
                                         .stars = r->stars,
                                         .snr = r->snr};
    }
    if (figs != NULL)
        ac_grade_reference(figs, n, &s->median);
    else
        s->median =
            (ac_grade_ref_t){.fwhm = NAN, .hfr = NAN, .ecc = NAN, .stars = NAN, .snr = NAN};
    free(figs);
}

struct judge_ctx {
    const char *session_id;
    bool judge;
    const ac_grade_rules_t *rules;
    int rejected;
};

static int judge_txn(ac_db_t *db, void *arg, ac_err_t *e)
{
    struct judge_ctx *j = arg;
    const ac_schema_info_t *si = ac_db_schema(db);
    ac_grade_rows_t rows = {0};
    ac_grade_fig_t *figs = NULL;
    ac_grade_verdict_t *v = NULL;
    size_t *idx = NULL, n = 0;
    char now[40];
    int rc;

    ac_now_utc_iso(now, sizeof now, 0);
    j->rejected = 0;
    rc = ac_catalog_grade_rows(db, j->session_id, &rows, e);
    if (rc != 0)
        return rc;
    figs = calloc(rows.n + 1, sizeof *figs);
    v = calloc(rows.n + 1, sizeof *v);
    idx = calloc(rows.n + 1, sizeof *idx);
    if (figs == NULL || v == NULL || idx == NULL) {
        rc = ac_err_set(e, -ENOMEM, "no memory to judge session %s", j->session_id);
        goto out;
    }
    for (size_t i = 0; i < rows.n; i++) {
        const ac_grade_row_t *r = &rows.items[i];
        if (!is_measured(r))
            continue;
        idx[n] = i;
        figs[n++] = (ac_grade_fig_t){.fwhm = r->fwhm,
                                     .hfr = r->hfr,
                                     .ecc = r->ecc,
                                     .stars = r->stars,
                                     .snr = r->snr,
                                     .scale = r->scale,
                                     .nonfinite = isfinite(r->nonfinite) ? r->nonfinite : 0,
                                     .flat_residual = r->flat_residual};
    }
    if ((rc = ac_grade_judge(figs, n, j->rules, v)) != 0) {
        rc = ac_err_set(e, rc, "no memory to judge session %s", j->session_id);
        goto out;
    }
    for (size_t k = 0; k < n; k++) {
        const ac_grade_row_t *r = &rows.items[idx[k]];
        const char *verdict = !j->judge ? NULL : v[k].rejected ? "rejected" : "accepted";
        const ac_bind_t b[] = {AC_BIND_TEXT(r->file_id), AC_BIND_TEXT(verdict),
                               AC_BIND_TEXT(j->judge && v[k].rejected ? v[k].reasons : NULL),
                               AC_BIND_NUMBER(v[k].score), AC_BIND_TEXT(now)};
        rc =
            ac_catalog_exec(db,
                            "UPDATE astrocal_grade SET verdict = ?2, reasons = ?3, score = ?4, "
                            "judged_at = ?5, updated_at = ?5 WHERE file_id = ?1",
                            b, AC_BIND_N(b), "record a verdict", NULL, e);
        if (rc != 0)
            goto out;
        if (r->override != NULL ? strcmp(r->override, "rejected") == 0
                                : j->judge && v[k].rejected)
            j->rejected++;
    }
    if (si != NULL && (si->cols & AC_COL_SESS_QUALITY)) {
        const ac_bind_t b[] = {AC_BIND_TEXT(j->session_id)};
#define KEPT                                                                                   \
    " FROM astrocal_grade g WHERE g.session_id = ?1 AND g.state = 'measured' AND "             \
    "COALESCE(" EFFECTIVE_SQL ", '') != 'rejected'"
        rc = ac_catalog_exec(
            db,
            "UPDATE fitssession SET "
            "fitsSessionAvgFWHMArcsec = COALESCE((SELECT AVG(g.fwhm_arcsec)" KEPT "), "
            "fitsSessionAvgFWHMArcsec), "
            "fitsSessionAvgEccentricity = COALESCE((SELECT AVG(g.ecc)" KEPT "), "
            "fitsSessionAvgEccentricity), "
            "fitsSessionAvgHFRArcsec = COALESCE((SELECT AVG(g.hfr_arcsec)" KEPT "), "
            "fitsSessionAvgHFRArcsec), "
            "fitsSessionImageSNR = COALESCE((SELECT AVG(g.snr)" KEPT "), fitsSessionImageSNR), "
            "fitsSessionStarCount = COALESCE((SELECT CAST(AVG(g.stars) AS INTEGER)" KEPT "), "
            "fitsSessionStarCount), "
            "fitsSessionImageScale = COALESCE((SELECT AVG(g.scale)" KEPT "), "
            "fitsSessionImageScale) WHERE fitsSessionId = ?1",
            b, AC_BIND_N(b), "write the session's quality columns", NULL, e);
#undef KEPT
    }
out:
    free(figs);
    free(v);
    free(idx);
    ac_catalog_grade_rows_free(&rows);
    return rc;
}

int ac_catalog_grade_judge(ac_db_t *db, const char *session_id, bool judge,
                           const ac_grade_rules_t *rules, int *rejected, ac_err_t *e)
{
    struct judge_ctx j = {session_id, judge, rules, 0};
    int rc = ac_db_transact(db, judge_txn, &j, e);

    if (rejected != NULL)
        *rejected = rc == 0 ? j.rejected : 0;
    return rc;
}

int ac_catalog_grade_rejected(ac_db_t *db, const char *session_id, int *count, ac_err_t *e)
{
    return select_int(db,
                      "SELECT COUNT(*) FROM astrocal_grade g WHERE g.session_id = ?1 AND "
                      "g.state = 'measured' AND " EFFECTIVE_SQL " = 'rejected'",
                      session_id, count, "count a session's rejected lights", e);
}

int ac_catalog_grade_override(ac_db_t *db, const char *file, const char *verdict, char *session,
                              ac_err_t *e)
{
    const ac_bind_t b[] = {AC_BIND_TEXT(file)};
    static const char find[] =
        "SELECT g.session_id FROM astrocal_grade g LEFT JOIN astrocal_file f ON "
        "f.file_id = g.file_id WHERE g.state = 'measured' AND (g.file_id = ?1 OR "
        "g.output_file_id = ?1 OR g.output_path = ?1 OR f.path = ?1) LIMIT 1";
    bool found = false;
    char now[40];
    int rc;

    rc = ac_catalog_select_text(db, find, b, 1, session, 64, &found, "find a graded light", e);
    if (rc != 0)
        return rc;
    if (!found)
        return ac_err_set(e, -ENOENT, "no graded light '%s' (a raw or calibrated path or id)",
                          file);
    ac_now_utc_iso(now, sizeof now, 0);
    const ac_bind_t u[] = {AC_BIND_TEXT(file), AC_BIND_TEXT(verdict), AC_BIND_TEXT(now)};
    return ac_catalog_exec_txn(
        db,
        "UPDATE astrocal_grade SET override = ?2, error = NULL, updated_at = ?3 WHERE "
        "state = 'measured' AND file_id = (SELECT g.file_id FROM astrocal_grade g LEFT JOIN "
        "astrocal_file f ON f.file_id = g.file_id WHERE g.state = 'measured' AND "
        "(g.file_id = ?1 OR g.output_file_id = ?1 OR g.output_path = ?1 OR f.path = ?1) "
        "LIMIT 1)",
        u, AC_BIND_N(u), "set the operator's verdict", NULL, e);
}

int ac_catalog_grade_forget(ac_db_t *db, const char *session_id, bool failed_only, int *changes,
                            ac_err_t *e)
{
    const ac_bind_t b[] = {AC_BIND_TEXT(session_id), AC_BIND_INT(failed_only)};

    return ac_catalog_exec_txn(db,
                               "DELETE FROM astrocal_grade WHERE session_id = ?1 AND "
                               "(?2 = 0 OR state = 'failed')",
                               b, AC_BIND_N(b), "forget a session's grades", changes, e);
}
