/*
 * test-queue-crash.c - the light queue's rules for what is never a file's fault
 * (queue.h): a full disk or catalogue puts a file back without an attempt (SQLite's
 * "database or disk is full" arrives as AC_ENOSPACE), and deaths of the daemon are
 * blamed only on a file a crash handler named or that ran alone ("Crashes"): bystanders,
 * files running together, suspects first and alone. Also the schema migration that added
 * the crash columns keeps the rows. Expected values are written out from queue.h.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <string.h>

#include "afdb.h"
#include "catalog.h"
#include "db.h"
#include "queue.h"
#include "schema.h"
#include "test.h"

/* crash_db: one queued session "s" (2024-10-01) with files a, b, c (paths /d/a.fits...). */
static ac_db_t *crash_db(ac_queue_t *q, const char *name)
{
    ac_db_t *db = ac_db_open(name, NULL, NULL);
    const ac_qfile_add_t files[] = {{"a", "/d/a.fits"}, {"b", "/d/b.fits"}, {"c", "/d/c.fits"}};
    ac_queue_plan_t p = {.session_id = "s",
                         .ready = true,
                         .session_date = "2024-10-01",
                         .files = files,
                         .nfiles = 3};

    ASSERT_NOT_NULL(db);
    ASSERT_OK(ac_schema_prepare(db, NULL, NULL));
    ac_queue_init(q, db);
    ASSERT_OK(ac_queue_plan(q, &p, NULL, NULL));
    return db;
}

static const char *claim_id(ac_queue_t *q)
{
    static char id[64];
    ac_qfile_t f = {0};
    bool found = false;

    ASSERT_OK(ac_queue_claim(q, 1e9, NULL, &f, &found, NULL));
    if (!found)
        return NULL;
    snprintf(id, sizeof id, "%s", f.file_id);
    ac_queue_file_clear(&f);
    return id;
}

static ac_qfile_t row(ac_queue_t *q, const char *id)
{
    ac_qfile_t f = {0};

    ASSERT_OK(ac_queue_file(q, id, &f, NULL));
    return f;
}

TEST(queue_full_disk_costs_no_attempt)
{
    ac_queue_t q;
    ac_db_t *db = crash_db(&q, "full.db");
    ac_queue_verdict_t v = {0};
    ac_qfile_t f;

    ASSERT(ac_queue_full(-ENOSPC));
    ASSERT(ac_queue_full(-EDQUOT));
    ASSERT(ac_queue_full(AC_ENOSPACE));
    ASSERT(!ac_queue_full(-EIO));
    ASSERT(!ac_queue_full(AC_ESQLITE));
    ASSERT_STR_EQ(claim_id(&q), "a");
    /* Four times in a row: never an attempt, never a back-off, never failed. */
    for (int k = 0; k < 4; k++) {
        ASSERT_OK(ac_queue_fail(&q, "a", -ENOSPC, "write: no space left on device", 0.5, 1e9,
                                &v, NULL));
        ASSERT(v.full);
        ASSERT(v.retry);
        ASSERT_EQ(v.attempts, 0);
        ASSERT_NEAR(v.backoff_s, 0, 0);
        f = row(&q, "a");
        ASSERT_EQ(f.state, AC_FILE_PENDING);
        ASSERT_EQ(f.attempts, 0);
        ASSERT(isnan(f.not_before));
        ASSERT_STR_EQ(f.error, "write: no space left on device");
        ac_queue_file_clear(&f);
        ASSERT_STR_EQ(claim_id(&q), "a"); /* at once: the scheduler's pause decides when */
    }
    /* A transient error that is not a full disk still counts (the policy is unchanged). */
    ASSERT_OK(ac_queue_fail(&q, "a", -EIO, "read error", NAN, 1e9, &v, NULL));
    ASSERT(!v.full);
    ASSERT_EQ(v.attempts, 1);
    ac_db_close(db);
}

TEST(queue_catalogue_full_is_enospace_and_costs_no_attempt)
{
    sqlite3 *h = afdb_create("cf.db", AFDB_MIGRATED);
    afdb_file_t lf = afdb_light("L1", "S1", "/data/L1.fits", "2024-10-05T02:10:07", "300");
    const ac_qfile_add_t files[] = {{"L1", "/data/L1.fits"}};
    ac_queue_plan_t p = {.session_id = "S1", .ready = true, .files = files, .nfiles = 1};
    static char big[200000];
    ac_calibrated_rec_t r = {.raw_file_id = "L1",
                             .output_path = "/out/L1_c.fits",
                             .output_sha256 = "ab",
                             .quality_json = big,
                             .dark_scale = NAN,
                             .pedestal = NAN,
                             .t_read = NAN,
                             .t_calib = NAN,
                             .t_write = NAN,
                             .t_total = 1};
    ac_queue_verdict_t v = {0};
    ac_err_t e = {0};
    ac_queue_t q;
    ac_db_t *db;
    char sql[96];
    ac_qfile_t f;
    int rc;

    memset(big, 'x', sizeof big - 1);
    afdb_add_session(h, "S1", "M 31", "2024-10-04", "300", "-10.1", "Ha");
    afdb_add_file(h, &lf);
    sqlite3_close(h);
    db = ac_db_open("cf.db", NULL, NULL);
    ASSERT_NOT_NULL(db);
    ASSERT_OK(ac_schema_prepare(db, NULL, NULL));
    ac_queue_init(&q, db);
    ASSERT_OK(ac_queue_plan(&q, &p, NULL, NULL));
    ASSERT_STR_EQ(claim_id(&q), "L1");
    /* The catalogue may not grow: recording the output is "database or disk is full". */
    snprintf(sql, sizeof sql, "PRAGMA max_page_count = %lld",
             afdb_int(ac_db_handle(db), "PRAGMA page_count", NULL, -1));
    ASSERT_OK(ac_db_exec(db, sql, NULL));
    rc = ac_queue_record_calibrated(&q, &r, true, NULL, &e);
    ASSERT_EQ(rc, AC_ENOSPACE);
    ASSERT_CONTAINS(e.msg, "full");
    ASSERT_OK(ac_db_exec(db, "PRAGMA max_page_count = 1073741823", NULL));
    ASSERT_OK(ac_queue_fail(&q, "L1", rc, e.msg, 1, 1e9, &v, NULL));
    ASSERT(v.full);
    f = row(&q, "L1");
    ASSERT_EQ(f.state, AC_FILE_PENDING);
    ASSERT_EQ(f.attempts, 0);
    ac_queue_file_clear(&f);
    ASSERT_EQ(afdb_int(ac_db_handle(db), "SELECT count(*) FROM fitsfile", NULL, -1), 1);
    ac_db_close(db);
}

TEST(queue_crash_blames_the_culprit_not_the_bystanders)
{
    ac_queue_t q;
    ac_db_t *db = crash_db(&q, "cul.db");
    ac_queue_crash_t crash = {.signal = SIGSEGV, .culprit = "b"};
    ac_queue_recovery_t r = {0};
    ac_qfile_t f;
    int n = -1;

    /* a and b run together; the handler names b (SIGSEGV on its thread), three times. */
    for (int k = 1; k <= 3; k++) {
        ASSERT_NOT_NULL(claim_id(&q));
        ASSERT_NOT_NULL(claim_id(&q));
        ASSERT_OK(ac_queue_recover(&q, &crash, &r, NULL));
        ASSERT_EQ(r.blamed, 1);
        ASSERT_EQ(r.interrupted.n, 2);
        ASSERT_EQ(r.failed, k == 3 ? 1 : 0);
        ac_queue_recovery_clear(&r);
        f = row(&q, "a");
        ASSERT_EQ(f.interrupted, 0); /* a bystander counts nothing */
        ASSERT_EQ(f.crashes, 0);
        ASSERT_EQ(f.attempts, 0);
        ac_queue_file_clear(&f);
        f = row(&q, "b");
        ASSERT_EQ(f.crashes, k);
        ASSERT(ac_queue_suspect(&f));
        ac_queue_file_clear(&f);
        if (k < 3) {
            /* b is a suspect: claimed first; one suspect pending in a queued session. */
            ASSERT_OK(ac_queue_suspects(&q, &n, NULL));
            ASSERT_EQ(n, 1);
        }
    }
    f = row(&q, "b");
    ASSERT_EQ(f.state, AC_FILE_FAILED);
    ASSERT_STR_EQ(f.error, "crashes the daemon (SIGSEGV; 3 crashes)");
    ac_queue_file_clear(&f);
    ASSERT_OK(ac_queue_suspects(&q, &n, NULL));
    ASSERT_EQ(n, 0);
    /* A retried file keeps its crashes: a suspect, and failed at its next crash. */
    ASSERT_OK(ac_queue_retry(&q, "b", NULL, &n, NULL));
    f = row(&q, "b");
    ASSERT_EQ(f.attempts, 0);
    ASSERT_EQ(f.interrupted, 0);
    ASSERT_EQ(f.crashes, 3);
    ac_queue_file_clear(&f);
    ASSERT_STR_EQ(claim_id(&q), "b");
    ac_db_close(db);
}

TEST(queue_deaths_together_make_suspects_alone_counts)
{
    ac_queue_t q;
    ac_db_t *db = crash_db(&q, "tog.db");
    ac_queue_recovery_t r = {0};
    ac_queue_crash_t a_alone = {.alone = "a"};
    ac_qfile_t f;
    int n = -1;

    /* Two deaths with a and b running together: interrupted twice, no crash counted,
     * both suspects (interrupted >= 2). A marker naming a file not running is ignored. */
    for (int k = 1; k <= 2; k++) {
        ASSERT_STR_EQ(claim_id(&q), "a");
        ASSERT_STR_EQ(claim_id(&q), "b");
        ASSERT_OK(ac_queue_recover(&q, &(ac_queue_crash_t){.alone = "c"}, &r, NULL));
        ASSERT_EQ(r.requeued, 2);
        ASSERT_EQ(r.blamed, 0);
        ac_queue_recovery_clear(&r);
    }
    f = row(&q, "b");
    ASSERT_EQ(f.interrupted, 2);
    ASSERT_EQ(f.crashes, 0);
    ASSERT(ac_queue_suspect(&f));
    ac_queue_file_clear(&f);
    ASSERT_OK(ac_queue_suspects(&q, &n, NULL));
    ASSERT_EQ(n, 2);
    /* Suspects come first, fewest crashes first: a dies being calibrated alone, then b
     * is first. */
    ASSERT_STR_EQ(claim_id(&q), "a");
    ASSERT_OK(ac_queue_recover(&q, &a_alone, &r, NULL));
    ASSERT_EQ(r.blamed, 1);
    ac_queue_recovery_clear(&r);
    f = row(&q, "a");
    ASSERT_EQ(f.crashes, 1);
    ASSERT_EQ(f.interrupted, 3);
    ac_queue_file_clear(&f);
    ASSERT_STR_EQ(claim_id(&q), "b");
    ASSERT_STR_EQ(claim_id(&q), "a");
    ASSERT_STR_EQ(claim_id(&q), "c"); /* not a suspect: last */
    /* A death without the marker (b waited for its masters, or ran beside a master
     * build): nobody is blamed, even with one file running. */
    ASSERT_OK(ac_queue_release(&q, "a", 0, NULL));
    ASSERT_OK(ac_queue_release(&q, "c", 0, NULL));
    ASSERT_OK(ac_queue_recover(&q, NULL, &r, NULL));
    ASSERT_EQ(r.interrupted.n, 1);
    ASSERT_EQ(r.blamed, 0);
    ac_queue_recovery_clear(&r);
    f = row(&q, "b");
    ASSERT_EQ(f.crashes, 0);
    ASSERT_EQ(f.interrupted, 3);
    ac_queue_file_clear(&f);
    ac_db_close(db);
}

TEST(queue_crash_columns_migration_keeps_rows)
{
    sqlite3 *h = afdb_create("m3.db", AFDB_MIGRATED);
    ac_db_t *db;
    ac_queue_t q;
    ac_qfile_t f;
    int v = -1;

    sqlite3_close(h);
    db = ac_db_open("m3.db", NULL, NULL);
    ASSERT_NOT_NULL(db);
    ASSERT_OK(ac_schema_migrate(db, 2, NULL));
    ASSERT_OK(ac_db_exec(db,
                         "INSERT INTO astrocal_session (session_id, state) VALUES ('s', "
                         "'queued'); INSERT INTO astrocal_file (file_id, session_id, path, "
                         "state, attempts) VALUES ('a', 's', '/d/a.fits', 'running', 2)",
                         NULL));
    ac_db_close(db);
    db = ac_db_open("m3.db", NULL, NULL);
    ASSERT_OK(ac_schema_prepare(db, NULL, NULL));
    ASSERT_OK(ac_schema_version(db, &v, NULL));
    ASSERT_EQ(v, AC_SCHEMA_VERSION);
    ac_queue_init(&q, db);
    f = row(&q, "a");
    ASSERT_EQ(f.state, AC_FILE_RUNNING);
    ASSERT_EQ(f.attempts, 2);
    ASSERT_EQ(f.interrupted, 0);
    ASSERT_EQ(f.crashes, 0);
    ac_queue_file_clear(&f);
    ac_db_close(db);
}
