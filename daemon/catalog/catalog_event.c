/*
 * catalog_event.c - astrocald's event log in astrocal_event (see catalog.h).
 *
 * Thread: loop thread only (checked).
 */
#include "catalog.h"

#include "catalog_int.h"

int ac_catalog_event_add(ac_db_t *db, const char *kind, const char *session_id,
                         const char *file_id, const char *message, int64_t *id, ac_err_t *e)
{
    char now[32];
    int rc;

    AC_DB_OWNER_CHECK(db);
    ac_db_timestamp(now, sizeof now);
    const ac_bind_t v[] = {AC_BIND_TEXT(now), AC_BIND_TEXT(kind), AC_BIND_TEXT(session_id),
                           AC_BIND_TEXT(file_id), AC_BIND_TEXT(message)};
    rc = ac_catalog_exec_txn(db,
                             "INSERT INTO astrocal_event (at, kind, session_id, file_id, "
                             "message) VALUES (?1, ?2, ?3, ?4, ?5)",
                             v, AC_BIND_N(v), "add an event", NULL, e);
    if (rc == 0 && id != NULL)
        *id = sqlite3_last_insert_rowid(ac_db_handle(db));
    return rc;
}

/* The columns of an event, in the order of ac_catalog_events' query. */
/* clang-format off */
static const ac_row_col_t event_cols[] = {
    AC_ROW(ac_event_t, at, TEXT),
    AC_ROW(ac_event_t, kind, TEXT),
    AC_ROW(ac_event_t, session_id, TEXT),
    AC_ROW(ac_event_t, file_id, TEXT),
    AC_ROW(ac_event_t, message, TEXT),
    AC_ROW(ac_event_t, id, INT64),
};
/* clang-format on */

void ac_catalog_events_free(ac_event_list_t *list)
{
    AC_CATALOG_ROWS_FREE(list, event_cols);
}

int ac_catalog_events(ac_db_t *db, int64_t after_id, int limit, ac_event_list_t *out,
                      ac_err_t *e)
{
    const ac_bind_t v[] = {AC_BIND_INT(after_id), AC_BIND_INT(limit)};

    AC_DB_OWNER_CHECK(db);
    return AC_CATALOG_SELECT_ROWS(db,
                                  "SELECT at, kind, session_id, file_id, message, id FROM "
                                  "astrocal_event WHERE id > ?1 ORDER BY id LIMIT ?2",
                                  v, AC_BIND_N(v), event_cols, out, "list events", e);
}

int ac_catalog_events_prune(ac_db_t *db, int keep, ac_err_t *e)
{
    const ac_bind_t v[] = {AC_BIND_INT(keep < 0 ? 0 : keep)};

    AC_DB_OWNER_CHECK(db);
    return ac_catalog_exec_txn(db,
                               "DELETE FROM astrocal_event WHERE id <= (SELECT id FROM "
                               "astrocal_event ORDER BY id DESC LIMIT 1 OFFSET ?1)",
                               v, 1, "prune events", NULL, e);
}
