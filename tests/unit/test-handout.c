/*
 * test-handout.c - cluster hand-out marks (catalog/handout.h) on a real catalogue: schema
 * migration 5 keeps the queue's rows; a mark keeps a pending file from being claimed until
 * it expires (not_before), marks a done file (out for its recalibration) without touching
 * its queue row, never a running one, expires by itself, and a failed hand-out goes back
 * to the queue with its reason and one attempt (a failed recalibration stays done, with
 * its reason).
 */
#include <math.h>
#include <string.h>

#include "afdb.h"
#include "db.h"
#include "dbtest.h"
#include "handout.h"
#include "schema.h"
#include "test.h"

static ac_db_t *queue_db(void)
{
    ac_db_t *db = dbtest_create("af.db", AFDB_MIGRATED);
    ac_err_t e = {0};
    int v = -1;

    /* The queue's rows from before the hand-out table, then the migration that adds it. */
    ASSERT_OK(ac_schema_migrate(db, AC_SCHEMA_VERSION - 1, &e));
    ASSERT_OK(ac_db_exec(db,
                         "INSERT INTO astrocal_session (session_id, state) VALUES ('s', "
                         "'queued');"
                         "INSERT INTO astrocal_file (file_id, session_id, path, state) VALUES "
                         "('a', 's', '/l/a.fits', 'pending'), ('b', 's', '/l/b.fits', "
                         "'pending'), ('c', 's', '/l/c.fits', 'done')",
                         &e));
    ASSERT_OK(ac_schema_migrate(db, AC_SCHEMA_VERSION, &e));
    ASSERT_OK(ac_schema_version(db, &v, &e));
    ASSERT_EQ(v, AC_SCHEMA_VERSION);
    ASSERT_EQ(afdb_int(ac_db_handle(db), "SELECT count(*) FROM astrocal_file", NULL, -1), 3);
    return db;
}

TEST(handout_marks_expire_and_fail_back_to_the_queue)
{
    ac_db_t *db = queue_db();
    sqlite3 *h = ac_db_handle(db);
    const char *ids[] = {"a", "b", "c"}, *sids[] = {"s", "s", "s"};
    ac_err_t e = {0};
    bool found = false, changed = false;
    double until = 0;
    int marked = -1, n = -1;

    ASSERT_OK(ac_db_exec(db,
                         "INSERT INTO astrocal_file (file_id, session_id, path, state) VALUES "
                         "('d', 's', '/l/d.fits', 'running')",
                         &e));
    ASSERT_OK(ac_handout_mark(db, (const char *[]){"a", "b", "c", "d"},
                              (const char *[]){"s", "s", "s", "s"}, 4, "x1", 2000.0, &marked,
                              &e));
    ASSERT_EQ(marked, 3); /* d is running: not handed out */
    ASSERT_EQ(afdb_int(h, "SELECT count(*) FROM astrocal_handout", NULL, -1), 3);
    ASSERT_EQ(afdb_int(h, "SELECT not_before FROM astrocal_file WHERE file_id = ?1", "a", -1),
              2000);
    ASSERT_OK(ac_handout_get(db, "a", &found, &until, &e));
    ASSERT(found);
    ASSERT_EQ((long long)until, 2000);
    ASSERT_OK(ac_handout_get(db, "d", &found, &until, &e));
    ASSERT(!found);
    /* c is done (out for its recalibration): marked, its queue row untouched. */
    ASSERT_OK(ac_handout_get(db, "c", &found, &until, &e));
    ASSERT(found);
    ASSERT_EQ(afdb_int(h,
                       "SELECT count(*) FROM astrocal_file WHERE file_id = 'c' AND state = "
                       "'done' AND not_before IS NULL AND updated_at IS NULL",
                       NULL, -1),
              1);

    /* Not expired at 1999; expired (mark deleted) at 2000. */
    ASSERT_OK(ac_handout_expire(db, 1999.0, &n, &e));
    ASSERT_EQ(n, 0);
    ASSERT_OK(ac_handout_expire(db, 2000.0, &n, &e));
    ASSERT_EQ(n, 3);

    /* A failed recalibration: c stays done, with the reason, no attempt counted. */
    ASSERT_OK(ac_handout_mark(db, ids, sids, 3, "x3", 5000.0, &marked, &e));
    ASSERT_OK(ac_handout_fail(db, "c", "on the cluster: bad", &changed, &e));
    ASSERT(changed);
    ASSERT_STR_EQ(afdb_text(h,
                            "SELECT state || ' ' || attempts || ' ' || error FROM "
                            "astrocal_file WHERE file_id = ?1",
                            "c", (char[160]){0}, 160),
                  "done 0 recalibration failed, the previous calibration is kept: on the "
                  "cluster: bad");
    ASSERT_OK(ac_handout_expire(db, 5000.0, &n, &e));

    /* A failure comes back: pending, claimable now, the reason, one attempt. */
    ASSERT_OK(ac_handout_mark(db, ids, sids, 2, "x2", 5000.0, &marked, &e));
    ASSERT_OK(ac_handout_fail(db, "b", "on the cluster: boom", &changed, &e));
    ASSERT(changed);
    ASSERT_EQ(afdb_int(h, "SELECT attempts FROM astrocal_file WHERE file_id = ?1", "b", -1), 1);
    ASSERT_EQ(
        afdb_int(h, "SELECT not_before IS NULL FROM astrocal_file WHERE file_id = ?1", "b", -1),
        1);
    ASSERT_STR_EQ(afdb_text(h, "SELECT error FROM astrocal_file WHERE file_id = ?1", "b",
                            (char[64]){0}, 64),
                  "on the cluster: boom");
    ASSERT_OK(ac_handout_get(db, "b", &found, &until, &e));
    ASSERT(!found);
    /* The same failure again (imported twice): the mark is gone, nothing changes. */
    ASSERT_OK(ac_handout_fail(db, "b", "on the cluster: boom", &changed, &e));
    ASSERT(!changed);
    ASSERT_EQ(afdb_int(h, "SELECT attempts FROM astrocal_file WHERE file_id = ?1", "b", -1), 1);
    ASSERT_OK(ac_handout_release(db, "a", &e));
    ASSERT_EQ(afdb_int(h, "SELECT count(*) FROM astrocal_handout", NULL, -1), 0);
    ac_db_close(db);
}
