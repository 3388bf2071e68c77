/*
 * test-sessions.c - what the operator and AstroFiler see of a session (issue 10, items 1,
 * 2, 7, 8), through the real daemon on a catalogue with AstroFiler's schema:
 *   - AstroFiler's session fields, read back by AstroFiler's own peewee models (its
 *     schema, its column types: ../shared/peers/astrofiler), name the calibration session a
 *     master came from, and stay empty where a master has none (astrocald says why);
 *   - a session whose lights all fail is `failed`, one where some fail `partial`: in
 *     `sessions` (and --state), `status`, the log line, STATUS= and the history;
 *   - `history` lists each attempt and outcome; old history is pruned at start-up;
 *   - cancel FILE and cancel --all; a master another program adds does not release a
 *     waiting session without auto_calibrate_on_master_creation (enqueue does).
 * Needs /usr/bin/python3 with peewee (.ci/setup installs python3-peewee).
 */
#include <sqlite3.h>

#include "afdb.h"
#include "nightfix.h"
#include "support.h"

#define SW 128
#define SH 96

/* AstroFiler's models on the harness's catalogue: the light session's fields, one per
 * line as "name value". The master_*_created flags are not in AstroFiler's model class, so
 * they are added with the type AstroFiler's migration 008 declares. */
static const char *const af_read =
    "import sys, logging\n"
    "logging.disable(logging.CRITICAL)\n"
    "sys.path.insert(0, sys.argv[1])\n"
    "import peewee as pw\n"
    "from astrofiler.models import fitsSession\n"
    "for k in ('dark', 'flat', 'bias'):\n"
    "    fitsSession._meta.add_field('master_%s_created' % k,\n"
    "                                pw.BooleanField(null=True, default=False))\n"
    "for sid in sys.argv[2:]:\n"
    "    s = fitsSession.get_by_id(sid)\n"
    "    for f in ('fitsBiasSession', 'fitsDarkSession', 'fitsFlatSession',\n"
    "              'is_auto_calibration', 'auto_calibration_bias_session_id',\n"
    "              'auto_calibration_dark_session_id', 'auto_calibration_flat_session_id',\n"
    "              'master_bias_created', 'master_dark_created', 'master_flat_created'):\n"
    "        print(sid, f, repr(getattr(s, f)))\n";

/* af_fields runs af_read on the sessions (space-separated ids); output owned by caller. */
static char *af_fields(ac_harness_t *h, const char *ids)
{
    char cmd[4096], *out;
    FILE *p;
    size_t len = 0, cap = 65536;
    int rc;

    snprintf(cmd, sizeof cmd,
             "ASTROFILER_DB_PATH='%s' /usr/bin/python3 -c \"$AF_READ\" "
             "%s/../shared/peers/astrofiler/src %s 2>af.err",
             h->database, ac_test_srcdir(), ids);
    setenv("AF_READ", af_read, 1);
    out = calloc(1, cap);
    ASSERT_NOT_NULL(out);
    p = popen(cmd, "r");
    ASSERT_NOT_NULL(p);
    while (len + 1 < cap && fgets(out + len, (int)(cap - len), p) != NULL)
        len += strlen(out + len);
    rc = pclose(p);
    if (rc != 0) {
        system("tail -5 af.err >&2");
        AC_TEST_FAIL("AstroFiler's models did not read the catalogue (exit %d): needs "
                     "/usr/bin/python3 with peewee (.ci/setup)",
                     rc);
    }
    return out;
}

/* catalogue: the night's lights as session S-1, calibration sessions D-1 (Dark) and F-1
 * (Flat, with no master), and masters: a dark from D-1, a flat whose source session is
 * not in the catalogue, a bias with no source session. */
static void catalogue(ac_harness_t *h, struct night *nt, bool flat)
{
    sqlite3 *db = afdb_create(h->database, AFDB_MIGRATED);

    add_lights(db, nt);
    afdb_add_session(db, "D-1", "Dark", "2024-03-14", "300.0", "-10.0", NULL);
    afdb_add_session(db, "F-1", "Flat", "2024-03-14", "2.0", "-10.0", "L");
    add_master_from(db, "bias", nt->bias, NULL, NULL);
    add_master_from(db, "dark", nt->dark, NULL, "D-1");
    if (flat)
        add_master_from(db, "flat", nt->flat, NULL, "F-GONE");
    sqlite3_close(db);
}

/* spoil overwrites a light with text: no FITS header can be read from it. */
static void spoil(const char *path)
{
    FILE *f = fopen(path, "w");

    ASSERT_NOT_NULL(f);
    fputs("not a FITS file\n", f);
    fclose(f);
}

/* session_json returns S-1's entry of `sessions` (args may be NULL), or NULL. */
static json_t *session_json(ac_harness_t *h, json_t *args)
{
    json_t *r = ac_harness_result(ac_harness_request(h, "sessions", args, 5000));
    json_t *s = json_incref(json_array_get(json_object_get(r, "sessions"), 0));

    json_decref(r);
    return s;
}

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* drain runs the daemon with --drain (config overrides) and waits for it to exit 0. */
static void drain(ac_harness_t *h, const char *const *config)
{
    ASSERT_OK(ac_harness_write_config(h, config));
    ASSERT_OK(ac_harness_start(h, (const char *[]){"--drain", NULL}));
    ASSERT_OK(ac_harness_wait_ready(h, 30000));
    ASSERT_EQ(wait_exit(h, 90000), 0);
}

TEST_TIMEOUT(sessions_astrofiler_fields_read_by_its_models, 150)
{
    ac_harness_t h;
    struct night nt;
    sqlite3 *db;
    char *out, buf[2048];

    ac_harness_init(&h);
    make_night(&nt, 2, SW, SH);
    catalogue(&h, &nt, true);
    drain(&h, NULL);
    db = open_db(&h);
    ASSERT_EQ(count_calibrated_rows(db), 2);
    /* astrocald's own record says where each master came from, or why it has no session. */
    ASSERT_NOT_NULL(afdb_text(db,
                              "SELECT links_json FROM astrocal_session WHERE session_id = ?1",
                              "S-1", buf, sizeof buf));
    fprintf(stderr, "links_json %s\n", buf);
    ASSERT_CONTAINS(buf, "\"session\":\"D-1\"");
    ASSERT_CONTAINS(buf, "the master has no source session");
    ASSERT_CONTAINS(buf, "source session F-GONE is not in the catalogue");
    sqlite3_close(db);

    out = af_fields(&h, "S-1 D-1");
    fprintf(stderr, "%s", out);
    /* The dark came from D-1: linked both ways AstroFiler reads it. */
    ASSERT_CONTAINS(out, "S-1 fitsDarkSession 'D-1'\n");
    ASSERT_CONTAINS(out, "S-1 auto_calibration_dark_session_id 'D-1'\n");
    /* Bias and flat have no (known) source session: left empty, not invented. */
    ASSERT_CONTAINS(out, "S-1 fitsBiasSession None\n");
    ASSERT_CONTAINS(out, "S-1 fitsFlatSession None\n");
    ASSERT_CONTAINS(out, "S-1 auto_calibration_bias_session_id None\n");
    ASSERT_CONTAINS(out, "S-1 auto_calibration_flat_session_id None\n");
    /* A master of each kind is used; the lights were calibrated automatically. */
    ASSERT_CONTAINS(out, "S-1 master_dark_created True\n");
    ASSERT_CONTAINS(out, "S-1 master_flat_created True\n");
    ASSERT_CONTAINS(out, "S-1 is_auto_calibration True\n");
    /* The calibration session itself is not flagged: astrocald built no master from it. */
    ASSERT_NULL(strstr(out, "D-1 master_dark_created True"));
    ASSERT_NULL(strstr(out, "D-1 is_auto_calibration True"));
    free(out);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}

TEST_TIMEOUT(sessions_all_unreadable_is_failed_everywhere, 150)
{
    ac_harness_t h;
    struct night nt;
    char *out = NULL, *log;
    json_t *s, *r;

    ac_harness_init(&h);
    make_night(&nt, 3, SW, SH);
    catalogue(&h, &nt, true);
    for (int i = 0; i < nt.n; i++)
        spoil(nt.light[i]);
    ASSERT_OK(ac_harness_notify_open(&h));
    ASSERT_OK(ac_harness_write_config(&h, NULL));
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 30000));
    ASSERT(wait_state(&h, "failed", 3, 30000));
    /* Listed, failed, with the count and the reason. */
    s = session_json(&h, NULL);
    ASSERT_NOT_NULL(s);
    ASSERT_STR_EQ(jstr(s, "state"), "failed");
    ASSERT_CONTAINS(jstr(s, "reason"), "3 of 3 lights failed, most often (");
    ASSERT_CONTAINS(jstr(s, "reason"), "unreadable at planning");
    json_decref(s);
    /* --state filters. */
    ASSERT_EQ(ac_harness_ctl(&h, &out, NULL, "sessions", "--state", "failed", NULL), 0);
    ASSERT_CONTAINS(out, "S-1");
    ASSERT_CONTAINS(out, "failed");
    free(out);
    ASSERT_EQ(ac_harness_ctl(&h, &out, NULL, "sessions", "--state", "done", NULL), 0);
    ASSERT_CONTAINS(out, "no light sessions");
    free(out);
    ASSERT_EQ(ac_harness_ctl(&h, &out, NULL, "sessions", "--state", "bogus", NULL), 1);
    free(out);
    /* status counts it as failed, not done; STATUS= and the log line say so. */
    r = ac_harness_result(ac_harness_request(&h, "status", NULL, 5000));
    ASSERT_EQ(json_integer_value(json_object_get(json_object_get(r, "sessions"), "failed")), 1);
    ASSERT_EQ(json_integer_value(json_object_get(json_object_get(r, "sessions"), "done")), 0);
    ASSERT_CONTAINS(jstr(r, "last_session"), "session S-1 failed (0 calibrated, 3 failed)");
    json_decref(r);
    ASSERT_NOT_NULL(ac_harness_notify_wait(&h, "STATUS=", 5000));
    ASSERT_CONTAINS(ac_harness_notify_last(&h, "STATUS="), "last session S-1 failed");
    log = ac_harness_read_file(h.log_path);
    ASSERT_CONTAINS(log, "session S-1 failed: 0 calibrated, 3 failed (3 of 3 lights failed");
    free(log);
    /* The history has the session's end and why each light failed. */
    ASSERT_EQ(ac_harness_ctl(&h, &out, NULL, "history", "S-1", NULL), 0);
    ASSERT_CONTAINS(out, "unreadable");
    ASSERT_CONTAINS(out, "session_done");
    free(out);
    ASSERT_EQ(ac_harness_stop(&h, 10000), 0);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}

TEST_TIMEOUT(sessions_partial_and_history_lists_each_attempt, 150)
{
    ac_harness_t h;
    struct night nt;
    char *out = NULL, *err = NULL;
    json_t *r, *ev;
    size_t i;
    int attempts = 0, calibrated = 0, failed = 0, done = 0;

    ac_harness_init(&h);
    make_night(&nt, 3, SW, SH);
    catalogue(&h, &nt, true);
    /* The first light reads (planning reads only it): the last one fails when it runs. */
    spoil(nt.light[2]);
    ASSERT_OK(ac_harness_write_config(&h, NULL));
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 30000));
    ASSERT(wait_done(&h, 2, 60000));
    ASSERT(wait_state(&h, "failed", 1, 30000));
    r = session_json(&h, NULL);
    ASSERT_STR_EQ(jstr(r, "state"), "partial");
    ASSERT_CONTAINS(jstr(r, "reason"), "1 of 3 lights failed");
    json_decref(r);
    r = ac_harness_result(
        ac_harness_request(&h, "history", json_pack("{s:s}", "id", "S-1"), 5000));
    ASSERT_NOT_NULL(r);
    json_array_foreach(json_object_get(r, "events"), i, ev)
    {
        const char *k = jstr(ev, "kind");
        attempts += strcmp(k, "attempt") == 0;
        calibrated += strcmp(k, "calibrated") == 0;
        failed += strcmp(k, "failed") == 0;
        if (strcmp(k, "session_done") == 0) {
            done++;
            ASSERT_STR_EQ(jstr(json_object_get(ev, "detail"), "state"), "partial");
        }
    }
    json_decref(r);
    /* Every light was tried once (a broken FITS file is not retried), two calibrated, one
     * failed, one end of the session. */
    ASSERT_EQ(attempts, 3);
    ASSERT_EQ(calibrated, 2);
    ASSERT_EQ(failed, 1);
    ASSERT_EQ(done, 1);
    /* One file's history: its attempt and its failure, with the error. */
    ASSERT_EQ(ac_harness_ctl(&h, &out, NULL, "history", nt.light_id[2], NULL), 0);
    ASSERT_CONTAINS(out, "attempt 1");
    ASSERT_CONTAINS(out, "failed");
    free(out);
    ASSERT_EQ(ac_harness_ctl(&h, &out, NULL, "--json", "history", nt.light_id[0], NULL), 0);
    ASSERT_CONTAINS(out, "\"kind\":\"calibrated\"");
    free(out);
    ASSERT_EQ(ac_harness_ctl(&h, &out, &err, "history", "no-such-id", NULL), 1);
    ASSERT_CONTAINS(err, "no session or file 'no-such-id'");
    free(out);
    free(err);
    ASSERT_EQ(ac_harness_stop(&h, 10000), 0);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}

TEST_TIMEOUT(sessions_cancel_one_file_then_everything, 120)
{
    ac_harness_t h;
    struct night nt;
    char *out = NULL, *err = NULL;
    json_t *s;
    sqlite3 *db;

    ac_harness_init(&h);
    make_night(&nt, 3, SW, SH);
    catalogue(&h, &nt, true);
    /* Not started by itself; the queue is paused before it is queued: nothing runs. */
    ASSERT_OK(ac_harness_write_config(
        &h, (const char *[]){"AUTO_CALIBRATION.enable_light_calibration=False", NULL}));
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 30000));
    ASSERT_EQ(ac_harness_ctl(&h, NULL, NULL, "pause", NULL), 0);
    ASSERT_EQ(ac_harness_ctl(&h, NULL, NULL, "enqueue", "S-1", NULL), 0);
    ASSERT(wait_state(&h, "pending", 3, 10000));
    ASSERT_EQ(ac_harness_ctl(&h, &out, NULL, "cancel", "--file", nt.light_id[0], NULL), 0);
    ASSERT_CONTAINS(out, "cancelled");
    free(out);
    /* Cancelling it again is refused: it is no longer pending or running. */
    ASSERT_EQ(ac_harness_ctl(&h, &out, &err, "cancel", "--file", nt.light_id[0], NULL), 1);
    ASSERT_CONTAINS(err, "not pending or running");
    free(out);
    free(err);
    db = open_db(&h);
    ASSERT_EQ(files_in_state(db, "cancelled"), 1);
    ASSERT_EQ(files_in_state(db, "pending"), 2);
    sqlite3_close(db);
    s = session_json(&h, NULL);
    ASSERT_STR_EQ(jstr(s, "state"), "queued");
    json_decref(s);
    ASSERT_EQ(ac_harness_ctl(&h, &out, NULL, "cancel", "--all", NULL), 0);
    ASSERT_CONTAINS(out, "every unfinished session cancelled: 2 files");
    free(out);
    db = open_db(&h);
    ASSERT_EQ(files_in_state(db, "cancelled"), 3);
    ASSERT_EQ(afdb_int(db, "SELECT count(*) FROM astrocal_session WHERE state = 'cancelled'",
                       NULL, -1),
              1);
    sqlite3_close(db);
    ASSERT_EQ(ac_harness_ctl(&h, &out, NULL, "history", nt.light_id[1], NULL), 0);
    ASSERT_CONTAINS(out, "cancelled by the operator");
    free(out);
    ASSERT_EQ(ac_harness_stop(&h, 10000), 0);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}

TEST_TIMEOUT(sessions_new_master_waits_for_enqueue_without_auto_calibrate, 120)
{
    ac_harness_t h;
    struct night nt;
    sqlite3 *db;
    json_t *s;

    ac_harness_init(&h);
    make_night(&nt, 2, SW, SH);
    catalogue(&h, &nt, false); /* no flat: S-1 waits for one */
    ASSERT_OK(ac_harness_write_config(&h, (const char *[]){"DAEMON.scan_interval_s=1", NULL}));
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 30000));
    s = session_json(&h, NULL);
    ASSERT_STR_EQ(jstr(s, "state"), "waiting");
    json_decref(s);
    /* Another program adds the flat; several periodic scans pass. */
    db = open_db(&h);
    add_master_from(db, "flat", nt.flat, NULL, NULL);
    sqlite3_close(db);
    for (int i = 0; i < 40; i++) {
        s = session_json(&h, NULL);
        bool held = s != NULL && strstr(jstr(s, "reason") ?: "", "arrived") != NULL;
        json_decref(s);
        if (held)
            break;
        ac_harness_sleep_ms(100);
    }
    ac_harness_sleep_ms(2500);
    s = session_json(&h, NULL);
    ASSERT_STR_EQ(jstr(s, "state"), "waiting");
    ASSERT_CONTAINS(jstr(s, "reason"), "waiting for astrocalctl enqueue");
    json_decref(s);
    db = open_db(&h);
    ASSERT_EQ(count_calibrated_rows(db), 0);
    sqlite3_close(db);
    /* enqueue starts it. */
    ASSERT_EQ(ac_harness_ctl(&h, NULL, NULL, "enqueue", "S-1", NULL), 0);
    ASSERT(wait_done(&h, 2, 60000));
    ASSERT_EQ(ac_harness_stop(&h, 10000), 0);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}

TEST_TIMEOUT(sessions_old_history_is_pruned_after_start, 90)
{
    ac_harness_t h;
    struct night nt;
    sqlite3 *db;
    long long t0;

    ac_harness_init(&h);
    make_night(&nt, 1, SW, SH);
    catalogue(&h, &nt, false);
    /* An astrocald catalogue from before: the daemon migrates it, then 30 events of 2001. */
    ASSERT_OK(ac_harness_write_config(&h, NULL));
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 30000));
    ASSERT_EQ(ac_harness_stop(&h, 10000), 0);
    db = open_db(&h);
    for (int i = 0; i < 30; i++)
        afdb_exec(db, "INSERT INTO astrocal_event (at, kind, session_id, message) VALUES "
                      "('2001-01-01 00:00:00.000000', 'operator', 'S-1', 'old')");
    sqlite3_close(db);
    forget_notify(&h);
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 30000));
    t0 = ac_harness_now_ms();
    for (;;) {
        db = open_db(&h);
        long long old =
            afdb_int(db, "SELECT count(*) FROM astrocal_event WHERE at < '2002'", NULL, -1);
        long long recent =
            afdb_int(db, "SELECT count(*) FROM astrocal_event WHERE at >= '2002'", NULL, -1);
        sqlite3_close(db);
        if (old == 0) {
            ASSERT(recent > 0); /* this run's planning is kept */
            break;
        }
        ASSERT(ac_harness_now_ms() - t0 < 20000);
        ac_harness_sleep_ms(200);
    }
    ASSERT_EQ(ac_harness_stop(&h, 10000), 0);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}
