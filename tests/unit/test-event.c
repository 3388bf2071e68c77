/*
 * test-event.c - the history (daemon/catalog/catalog_event.c, event.h): adding events with
 * and without a transaction, refusing malformed JSON, reading a session's or a file's
 * history (newest rows kept under a limit), and pruning by age and by count in batches.
 * Expected values are written out from event.h's contract.
 */
#include <errno.h>
#include <sqlite3.h>
#include <string.h>

#include "afdb.h"
#include "db.h"
#include "event.h"
#include "schema.h"
#include "test.h"

static ac_db_t *event_db(void)
{
    ac_db_t *db = ac_db_open("ev.db", NULL, NULL);

    ASSERT_NOT_NULL(db);
    ASSERT_OK(ac_schema_prepare(db, NULL, NULL));
    return db;
}

static long long ev_int(ac_db_t *db, const char *sql)
{
    return afdb_int(ac_db_handle(db), sql, NULL, -999);
}

TEST(event_add_and_history)
{
    ac_db_t *db = event_db();
    ac_event_list_t l = {0};
    ac_err_t e = {0};
    bool more = true;
    int64_t id = 0;

    ASSERT_OK(
        ac_event_add(db, "S1", NULL, AC_EV_SESSION_PLANNED, "{\"state\": \"queued\"}", NULL));
    ASSERT_OK(ac_event_add(db, "S1", "F1", AC_EV_ATTEMPT, "{\"attempt\":1}", NULL));
    ASSERT_OK(ac_event_add(db, "S2", "F2", AC_EV_ATTEMPT, NULL, NULL));
    ASSERT_OK(
        ac_event_add_msg(db, "S1", "F1", AC_EV_FAILED, "dark too small", NULL, &id, NULL));
    ASSERT(id > 0);
    /* Malformed JSON and a missing kind are refused, nothing stored. */
    ASSERT_EQ(ac_event_add(db, "S1", NULL, "x", "{not json", &e), AC_ESQLITE);
    ASSERT_EQ(ac_event_add(db, "S1", NULL, NULL, NULL, &e), -EINVAL);
    ASSERT_EQ(ev_int(db, "SELECT count(*) FROM astrocal_event"), 4);

    /* A session's history holds its files' events, oldest first. */
    ASSERT_OK(ac_event_history(db, "S1", 0, &l, &more, NULL));
    ASSERT_EQ(l.n, 3);
    ASSERT(!more);
    ASSERT_STR_EQ(l.items[0].kind, "session_planned");
    ASSERT_STR_EQ(l.items[0].detail, "{\"state\":\"queued\"}"); /* minified by json() */
    ASSERT_NULL(l.items[0].file_id);
    ASSERT_STR_EQ(l.items[2].message, "dark too small");
    ASSERT_EQ(l.items[2].id, id);
    ac_event_list_free(&l);
    /* A file's history; the newest rows under a limit. */
    ASSERT_OK(ac_event_history(db, "F1", 1, &l, &more, NULL));
    ASSERT_EQ(l.n, 1);
    ASSERT(more);
    ASSERT_STR_EQ(l.items[0].kind, "failed");
    ac_event_list_free(&l);
    ASSERT_OK(ac_event_history(db, "nobody", 0, &l, NULL, NULL));
    ASSERT_EQ(l.n, 0);
    ac_event_list_free(&l);
    ASSERT_OK(ac_event_since(db, id - 1, 10, &l, NULL));
    ASSERT_EQ(l.n, 1);
    ac_event_list_free(&l);
    ac_db_close(db);
}

static int add_in_txn(ac_db_t *db, void *arg, ac_err_t *e)
{
    int rc = ac_event_add(db, "S", NULL, AC_EV_OPERATOR, NULL, e);

    return rc != 0 ? rc : *(int *)arg;
}

TEST(event_add_joins_the_open_transaction)
{
    ac_db_t *db = event_db();
    ac_err_t e = {0};
    int fail = -EIO, ok = 0;

    /* A rolled-back change leaves no history row; a committed one does. */
    ASSERT_EQ(ac_db_transact(db, add_in_txn, &fail, &e), -EIO);
    ASSERT_EQ(ev_int(db, "SELECT count(*) FROM astrocal_event"), 0);
    ASSERT_OK(ac_db_transact(db, add_in_txn, &ok, &e));
    ASSERT_EQ(ev_int(db, "SELECT count(*) FROM astrocal_event"), 1);
    ac_db_close(db);
}

TEST(event_prune_by_age_and_count_in_batches)
{
    ac_db_t *db = event_db();
    int deleted = -1;

    for (int i = 0; i < 10; i++)
        ASSERT_OK(ac_event_add(db, "S", NULL, AC_EV_OPERATOR, NULL, NULL));
    /* Rows 1..4 are made old. */
    ac_db_exec(db, "UPDATE astrocal_event SET at = '2001-01-01 00:00:00.000000' WHERE id <= 4",
               NULL);
    ASSERT_OK(ac_event_prune(db, "2020-01-01 00:00:00", 0, 3, &deleted, NULL));
    ASSERT_EQ(deleted, 3); /* a full batch: the caller comes back */
    ASSERT_EQ(ev_int(db, "SELECT min(id) FROM astrocal_event"), 4);
    ASSERT_OK(ac_event_prune(db, "2020-01-01 00:00:00", 0, 3, &deleted, NULL));
    ASSERT_EQ(deleted, 1);
    ASSERT_OK(ac_event_prune(db, "2020-01-01 00:00:00", 0, 3, &deleted, NULL));
    ASSERT_EQ(deleted, 0);
    /* Keep the newest 2 of the 6 left (ids 5..10): 4 go. */
    ASSERT_OK(ac_event_prune(db, NULL, 2, 100, &deleted, NULL));
    ASSERT_EQ(deleted, 4);
    ASSERT_EQ(ev_int(db, "SELECT min(id) FROM astrocal_event"), 9);
    ASSERT_EQ(ev_int(db, "SELECT count(*) FROM astrocal_event"), 2);
    ac_db_close(db);
}

TEST(event_history_migration_keeps_rows)
{
    sqlite3 *h = afdb_create("m4.db", AFDB_MIGRATED);
    ac_db_t *db;
    ac_event_list_t l = {0};

    sqlite3_close(h);
    db = ac_db_open("m4.db", NULL, NULL);
    ASSERT_NOT_NULL(db);
    ASSERT_OK(ac_schema_migrate(db, 3, NULL));
    ASSERT_OK(ac_db_exec(db,
                         "INSERT INTO astrocal_event (at, kind, session_id, file_id, message) "
                         "VALUES ('2024-01-01 00:00:00', 'file_done', 's', 'a', 'old row'); "
                         "INSERT INTO astrocal_session (session_id, state) VALUES ('s', "
                         "'done')",
                         NULL));
    ac_db_close(db);
    db = ac_db_open("m4.db", NULL, NULL);
    ASSERT_OK(ac_schema_prepare(db, NULL, NULL));
    ASSERT_OK(ac_event_history(db, "a", 0, &l, NULL, NULL));
    ASSERT_EQ(l.n, 1);
    ASSERT_STR_EQ(l.items[0].message, "old row");
    ASSERT_NULL(l.items[0].detail);
    ac_event_list_free(&l);
    /* The session keeps its state; a session finished before version 4 has no outcome. */
    ASSERT_EQ(afdb_int(ac_db_handle(db),
                       "SELECT count(*) FROM astrocal_session WHERE state = 'done' AND "
                       "outcome IS NULL",
                       NULL, -1),
              1);
    ac_db_close(db);
}
