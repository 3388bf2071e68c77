/*
 * catalog_event.c - astrocald's event log in astrocal_event (see catalog.h); its writes
 * share the queue's statement runner (queue_int.h).
 *
 * Thread: loop thread only (checked).
 */
#include "catalog.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "catalog_int.h"
#include "queue_int.h"

int ac_catalog_event_add(ac_db_t *db, const char *kind, const char *session_id,
                         const char *file_id, const char *message, int64_t *id, ac_err_t *e)
{
    char now[32];
    int rc;

    AC_DB_OWNER_CHECK(db);
    ac_db_timestamp(now, sizeof now);
    const ac_qparam_t prm[] = {QP_TXT(now), QP_TXT(kind), QP_TXT(session_id), QP_TXT(file_id),
                               QP_TXT(message)};
    ac_qstep_t s = {"INSERT INTO astrocal_event (at, kind, session_id, file_id, message) "
                    "VALUES (?1, ?2, ?3, ?4, ?5)",
                    prm, 5, "add an event", 0};

    rc = ac_queue_exec(db, &s, 1, e);
    if (rc == 0 && id != NULL)
        *id = sqlite3_last_insert_rowid(ac_db_handle(db));
    return rc;
}

void ac_catalog_events_free(ac_event_list_t *list)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < list->n; i++) {
        ac_event_t *v = &list->items[i];
        char **const f[] = {&v->at, &v->kind, &v->session_id, &v->file_id, &v->message};
        ac_catalog_free_fields(f, 5);
    }
    free(list->items);
    list->items = NULL;
    list->n = 0;
}

int ac_catalog_events(ac_db_t *db, int64_t after_id, int limit, ac_event_list_t *out,
                      ac_err_t *e)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int rc;

    AC_DB_OWNER_CHECK(db);
    memset(out, 0, sizeof *out);
    rc = ac_db_prepare(db,
                       "SELECT at, kind, session_id, file_id, message, id FROM astrocal_event "
                       "WHERE id > ?1 ORDER BY id LIMIT ?2",
                       &st, e);
    if (rc != 0)
        return rc;
    sqlite3_bind_int64(st, 1, after_id);
    sqlite3_bind_int(st, 2, limit);
    while ((rc = ac_db_step(db, st, "list events", e)) == AC_DB_ROW) {
        ac_event_t *v;
        if (ac_catalog_grow((void **)&out->items, &cap, out->n, sizeof *out->items) != 0) {
            rc = ac_err_set(e, -ENOMEM, "out of memory listing events");
            break;
        }
        v = &out->items[out->n++];
        char **const f[] = {&v->at, &v->kind, &v->session_id, &v->file_id, &v->message};
        if (ac_catalog_dup_columns(st, 0, f, 5) != 0) {
            rc = ac_err_set(e, -ENOMEM, "out of memory listing events");
            break;
        }
        v->id = sqlite3_column_int64(st, 5);
    }
    ac_db_release(db, st);
    if (rc < 0)
        ac_catalog_events_free(out);
    return rc < 0 ? rc : 0;
}

int ac_catalog_events_prune(ac_db_t *db, int keep, ac_err_t *e)
{
    AC_DB_OWNER_CHECK(db);
    const ac_qparam_t prm[] = {QP_INT(keep < 0 ? 0 : keep)};
    ac_qstep_t s = {"DELETE FROM astrocal_event WHERE id <= (SELECT id FROM astrocal_event "
                    "ORDER BY id DESC LIMIT 1 OFFSET ?1)",
                    prm, 1, "prune events", 0};

    return ac_queue_exec(db, &s, 1, e);
}
