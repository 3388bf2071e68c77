/*
 * test-catalog.c - reading the catalogue (daemon/catalog/catalog.c) on databases laid out
 * as AstroFiler lays them out (tests/support/afdb.h, catalogtest.h), in both schema
 * variants, with AstroFiler's value quirks; the persistent queue; value helpers against
 * known answers. Writing: test-catalog-write.c; master builds: test-catalog-build.c.
 */
#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

#include "afdb.h"
#include "catalog.h"
#include "catalogtest.h"
#include "db.h"
#include "schema.h"
#include "test.h"
#include "pyfmt.h"

/* ---- Reading ---- */

TEST(catalog_light_sessions_both_variants_with_quirks)
{
    for (int v = AFDB_MIGRATED; v <= AFDB_MODELS; v++) {
        ac_db_t *db = lights_db((afdb_variant_t)v);
        ac_session_list_t sl = {0};
        ac_err_t e = {0};
        int unsessioned = -1;

        ASSERT_OK(ac_catalog_light_sessions(db, &sl, &e));
        ASSERT_EQ(sl.n, 3); /* S3, S1 by date, then S9 (no row: its lights' date) */
        ASSERT_STR_EQ(sl.items[0].session_id, "S3");
        ASSERT_STR_EQ(sl.items[1].session_id, "S1");
        ASSERT_STR_EQ(sl.items[2].session_id, "S9");
        /* S1: L1, L2 ('LIGHT', NULL booleans), L3 ('Light Frame'); not L4 (calibrated),
         * L5 (soft-deleted), C1 (a calibrated output), D1 (a dark). */
        ASSERT_EQ(sl.items[1].n_uncalibrated, 3);
        ASSERT(sl.items[1].has_row);
        ASSERT_STR_EQ(sl.items[1].object, "M 31");
        ASSERT_STR_EQ(sl.items[1].date, "2024-10-04");
        ASSERT_STR_EQ(sl.items[1].telescope, "C14");
        ASSERT_STR_EQ(sl.items[1].imager, "ZWO ASI294MM Pro");
        ASSERT_STR_EQ(sl.items[1].filter, "Ha");
        ASSERT_STR_EQ(sl.items[1].first_date_obs, "2024-10-05T02:10:07.25");
        ASSERT_NEAR(sl.items[1].exposure, 300.0, 0);
        ASSERT_NEAR(sl.items[1].ccd_temp, -10.1, 1e-12);
        ASSERT(isnan(sl.items[1].gain));
        ASSERT(isnan(sl.items[1].offset));
        ASSERT_EQ(sl.items[1].xbin, 1);
        ASSERT_EQ(sl.items[1].ybin, 1);
        ASSERT_NEAR(sl.items[0].ccd_temp, 0.0, 0);
        ASSERT_NEAR(sl.items[0].exposure, 120.0, 0);
        ASSERT_EQ(sl.items[0].n_uncalibrated, 1);
        ASSERT(!sl.items[2].has_row);
        ASSERT_NULL(sl.items[2].object);
        ASSERT(isnan(sl.items[2].exposure));
        ASSERT_EQ(sl.items[2].xbin, 0);
        ac_catalog_sessions_free(&sl);
        ASSERT_NULL(sl.items);
        ac_catalog_sessions_free(&sl); /* safe twice */
        ASSERT_OK(ac_catalog_count_unsessioned_lights(db, &unsessioned, &e));
        ASSERT_EQ(unsessioned, 1);
        ac_db_close(db);
    }
}

TEST(catalog_session_files_are_the_uncalibrated_raw_lights)
{
    for (int v = AFDB_MIGRATED; v <= AFDB_MODELS; v++) {
        ac_db_t *db = lights_db((afdb_variant_t)v);
        ac_file_list_t fl = {0};
        ac_catalog_file_t one = {0};
        ac_err_t e = {0};

        ASSERT_OK(ac_catalog_session_files(db, "S1", &fl, &e));
        ASSERT_EQ(fl.n, 3);
        ASSERT_STR_EQ(fl.items[0].file_id, "L1");
        ASSERT_STR_EQ(fl.items[1].file_id, "L2");
        ASSERT_STR_EQ(fl.items[2].file_id, "L3");
        ASSERT_STR_EQ(fl.items[1].path, "/data/lights/L2.fits");
        ASSERT_STR_EQ(fl.items[1].type, "LIGHT");
        ASSERT_NEAR(fl.items[1].exposure, 300.0, 0); /* stored '300.0' */
        ASSERT_NEAR(fl.items[0].exposure, 300.0, 0); /* stored '300' */
        ASSERT_NEAR(fl.items[0].ccd_temp, -10.1, 1e-12);
        ASSERT(isnan(fl.items[0].gain));
        ASSERT(!fl.items[1].calibrated);
        ASSERT(!fl.items[1].soft_deleted);
        ASSERT_STR_EQ(fl.items[2].date_obs, "2024-10-05T02:20:11.00");
        ASSERT_STR_EQ(fl.items[0].filter, "Ha");
        ASSERT_STR_EQ(fl.items[0].session_id, "S1");
        ac_catalog_files_free(&fl);
        ASSERT_OK(ac_catalog_session_files(db, "nope", &fl, &e));
        ASSERT_EQ(fl.n, 0);
        ac_catalog_files_free(&fl);
        ASSERT_OK(ac_catalog_file_get(db, "C1", &one, &e));
        ASSERT_STR_EQ(one.original_file, "/data/lights/L0.fits");
        ac_catalog_file_clear(&one);
        ASSERT_EQ(ac_catalog_file_get(db, "missing", &one, &e), -ENOENT);
        ac_db_close(db);
    }
}

TEST(catalog_masters_new_and_unseen)
{
    ac_db_t *db = lights_db(AFDB_MIGRATED);
    sqlite3 *h = ac_db_handle(db);
    ac_master_list_t ml = {0};
    ac_err_t e = {0};
    afdb_master_t dark = {
        .master_id = "dark_C14_20241006_091244",
        .type = "dark",
        .path = "/repo/Masters/Master-Dark-C14-ASI294-20241004-300.0s-1x1-t-10.0.fits",
        .telescope = "C14",
        .instrument = "ZWO ASI294MM Pro",
        .exposure = "300.0",
        .xbin = "1",
        .ybin = "1",
        .ccd_temp = "-10.0",
        .source_session = "SD",
        .hash = "0123456789abcdef0123456789abcdef",
        .file_count = 20,
        .is_validated = 1,
        .file_size = 23045760};
    afdb_master_t flat = {.master_id = "flat_C14_20241006_091300",
                          .type = "flat",
                          .path = "/repo/Masters/f.fits",
                          .filter = "Ha",
                          .file_count = 15,
                          .soft_delete = 1};
    afdb_master_t bias = {.master_id = "bias_Unknown_20241006_091301",
                          .type = "bias",
                          .path = "/repo/Masters/b.fits",
                          .telescope = "Unknown",
                          .xbin = "2",
                          .ybin = "2",
                          .file_count = 50};
    long long r1 = afdb_add_master(h, &dark), r3;
    int64_t seen;

    afdb_add_master(h, &flat);
    r3 = afdb_add_master(h, &bias);
    ASSERT_OK(ac_catalog_masters(db, &ml, &e));
    ASSERT_EQ(ml.n, 2); /* the soft-deleted flat is retired */
    ASSERT_EQ(ml.items[0].rowid, r1);
    ASSERT_STR_EQ(ml.items[0].type, "dark");
    ASSERT_STR_EQ(ml.items[0].master_id, "dark_C14_20241006_091244");
    ASSERT_NEAR(ml.items[0].exposure, 300.0, 0);
    ASSERT_NEAR(ml.items[0].ccd_temp, -10.0, 0);
    ASSERT(isnan(ml.items[0].gain));
    ASSERT_EQ(ml.items[0].xbin, 1);
    ASSERT_STR_EQ(ml.items[0].source_session_date, "2024-10-04");
    ASSERT_STR_EQ(ml.items[0].hash_md5, "0123456789abcdef0123456789abcdef");
    ASSERT_EQ(ml.items[0].file_count, 20);
    ASSERT_EQ(ml.items[0].file_size, 23045760);
    ASSERT(ml.items[0].validated);
    ASSERT_STR_EQ(ml.items[0].creation_date, "2024-10-06 09:12:44.512093");
    ASSERT_EQ(ml.items[1].rowid, r3);
    ASSERT_EQ(ml.items[1].xbin, 2);
    ASSERT_NULL(ml.items[1].filter);
    ASSERT_NULL(ml.items[1].source_session_date);
    ASSERT_EQ(ml.items[1].file_size, -1);
    ac_catalog_masters_free(&ml);
    ASSERT_OK(ac_catalog_new_masters(db, r1, &ml, &e));
    ASSERT_EQ(ml.n, 1);
    ASSERT_EQ(ml.items[0].rowid, r3);
    ac_catalog_masters_free(&ml);
    ASSERT_OK(ac_catalog_unseen_masters(db, &ml, &e));
    ASSERT_EQ(ml.n, 2);
    ac_catalog_masters_free(&ml);
    seen = r1;
    ASSERT_OK(ac_catalog_mark_masters_seen(db, &seen, 1, &e));
    ASSERT_OK(ac_catalog_mark_masters_seen(db, &seen, 1, &e)); /* idempotent */
    ASSERT_OK(ac_catalog_unseen_masters(db, &ml, &e));
    ASSERT_EQ(ml.n, 1);
    ASSERT_EQ(ml.items[0].rowid, r3);
    ac_catalog_masters_free(&ml);
    ac_db_close(db);
}

/* ---- Helpers ---- */

TEST(catalog_pytext_matches_python)
{
    char b[64];

    struct {
        const char *in;
        bool quoted;
        const char *out;
    } cases[] = {
        {"300", false, "300"},
        {"300.", false, "300.0"},
        {"300.0", false, "300.0"},
        {"3.0E2", false, "300.0"},
        {"-10.10", false, "-10.1"},
        {"-10.1", false, "-10.1"},
        {"+007", false, "7"},
        {"-0", false, "0"},
        {"0.1", false, "0.1"},
        {"1.0D-5", false, "1e-05"},
        {"0.0001", false, "0.0001"},
        {"1E16", false, "1e+16"},
        {"1E15", false, "1000000000000000.0"},
        {"123.456", false, "123.456"},
        {"T", false, "True"},
        {"F", false, "False"},
        {"300.0", true, "300.0"},
        {"Light Frame", true, "Light Frame"},
        {"-0.0", false, "-0.0"},
        {"2.5e-7", false, "2.5e-07"},
        {"1.5E300", false, "1.5e+300"},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ASSERT_OK(ac_pyfmt_text(cases[i].in, cases[i].quoted, b, sizeof b));
        ASSERT_STR_EQ(b, cases[i].out);
    }
    ASSERT_OK(ac_pyfmt_float(0.30000000000000004, b, sizeof b));
    ASSERT_STR_EQ(b, "0.30000000000000004");
    ASSERT_EQ(ac_pyfmt_text("300.0", false, b, 4), -ERANGE);
    ASSERT_NEAR(ac_catalog_parse_number("300.0"), 300.0, 0);
    ASSERT(isnan(ac_catalog_parse_number("")));
}

TEST(catalog_uuid4_is_random_version_4)
{
    char a[AC_UUID_LEN + 1], b[AC_UUID_LEN + 1];

    ASSERT_OK(ac_catalog_uuid4(a));
    ASSERT_OK(ac_catalog_uuid4(b));
    ASSERT_EQ(strlen(a), 36);
    ASSERT(a[8] == '-' && a[13] == '-' && a[18] == '-' && a[23] == '-');
    ASSERT(a[14] == '4');
    ASSERT(strchr("89ab", a[19]) != NULL);
    ASSERT(strcmp(a, b) != 0);
}

/* ---- The queue ---- */

static void plan(ac_db_t *db, const char *id, ac_sess_state_t st, const char *date)
{
    ac_qsession_plan_t p = {.session_id = id,
                            .state = st,
                            .session_date = date,
                            .reason = st == AC_SESS_WAITING ? "waiting for dark 300 s" : NULL};

    ASSERT_OK(ac_catalog_queue_plan_session(db, &p, NULL));
}

static void add(ac_db_t *db, const char *session, const char *id, const char *path)
{
    ac_qfile_add_t f = {id, path};

    ASSERT_OK(ac_catalog_queue_add_files(db, session, &f, 1, NULL, NULL));
}

static const char *claim(ac_db_t *db, bool newest, double now)
{
    static char id[64];
    ac_qfile_t q = {0};
    bool found = false;

    ASSERT_OK(ac_catalog_queue_claim(db, newest, now, NULL, &q, &found, NULL));
    if (!found)
        return NULL;
    ASSERT_EQ(q.state, AC_FILE_RUNNING);
    ASSERT_NOT_NULL(q.started_at);
    snprintf(id, sizeof id, "%s", q.file_id);
    ac_catalog_qfile_clear(&q);
    return id;
}

static ac_db_t *queue_db(void)
{
    ac_db_t *db = ac_db_open("q.db", NULL, NULL);

    ASSERT_NOT_NULL(db);
    ASSERT_OK(ac_schema_prepare(db, NULL, NULL));
    plan(db, "old", AC_SESS_QUEUED, "2024-10-01");
    plan(db, "new", AC_SESS_QUEUED, "2024-10-05");
    plan(db, "wait", AC_SESS_WAITING, "2024-10-09");
    add(db, "old", "o2", "/d/o2.fits");
    add(db, "old", "o1", "/d/o1.fits");
    add(db, "new", "n1", "/d/n1.fits");
    add(db, "wait", "w1", "/d/w1.fits");
    return db;
}

TEST(catalog_queue_claim_order_priority_then_date)
{
    ac_db_t *db = queue_db();

    ASSERT_STR_EQ(claim(db, true, 1e9), "n1"); /* newest session first */
    ASSERT_STR_EQ(claim(db, true, 1e9), "o1"); /* then by path within a session */
    ASSERT_STR_EQ(claim(db, true, 1e9), "o2");
    ASSERT_NULL(claim(db, true, 1e9)); /* 'wait' is waiting: never claimed */
    ac_db_close(db);

    ASSERT_OK(unlink("q.db"));
    unlink("q.db-wal");
    unlink("q.db-shm");
    db = queue_db();
    ASSERT_STR_EQ(claim(db, false, 1e9), "o1"); /* oldest_first */
    ASSERT_OK(ac_catalog_queue_set_priority(db, "new", 5, NULL));
    ASSERT_STR_EQ(claim(db, false, 1e9), "n1"); /* priority beats date */
    ASSERT_EQ(ac_catalog_queue_set_priority(db, "ghost", 1, NULL), -ENOENT);
    ac_db_close(db);
}

TEST(catalog_queue_states_retry_recover_cancel)
{
    ac_db_t *db = queue_db();
    int c[AC_FILE_NSTATES], n = -1, nf = -1;
    double when = 0;
    bool any = false;
    ac_qfile_t q = {0};
    ac_qsession_t s = {0};

    /* Pause keeps a session out, and re-planning does not un-pause it. */
    ASSERT_OK(
        ac_catalog_queue_set_session_state(db, "new", AC_SESS_PAUSED, "paused by user", NULL));
    plan(db, "new", AC_SESS_QUEUED, "2024-10-05");
    ASSERT_OK(ac_catalog_queue_session(db, "new", &s, NULL));
    ASSERT_EQ(s.state, AC_SESS_PAUSED);
    ASSERT_STR_EQ(s.reason, "paused by user");
    ASSERT_EQ(s.counts[AC_FILE_PENDING], 1);
    ac_catalog_qsession_clear(&s);
    ASSERT_STR_EQ(claim(db, true, 1e9), "o1");
    /* Transient failure: deferred with back-off, invisible until not_before. */
    ASSERT_OK(ac_catalog_queue_defer(db, "o1", "database is locked", 1000.0, NULL));
    ASSERT_STR_EQ(claim(db, true, 500.0), "o2");
    ASSERT_NULL(claim(db, true, 500.0));
    ASSERT_OK(ac_catalog_queue_next_retry(db, 500.0, &when, &any, NULL));
    ASSERT(any);
    ASSERT_NEAR(when, 1000.0, 0);
    ASSERT_STR_EQ(claim(db, true, 1000.0), "o1");
    ASSERT_OK(ac_catalog_queue_file(db, "o1", &q, NULL));
    ASSERT_EQ(q.attempts, 1);
    ASSERT_STR_EQ(q.error, "database is locked");
    ac_catalog_qfile_clear(&q);
    /* o1 fails for good; o2 is interrupted by a crash (still running). */
    ASSERT_OK(ac_catalog_queue_finish(db, "o1", AC_FILE_FAILED, "bad header", 1.5, NULL));
    ASSERT_EQ(ac_catalog_queue_finish(db, "o1", AC_FILE_RUNNING, NULL, NAN, NULL), -EINVAL);
    ASSERT_OK(ac_catalog_queue_recover(db, 3, &n, &nf, NULL));
    ASSERT_EQ(n, 1);
    ASSERT_EQ(nf, 0);
    ASSERT_OK(ac_catalog_queue_file(db, "o2", &q, NULL));
    ASSERT_EQ(q.state, AC_FILE_PENDING);
    ASSERT_EQ(q.attempts, 1);
    ac_catalog_qfile_clear(&q);
    /* Interrupted again twice: the third interruption reaches max_attempts = 3. */
    ASSERT_STR_EQ(claim(db, true, 1e9), "o2");
    ASSERT_OK(ac_catalog_queue_recover(db, 3, &n, &nf, NULL));
    ASSERT_STR_EQ(claim(db, true, 1e9), "o2");
    ASSERT_OK(ac_catalog_queue_recover(db, 3, &n, &nf, NULL));
    ASSERT_EQ(n, 0);
    ASSERT_EQ(nf, 1);
    ASSERT_OK(ac_catalog_queue_file(db, "o2", &q, NULL));
    ASSERT_EQ(q.state, AC_FILE_FAILED);
    ASSERT_STR_EQ(q.error, "interrupted 3 times");
    ac_catalog_qfile_clear(&q);
    ASSERT_OK(ac_catalog_queue_counts(db, "old", c, NULL));
    ASSERT_EQ(c[AC_FILE_FAILED], 2);
    /* Retry one file, then the rest of the session; a done session is queued again. */
    ASSERT_OK(ac_catalog_queue_set_session_state(db, "old", AC_SESS_DONE, NULL, NULL));
    ASSERT_OK(ac_catalog_queue_retry(db, "o1", NULL, &n, NULL));
    ASSERT_EQ(n, 1);
    ASSERT_OK(ac_catalog_queue_session(db, "old", &s, NULL));
    ASSERT_EQ(s.state, AC_SESS_QUEUED);
    ASSERT_EQ(s.counts[AC_FILE_PENDING], 1);
    ASSERT_EQ(s.counts[AC_FILE_FAILED], 1);
    ac_catalog_qsession_clear(&s);
    ASSERT_OK(ac_catalog_queue_retry(db, NULL, NULL, &n, NULL));
    ASSERT_EQ(n, 1);
    ASSERT_OK(ac_catalog_queue_file(db, "o2", &q, NULL));
    ASSERT_EQ(q.attempts, 0);
    ASSERT_NULL(q.error);
    ac_catalog_qfile_clear(&q);
    /* Cancel: pending files cancelled, session cancelled and kept so by re-planning. */
    ASSERT_OK(ac_catalog_queue_cancel_session(db, "old", &n, NULL));
    ASSERT_EQ(n, 2);
    plan(db, "old", AC_SESS_QUEUED, "2024-10-01");
    ASSERT_OK(ac_catalog_queue_counts(db, NULL, c, NULL));
    ASSERT_EQ(c[AC_FILE_CANCELLED], 2);
    ASSERT_EQ(c[AC_FILE_PENDING], 2); /* n1 (paused session) and w1 */
    ASSERT_EQ(ac_catalog_queue_cancel_session(db, "ghost", &n, NULL), -ENOENT);
    ac_db_close(db);
}

TEST(catalog_queue_lists_and_events)
{
    ac_db_t *db = queue_db();
    ac_qsession_list_t sl = {0};
    ac_qfile_list_t fl = {0};
    ac_event_list_t ev = {0};
    int added = -1;
    int64_t id = 0;
    ac_qfile_add_t again[] = {{"o1", "/d/o1.fits"}, {"o3", "/d/o3.fits"}};

    ASSERT_OK(ac_catalog_queue_add_files(db, "old", again, 2, &added, NULL));
    ASSERT_EQ(added, 1); /* o1 was already queued */
    ASSERT_OK(ac_catalog_queue_sessions(db, &sl, NULL));
    ASSERT_EQ(sl.n, 3);
    ASSERT_STR_EQ(sl.items[0].session_id, "wait"); /* newest date first at equal priority */
    ASSERT_STR_EQ(sl.items[0].reason, "waiting for dark 300 s");
    ASSERT_EQ(sl.items[2].counts[AC_FILE_PENDING], 3);
    ac_catalog_qsessions_free(&sl);
    ASSERT_OK(ac_catalog_queue_files(db, "old", &fl, NULL));
    ASSERT_EQ(fl.n, 3);
    ASSERT_STR_EQ(fl.items[0].path, "/d/o1.fits");
    ASSERT_STR_EQ(fl.items[2].path, "/d/o3.fits");
    ASSERT(isnan(fl.items[0].not_before));
    ac_catalog_qfiles_free(&fl);
    for (int i = 0; i < 5; i++)
        ASSERT_OK(ac_catalog_event_add(db, "file_done", "old", "o1", "calibrated", &id, NULL));
    ASSERT_OK(ac_catalog_events(db, id - 2, 10, &ev, NULL));
    ASSERT_EQ(ev.n, 2);
    ASSERT_EQ(ev.items[1].id, id);
    ASSERT_STR_EQ(ev.items[0].kind, "file_done");
    ac_catalog_events_free(&ev);
    ASSERT_OK(ac_catalog_events_prune(db, 2, NULL));
    ASSERT_EQ(q_int(db, "SELECT COUNT(*) FROM astrocal_event", NULL), 2);
    ASSERT_STR_EQ(ac_catalog_file_state_name(AC_FILE_SKIPPED), "skipped");
    ASSERT_EQ(ac_catalog_sess_state_parse("paused"), AC_SESS_PAUSED);
    ASSERT_EQ(ac_catalog_file_state_parse("bogus"), -1);
    ac_db_close(db);
}
