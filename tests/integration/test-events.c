/*
 * test-events.c - nothing on the path from "work exists" to "work starts", or from "last
 * file done" to "--drain exits", waits for a timer: with the catalogue poll and the full
 * re-planning scan set to an hour, a --drain daemon still calibrates its catalogue and
 * exits right after the last commit, a master committed by another process still releases
 * a waiting session (the WAL watch), and `astrocalctl import` still starts calibration.
 */
#include <signal.h>

#include "afdb.h"
#include "nightfix.h"
#include "support.h"

#define DW 256
#define DH 192

/* Every poll and scan interval an hour: only events can move the daemon. */
#define HOUR_POLLS "DAEMON.watch_interval_ms=3600000", "DAEMON.scan_interval_s=3600"

TEST_TIMEOUT(events_drain_exits_after_last_commit_with_hour_polls, 120)
{
    ac_harness_t h;
    struct night nt;
    sqlite3 *db;

    ac_harness_init(&h);
    make_night(&nt, 4, DW, DH);
    make_catalogue(&h, &nt, "bdf");
    ASSERT_OK(ac_harness_write_config(&h, (const char *[]){HOUR_POLLS, NULL}));
    long long t0 = ac_harness_now_ms();
    ASSERT_OK(ac_harness_start(&h, (const char *[]){"--drain", NULL}));
    /* Before the drain's exit was an event, the catalogue poll noticed it: an hour here. */
    ASSERT_EQ(wait_exit(&h, 30000), 0);
    printf("start to drained exit: %lld ms\n", ac_harness_now_ms() - t0);
    db = open_db(&h);
    ASSERT_EQ(count_calibrated_rows(db), 4);
    ASSERT_EQ(files_in_state(db, "done"), 4);
    sqlite3_close(db);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}

TEST_TIMEOUT(events_master_from_another_process_with_hour_polls, 120)
{
    ac_harness_t h;
    struct night nt;
    sqlite3 *db;

    ac_harness_init(&h);
    make_night(&nt, 3, DW, DH);
    make_catalogue(&h, &nt, "bf"); /* the dark comes later */
    ASSERT_OK(ac_harness_write_config(
        &h, (const char *[]){HOUR_POLLS,
                             "AUTO_CALIBRATION.auto_calibrate_on_master_creation=True", NULL}));
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    db = open_db(&h);
    add_master(db, "dark", nt.dark, NULL); /* AstroFiler registers the dark */
    sqlite3_close(db);
    long long t0 = ac_harness_now_ms();
    ASSERT(wait_done(&h, 3, 30000));
    printf("commit of the dark to 3 files done: %lld ms\n", ac_harness_now_ms() - t0);
    ASSERT_EQ(ac_harness_stop(&h, 30000), 0);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}

TEST_TIMEOUT(events_import_starts_calibration_with_hour_polls, 120)
{
    ac_harness_t h;
    struct night nt;
    char *out = NULL;
    sqlite3 *db;

    ac_harness_init(&h);
    make_night(&nt, 3, DW, DH);
    ASSERT_OK(ac_harness_write_config(&h, (const char *[]){HOUR_POLLS, NULL}));
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    long long t0 = ac_harness_now_ms();
    ASSERT_EQ(ac_harness_ctl(&h, &out, NULL, "import", nt.dir, NULL), 0);
    ASSERT_CONTAINS(out, "registered 3");
    free(out);
    ASSERT(wait_done(&h, 3, 30000));
    printf("import to 3 files done: %lld ms\n", ac_harness_now_ms() - t0);
    ASSERT_EQ(ac_harness_stop(&h, 30000), 0);
    /* The masters' MD5s, computed by the import, were not read again for the set. */
    ASSERT_EQ(ac_harness_log_count(&h, "masters ready (bias, dark, flat)"), 1);
    ASSERT_EQ(ac_harness_log_count(&h, "0 MD5s read, 3 known from this process's own hashing"),
              1);
    db = open_db(&h);
    ASSERT_EQ(count_calibrated_rows(db), 3);
    sqlite3_close(db);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}

TEST_TIMEOUT(events_periodic_scan_of_an_unchanged_catalogue_is_skipped, 120)
{
    ac_harness_t h;
    struct night nt;
    sqlite3 *db;
    int passes, skipped;

    ac_harness_init(&h);
    make_night(&nt, 2, DW, DH);
    make_catalogue(&h, &nt, "bdf");
    ASSERT_OK(ac_harness_write_config(
        &h, (const char *[]){"DAEMON.scan_interval_s=1", "DAEMON.log_level=debug", NULL}));
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    ASSERT(wait_done(&h, 2, 30000));
    /* Nothing changes: after the scan that follows the work, the scans are skipped. */
    for (int i = 0; i < 100 && ac_harness_log_count(&h, "periodic scan skipped") < 2; i++)
        usleep(100000);
    ASSERT(ac_harness_log_count(&h, "periodic scan skipped") >= 2);
    passes = ac_harness_log_count(&h, "planning pass (all)");
    /* Another process commits: the next scan runs. */
    db = open_db(&h);
    afdb_exec(db, "UPDATE fitssession SET fitsSessionTelescope = 'C14' WHERE 0");
    afdb_exec(db, "INSERT INTO mapping (card, current, replace) VALUES ('X', 'a', 'b')");
    sqlite3_close(db);
    skipped = ac_harness_log_count(&h, "periodic scan skipped");
    for (int i = 0; i < 100 && ac_harness_log_count(&h, "planning pass (all)") == passes; i++)
        usleep(100000);
    ASSERT(ac_harness_log_count(&h, "planning pass (all)") > passes);
    printf("scans skipped before the commit: %d\n", skipped);
    ASSERT_EQ(ac_harness_stop(&h, 30000), 0);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}

/* planning_read: a night in a catalogue in journal mode `mode`; after the work, a reload
 * asks for a full pass: on a WAL catalogue its read runs on a pool thread (the loop answers
 * meanwhile), on a rollback journal on the loop (a reader there would hold off the
 * daemon's writes); the outcome is the same. */
static void planning_read(const char *mode, bool on_pool)
{
    ac_harness_t h;
    struct night nt;
    sqlite3 *db;
    json_t *r;

    ac_harness_init(&h);
    make_night(&nt, 2, DW, DH);
    make_catalogue(&h, &nt, "bdf");
    db = open_db(&h);
    if (strcmp(mode, "wal") != 0)
        afdb_exec(db, "PRAGMA journal_mode=DELETE");
    sqlite3_close(db);
    ASSERT_OK(ac_harness_write_config(&h, (const char *[]){"DAEMON.log_level=debug", NULL}));
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    ASSERT(wait_done(&h, 2, 30000));
    kill(h.pid, SIGHUP);
    for (int i = 0; i < 300 && ac_harness_log_count(&h, "planning pass (all)") < 2; i++)
        usleep(100000);
    ASSERT(ac_harness_log_count(&h, "planning pass (all)") >=
           2); /* the first, and the reload's */
    ASSERT_EQ(ac_harness_log_count(&h, "planning read on a pool thread") > 0, on_pool);
    r = ac_harness_request(&h, "status", NULL, 5000);
    ASSERT_EQ(json_integer_value(json_object_get(
                  json_object_get(json_object_get(r, "result"), "files"), "done")),
              2);
    json_decref(r);
    ASSERT_EQ(ac_harness_stop(&h, 30000), 0);
    db = open_db(&h);
    ASSERT_EQ(count_calibrated_rows(db), 2);
    sqlite3_close(db);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}

TEST_TIMEOUT(events_planning_reads_on_a_pool_thread_in_wal_mode, 120)
{
    planning_read("wal", true);
}

TEST_TIMEOUT(events_planning_reads_on_the_loop_with_a_rollback_journal, 120)
{
    planning_read("delete", false);
}
