/*
 * catalog_pin.c - masters pinned for a light session and AstroFiler's session links (see
 * pin.h for the contract).
 *
 * Thread: loop thread only (checked).
 */
#include "pin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog_int.h"
#include "event.h"
#include "util.h"

static const char *const type_names[AC_PIN_NTYPES] = {"bias", "dark", "flat"};

int ac_pin_type_index(const char *type)
{
    for (int i = 0; type != NULL && i < AC_PIN_NTYPES; i++)
        if (strcmp(type, type_names[i]) == 0)
            return i;
    return -1;
}

/* clang-format off */
static const ac_row_col_t pin_cols[] = {
    AC_ROW(ac_pin_t, session_id, TEXT),
    AC_ROW(ac_pin_t, type, TEXT),
    AC_ROW(ac_pin_t, source, TEXT),
    AC_ROW(ac_pin_t, master_rowid, INT64),
    AC_ROW(ac_pin_t, master_path, TEXT),
    AC_ROW(ac_pin_t, cal_session_id, TEXT),
    AC_ROW(ac_pin_t, forced, BOOL),
    AC_ROW(ac_pin_t, override, TEXT),
    AC_ROW(ac_pin_t, created_at, TEXT),
};
/* clang-format on */

void ac_catalog_pins_free(ac_pin_list_t *list)
{
    AC_CATALOG_ROWS_FREE(list, pin_cols);
}

int ac_catalog_pins(ac_db_t *db, const char *session_id, ac_pin_list_t *out, ac_err_t *e)
{
    const ac_bind_t b[] = {AC_BIND_TEXT(session_id)};

    AC_DB_OWNER_CHECK(db);
    memset(out, 0, sizeof *out);
    return AC_CATALOG_SELECT_ROWS(
        db,
        "SELECT session_id, type, source, master_rowid, master_path, cal_session_id, forced, "
        "override, created_at FROM astrocal_pin WHERE ?1 IS NULL OR session_id = ?1 "
        "ORDER BY session_id, CASE type WHEN 'bias' THEN 0 WHEN 'dark' THEN 1 ELSE 2 END",
        b, AC_BIND_N(b), pin_cols, out, "read the pinned masters", e);
}

/* pin_set_txn stores an astrocalctl pin and its history row (event.h) together. */
static int pin_set_txn(ac_db_t *db, void *arg, ac_err_t *e)
{
    const ac_pin_t *p = arg;
    char now[32], msg[1400];
    int rc;

    ac_db_timestamp(now, sizeof now);
    const ac_bind_t b[] = {
        AC_BIND_TEXT(p->session_id),
        AC_BIND_TEXT(p->type),
        AC_BIND_INT(p->master_rowid),
        AC_BIND_TEXT(p->master_path),
        AC_BIND_INT(p->forced),
        AC_BIND_TEXT(p->override),
        AC_BIND_TEXT(now),
    };
    rc = ac_catalog_exec(db,
                         "INSERT OR REPLACE INTO astrocal_pin (session_id, type, source, "
                         "master_rowid, master_path, cal_session_id, forced, override, "
                         "created_at) VALUES (?1, ?2, 'astrocalctl', ?3, ?4, NULL, ?5, ?6, ?7)",
                         b, AC_BIND_N(b), "pin a master", NULL, e);
    if (rc != 0)
        return rc;
    snprintf(msg, sizeof msg, "%s pinned to #%lld %.600s%s%.600s", p->type,
             (long long)p->master_rowid, p->master_path != NULL ? p->master_path : "?",
             p->forced ? " with --force, overriding: " : "",
             p->forced && p->override != NULL ? p->override : "");
    return ac_event_add_msg(db, p->session_id, NULL, AC_EV_OVERRIDE, msg, NULL, NULL, e);
}

int ac_catalog_pin_set(ac_db_t *db, const ac_pin_t *p, ac_err_t *e)
{
    AC_DB_OWNER_CHECK(db);
    if (p == NULL || p->session_id == NULL || ac_pin_type_index(p->type) < 0)
        return ac_err_set(e, -EINVAL,
                          "pin: a session and a type (bias, dark, flat) are "
                          "required");
    return ac_db_transact(db, pin_set_txn, (void *)p, e);
}

struct clear_ctx {
    const char *session_id;
    unsigned mask;
    int n;
};

/* pin_clear_txn removes astrocalctl pins and records it (event.h) together. */
static int pin_clear_txn(ac_db_t *db, void *arg, ac_err_t *e)
{
    struct clear_ctx *cx = arg;
    const ac_bind_t b[] = {AC_BIND_TEXT(cx->session_id), AC_BIND_INT(cx->mask & 1),
                           AC_BIND_INT((cx->mask >> 1) & 1), AC_BIND_INT((cx->mask >> 2) & 1)};
    char msg[128];
    int rc;

    rc = ac_catalog_exec(db,
                         "DELETE FROM astrocal_pin WHERE session_id = ?1 AND source = "
                         "'astrocalctl' AND ((type = 'bias' AND ?2) OR (type = 'dark' AND ?3) "
                         "OR (type = 'flat' AND ?4))",
                         b, AC_BIND_N(b), "remove pinned masters", &cx->n, e);
    if (rc != 0)
        return rc;
    snprintf(msg, sizeof msg, "%d pinned master%s removed: masters chosen automatically", cx->n,
             cx->n == 1 ? "" : "s");
    return ac_event_add_msg(db, cx->session_id, NULL, AC_EV_OVERRIDE, msg, NULL, NULL, e);
}

int ac_catalog_pin_clear(ac_db_t *db, const char *session_id, unsigned mask, int *n,
                         ac_err_t *e)
{
    struct clear_ctx cx = {session_id, mask, 0};
    int rc;

    AC_DB_OWNER_CHECK(db);
    rc = ac_db_transact(db, pin_clear_txn, &cx, e);
    if (n != NULL)
        *n = rc == 0 ? cx.n : 0;
    return rc;
}

/* ---- AstroFiler's links ---- */

struct sync_ctx {
    const char *session_id;
    bool dry;  /* only find out whether anything is to be written (need) */
    bool need; /* out, dry */
    bool changed;
};

/* One row per type: the link in fitssession, astrocald's copy (and whether there is
 * one), and the source session of the master astrocald planned for that type (a link to
 * it is astrocald's own choice written back, not the user's). */
#define SOURCE_SQL(type)                                                                       \
    "(SELECT m.source_session_id FROM astrocal_session AS a JOIN Masters AS m ON "             \
    "m.master_path = a." type "_master WHERE a.session_id = s.fitsSessionId LIMIT 1)"
#define LINKS_SQL(col, type, source)                                                           \
    "SELECT s." col ", l.session_id IS NOT NULL, l." type ", " source " FROM fitssession AS "  \
    "s LEFT JOIN astrocal_link AS l ON l.session_id = s.fitsSessionId WHERE "                  \
    "s.fitsSessionId = ?1"

static int read_link(sqlite3_stmt *st, void *arg, ac_err_t *e)
{
    char **v = arg;

    (void)e;
    for (int i = 0; i < 4; i++) {
        const char *t = (const char *)sqlite3_column_text(st, i);
        v[i] = t != NULL ? strdup(t) : NULL;
    }
    return AC_CATALOG_STOP;
}

static bool same(const char *a, const char *b)
{
    return (a == NULL || a[0] == '\0') ? (b == NULL || b[0] == '\0')
                                       : (b != NULL && strcmp(a, b) == 0);
}

static int sync_txn(ac_db_t *db, void *arg, ac_err_t *e)
{
    /* Without a Masters table no master has a source session. */
    static const char *const sql[2][AC_PIN_NTYPES] = {
        {LINKS_SQL("fitsBiasSession", "bias", "NULL"),
         LINKS_SQL("fitsDarkSession", "dark", "NULL"),
         LINKS_SQL("fitsFlatSession", "flat", "NULL")},
        {LINKS_SQL("fitsBiasSession", "bias", SOURCE_SQL("bias")),
         LINKS_SQL("fitsDarkSession", "dark", SOURCE_SQL("dark")),
         LINKS_SQL("fitsFlatSession", "flat", SOURCE_SQL("flat"))},
    };
    struct sync_ctx *cx = arg;
    const ac_schema_info_t *si = NULL;
    char *v[AC_PIN_NTYPES][4];
    const char *now_links[AC_PIN_NTYPES];
    bool seen = false, any = false, differ = false;
    int rc;

    memset(v, 0, sizeof v);
    if ((rc = ac_schema_require(db, &si, e)) != 0)
        return rc;
    const ac_bind_t b[] = {AC_BIND_TEXT(cx->session_id)};
    for (int t = 0; t < AC_PIN_NTYPES && rc == 0; t++)
        rc = ac_catalog_run(db, sql[si->masters[0] != '\0'][t], b, 1,
                            "read AstroFiler's session links", read_link, v[t], e);
    for (int t = 0; t < AC_PIN_NTYPES; t++) {
        now_links[t] = v[t][0];
        seen = seen || (v[t][1] != NULL && strcmp(v[t][1], "1") == 0);
        any = any || v[t][1] != NULL;
        differ = differ || !same(v[t][0], v[t][2]);
    }
    cx->need = rc == 0 && any && (!seen || differ);
    for (int t = 0; t < AC_PIN_NTYPES && rc == 0 && seen && !cx->dry; t++) {
        if (same(v[t][0], v[t][2]))
            continue; /* unchanged since astrocald saw or wrote it */
        if (v[t][0] == NULL || v[t][0][0] == '\0') {
            const ac_bind_t d[] = {AC_BIND_TEXT(cx->session_id), AC_BIND_TEXT(type_names[t])};
            int n = 0;
            rc = ac_catalog_exec(db,
                                 "DELETE FROM astrocal_pin WHERE session_id = ?1 AND type = ?2 "
                                 "AND source = 'astrofiler'",
                                 d, 2, "remove a link's pin", &n, e);
            cx->changed = cx->changed || n > 0;
            if (rc == 0 && n > 0)
                rc = ac_event_add_msg(db, cx->session_id, NULL, AC_EV_OVERRIDE,
                                      "a link cleared in AstroFiler: its pin removed", NULL,
                                      NULL, e);
        } else if (!same(v[t][0], v[t][3])) {
            char now[32];
            ac_db_timestamp(now, sizeof now);
            const ac_bind_t d[] = {AC_BIND_TEXT(cx->session_id), AC_BIND_TEXT(type_names[t]),
                                   AC_BIND_TEXT(v[t][0]), AC_BIND_TEXT(now)};
            /* An astrocalctl pin of the type stays: it wins over AstroFiler's link. */
            rc = ac_catalog_exec(db,
                                 "INSERT INTO astrocal_pin (session_id, type, source, "
                                 "cal_session_id, forced, created_at) VALUES (?1, ?2, "
                                 "'astrofiler', ?3, 0, ?4) ON CONFLICT (session_id, type) DO "
                                 "UPDATE SET cal_session_id = ?3, created_at = ?4 WHERE "
                                 "source = 'astrofiler'",
                                 d, 4, "pin a session linked in AstroFiler", NULL, e);
            cx->changed = true;
            if (rc == 0) {
                char msg[200];
                snprintf(msg, sizeof msg,
                         "%s pinned to the masters of session %.64s, linked in AstroFiler",
                         type_names[t], v[t][0]);
                rc = ac_event_add_msg(db, cx->session_id, NULL, AC_EV_OVERRIDE, msg, NULL, NULL,
                                      e);
            }
        }
    }
    /* astrocald's copy, written only when it changes. */
    if (rc == 0 && cx->need && !cx->dry)
        rc = ac_catalog_pin_links_written(db, cx->session_id, now_links, e);
    for (int t = 0; t < AC_PIN_NTYPES; t++)
        for (int i = 0; i < 4; i++)
            free(v[t][i]);
    return rc;
}

int ac_catalog_pin_sync_links(ac_db_t *db, const char *session_id, bool *changed, ac_err_t *e)
{
    struct sync_ctx cx = {.session_id = session_id};
    int rc;

    AC_DB_OWNER_CHECK(db);
    /* Read first, outside a transaction: a pass that changes nothing writes nothing. */
    cx.dry = true;
    rc = sync_txn(db, &cx, e);
    cx.dry = false;
    if (rc == 0 && cx.need)
        rc = ac_db_transact(db, sync_txn, &cx, e);
    if (changed != NULL)
        *changed = rc == 0 && cx.changed;
    return rc;
}

int ac_catalog_pin_links_written(ac_db_t *db, const char *session_id, const char *links[3],
                                 ac_err_t *e)
{
    int rc, v = 0;

    if ((rc = ac_schema_version(db, &v, e)) != 0)
        return rc;
    if (v < AC_SCHEMA_PIN) /* astrocal_link does not exist yet */
        return 0;
    const ac_bind_t b[] = {AC_BIND_TEXT(session_id), AC_BIND_TEXT(links[0]),
                           AC_BIND_TEXT(links[1]), AC_BIND_TEXT(links[2])};
    return ac_catalog_exec(db,
                           "INSERT OR REPLACE INTO astrocal_link (session_id, bias, dark, "
                           "flat) VALUES (?1, ?2, ?3, ?4)",
                           b, AC_BIND_N(b), "remember AstroFiler's session links", NULL, e);
}
