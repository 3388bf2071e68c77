/*
 * catalog_build.c - calibration sessions as build units, and the names of build kinds and
 * states (see catalog.h, "Master builds").
 *
 * One query lists the calibration sessions (fitssession rows named 'Bias', 'Dark' or
 * 'Flat'), one their frames, one the live Masters rows that name a source session; the
 * units are assembled here (a 'Dark' session may give a dark and a flat-dark unit). The
 * queue itself is in catalog_build_queue.c.
 *
 * Ownership: lists and rows returned are owned by the caller (the *_free / *_clear
 * functions). Thread: loop thread for everything that takes an ac_db_t (checked); the
 * name helpers are pure.
 */
#include "catalog.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "catalog_int.h"
#include "meta.h"
#include "schema.h"
#include "util.h"

static const char *const kind_names[AC_CAL_NKINDS] = {"bias", "dark", "flat", "flatdark"};
static const char *const kind_mtypes[AC_CAL_NKINDS] = {"bias", "dark", "flat", "dark"};
static const char *const state_names[AC_BUILD_NSTATES] = {"pending", "running", "done",
                                                          "failed", "rejected"};

const char *ac_catalog_cal_kind_name(ac_cal_kind_t k)
{
    return ac_name_of(kind_names, AC_CAL_NKINDS, (int)k);
}

int ac_catalog_cal_kind_parse(const char *name)
{
    return ac_name_find(kind_names, AC_CAL_NKINDS, name);
}

const char *ac_catalog_cal_kind_master_type(ac_cal_kind_t k)
{
    return ac_name_of(kind_mtypes, AC_CAL_NKINDS, (int)k);
}

const char *ac_catalog_build_state_name(ac_build_state_t s)
{
    return ac_name_of(state_names, AC_BUILD_NSTATES, (int)s);
}

int ac_catalog_build_state_parse(const char *name)
{
    return ac_name_find(state_names, AC_BUILD_NSTATES, name);
}

bool ac_catalog_name_is_flatdark(const char *path)
{
    const char *base;
    char sq[256];
    size_t n = 0;

    if (path == NULL)
        return false;
    base = ac_path_base(path);
    for (const char *p = base; *p != '\0' && n + 1 < sizeof sq; p++) {
        if (*p == '-' || *p == '_' || *p == ' ')
            continue;
        sq[n++] = (char)tolower((unsigned char)*p);
    }
    sq[n] = '\0';
    return strstr(sq, "flatdark") != NULL || strstr(sq, "darkflat") != NULL;
}

/* ---- Build units ---- */

/* The columns of a calibration session (SESS_SQL) a unit stores; its key and master_path
 * are set by add_unit and read_masters. */
/* clang-format off */
static const ac_row_col_t unit_cols[] = {
    AC_ROW(ac_calsession_t, session_id, TEXT),
    AC_ROW_UNUSED, /* fitsSessionObjectName: the unit's kind */
    AC_ROW(ac_calsession_t, date, TEXT),
    AC_ROW(ac_calsession_t, telescope, TEXT),
    AC_ROW(ac_calsession_t, imager, TEXT),
    AC_ROW(ac_calsession_t, filter, TEXT),
    AC_ROW_SETTINGS(ac_calsession_t),
};
/* clang-format on */

void ac_catalog_calsession_clear(ac_calsession_t *s)
{
    if (s == NULL)
        return;
    ac_catalog_row_clear(unit_cols, AC_ROW_N(unit_cols), s);
    free(s->key);
    s->key = NULL;
    free(s->master_path);
    s->master_path = NULL;
    ac_catalog_files_free(&s->frames);
}

void ac_catalog_calsessions_free(ac_calsession_list_t *list)
{
    AC_CATALOG_LIST_FREE(list, ac_catalog_calsession_clear);
}

/* A unit being assembled, with its frame capacity. */
struct unit {
    ac_calsession_t u;
    size_t cap;
};

struct units {
    struct unit *v;
    size_t n, cap;
};

static void units_free(struct units *us)
{
    for (size_t i = 0; i < us->n; i++)
        ac_catalog_calsession_clear(&us->v[i].u);
    free(us->v);
    us->v = NULL;
    us->n = us->cap = 0;
}

/* Finds the unit of a session and kind (units are created in session order, and the
 * session ids are looked up through an index sorted by id). */
static int cmp_unit_index(const void *a, const void *b, void *ctx)
{
    const struct units *us = ctx;
    const struct unit *x = &us->v[*(const size_t *)a], *y = &us->v[*(const size_t *)b];
    int c = strcmp(x->u.session_id, y->u.session_id);

    return c != 0 ? c : (int)x->u.kind - (int)y->u.kind;
}

struct finder {
    const struct units *us;
    size_t *idx;
};

static struct unit *find_unit(const struct finder *fd, const char *session_id,
                              ac_cal_kind_t kind)
{
    size_t lo = 0, hi = fd->us->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        struct unit *u = &fd->us->v[fd->idx[mid]];
        int c = strcmp(u->u.session_id, session_id);
        if (c == 0)
            c = (int)u->u.kind - (int)kind;
        if (c == 0)
            return u;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Adds a unit for the session row st (columns of SESS_SQL) and kind. */
static int add_unit(struct units *us, sqlite3_stmt *st, ac_cal_kind_t kind)
{
    struct unit *x;

    if (ac_catalog_row_append(st, 0, unit_cols, AC_ROW_N(unit_cols), (void **)&us->v, &us->n,
                              &us->cap, sizeof *us->v) != 0)
        return -ENOMEM;
    x = &us->v[us->n - 1];
    x->u.kind = kind;
    x->u.key = kind == AC_CAL_FLATDARK
                   ? ac_asprintf("%s" AC_BUILD_FLATDARK_SUFFIX, x->u.session_id)
                   : strdup(x->u.session_id);
    return x->u.key != NULL ? 0 : -ENOMEM;
}

/* With ?1 NULL (every unit), the sessions recorded as decided are left out. */
#define OPEN_SQL                                                                               \
    "AND (?1 IS NOT NULL OR s.fitsSessionId NOT IN (SELECT session_id FROM "                   \
    "astrocal_unit_done)) "

#define SESS_SQL                                                                               \
    "SELECT s.fitsSessionId, s.fitsSessionObjectName, s.fitsSessionDate, "                     \
    "s.fitsSessionTelescope, s.fitsSessionImager, s.fitsSessionFilter, "                       \
    "s.fitsSessionExposure, s.fitsSessionCCDTemp, s.fitsSessionGain, s.fitsSessionOffset, "    \
    "s.fitsSessionBinningX, s.fitsSessionBinningY FROM fitssession AS s "                      \
    "WHERE s.fitsSessionObjectName IN ('Bias', 'Dark', 'Flat') "                               \
    "AND s.fitsSessionId IS NOT NULL AND (?1 IS NULL OR s.fitsSessionId = ?1) " OPEN_SQL       \
    "ORDER BY s.fitsSessionDate, s.fitsSessionId"

/* A row of SESS_SQL: its units (a 'Dark' session gives a dark and a flat-dark unit). */
static int session_row(sqlite3_stmt *st, void *arg, ac_err_t *e)
{
    struct units *us = arg;
    const char *obj = (const char *)sqlite3_column_text(st, 1);
    int r;

    if (strcmp(obj, "Bias") == 0)
        r = add_unit(us, st, AC_CAL_BIAS);
    else if (strcmp(obj, "Flat") == 0)
        r = add_unit(us, st, AC_CAL_FLAT);
    else if ((r = add_unit(us, st, AC_CAL_DARK)) == 0)
        r = add_unit(us, st, AC_CAL_FLATDARK);
    if (r != 0)
        return ac_err_set(e, -ENOMEM, "out of memory listing calibration sessions");
    return 0;
}

/* The frame kind a unit of a session object takes, or -1 for frames it ignores. */
static int frame_kind(const char *session_object, const char *type)
{
    bool master = false;
    ac_frame_type_t t = ac_meta_classify(type != NULL ? type : "", &master);

    if (master)
        return -1;
    if (strcmp(session_object, "Bias") == 0)
        return t == AC_FRAME_BIAS ? AC_CAL_BIAS : -1;
    if (strcmp(session_object, "Flat") == 0)
        return t == AC_FRAME_FLAT ? AC_CAL_FLAT : -1;
    if (t == AC_FRAME_DARK)
        return AC_CAL_DARK;
    return t == AC_FRAME_FLATDARK ? AC_CAL_FLATDARK : -1;
}

/* A row of read_frames' query: a frame of the unit it belongs to, if any. */
static int frame_row(sqlite3_stmt *st, void *arg, ac_err_t *e)
{
    const struct finder *fd = arg;
    const char *sid = (const char *)sqlite3_column_text(st, 2);
    int k = frame_kind((const char *)sqlite3_column_text(st, AC_CATALOG_FILE_NCOLS),
                       (const char *)sqlite3_column_text(st, 4));
    struct unit *u = k < 0 ? NULL : find_unit(fd, sid, (ac_cal_kind_t)k);

    if (u != NULL && ac_catalog_row_append(st, 0, ac_catalog_file_cols, AC_CATALOG_FILE_NCOLS,
                                           (void **)&u->u.frames.items, &u->u.frames.n, &u->cap,
                                           sizeof *u->u.frames.items) != 0)
        return ac_err_set(e, -ENOMEM, "out of memory listing calibration frames");
    return 0;
}

static int read_frames(ac_db_t *db, const ac_schema_info_t *si, const char *only,
                       struct finder *fd, ac_err_t *e)
{
    const ac_bind_t v[] = {AC_BIND_TEXT(only)};
    char cols[1024], sql[2048];

    ac_catalog_file_columns(si, cols, sizeof cols);
    snprintf(
        sql, sizeof sql,
        "SELECT %s, s.fitsSessionObjectName "
        "FROM fitsfile AS f JOIN fitssession AS s ON s.fitsSessionId = f.fitsFileSession "
        "WHERE s.fitsSessionObjectName IN ('Bias', 'Dark', 'Flat') "
        "AND (?1 IS NULL OR s.fitsSessionId = ?1) " OPEN_SQL "AND f.fitsFileName IS NOT NULL "
        "AND COALESCE(f.fitsFileCalibrated, 0) = 0%s%s "
        "ORDER BY f.fitsFileSession, f.fitsFileDate, f.fitsFileId",
        cols,
        (si->cols & AC_COL_FILE_SOFTDELETE) ? " AND COALESCE(f.fitsFileSoftDelete, 0) = 0" : "",
        (si->cols & AC_COL_FILE_ORIGINAL) ? " AND f.fitsFileOriginalFile IS NULL" : "");
    return ac_catalog_run(db, sql, v, 1, "list calibration frames", frame_row, fd, e);
}

/* The live Masters rows made from calibration sessions (of ?1 only when it is not NULL). */
#define MASTERS_SQL                                                                            \
    "SELECT source_session_id, id, master_type, master_path FROM Masters "                     \
    "WHERE COALESCE(soft_delete, 0) = 0 AND source_session_id IS NOT NULL "                    \
    "AND (?1 IS NULL OR source_session_id = ?1) ORDER BY id"

/* A row of MASTERS_SQL: the master of the unit it was made from, when that unit has none
 * yet (see catalog.h for how a 'Dark' session's dark and flat-dark masters are told
 * apart). */
static int master_row(sqlite3_stmt *st, void *arg, ac_err_t *e)
{
    const struct finder *fd = arg;
    const char *sid = (const char *)sqlite3_column_text(st, 0);
    const char *type = (const char *)sqlite3_column_text(st, 2);
    const char *path = (const char *)sqlite3_column_text(st, 3);
    struct unit *u = NULL;

    if (type == NULL)
        return 0;
    if (strcasecmp(type, "bias") == 0) {
        u = find_unit(fd, sid, AC_CAL_BIAS);
    } else if (strcasecmp(type, "flat") == 0) {
        u = find_unit(fd, sid, AC_CAL_FLAT);
    } else if (strcasecmp(type, "dark") == 0) {
        struct unit *d = find_unit(fd, sid, AC_CAL_DARK);
        struct unit *f = find_unit(fd, sid, AC_CAL_FLATDARK);
        bool has_d = d != NULL && d->u.frames.n > 0, has_f = f != NULL && f->u.frames.n > 0;
        if (has_d && has_f)
            u = ac_catalog_name_is_flatdark(path) ? f : d;
        else
            u = has_f ? f : d;
    }
    if (u == NULL || u->u.master_rowid != 0)
        return 0;
    u->u.master_rowid = sqlite3_column_int64(st, 1);
    if (path != NULL && (u->u.master_path = strdup(path)) == NULL)
        return ac_err_set(e, -ENOMEM, "out of memory listing masters");
    return 0;
}

/* Lists the units (of one session when only is not NULL) into us, frames and masters
 * attached; units without frames are kept (the caller drops them). */
static int list_units(ac_db_t *db, const char *only, struct units *us, ac_err_t *e)
{
    const ac_schema_info_t *si = NULL;
    struct finder fd = {us, NULL};
    const ac_bind_t v[] = {AC_BIND_TEXT(only)};
    int rc;

    if ((rc = ac_schema_require(db, &si, e)) != 0)
        return rc;
    rc = ac_catalog_run(db, SESS_SQL, v, 1, "list calibration sessions", session_row, us, e);
    if (rc != 0)
        return rc;
    if (us->n == 0)
        return 0;
    if ((fd.idx = malloc(us->n * sizeof *fd.idx)) == NULL)
        return ac_err_set(e, -ENOMEM, "out of memory listing calibration sessions");
    for (size_t i = 0; i < us->n; i++)
        fd.idx[i] = i;
    qsort_r(fd.idx, us->n, sizeof *fd.idx, cmp_unit_index, us);
    rc = read_frames(db, si, only, &fd, e);
    if (rc == 0 && si->masters[0] != '\0')
        rc = ac_catalog_run(db, MASTERS_SQL, v, 1, "list masters of calibration sessions",
                            master_row, &fd, e);
    free(fd.idx);
    return rc;
}

int ac_catalog_cal_sessions(ac_db_t *db, ac_calsession_list_t *out, ac_err_t *e)
{
    struct units us = {NULL, 0, 0};
    size_t n = 0;
    int rc;

    AC_DB_OWNER_CHECK(db);
    memset(out, 0, sizeof *out);
    if ((rc = list_units(db, NULL, &us, e)) != 0) {
        units_free(&us);
        return rc;
    }
    /* Keep the units that have frames, in place and in order. */
    for (size_t i = 0; i < us.n; i++) {
        if (us.v[i].u.frames.n == 0) {
            ac_catalog_calsession_clear(&us.v[i].u);
            continue;
        }
        us.v[n++] = us.v[i];
    }
    if (n == 0) {
        free(us.v);
        return 0;
    }
    out->items = malloc(n * sizeof *out->items);
    if (out->items == NULL) {
        us.n = n;
        units_free(&us);
        return ac_err_set(e, -ENOMEM, "out of memory listing calibration sessions");
    }
    for (size_t i = 0; i < n; i++)
        out->items[i] = us.v[i].u;
    out->n = n;
    free(us.v);
    return 0;
}

struct decided {
    const char *const *ids;
    size_t n;
};

static int mark_done_txn(ac_db_t *db, void *arg, ac_err_t *e)
{
    const struct decided *d = arg;
    char now[32];
    int rc = 0;

    ac_db_timestamp(now, sizeof now);
    for (size_t i = 0; i < d->n && rc == 0; i++) {
        const ac_bind_t v[] = {AC_BIND_TEXT(d->ids[i]), AC_BIND_TEXT(now)};
        rc =
            ac_catalog_exec(db,
                            "INSERT OR IGNORE INTO astrocal_unit_done (session_id, decided_at) "
                            "VALUES (?1, ?2)",
                            v, 2, "record a decided calibration session", NULL, e);
    }
    return rc;
}

int ac_catalog_cal_sessions_decided(ac_db_t *db, const char *const *session_ids, size_t n,
                                    ac_err_t *e)
{
    struct decided d = {session_ids, n};

    AC_DB_OWNER_CHECK(db);
    if (n == 0)
        return 0;
    return ac_db_transact(db, mark_done_txn, &d, e);
}

int ac_catalog_cal_session(ac_db_t *db, const char *key, ac_calsession_t *out, ac_err_t *e)
{
    struct units us = {NULL, 0, 0};
    char sid[128];
    ac_cal_kind_t kind = AC_CAL_NKINDS;
    size_t len, slen = strlen(AC_BUILD_FLATDARK_SUFFIX);
    int rc;

    AC_DB_OWNER_CHECK(db);
    memset(out, 0, sizeof *out);
    if (key == NULL || (len = strlen(key)) == 0 || len >= sizeof sid)
        return ac_err_set(e, -EINVAL, "calibration session: bad build key");
    ac_strlcpy(sid, key, sizeof sid);
    if (len > slen && strcmp(key + len - slen, AC_BUILD_FLATDARK_SUFFIX) == 0) {
        sid[len - slen] = '\0';
        kind = AC_CAL_FLATDARK;
    }
    if ((rc = list_units(db, sid, &us, e)) != 0)
        goto out;
    rc = -ENOENT;
    for (size_t i = 0; i < us.n && rc != 0; i++) {
        ac_calsession_t *u = &us.v[i].u;
        bool want =
            kind == AC_CAL_FLATDARK ? u->kind == AC_CAL_FLATDARK : u->kind != AC_CAL_FLATDARK;
        if (want && u->frames.n > 0) {
            *out = *u;
            memset(u, 0, sizeof *u);
            rc = 0;
        }
    }
    if (rc != 0)
        ac_err_set(e, rc, "%s: no calibration frames for build key %s", ac_db_path(db), key);
out:
    units_free(&us);
    return rc;
}
