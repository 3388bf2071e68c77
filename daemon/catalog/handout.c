/*
 * handout.c - cluster hand-out marks (handout.h).
 */
#include "handout.h"

#include <math.h>
#include <string.h>

#include "catalog_int.h"

struct mark_ctx {
    const char *const *ids, *const *sids;
    size_t n;
    const char *export_id;
    double expires;
    int marked;
};

static int mark_txn(ac_db_t *db, void *arg, ac_err_t *e)
{
    struct mark_ctx *cx = arg;
    char ts[32];
    int rc = 0, ch;

    ac_db_timestamp(ts, sizeof ts);
    cx->marked = 0;
    for (size_t i = 0; i < cx->n && rc == 0; i++) {
        const ac_bind_t u[] = {AC_BIND_TEXT(cx->ids[i]), AC_BIND_NUMBER(cx->expires),
                               AC_BIND_TEXT(ts)};
        ch = 0;
        rc = ac_catalog_exec(db,
                             "UPDATE astrocal_file SET not_before = ?2, updated_at = ?3 "
                             "WHERE file_id = ?1 AND state = 'pending'",
                             u, AC_BIND_N(u), "hand out a file", &ch, e);
        const ac_bind_t b[] = {
            AC_BIND_TEXT(cx->ids[i]),    AC_BIND_TEXT(cx->sids[i]), AC_BIND_TEXT(cx->export_id),
            AC_BIND_NUMBER(cx->expires), AC_BIND_TEXT(ts),          AC_BIND_INT(ch)};
        /* A done file (a recalibration) keeps its state: only the mark says it is out. */
        if (rc == 0)
            rc = ac_catalog_exec(db,
                                 "INSERT OR REPLACE INTO astrocal_handout (file_id, "
                                 "session_id, export_id, expires_at, created_at) "
                                 "SELECT ?1, ?2, ?3, ?4, ?5 WHERE ?6 > 0 OR EXISTS (SELECT 1 "
                                 "FROM astrocal_file WHERE file_id = ?1 AND state = 'done')",
                                 b, AC_BIND_N(b), "record a hand-out", &ch, e);
        cx->marked += rc == 0 && ch > 0;
    }
    return rc;
}

int ac_handout_mark(ac_db_t *db, const char *const *file_ids, const char *const *session_ids,
                    size_t n, const char *export_id, double expires, int *marked, ac_err_t *e)
{
    struct mark_ctx cx = {file_ids, session_ids, n, export_id, expires, 0};
    int rc = ac_db_transact(db, mark_txn, &cx, e);

    if (marked != NULL)
        *marked = rc == 0 ? cx.marked : 0;
    return rc;
}

int ac_handout_expire(ac_db_t *db, double now, int *n, ac_err_t *e)
{
    const ac_bind_t b[] = {AC_BIND_NUMBER(now)};

    return ac_catalog_exec_txn(db, "DELETE FROM astrocal_handout WHERE expires_at <= ?1", b,
                               AC_BIND_N(b), "expire hand-outs", n, e);
}

struct get_ctx {
    bool found;
    double expires;
};

static int get_row(sqlite3_stmt *st, void *arg, ac_err_t *e)
{
    struct get_ctx *cx = arg;

    (void)e;
    cx->found = true;
    cx->expires = sqlite3_column_double(st, 0);
    return AC_CATALOG_STOP;
}

int ac_handout_get(ac_db_t *db, const char *file_id, bool *found, double *expires, ac_err_t *e)
{
    struct get_ctx cx = {false, NAN};
    const ac_bind_t b[] = {AC_BIND_TEXT(file_id)};
    int rc = ac_catalog_run(db, "SELECT expires_at FROM astrocal_handout WHERE file_id = ?1", b,
                            AC_BIND_N(b), "read a hand-out", get_row, &cx, e);

    *found = rc == 0 && cx.found;
    *expires = cx.expires;
    return rc;
}

struct fail_ctx {
    const char *file_id, *error;
    int changed;
};

static int fail_txn(ac_db_t *db, void *arg, ac_err_t *e)
{
    struct fail_ctx *cx = arg;
    char ts[32];
    int rc;

    ac_db_timestamp(ts, sizeof ts);
    const ac_bind_t b[] = {AC_BIND_TEXT(cx->file_id), AC_BIND_TEXT(cx->error),
                           AC_BIND_TEXT(ts)};
    rc = ac_catalog_exec(db,
                         "UPDATE astrocal_file SET not_before = NULL, error = ?2, "
                         "attempts = attempts + 1, updated_at = ?3 "
                         "WHERE file_id = ?1 AND state = 'pending' AND EXISTS (SELECT 1 "
                         "FROM astrocal_handout AS h WHERE h.file_id = ?1)",
                         b, AC_BIND_N(b), "put a failed hand-out back", &cx->changed, e);
    /* A recalibration (a done file): it keeps its calibration, the error says why. */
    if (rc == 0 && cx->changed == 0)
        rc = ac_catalog_exec(db,
                             "UPDATE astrocal_file SET error = 'recalibration failed, the "
                             "previous calibration is kept: ' || ?2, updated_at = ?3 "
                             "WHERE file_id = ?1 AND state = 'done' AND EXISTS (SELECT 1 "
                             "FROM astrocal_handout AS h WHERE h.file_id = ?1)",
                             b, AC_BIND_N(b), "note a failed recalibration", &cx->changed, e);
    if (rc == 0)
        rc = ac_catalog_exec(db, "DELETE FROM astrocal_handout WHERE file_id = ?1", b, 1,
                             "end a hand-out", NULL, e);
    return rc;
}

int ac_handout_fail(ac_db_t *db, const char *file_id, const char *error, bool *changed,
                    ac_err_t *e)
{
    struct fail_ctx cx = {file_id, error, 0};
    int rc = ac_db_transact(db, fail_txn, &cx, e);

    *changed = rc == 0 && cx.changed > 0;
    return rc;
}

int ac_handout_release(ac_db_t *db, const char *file_id, ac_err_t *e)
{
    const ac_bind_t b[] = {AC_BIND_TEXT(file_id)};

    return ac_catalog_exec_txn(db, "DELETE FROM astrocal_handout WHERE file_id = ?1", b,
                               AC_BIND_N(b), "end a hand-out", NULL, e);
}

int ac_handout_output_hash(ac_db_t *db, const char *file_id, char *hex, size_t size,
                           ac_err_t *e)
{
    const ac_bind_t b[] = {AC_BIND_TEXT(file_id)};
    bool found = false;

    hex[0] = '\0';
    return ac_catalog_select_text(db,
                                  "SELECT COALESCE(f.fitsFileHash, '') FROM fitsfile AS f JOIN "
                                  "astrocal_record AS r ON f.fitsFileId = r.output_file_id "
                                  "WHERE r.file_id = ?1",
                                  b, AC_BIND_N(b), hex, size, &found,
                                  "read the hash of a calibrated output", e);
}
