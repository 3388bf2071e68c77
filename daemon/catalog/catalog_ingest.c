/*
 * catalog_ingest.c - what live ingest needs from the catalogue besides registering files:
 * the paths already registered (fitsfile and Masters), and linking light sessions to
 * calibration sessions as AstroFiler's linkSessions does. See catalog.h for the contracts.
 *
 * Linking is one ac_db_transact body (all links of a pass, or none). Thread: loop thread
 * only (checked).
 */
#include "catalog.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "catalog_int.h"
#include "pin.h"
#include "schema.h"
#include "util.h"

/* ---- Registered paths ---- */

struct paths_ctx {
    ac_path_list_t *out;
    size_t cap;
};

/* Appends the TEXT column 0 of a row to the list (NULL values skipped). */
static int collect_path(sqlite3_stmt *st, void *arg, ac_err_t *e)
{
    struct paths_ctx *px = arg;
    ac_path_list_t *out = px->out;
    const unsigned char *t = sqlite3_column_text(st, 0);

    if (t == NULL)
        return 0;
    if (ac_grow((void **)&out->items, &px->cap, out->n, sizeof *out->items) != 0 ||
        (out->items[out->n] = strdup((const char *)t)) == NULL)
        return ac_err_set(e, -ENOMEM, "list registered paths: no memory");
    out->n++;
    return 0;
}

int ac_catalog_registered_paths(ac_db_t *db, const char *prefix, ac_path_list_t *out,
                                ac_err_t *e)
{
    static const char *const sql[2] = {"SELECT fitsFileName FROM fitsfile WHERE ?1 IS NULL OR "
                                       "substr(fitsFileName, 1, length(?1)) = ?1",
                                       "SELECT master_path FROM Masters WHERE ?1 IS NULL OR "
                                       "substr(master_path, 1, length(?1)) = ?1"};
    const ac_schema_info_t *si = NULL;
    struct paths_ctx px = {out, 0};
    char *pre = NULL;
    int rc = 0;

    AC_DB_OWNER_CHECK(db);
    memset(out, 0, sizeof *out);
    if ((rc = ac_schema_require(db, &si, e)) != 0)
        return rc;
    if (prefix != NULL) {
        size_t n = strlen(prefix);
        pre = ac_asprintf("%s%s", prefix, n > 0 && prefix[n - 1] == '/' ? "" : "/");
        if (pre == NULL)
            return ac_err_set(e, -ENOMEM, "list registered paths: no memory");
    }
    const ac_bind_t v[] = {AC_BIND_TEXT(pre)};
    for (int i = 0; i < 2 && rc == 0; i++) {
        if (i == 1 && si->masters[0] == '\0')
            break;
        rc = ac_catalog_run(db, sql[i], v, 1, "list registered paths", collect_path, &px, e);
    }
    free(pre);
    if (rc != 0)
        ac_catalog_paths_free(out);
    return rc;
}

void ac_catalog_paths_free(ac_path_list_t *list)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < list->n; i++)
        free(list->items[i]);
    free(list->items);
    list->items = NULL;
    list->n = 0;
}

/* ---- Linking light sessions to calibration sessions ---- */

/* The fitssession columns linking reads, in this order. */
/* clang-format off */
enum { L_ID, L_OBJ, L_DATE, L_TEL, L_INS, L_EXP, L_XB, L_YB, L_GAIN, L_OFF, L_FILT, L_BIAS,
       L_DARK, L_FLAT, L_N };
/* clang-format on */

struct lsess {
    char *c[L_N];
    int kind;     /* 0 bias, 1 dark, 2 flat, -1 light */
    bool decided; /* astrocald recorded its masters' sessions (catalog_links.c): not linked */
};

struct link_ctx {
    const char *since;
    struct lsess *s;
    size_t n, cap;
    int linked;
};

/* Every column is kept as text (link_matches compares numbers as numbers). */
/* clang-format off */
static const ac_row_col_t lsess_cols[L_N] = {
    AC_ROW(struct lsess, c[L_ID], TEXT),   AC_ROW(struct lsess, c[L_OBJ], TEXT),
    AC_ROW(struct lsess, c[L_DATE], TEXT), AC_ROW(struct lsess, c[L_TEL], TEXT),
    AC_ROW(struct lsess, c[L_INS], TEXT),  AC_ROW(struct lsess, c[L_EXP], TEXT),
    AC_ROW(struct lsess, c[L_XB], TEXT),   AC_ROW(struct lsess, c[L_YB], TEXT),
    AC_ROW(struct lsess, c[L_GAIN], TEXT), AC_ROW(struct lsess, c[L_OFF], TEXT),
    AC_ROW(struct lsess, c[L_FILT], TEXT), AC_ROW(struct lsess, c[L_BIAS], TEXT),
    AC_ROW(struct lsess, c[L_DARK], TEXT), AC_ROW(struct lsess, c[L_FLAT], TEXT),
};
/* clang-format on */

static void link_free(struct link_ctx *cx)
{
    ac_catalog_rows_free(lsess_cols, L_N, cx->s, cx->n, sizeof *cx->s);
    cx->s = NULL;
    cx->n = cx->cap = 0;
}

/* A fitssession row: appended to the sessions, with its kind. */
static int link_row(sqlite3_stmt *st, void *arg, ac_err_t *e)
{
    static const char *const names[3] = {"Bias", "Dark", "Flat"};
    struct link_ctx *cx = arg;
    struct lsess *s;

    if (ac_catalog_row_append(st, 0, lsess_cols, L_N, (void **)&cx->s, &cx->n, &cx->cap,
                              sizeof *cx->s) != 0)
        return ac_err_set(e, -ENOMEM, "link sessions: no memory");
    s = &cx->s[cx->n - 1];
    s->kind = -1;
    for (int k = 0; k < 3; k++)
        if (ac_catalog_same_text(s->c[L_OBJ], names[k]))
            s->kind = k;
    s->decided = sqlite3_column_int(st, L_N) != 0;
    return 0;
}

/* link_matches says whether calibration session c of kind k may calibrate light l, as
 * AstroFiler's linkSessions decides (numbers compared numerically, not as strings). */
static bool link_matches(const struct lsess *l, const struct lsess *c, int k)
{
    if (c->kind != k || c->c[L_ID] == NULL || c->c[L_DATE] == NULL ||
        strcmp(c->c[L_DATE], l->c[L_DATE]) > 0)
        return false;
    if (!ac_catalog_same_text(c->c[L_TEL], l->c[L_TEL]) ||
        !ac_catalog_same_text(c->c[L_INS], l->c[L_INS]) ||
        !ac_catalog_same_number(c->c[L_XB], l->c[L_XB]) ||
        !ac_catalog_same_number(c->c[L_YB], l->c[L_YB]) ||
        !ac_catalog_same_number(c->c[L_GAIN], l->c[L_GAIN]) ||
        !ac_catalog_same_number(c->c[L_OFF], l->c[L_OFF]))
        return false;
    if (k == 1 && !ac_catalog_same_number(c->c[L_EXP], l->c[L_EXP]))
        return false;
    return k != 2 || ac_catalog_same_text(c->c[L_FILT], l->c[L_FILT]);
}

/* Indexes over the sessions read: by id (for the current links) and, per calibration
 * kind, by date, most recent first (ties in row order), so that the best match of a light
 * session is the first match at or before its date: linking costs the light sessions
 * times a few candidates, not times every calibration session. */
struct link_index {
    size_t *by_id;
    size_t *by_date[3];
    size_t n_kind[3];
};

static int cmp_id(const void *a, const void *b, void *ctx)
{
    const struct link_ctx *cx = ctx;
    const char *x = cx->s[*(const size_t *)a].c[L_ID];
    const char *y = cx->s[*(const size_t *)b].c[L_ID];

    return strcmp(x != NULL ? x : "", y != NULL ? y : "");
}

static int cmp_date_desc(const void *a, const void *b, void *ctx)
{
    const struct link_ctx *cx = ctx;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    int c = strcmp(cx->s[j].c[L_DATE], cx->s[i].c[L_DATE]);

    return c != 0 ? c : (i > j) - (i < j);
}

static void link_index_free(struct link_index *ix)
{
    free(ix->by_id);
    for (int k = 0; k < 3; k++)
        free(ix->by_date[k]);
    memset(ix, 0, sizeof *ix);
}

static int link_index_build(const struct link_ctx *cx, struct link_index *ix)
{
    memset(ix, 0, sizeof *ix);
    if (cx->n == 0)
        return 0;
    if ((ix->by_id = malloc(cx->n * sizeof *ix->by_id)) == NULL)
        return -ENOMEM;
    for (int k = 0; k < 3; k++)
        if ((ix->by_date[k] = malloc(cx->n * sizeof *ix->by_date[k])) == NULL)
            return -ENOMEM;
    for (size_t i = 0; i < cx->n; i++) {
        const struct lsess *c = &cx->s[i];
        ix->by_id[i] = i;
        if (c->kind >= 0 && c->c[L_ID] != NULL && c->c[L_DATE] != NULL)
            ix->by_date[c->kind][ix->n_kind[c->kind]++] = i;
    }
    qsort_r(ix->by_id, cx->n, sizeof *ix->by_id, cmp_id, (void *)cx);
    for (int k = 0; k < 3; k++)
        qsort_r(ix->by_date[k], ix->n_kind[k], sizeof *ix->by_date[k], cmp_date_desc,
                (void *)cx);
    return 0;
}

static const struct lsess *link_find(const struct link_ctx *cx, const struct link_index *ix,
                                     const char *id)
{
    size_t lo = 0, hi = cx->n;

    while (id != NULL && lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *m = cx->s[ix->by_id[mid]].c[L_ID];
        int c = strcmp(m != NULL ? m : "", id);
        if (c == 0)
            return &cx->s[ix->by_id[mid]];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* The most recent calibration session of kind k dated on or before l that matches it. */
static const struct lsess *link_best(const struct link_ctx *cx, const struct link_index *ix,
                                     const struct lsess *l, int k)
{
    size_t lo = 0, hi = ix->n_kind[k];

    while (lo < hi) { /* the first one dated on or before l */
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(cx->s[ix->by_date[k][mid]].c[L_DATE], l->c[L_DATE]) > 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t j = lo; j < ix->n_kind[k]; j++)
        if (link_matches(l, &cx->s[ix->by_date[k][j]], k))
            return &cx->s[ix->by_date[k][j]];
    return NULL;
}

static int link_txn(ac_db_t *db, void *arg, ac_err_t *e)
{
    struct link_ctx *cx = arg;
    struct link_index ix = {0};
    int rc;

    link_free(cx);
    cx->linked = 0;
    rc = ac_catalog_run(db,
                        "SELECT fitsSessionId, fitsSessionObjectName, fitsSessionDate, "
                        "fitsSessionTelescope, fitsSessionImager, fitsSessionExposure, "
                        "fitsSessionBinningX, fitsSessionBinningY, fitsSessionGain, "
                        "fitsSessionOffset, fitsSessionFilter, fitsBiasSession, "
                        "fitsDarkSession, fitsFlatSession, fitsSessionId IN (SELECT "
                        "session_id FROM astrocal_session WHERE links_json IS NOT NULL) FROM "
                        "fitssession ORDER BY rowid",
                        NULL, 0, "read sessions to link", link_row, cx, e);
    if (rc == 0 && link_index_build(cx, &ix) != 0) {
        link_index_free(&ix);
        return ac_err_set(e, -ENOMEM, "link sessions: no memory");
    }
    for (size_t i = 0; i < cx->n && rc == 0; i++) {
        struct lsess *l = &cx->s[i];
        const char *link[3];
        bool changed = false;
        if (l->kind != -1 || l->decided || l->c[L_ID] == NULL || l->c[L_DATE] == NULL ||
            (cx->since != NULL && strcmp(l->c[L_DATE], cx->since) < 0))
            continue;
        for (int k = 0; k < 3; k++) {
            const struct lsess *best = link_best(cx, &ix, l, k), *cur;
            link[k] = l->c[L_BIAS + k];
            if (best == NULL)
                continue;
            /* An empty or dangling link is set; a link to an older session of the right
             * kind is moved to a more recent one (frames of the night arrived later). */
            cur = link_find(cx, &ix, link[k]);
            if (cur == NULL || cur->kind != k ||
                (cur != best && cur->c[L_DATE] != NULL &&
                 strcmp(cur->c[L_DATE], best->c[L_DATE]) < 0)) {
                changed = changed || !ac_catalog_same_text(link[k], best->c[L_ID]);
                link[k] = best->c[L_ID];
            }
        }
        if (!changed)
            continue;
        const ac_bind_t v[] = {AC_BIND_TEXT(l->c[L_ID]), AC_BIND_TEXT(link[0]),
                               AC_BIND_TEXT(link[1]), AC_BIND_TEXT(link[2])};
        rc = ac_catalog_exec(db,
                             "UPDATE fitssession SET fitsBiasSession = ?2, fitsDarkSession = "
                             "?3, fitsFlatSession = ?4 WHERE fitsSessionId = ?1",
                             v, AC_BIND_N(v), "link a light session", NULL, e);
        /* astrocald's own links: not to be taken for the user's (pin.h). */
        if (rc == 0)
            rc = ac_catalog_pin_links_written(db, l->c[L_ID], link, e);
        cx->linked += rc == 0;
    }
    link_index_free(&ix);
    return rc;
}

int ac_catalog_link_sessions(ac_db_t *db, const char *since_date, int *n_linked, ac_err_t *e)
{
    struct link_ctx cx = {.since = since_date};
    int rc;

    AC_DB_OWNER_CHECK(db);
    rc = ac_db_transact(db, link_txn, &cx, e);
    if (rc == 0 && n_linked != NULL)
        *n_linked = cx.linked;
    link_free(&cx);
    return rc;
}

/* ---- Frame types inferred from the path (issue 9) ---- */

int ac_catalog_record_inferred(ac_db_t *db, const char *file_id, const char *path,
                               const char *type, const char *why, ac_err_t *e)
{
    const ac_bind_t b[] = {AC_BIND_TEXT(file_id), AC_BIND_TEXT(path), AC_BIND_TEXT(type),
                           AC_BIND_TEXT(why)};

    AC_DB_OWNER_CHECK(db);
    return ac_catalog_exec(db,
                           "INSERT OR REPLACE INTO astrocal_inferred (file_id, path, "
                           "frame_type, reason) VALUES (?1, ?2, ?3, ?4)",
                           b, 4, "record an inferred frame type", NULL, e);
}

/* clang-format off */
static const ac_row_col_t inferred_cols[] = {
    AC_ROW(ac_inferred_t, path, TEXT), AC_ROW(ac_inferred_t, frame_type, TEXT),
    AC_ROW(ac_inferred_t, reason, TEXT),
};
/* clang-format on */

int ac_catalog_session_inferred(ac_db_t *db, const char *session_id, ac_inferred_list_t *out,
                                ac_err_t *e)
{
    const ac_bind_t b[] = {AC_BIND_TEXT(session_id)};

    AC_DB_OWNER_CHECK(db);
    memset(out, 0, sizeof *out);
    return AC_CATALOG_SELECT_ROWS(
        db,
        "SELECT i.path, i.frame_type, i.reason FROM astrocal_inferred "
        "AS i JOIN fitsfile AS f ON f.fitsFileId = i.file_id WHERE "
        "f.fitsFileSession = ?1 ORDER BY i.path",
        b, 1, inferred_cols, out, "list inferred frame types", e);
}

void ac_catalog_inferred_free(ac_inferred_list_t *l)
{
    AC_CATALOG_ROWS_FREE(l, inferred_cols);
}
