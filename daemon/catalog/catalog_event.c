/*
 * catalog_event.c - astrocald's history in astrocal_event (see event.h).
 *
 * Thread: loop thread only (checked).
 */
#include "event.h"

#include <errno.h>
#include <string.h>

#include "catalog_int.h"

int ac_event_add_msg(ac_db_t *db, const char *session_id, const char *file_id, const char *kind,
                     const char *message, const char *detail_json, int64_t *id, ac_err_t *e)
{
    char now[32];
    int rc;

    AC_DB_OWNER_CHECK(db);
    if (kind == NULL || kind[0] == '\0')
        return ac_err_set(e, -EINVAL, "an event needs a kind");
    ac_db_timestamp(now, sizeof now);
    const ac_bind_t v[] = {AC_BIND_TEXT(now),        AC_BIND_TEXT(kind),
                           AC_BIND_TEXT(session_id), AC_BIND_TEXT(file_id),
                           AC_BIND_TEXT(message),    AC_BIND_TEXT(detail_json)};
    rc = ac_catalog_exec_txn(db,
                             "INSERT INTO astrocal_event (at, kind, session_id, file_id, "
                             "message, detail) VALUES (?1, ?2, ?3, ?4, ?5, json(?6))",
                             v, AC_BIND_N(v), "add an event", NULL, e);
    if (rc == 0 && id != NULL)
        *id = sqlite3_last_insert_rowid(ac_db_handle(db));
    return rc;
}

int ac_event_add(ac_db_t *db, const char *session_id, const char *file_id, const char *kind,
                 const char *detail_json, ac_err_t *e)
{
    return ac_event_add_msg(db, session_id, file_id, kind, NULL, detail_json, NULL, e);
}

/* The columns of an event, in the order of the queries below. */
/* clang-format off */
static const ac_row_col_t event_cols[] = {
    AC_ROW(ac_event_t, at, TEXT),
    AC_ROW(ac_event_t, kind, TEXT),
    AC_ROW(ac_event_t, session_id, TEXT),
    AC_ROW(ac_event_t, file_id, TEXT),
    AC_ROW(ac_event_t, message, TEXT),
    AC_ROW(ac_event_t, detail, TEXT),
    AC_ROW(ac_event_t, id, INT64),
};
/* clang-format on */
#define EVENT_SELECT "SELECT at, kind, session_id, file_id, message, detail, id FROM "

void ac_event_list_free(ac_event_list_t *list)
{
    AC_CATALOG_ROWS_FREE(list, event_cols);
}

int ac_event_since(ac_db_t *db, int64_t after_id, int limit, ac_event_list_t *out, ac_err_t *e)
{
    const ac_bind_t v[] = {AC_BIND_INT(after_id), AC_BIND_INT(limit)};

    AC_DB_OWNER_CHECK(db);
    return AC_CATALOG_SELECT_ROWS(db,
                                  EVENT_SELECT "astrocal_event WHERE id > ?1 ORDER BY id "
                                               "LIMIT ?2",
                                  v, AC_BIND_N(v), event_cols, out, "list events", e);
}

int ac_event_history(ac_db_t *db, const char *id, int limit, ac_event_list_t *out, bool *more,
                     ac_err_t *e)
{
    int rc;

    AC_DB_OWNER_CHECK(db);
    if (limit <= 0)
        limit = 1000;
    /* One more than asked tells whether older rows were left out. */
    const ac_bind_t v[] = {AC_BIND_TEXT(id), AC_BIND_INT((int64_t)limit + 1)};
    rc = AC_CATALOG_SELECT_ROWS(db,
                                "SELECT * FROM (" EVENT_SELECT
                                "astrocal_event WHERE session_id = ?1 UNION "
                                "SELECT at, kind, session_id, file_id, message, detail, id "
                                "FROM astrocal_event WHERE file_id = ?1 ORDER BY id DESC "
                                "LIMIT ?2) ORDER BY id",
                                v, AC_BIND_N(v), event_cols, out, "read the history", e);
    if (rc != 0)
        return rc;
    if (more != NULL)
        *more = out->n > (size_t)limit;
    if (out->n > (size_t)limit) {
        /* Drop the oldest row (the extra one). */
        ac_event_list_t first = {out->items, 1};
        ac_catalog_row_clear(event_cols, AC_ROW_N(event_cols), &first.items[0]);
        memmove(out->items, out->items + 1, (out->n - 1) * sizeof *out->items);
        out->n--;
    }
    return 0;
}

int ac_event_prune(ac_db_t *db, const char *before_at, int64_t keep, int batch, int *deleted,
                   ac_err_t *e)
{
    const ac_bind_t v[] = {AC_BIND_TEXT(before_at), AC_BIND_INT(keep > 0 ? keep : -1),
                           AC_BIND_INT(batch > 0 ? batch : 1000)};
    int changes = 0, rc;

    AC_DB_OWNER_CHECK(db);
    /* The count bound: everything at or below the id of the keep-th newest row + 1. */
    rc = ac_catalog_exec_txn(db,
                             "DELETE FROM astrocal_event WHERE id IN (SELECT id FROM "
                             "astrocal_event WHERE (?1 IS NOT NULL AND at < ?1) OR (?2 > 0 "
                             "AND id <= (SELECT id FROM astrocal_event ORDER BY id DESC "
                             "LIMIT 1 OFFSET ?2)) ORDER BY id LIMIT ?3)",
                             v, AC_BIND_N(v), "prune the history", &changes, e);
    if (deleted != NULL)
        *deleted = rc == 0 ? changes : 0;
    return rc;
}
