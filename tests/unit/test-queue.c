/*
 * test-queue.c - the light queue (daemon/catalog/queue*.c): claim order, the state
 * machine of sessions and files, the operator's rules (what is refused, and why), the
 * retry policy, settling a session when its last file ends. Every expected value is written out
 * from queue.h's contract.
 */
#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

#include "afdb.h"
#include "catalog.h"
#include "db.h"
#include "queue.h"
#include "schema.h"
#include "test.h"

static long long q_int(ac_db_t *db, const char *sql, const char *arg)
{
    return afdb_int(ac_db_handle(db), sql, arg, -999);
}

/* plan records a plan: ready (queued, its files pending) or waiting with a reason. */
static void plan(ac_queue_t *q, const char *id, bool ready, const char *date,
                 const ac_qfile_add_t *files, size_t n)
{
    ac_queue_plan_t p = {.session_id = id,
                         .ready = ready,
                         .session_date = date,
                         .reason = ready ? NULL : "waiting for dark 300 s",
                         .files = files,
                         .nfiles = n};

    ASSERT_OK(ac_queue_plan(q, &p, NULL, NULL));
}

static const char *claim(ac_queue_t *q, bool newest, double now)
{
    static char id[64];
    ac_qfile_t f = {0};
    bool found = false;

    q->policy.newest_first = newest;
    ASSERT_OK(ac_queue_claim(q, now, NULL, &f, &found, NULL));
    if (!found)
        return NULL;
    ASSERT_EQ(f.state, AC_FILE_RUNNING);
    ASSERT_NOT_NULL(f.started_at);
    snprintf(id, sizeof id, "%s", f.file_id);
    ac_queue_file_clear(&f);
    return id;
}

static ac_sess_state_t state_of(ac_queue_t *q, const char *session_id)
{
    ac_qsession_t s = {0};
    ac_sess_state_t st;

    ASSERT_OK(ac_queue_session(q, session_id, &s, NULL));
    st = s.state;
    ac_queue_session_clear(&s);
    return st;
}

/* queue_db: sessions old (2024-10-01: o2, o1), new (2024-10-05: n1), both queued, and wait
 * (2024-10-09: w1), waiting for a master. */
static ac_db_t *queue_db(ac_queue_t *q)
{
    ac_db_t *db = ac_db_open("q.db", NULL, NULL);
    const ac_qfile_add_t old[] = {{"o2", "/d/o2.fits", NULL}, {"o1", "/d/o1.fits", NULL}};
    const ac_qfile_add_t new1[] = {{"n1", "/d/n1.fits", NULL}},
                         wait[] = {{"w1", "/d/w1.fits", NULL}};

    ASSERT_NOT_NULL(db);
    ASSERT_OK(ac_schema_prepare(db, NULL, NULL));
    ac_queue_init(q, db);
    plan(q, "old", true, "2024-10-01", old, 2);
    plan(q, "new", true, "2024-10-05", new1, 1);
    plan(q, "wait", true, "2024-10-09", wait, 1);
    plan(q, "wait", false, "2024-10-09", NULL, 0); /* its master went away: w1 stays */
    return db;
}

TEST(queue_claim_order_priority_then_date)
{
    ac_queue_t q;
    ac_db_t *db = queue_db(&q);
    int five = 5, one = 1;

    ASSERT_STR_EQ(claim(&q, true, 1e9), "n1"); /* newest session first */
    ASSERT_STR_EQ(claim(&q, true, 1e9), "o1"); /* then by path within a session */
    ASSERT_STR_EQ(claim(&q, true, 1e9), "o2");
    ASSERT_NULL(claim(&q, true, 1e9)); /* 'wait' is waiting: never claimed */
    ac_db_close(db);

    ASSERT_OK(unlink("q.db"));
    unlink("q.db-wal");
    unlink("q.db-shm");
    db = queue_db(&q);
    ASSERT_STR_EQ(claim(&q, false, 1e9), "o1"); /* oldest_first */
    ASSERT_OK(ac_queue_enqueue(&q, "new", &five, NULL));
    ASSERT_STR_EQ(claim(&q, false, 1e9), "n1"); /* priority beats date */
    ASSERT_EQ(ac_queue_enqueue(&q, "ghost", &one, NULL), -ENOENT);
    ac_db_close(db);
}

TEST(queue_states_retry_recover_cancel)
{
    ac_queue_t q;
    ac_db_t *db = queue_db(&q);
    int c[AC_FILE_NSTATES], n = -1;
    double when = 0;
    bool any = false;
    ac_qfile_t f = {0};
    ac_qsession_t s = {0};
    ac_queue_verdict_t v = {0};
    ac_queue_recovery_t r = {0};
    const ac_queue_crash_t alone = {.alone = "o2"}; /* the scheduler's marker */

    /* Pause keeps a session out, and re-planning does not un-pause it. */
    ASSERT_OK(ac_queue_pause(&q, "new", "paused by user", NULL));
    plan(&q, "new", true, "2024-10-05", NULL, 0);
    ASSERT_OK(ac_queue_session(&q, "new", &s, NULL));
    ASSERT_EQ(s.state, AC_SESS_PAUSED);
    ASSERT_STR_EQ(s.reason, "paused by user");
    ASSERT_EQ(s.counts[AC_FILE_PENDING], 1);
    ac_queue_session_clear(&s);
    ASSERT_STR_EQ(claim(&q, true, 1e9), "o1");
    /* Transient failure: deferred with back-off (30 s from 970), invisible until then. */
    ASSERT_OK(ac_queue_fail(&q, "o1", AC_EBUSY, "database is locked", NAN, 970.0, &v, NULL));
    ASSERT(v.retry);
    ASSERT_EQ(v.attempts, 1);
    ASSERT_NEAR(v.backoff_s, 30.0, 0);
    ASSERT_STR_EQ(claim(&q, true, 500.0), "o2");
    ASSERT_NULL(claim(&q, true, 500.0));
    ASSERT_OK(ac_queue_next_retry(&q, 500.0, &when, &any, NULL));
    ASSERT(any);
    ASSERT_NEAR(when, 1000.0, 0);
    ASSERT_STR_EQ(claim(&q, true, 1000.0), "o1");
    ASSERT_OK(ac_queue_file(&q, "o1", &f, NULL));
    ASSERT_EQ(f.attempts, 1);
    ASSERT_STR_EQ(f.error, "database is locked");
    ac_queue_file_clear(&f);
    /* o1 fails for good; o2 is interrupted by a crash (still running). */
    ASSERT_OK(ac_queue_finish(&q, "o1", AC_FILE_FAILED, "bad header", 1.5, NULL));
    ASSERT_EQ(ac_queue_finish(&q, "o1", AC_FILE_RUNNING, NULL, NAN, NULL), -EINVAL);
    ASSERT_EQ(ac_queue_finish(&q, "o1", AC_FILE_DONE, NULL, NAN, NULL), -EINVAL);
    q.policy.max_attempts = 3;
    ASSERT_OK(ac_queue_recover(&q, &alone, &r, NULL));
    ASSERT_EQ(r.requeued, 1);
    ASSERT_EQ(r.failed, 0);
    ASSERT_EQ(r.blamed, 0); /* a first death is nobody's fault */
    ASSERT_EQ(r.interrupted.n, 1);
    ASSERT_STR_EQ(r.interrupted.items[0].path, "/d/o2.fits");
    ac_queue_recovery_clear(&r);
    ASSERT_OK(ac_queue_file(&q, "o2", &f, NULL));
    ASSERT_EQ(f.state, AC_FILE_PENDING);
    ASSERT_EQ(f.attempts, 0); /* an interruption is no attempt */
    ASSERT_EQ(f.interrupted, 1);
    ASSERT_EQ(f.crashes, 0);
    ASSERT(!ac_queue_suspect(&f));
    ac_queue_file_clear(&f);
    /* Calibrated alone when the daemon dies again, three times: crashes 1, 2, 3, then it
     * fails as crashing the daemon (crash_limit 3); attempts are never counted. */
    for (int k = 1; k <= 3; k++) {
        ASSERT_STR_EQ(claim(&q, true, 1e9), "o2");
        ASSERT_OK(ac_queue_recover(&q, &alone, &r, NULL));
        ASSERT_EQ(r.blamed, 1);
        ASSERT_EQ(r.requeued, k < 3 ? 1 : 0);
        ASSERT_EQ(r.failed, k < 3 ? 0 : 1);
        ac_queue_recovery_clear(&r);
        ASSERT_OK(ac_queue_file(&q, "o2", &f, NULL));
        ASSERT_EQ(f.crashes, k);
        ASSERT_EQ(f.interrupted, k + 1);
        ASSERT_EQ(f.attempts, 0);
        ASSERT(ac_queue_suspect(&f));
        ac_queue_file_clear(&f);
    }
    ASSERT_OK(ac_queue_file(&q, "o2", &f, NULL));
    ASSERT_EQ(f.state, AC_FILE_FAILED);
    ASSERT_STR_EQ(f.error, "crashes the daemon (3 deaths while it ran alone; signal unknown)");
    ac_queue_file_clear(&f);
    ASSERT_OK(ac_queue_counts(&q, "old", c, NULL));
    ASSERT_EQ(c[AC_FILE_FAILED], 2);
    /* Planning settles it: nothing left to run, so done. Retry one file, then the rest of
     * the session; a done session is queued again. */
    plan(&q, "old", true, "2024-10-01", NULL, 0);
    ASSERT_EQ(state_of(&q, "old"), AC_SESS_DONE);
    ASSERT_OK(ac_queue_retry(&q, "o1", NULL, &n, NULL));
    ASSERT_EQ(n, 1);
    ASSERT_OK(ac_queue_session(&q, "old", &s, NULL));
    ASSERT_EQ(s.state, AC_SESS_QUEUED);
    ASSERT_EQ(s.counts[AC_FILE_PENDING], 1);
    ASSERT_EQ(s.counts[AC_FILE_FAILED], 1);
    ac_queue_session_clear(&s);
    ASSERT_OK(ac_queue_retry(&q, NULL, NULL, &n, NULL));
    ASSERT_EQ(n, 1);
    ASSERT_OK(ac_queue_file(&q, "o2", &f, NULL));
    ASSERT_EQ(f.attempts, 0);
    ASSERT_NULL(f.error);
    ac_queue_file_clear(&f);
    /* Cancel: pending files cancelled, session cancelled and kept so by re-planning. */
    ASSERT_OK(ac_queue_cancel(&q, "old", &n, NULL));
    ASSERT_EQ(n, 2);
    plan(&q, "old", true, "2024-10-01", NULL, 0);
    ASSERT_OK(ac_queue_counts(&q, NULL, c, NULL));
    ASSERT_EQ(c[AC_FILE_CANCELLED], 2);
    ASSERT_EQ(c[AC_FILE_PENDING], 2); /* n1 (paused session) and w1 */
    ASSERT_EQ(ac_queue_cancel(&q, "ghost", &n, NULL), -ENOENT);
    ac_db_close(db);
}

static void note_done(void *ud, const ac_queue_done_t *d)
{
    snprintf(ud, 64, "%s", d->session_id);
}

TEST(queue_operator_rules_and_settling)
{
    ac_queue_t q;
    ac_db_t *db = queue_db(&q);
    char done[64] = "";
    const ac_qfile_add_t n2[] = {{"n2", "/d/n2.fits", NULL}};
    ac_queue_verdict_t v = {0};
    ac_err_t e = {0};
    bool resumed = true;
    int n = -1;

    q.on_done = note_done;
    q.ud = done;
    /* Resuming a session that is not paused changes nothing. */
    ASSERT_OK(ac_queue_resume(&q, "new", &resumed, NULL));
    ASSERT(!resumed);
    /* The last file of a queued session ends: the session is done, and said so. */
    ASSERT_STR_EQ(claim(&q, true, 1e9), "n1");
    ASSERT_OK(ac_queue_finish(&q, "n1", AC_FILE_SKIPPED, "already calibrated", NAN, NULL));
    ASSERT_STR_EQ(done, "new");
    ASSERT_EQ(state_of(&q, "new"), AC_SESS_DONE);
    /* A done session: enqueue, cancel and pause are refused. */
    ASSERT_EQ(ac_queue_enqueue(&q, "new", NULL, &e), -EEXIST);
    ASSERT_STR_EQ(e.msg, "session 'new' is done (use retry for failed files)");
    ac_err_clear(&e);
    ASSERT_EQ(ac_queue_cancel(&q, "new", &n, &e), -EEXIST);
    ASSERT_STR_EQ(e.msg, "session 'new' is done");
    ac_err_clear(&e);
    ASSERT_EQ(ac_queue_pause(&q, "new", "x", &e), -EEXIST);
    ASSERT_STR_EQ(e.msg, "session 'new' is done");
    ac_err_clear(&e);
    ASSERT_EQ(ac_queue_pause(&q, "ghost", "x", &e), -ENOENT);
    ASSERT_STR_EQ(e.msg, "no session 'ghost'");
    ac_err_clear(&e);
    /* Retry names a file that is not failed, or none at all. */
    ASSERT_EQ(ac_queue_retry(&q, "n1", NULL, &n, &e), -EEXIST);
    ASSERT_STR_EQ(e.msg, "file 'n1' is skipped, not failed");
    ac_err_clear(&e);
    ASSERT_EQ(ac_queue_retry(&q, "nope", NULL, &n, &e), -ENOENT);
    ASSERT_STR_EQ(e.msg, "no file 'nope'");
    ac_err_clear(&e);
    ASSERT_EQ(ac_queue_retry(&q, NULL, "ghost", &n, &e), -ENOENT);
    ac_err_clear(&e);
    /* Cancelled, then enqueued with a priority: queued again, its files pending. */
    ASSERT_OK(ac_queue_cancel(&q, "old", &n, NULL));
    ASSERT_EQ(n, 2);
    ASSERT_EQ(ac_queue_pause(&q, "old", "x", &e), -EEXIST);
    ASSERT_STR_EQ(e.msg, "session 'old' is cancelled");
    ASSERT_OK(ac_queue_enqueue(&q, "old", (int[]){7}, NULL));
    ASSERT_EQ(state_of(&q, "old"), AC_SESS_QUEUED);
    ASSERT_EQ(q_int(db, "SELECT priority FROM astrocal_session WHERE session_id = 'old'", NULL),
              7);
    ASSERT_EQ(q_int(db,
                    "SELECT count(*) FROM astrocal_file WHERE session_id = 'old' AND "
                    "state = 'pending' AND finished_at IS NULL",
                    NULL),
              2);
    /* Paused, then a forced plan (enqueue, resume) of a ready session queues it; a plain
     * plan does not. Paused again, resume queues it. */
    ASSERT_OK(ac_queue_pause(&q, "old", "paused by astrocalctl", NULL));
    plan(&q, "old", true, "2024-10-01", NULL, 0);
    ASSERT_EQ(state_of(&q, "old"), AC_SESS_PAUSED);
    ASSERT_OK(ac_queue_plan(
        &q, &(ac_queue_plan_t){.session_id = "old", .ready = true, .force = true}, NULL, NULL));
    ASSERT_EQ(state_of(&q, "old"), AC_SESS_QUEUED);
    ASSERT_OK(ac_queue_pause(&q, "old", "paused by astrocalctl", NULL));
    ASSERT_OK(ac_queue_resume(&q, "old", &resumed, NULL));
    ASSERT(resumed);
    ASSERT_EQ(state_of(&q, "old"), AC_SESS_QUEUED);
    /* The retry policy: a permanent error fails at once; a transient one is retried while
     * attempts are left (max 2 here), with the back-off doubling. */
    q.policy.max_attempts = 2;
    q.policy.retry_backoff_s = 10;
    ASSERT_STR_EQ(claim(&q, true, 1e9), "o1");
    ASSERT_OK(ac_queue_fail(&q, "o1", AC_EFORMAT, "not an image", 0.5, 1e9, &v, NULL));
    ASSERT(!v.retry);
    ASSERT_EQ(v.attempts, 1);
    ASSERT_STR_EQ(claim(&q, true, 1e9), "o2");
    ASSERT_OK(ac_queue_fail(&q, "o2", -EIO, "read error", NAN, 1e9, &v, NULL));
    ASSERT(v.retry);
    ASSERT_NEAR(v.backoff_s, 10.0, 0);
    done[0] = '\0';
    ASSERT_STR_EQ(claim(&q, true, 1e9 + 10), "o2");
    ASSERT_OK(ac_queue_fail(&q, "o2", -EIO, "read error", NAN, 1e9 + 10, &v, NULL));
    ASSERT(!v.retry);
    ASSERT_EQ(v.attempts, 2);
    ASSERT_EQ(q_int(db,
                    "SELECT count(*) FROM astrocal_file WHERE session_id = 'old' AND "
                    "state = 'failed'",
                    NULL),
              2);
    ASSERT_STR_EQ(done, "old"); /* its last file failed: done */
    ASSERT(ac_queue_transient(AC_EBUSY) && ac_queue_transient(-ENOSPC));
    ASSERT(!ac_queue_transient(AC_EMASTER) && !ac_queue_transient(-ENOENT));
    /* A new light of a done session: planning it queues the session again. */
    plan(&q, "new", true, "2024-10-05", n2, 1);
    ASSERT_EQ(state_of(&q, "new"), AC_SESS_QUEUED);
    ASSERT_EQ(q_int(db,
                    "SELECT count(*) FROM astrocal_file WHERE file_id = 'n2' AND "
                    "state = 'pending'",
                    NULL),
              1);
    ac_db_close(db);
}

TEST(queue_record_calibrated_marks_done_and_settles)
{
    sqlite3 *h = afdb_create("rec.db", AFDB_MIGRATED);
    afdb_file_t lf =
        afdb_light("L1", "S1", "/data/lights/L1.fits", "2024-10-05T02:10:07.25", "300");
    const ac_qfile_add_t files[] = {{"L1", "/data/lights/L1.fits", NULL}};
    ac_calibrated_rec_t r = {.raw_file_id = "L1",
                             .output_path = "/out/L1_c.fits",
                             .output_sha256 = "ab",
                             .dark_scale = NAN,
                             .pedestal = NAN,
                             .t_read = NAN,
                             .t_calib = NAN,
                             .t_write = NAN,
                             .t_total = 2.5};
    char out_id[AC_UUID_LEN + 1] = "", again[AC_UUID_LEN + 1] = "", done[64] = "";
    ac_queue_t q;
    ac_db_t *db;

    afdb_add_session(h, "S1", "M 31", "2024-10-04", "300", "-10.1", "Ha");
    afdb_add_file(h, &lf);
    sqlite3_close(h);
    db = ac_db_open("rec.db", NULL, NULL);
    ASSERT_NOT_NULL(db);
    ASSERT_OK(ac_schema_prepare(db, NULL, NULL));
    ac_queue_init(&q, db);
    q.on_done = note_done;
    q.ud = done;
    plan(&q, "S1", true, "2024-10-04", files, 1);
    ASSERT_STR_EQ(claim(&q, true, 1e9), "L1");
    ASSERT_OK(ac_queue_record_calibrated(&q, &r, true, out_id, NULL));
    ASSERT_EQ(strlen(out_id), AC_UUID_LEN);
    ASSERT_EQ(
        q_int(db, "SELECT fitsFileCalibrated FROM fitsfile WHERE fitsFileId = 'L1'", NULL), 1);
    ASSERT_EQ(q_int(db,
                    "SELECT count(*) FROM astrocal_file WHERE state = 'done' AND "
                    "output_path = '/out/L1_c.fits' AND seconds = 2.5",
                    NULL),
              1);
    ASSERT_STR_EQ(done, "S1");
    ASSERT_EQ(state_of(&q, "S1"), AC_SESS_DONE);
    /* Recorded again (a crash before the acknowledgement): the same output, once. */
    ASSERT_OK(ac_queue_record_calibrated(&q, &r, true, again, NULL));
    ASSERT_STR_EQ(again, out_id);
    ASSERT_EQ(
        q_int(db, "SELECT count(*) FROM fitsfile WHERE fitsFileName = '/out/L1_c.fits'", NULL),
        1);
    ac_db_close(db);
}

TEST(queue_lists_and_names)
{
    ac_queue_t q;
    ac_db_t *db = queue_db(&q);
    ac_qsession_list_t sl = {0};
    ac_qfile_list_t fl = {0};
    int added = -1;
    ac_qfile_add_t again[] = {{"o1", "/d/o1.fits", NULL}, {"o3", "/d/o3.fits", NULL}};
    ac_queue_plan_t p = {.session_id = "old",
                         .ready = true,
                         .session_date = "2024-10-01",
                         .files = again,
                         .nfiles = 2};

    ASSERT_OK(ac_queue_plan(&q, &p, &added, NULL));
    ASSERT_EQ(added, 1); /* o1 was already queued */
    ASSERT_OK(ac_queue_sessions(&q, &sl, NULL));
    ASSERT_EQ(sl.n, 3);
    ASSERT_STR_EQ(sl.items[0].session_id, "wait"); /* newest date first at equal priority */
    ASSERT_STR_EQ(sl.items[0].reason, "waiting for dark 300 s");
    ASSERT_EQ(sl.items[2].counts[AC_FILE_PENDING], 3);
    ac_queue_sessions_free(&sl);
    ASSERT_OK(ac_queue_files(&q, "old", &fl, NULL));
    ASSERT_EQ(fl.n, 3);
    ASSERT_STR_EQ(fl.items[0].path, "/d/o1.fits");
    ASSERT_STR_EQ(fl.items[2].path, "/d/o3.fits");
    ASSERT(isnan(fl.items[0].not_before));
    ac_queue_files_free(&fl);
    ASSERT_STR_EQ(ac_queue_file_state_name(AC_FILE_SKIPPED), "skipped");
    ASSERT_EQ(ac_queue_sess_state_parse("paused"), AC_SESS_PAUSED);
    ASSERT_EQ(ac_queue_file_state_parse("bogus"), -1);
    ac_db_close(db);
}
