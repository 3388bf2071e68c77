/*
 * test-queue-outcome.c - how a queued session ends and what its history says
 * (daemon/catalog/queue_outcome.c, queue.h "Outcome" and "History"): done / partial /
 * failed with the count and the most common error, unreadable lights queued as failed,
 * a done session that stays done when planned again, cancel of one file and of
 * everything, the history rows each change writes; and AstroFiler's session fields
 * (catalog_links.c) in both schema variants. Expected values are written out from the
 * contracts in queue.h, event.h and catalog.h.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "afdb.h"
#include "catalog.h"
#include "db.h"
#include "event.h"
#include "queue.h"
#include "schema.h"
#include "test.h"

struct seen {
    char session[64], state[16], reason[512];
    int calls;
};

static void on_done(void *ud, const ac_queue_done_t *d)
{
    struct seen *s = ud;

    snprintf(s->session, sizeof s->session, "%s", d->session_id);
    snprintf(s->state, sizeof s->state, "%s", d->state);
    snprintf(s->reason, sizeof s->reason, "%s", d->reason ? d->reason : "");
    s->calls++;
}

static long long qi(ac_db_t *db, const char *sql, const char *arg)
{
    return afdb_int(ac_db_handle(db), sql, arg, -999);
}

/* open_q opens a migrated AstroFiler catalogue with astrocald's tables. */
static ac_db_t *open_q(ac_queue_t *q, const char *path, struct seen *s)
{
    ac_db_t *db;

    sqlite3_close(afdb_create(path, AFDB_MIGRATED));
    db = ac_db_open(path, NULL, NULL);
    ASSERT_NOT_NULL(db);
    ASSERT_OK(ac_schema_prepare(db, NULL, NULL));
    ac_queue_init(q, db);
    q->on_done = on_done;
    q->ud = s;
    return db;
}

static void plan3(ac_queue_t *q, const char *err_c)
{
    const ac_qfile_add_t f[] = {
        {"a", "/d/a.fits", NULL}, {"b", "/d/b.fits", NULL}, {"c", "/d/c.fits", err_c}};
    ac_queue_plan_t p = {.session_id = "S",
                         .ready = true,
                         .session_date = "2024-10-01",
                         .files = f,
                         .nfiles = 3};

    ASSERT_OK(ac_queue_plan(q, &p, NULL, NULL));
}

static void claim_one(ac_queue_t *q, const char *want)
{
    ac_qfile_t f = {0};
    bool found = false;

    ASSERT_OK(ac_queue_claim(q, 1e12, NULL, &f, &found, NULL));
    ASSERT(found);
    ASSERT_STR_EQ(f.file_id, want);
    ac_queue_file_clear(&f);
}

static const char *shown(ac_queue_t *q)
{
    static char buf[16];
    ac_qsession_t s = {0};

    ASSERT_OK(ac_queue_session(q, "S", &s, NULL));
    snprintf(buf, sizeof buf, "%s", ac_queue_sess_shown(&s));
    ac_queue_session_clear(&s);
    return buf;
}

TEST(queue_outcome_names)
{
    int c[AC_FILE_NSTATES] = {0};

    ASSERT_STR_EQ(ac_queue_outcome(c, 0), "done"); /* nothing to do */
    c[AC_FILE_DONE] = 3;
    c[AC_FILE_SKIPPED] = 1; /* calibrated by another tool: as good */
    ASSERT_STR_EQ(ac_queue_outcome(c, 0), "done");
    c[AC_FILE_CANCELLED] = 1;
    ASSERT_STR_EQ(ac_queue_outcome(c, 0), "partial");
    memset(c, 0, sizeof c);
    c[AC_FILE_FAILED] = 2;
    ASSERT_STR_EQ(ac_queue_outcome(c, 0), "failed");
    ASSERT_STR_EQ(ac_queue_outcome(c, 1), "partial"); /* one rejected by grading */
}

TEST(queue_session_ends_partial_with_the_most_common_error)
{
    ac_queue_t q;
    struct seen s = {0};
    ac_db_t *db = open_q(&q, "oc1.db", &s);
    ac_queue_verdict_t v;
    ac_calibrated_rec_t r = {.raw_file_id = "a",
                             .output_path = "/o/a.fits",
                             .dark_scale = NAN,
                             .pedestal = NAN,
                             .t_read = NAN,
                             .t_calib = NAN,
                             .t_write = NAN,
                             .t_total = 1.0};

    /* c is unreadable at planning: failed at once, one attempt, with its reason. */
    plan3(&q, "unreadable at planning: not a FITS file");
    ASSERT_EQ(qi(db,
                 "SELECT attempts FROM astrocal_file WHERE file_id = 'c' AND state = "
                 "'failed' AND error LIKE 'unreadable%'",
                 NULL),
              1);
    ASSERT_STR_EQ(shown(&q), "queued");
    claim_one(&q, "a");
    afdb_exec(ac_db_handle(db), "INSERT INTO fitsfile (fitsFileId, fitsFileName, fitsFileType) "
                                "VALUES ('a', '/d/a.fits', 'LIGHT FRAME')");
    ASSERT_OK(ac_queue_record_calibrated(&q, &r, true, NULL, NULL));
    claim_one(&q, "b");
    ASSERT_OK(ac_queue_fail(&q, "b", AC_EFORMAT, "unreadable at planning: not a FITS file", 0.5,
                            1e12, &v, NULL));
    ASSERT(!v.retry);
    /* Nothing left: partial, 2 of 3 failed, both with the same error. */
    ASSERT_EQ(s.calls, 1);
    ASSERT_STR_EQ(s.session, "S");
    ASSERT_STR_EQ(s.state, "partial");
    ASSERT_STR_EQ(s.reason, "2 of 3 lights failed, most often (2): unreadable at planning: "
                            "not a FITS file");
    ASSERT_STR_EQ(shown(&q), "partial");
    ASSERT_EQ(qi(db,
                 "SELECT count(*) FROM astrocal_session WHERE state = 'done' AND outcome "
                 "= 'partial'",
                 NULL),
              1);
    /* The history: planned, c unreadable, a attempt + calibrated, b attempt + failed, end. */
    ASSERT_EQ(qi(db, "SELECT count(*) FROM astrocal_event WHERE kind = 'attempt'", NULL), 2);
    ASSERT_EQ(qi(db,
                 "SELECT count(*) FROM astrocal_event WHERE kind = 'unreadable' AND "
                 "file_id = 'c' AND session_id = 'S'",
                 NULL),
              1);
    ASSERT_EQ(qi(db,
                 "SELECT count(*) FROM astrocal_event WHERE kind = 'calibrated' AND "
                 "message = '/o/a.fits'",
                 NULL),
              1);
    ASSERT_EQ(qi(db,
                 "SELECT count(*) FROM astrocal_event WHERE kind = 'failed' AND "
                 "file_id = 'b'",
                 NULL),
              1);
    ASSERT_EQ(qi(db,
                 "SELECT count(*) FROM astrocal_event WHERE kind = 'session_done' AND "
                 "json_extract(detail, '$.state') = 'partial' AND "
                 "json_extract(detail, '$.failed') = 2",
                 NULL),
              1);
    ASSERT_EQ(
        qi(db, "SELECT count(*) FROM astrocal_event WHERE kind = 'session_planned'", NULL), 1);
    /* Planned again (a scan sees the failed lights): it stays done, no second end. */
    plan3(&q, "unreadable at planning: not a FITS file");
    ASSERT_EQ(s.calls, 1);
    ASSERT_STR_EQ(shown(&q), "partial");
    ASSERT_EQ(
        qi(db, "SELECT count(*) FROM astrocal_event WHERE kind = 'session_planned'", NULL), 1);
    /* A retry reopens it and forgets the outcome. */
    ASSERT_OK(ac_queue_retry(&q, "b", NULL, NULL, NULL));
    ASSERT_STR_EQ(shown(&q), "queued");
    ASSERT_EQ(qi(db, "SELECT count(*) FROM astrocal_session WHERE outcome IS NULL", NULL), 1);
    ASSERT_EQ(qi(db,
                 "SELECT count(*) FROM astrocal_event WHERE kind = 'operator' AND "
                 "file_id = 'b' AND message = 'retried'",
                 NULL),
              1);
    ac_db_close(db);
}

TEST(queue_all_unreadable_session_ends_failed_and_new_lights_reopen_a_done_one)
{
    ac_queue_t q;
    struct seen s = {0};
    ac_db_t *db = open_q(&q, "oc2.db", &s);
    const ac_qfile_add_t bad[] = {{"a", "/d/a.fits", "unreadable at planning: gone"},
                                  {"b", "/d/b.fits", "unreadable at planning: gone"}};
    const ac_qfile_add_t more[] = {{"a", "/d/a.fits", NULL}, {"n", "/d/n.fits", NULL}};
    ac_queue_plan_t p = {.session_id = "S",
                         .ready = true,
                         .session_date = "2024-10-01",
                         .files = bad,
                         .nfiles = 2};

    ASSERT_OK(ac_queue_plan(&q, &p, NULL, NULL));
    ASSERT_STR_EQ(s.state, "failed");
    ASSERT_STR_EQ(s.reason,
                  "2 of 2 lights failed, most often (2): unreadable at planning: gone");
    ASSERT_STR_EQ(shown(&q), "failed");
    /* A new light arrives in the session: queued again. */
    p.files = more;
    ASSERT_OK(ac_queue_plan(&q, &p, NULL, NULL));
    ASSERT_STR_EQ(shown(&q), "queued");
    ASSERT_EQ(qi(db, "SELECT count(*) FROM astrocal_file WHERE state = 'pending'", NULL), 1);
    ac_db_close(db);
}

TEST(queue_cancel_one_file_and_everything)
{
    ac_queue_t q;
    struct seen s = {0};
    ac_db_t *db = open_q(&q, "oc3.db", &s);
    ac_err_t e = {0};
    bool running = true;
    int n = -1;

    plan3(&q, NULL);
    claim_one(&q, "a");
    /* A running file is left to the scheduler; a pending one is cancelled now. */
    ASSERT_OK(ac_queue_cancel_file(&q, "a", &running, NULL));
    ASSERT(running);
    ASSERT_OK(ac_queue_cancel_file(&q, "b", &running, NULL));
    ASSERT(!running);
    ASSERT_EQ(qi(db, "SELECT count(*) FROM astrocal_file WHERE state = 'cancelled'", NULL), 1);
    ASSERT_EQ(ac_queue_cancel_file(&q, "b", NULL, &e), -EEXIST);
    ASSERT_CONTAINS(e.msg, "file 'b' is cancelled, not pending or running");
    ASSERT_EQ(ac_queue_cancel_file(&q, "zz", NULL, &e), -ENOENT);
    ASSERT_EQ(s.calls, 0); /* a and c remain */
    /* Everything: c cancelled now, a (running) counted. */
    ASSERT_OK(ac_queue_cancel_all(&q, &n, NULL));
    ASSERT_EQ(n, 2);
    ASSERT_EQ(qi(db, "SELECT count(*) FROM astrocal_session WHERE state = 'cancelled'", NULL),
              1);
    ASSERT_EQ(qi(db, "SELECT count(*) FROM astrocal_event WHERE kind = 'cancelled'", NULL), 2);
    ac_db_close(db);
}

/* links_db: light session L and calibration session D-1 in the given variant. */
static ac_db_t *links_db(const char *path, afdb_variant_t v)
{
    sqlite3 *h = afdb_create(path, v);
    ac_db_t *db;

    afdb_add_session(h, "L", "M 31", "2024-10-05", "300", "-10", "Ha");
    afdb_add_session(h, "D-1", "Dark", "2024-10-04", "300", "-10", NULL);
    afdb_exec(h, "UPDATE fitssession SET fitsFlatSession = 'AF-LINK' WHERE fitsSessionId = "
                 "'L'");
    sqlite3_close(h);
    db = ac_db_open(path, NULL, NULL);
    ASSERT_NOT_NULL(db);
    ASSERT_OK(ac_schema_prepare(db, NULL, NULL));
    afdb_exec(ac_db_handle(db),
              "INSERT INTO astrocal_session (session_id, state) VALUES ('L', 'queued')");
    return db;
}

TEST(catalog_session_links_both_variants)
{
    const ac_session_link_t links[3] = {
        {NULL, NULL}, {"/m/dark.fits", "D-1"}, {"/m/flat.fits", "GONE"}};
    char buf[1024];

    for (int v = 0; v < 2; v++) {
        ac_db_t *db = links_db(v ? "lk1.db" : "lk0.db", v ? AFDB_MODELS : AFDB_MIGRATED);
        sqlite3 *h = ac_db_handle(db);

        ASSERT_OK(ac_catalog_session_links(db, "L", links, NULL));
        ASSERT_STR_EQ(afdb_text(h,
                                "SELECT fitsDarkSession FROM fitssession WHERE "
                                "fitsSessionId = 'L'",
                                NULL, buf, sizeof buf),
                      "D-1");
        /* No known source: AstroFiler's own link is kept, not replaced by a guess. */
        ASSERT_STR_EQ(afdb_text(h,
                                "SELECT fitsFlatSession FROM fitssession WHERE "
                                "fitsSessionId = 'L'",
                                NULL, buf, sizeof buf),
                      "AF-LINK");
        ASSERT_EQ(afdb_int(h,
                           "SELECT auto_calibration_flat_session_id IS NULL AND "
                           "auto_calibration_dark_session_id = 'D-1' AND "
                           "fitsBiasSession IS NULL FROM fitssession WHERE "
                           "fitsSessionId = 'L'",
                           NULL, -1),
                  1);
        if (v == 0) /* the models-only variant has no master_*_created columns */
            ASSERT_EQ(afdb_int(h,
                               "SELECT master_dark_created FROM fitssession WHERE "
                               "fitsSessionId = 'L'",
                               NULL, -5),
                      1);
        ASSERT_NOT_NULL(
            afdb_text(h, "SELECT links_json FROM astrocal_session", NULL, buf, sizeof buf));
        ASSERT_CONTAINS(buf, "\"bias\":null");
        ASSERT_CONTAINS(buf, "the master's source session GONE is not in the catalogue");
        /* Deciding the same again writes nothing to AstroFiler's table. */
        int before = sqlite3_total_changes(h);
        ASSERT_OK(ac_catalog_session_links(db, "L", links, NULL));
        ASSERT_OK(ac_catalog_session_autocal(db, "L", NULL));
        ASSERT_OK(ac_catalog_session_autocal(db, "L", NULL));
        /* links_json is rewritten (1), is_auto_calibration set once (1). */
        ASSERT_EQ(sqlite3_total_changes(h) - before, 2);
        ASSERT_OK(ac_catalog_master_created(db, "D-1", "dark", NULL));
        if (v == 0)
            ASSERT_EQ(afdb_int(h,
                               "SELECT master_dark_created FROM fitssession WHERE "
                               "fitsSessionId = 'D-1'",
                               NULL, -5),
                      1);
        ac_db_close(db);
    }
}
