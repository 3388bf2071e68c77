/*
 * test-pin-recal.c - manual masters and recalibration on the real daemon (issue 10, items
 * 3 and 4), on a catalogue with AstroFiler's schema: a pinned dark is used although a
 * closer one exists and `use --auto` returns to the closer one; mismatches need --force
 * and fatal ones are refused; `recalibrate` with a better flat replaces every output in
 * place (one row per light, same fitsFileId, hash of the file on disk) with pixels that
 * match the synthetic truth, and a recalibration SIGKILLed at random moments always leaves
 * each light with its old or its new calibration, consistently.
 */
#include <math.h>
#include <sqlite3.h>

#include "afdb.h"
#include "nightfix.h"
#include "support.h"
#include "tools.h"

#define PW 256
#define PH 192

/* write_master writes a master of type (AstroFiler style, 16-bit) from g to rel with
 * DATE-OBS date and CCD-TEMP temp (NAN: the set point); path receives its absolute path. */
static void write_master(ac_gen_t *g, ac_gen_type_t type, const char *rel, const char *date,
                         double temp, char *path, size_t size)
{
    ac_gen_frame_t f;
    ac_err_t e = {0};

    ac_gen_frame_default(&f, type);
    f.master = AC_GEN_MASTER_ASTROFILER;
    f.ncombine = 20;
    f.date_obs = date;
    if (isfinite(temp))
        f.ccd_temp = temp;
    abspath(path, size, rel);
    if (ac_gen_write_frame(g, &f, path, &e) != 0)
        AC_TEST_FAIL("%s: %s", rel, e.msg);
}

/* other_camera builds nightfix's camera (seed 7, C14 / ASI294MM) with changes: a wider
 * sensor (dw), no vignetting (flat_field), another set point (set_temp, C). */
static ac_gen_t *other_camera(int dw, bool flat_field, double set_temp)
{
    ac_gen_camera_t cam;
    ac_gen_t *g;

    ac_gen_camera_default(&cam, 7);
    cam.width = PW + dw;
    cam.height = PH;
    snprintf(cam.instrume, sizeof cam.instrume, "ZWO ASI294MM Pro");
    snprintf(cam.telescop, sizeof cam.telescop, "C14");
    if (flat_field)
        cam.vignette_min = 1.0;
    cam.set_temp = set_temp;
    g = ac_gen_new(&cam, NULL);
    ASSERT_NOT_NULL(g);
    return g;
}

/* ctl runs astrocalctl with up to 6 arguments; returns its exit status, *out its output
 * and then its error output. */
static int ctl(ac_harness_t *h, char **out, const char *a0, const char *a1, const char *a2,
               const char *a3, const char *a4, const char *a5)
{
    char *o = NULL, *err = NULL;
    int rc = ac_harness_ctl(h, &o, &err, a0, a1, a2, a3, a4, a5, NULL);

    ASSERT(asprintf(out, "%s%s", o ? o : "", err ? err : "") >= 0);
    free(o);
    free(err);
    return rc;
}

/* chosen reads `plan S-1`'s chosen master of kind: its path into buf, *pinned. */
static const char *chosen(ac_harness_t *h, const char *kind, bool *pinned, char *buf, size_t n)
{
    char *out = NULL;
    json_t *r, *c;

    ASSERT_EQ(ctl(h, &out, "--json", "plan", "S-1", NULL, NULL, NULL), 0);
    r = json_loads(out, 0, NULL);
    ASSERT_NOT_NULL(r);
    c = json_object_get(
        json_object_get(json_array_get(json_object_get(r, "plans"), 0), "chosen"), kind);
    ASSERT(json_is_object(c));
    snprintf(buf, n, "%s", json_string_value(json_object_get(c, "path")));
    *pinned = json_is_true(json_object_get(c, "pinned"));
    json_decref(r);
    free(out);
    return buf;
}

/* record_count counts the lights whose calibration record names master (column col). */
static long long record_count(ac_harness_t *h, const char *col, const char *master)
{
    char sql[200];
    sqlite3 *db = open_db(h);
    long long n;

    snprintf(sql, sizeof sql, "SELECT count(*) FROM astrocal_record WHERE %s = ?1", col);
    n = afdb_int(db, sql, master, -1);
    sqlite3_close(db);
    return n;
}

/* wait_records polls until n records name master in col and no file is being
 * recalibrated or keeps a backup. */
static void wait_records(ac_harness_t *h, const char *col, const char *master, long long n)
{
    long long t0 = ac_harness_now_ms();

    for (;;) {
        sqlite3 *db = open_db(h);
        long long busy = afdb_int(db,
                                  "SELECT count(*) FROM astrocal_file WHERE recal_output IS "
                                  "NOT NULL OR recal_backup IS NOT NULL OR state <> 'done'",
                                  NULL, -1);
        sqlite3_close(db);
        if (busy == 0 && record_count(h, col, master) == n)
            return;
        if (ac_harness_now_ms() - t0 > 90000) {
            ac_harness_dump_log(h);
            AC_TEST_FAIL("%lld records with %s = %s not reached", n, col, master);
        }
        ac_harness_notify_poll(h, 100);
    }
}

TEST_TIMEOUT(pin_dark_used_over_closer_one_and_auto_returns, 180)
{
    ac_harness_t h;
    struct night nt;
    ac_gen_t *wide, *warmcam;
    char old[1100], warm[1100], big[1100], buf[1100], id[32], *out = NULL;
    long long id_warm;
    bool pinned;
    sqlite3 *db;

    ac_harness_init(&h);
    make_night(&nt, 4, PW, PH);
    make_catalogue(&h, &nt, "bdf");
    /* Darks besides the night's (a day before the lights): one 14 days older, one taken
     * 20 C warmer, one from a wider sensor. */
    write_master(nt.g, AC_GEN_DARK, "night/old_dark.fits", "2024-03-01T20:00:00", NAN, old,
                 sizeof old);
    warmcam = other_camera(0, false, 10.0);
    write_master(warmcam, AC_GEN_DARK, "night/warm_dark.fits", "2024-03-14T20:00:00", NAN, warm,
                 sizeof warm);
    wide = other_camera(16, false, -10.0);
    write_master(wide, AC_GEN_DARK, "night/wide_dark.fits", "2024-03-14T20:00:00", NAN, big,
                 sizeof big);
    db = open_db(&h);
    add_master(db, "dark", old, NULL);
    id_warm = add_master(db, "dark", warm, NULL);
    add_master(db, "dark", big, NULL);
    sqlite3_close(db);
    ASSERT_OK(ac_harness_write_config(
        &h, (const char *[]){"AUTO_CALIBRATION.enable_light_calibration=False", NULL}));
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));

    ASSERT_STR_EQ(chosen(&h, "dark", &pinned, buf, sizeof buf), nt.dark); /* the closer */
    ASSERT(!pinned);
    ASSERT_EQ(ctl(&h, &out, "use", "S-1", "--dark", old, NULL, NULL), 0);
    ASSERT_CONTAINS(out, "dark pinned to #");
    free(out);
    ASSERT_STR_EQ(chosen(&h, "dark", &pinned, buf, sizeof buf), old);
    ASSERT(pinned);
    ASSERT_EQ(ctl(&h, &out, "plan", "S-1", NULL, NULL, NULL, NULL), 0);
    ASSERT_CONTAINS(out, "(pinned)");
    free(out);

    /* 20 C warmer: a mismatch --force accepts, and records. */
    snprintf(id, sizeof id, "%lld", id_warm);
    ASSERT_EQ(ctl(&h, &out, "use", "S-1", "--dark", id, NULL, NULL), 1);
    ASSERT_CONTAINS(out, "--force accepts it");
    ASSERT_CONTAINS(out, "master CCD-TEMP 10.0 C: 20.1 C apart (> 5.0)");
    free(out);
    ASSERT_STR_EQ(chosen(&h, "dark", &pinned, buf, sizeof buf), old); /* unchanged */
    /* Another sensor size: refused even with --force. */
    ASSERT_EQ(ctl(&h, &out, "use", "S-1", "--dark", big, "--force", NULL), 1);
    ASSERT_CONTAINS(out, "size 272x192 != 256x192");
    ASSERT_CONTAINS(out, "cannot be overridden");
    free(out);
    ASSERT_EQ(ctl(&h, &out, "use", "S-1", "--dark", id, "--force", NULL), 0);
    ASSERT_CONTAINS(out, "forced over: light CCD-TEMP -10.1 C vs master CCD-TEMP 10.0 C");
    free(out);
    db = open_db(&h);
    ASSERT_EQ(
        afdb_int(
            db,
            "SELECT count(*) FROM astrocal_pin WHERE session_id = 'S-1' AND type = "
            "'dark' AND forced = 1 AND override LIKE '%master CCD-TEMP 10.0 C: 20.1 C apart%'",
            NULL, -1),
        1);
    sqlite3_close(db);

    /* --auto returns to the closer dark. */
    ASSERT_EQ(ctl(&h, &out, "use", "S-1", "--auto", NULL, NULL, NULL), 0);
    ASSERT_CONTAINS(out, "1 pinned masters removed");
    free(out);
    ASSERT_STR_EQ(chosen(&h, "dark", &pinned, buf, sizeof buf), nt.dark);
    ASSERT(!pinned);

    /* Pinned again and calibrated: every light used the older dark. */
    ASSERT_EQ(ctl(&h, &out, "use", "S-1", "--dark", old, NULL, NULL), 0);
    free(out);
    if (ctl(&h, &out, "enqueue", "S-1", NULL, NULL, NULL, NULL) != 0)
        AC_TEST_FAIL("enqueue: %s", out);
    free(out);
    ASSERT(wait_done(&h, 4, 90000));
    ASSERT_EQ(record_count(&h, "dark_path", old), 4);
    db = open_db(&h);
    ASSERT_EQ(
        afdb_int(db, "SELECT count(*) FROM fitsfile WHERE fitsFileMasterDark = ?1", old, -1),
        4);
    sqlite3_close(db);

    /* --auto, then recalibrate: the closer dark again, in place. */
    ASSERT_EQ(ctl(&h, &out, "use", "S-1", "--auto", NULL, NULL, NULL), 0);
    free(out);
    ASSERT_EQ(ctl(&h, &out, "recalibrate", "S-1", NULL, NULL, NULL, NULL), 0);
    ASSERT_CONTAINS(out, "recalibrating 4 files");
    free(out);
    wait_records(&h, "dark_path", nt.dark, 4);
    /* The history has every override and the recalibration (event.h), and shows them. */
    ASSERT_EQ(ctl(&h, &out, "history", "S-1", NULL, NULL, NULL, NULL), 0);
    ASSERT_CONTAINS(out, "with --force, overriding: light CCD-TEMP -10.1 C vs master");
    ASSERT_CONTAINS(out, "masters chosen automatically");
    ASSERT_CONTAINS(out, "recalibration requested: 4 files");
    free(out);
    db = open_db(&h);
    ASSERT_EQ(afdb_int(db,
                       "SELECT count(*) FROM astrocal_event WHERE kind = 'override' AND "
                       "session_id = 'S-1'",
                       NULL, -1),
              5); /* old, warm (forced), auto, old, auto; the refusals none */
    ASSERT_EQ(afdb_int(db,
                       "SELECT count(*) FROM astrocal_event WHERE kind = 'recalibrate' AND "
                       "file_id IS NOT NULL",
                       NULL, -1),
              4);
    ASSERT_EQ(count_calibrated_rows(db), 4);
    ASSERT_EQ(afdb_int(db, "SELECT count(*) FROM fitsfile WHERE fitsFileMasterDark = ?1",
                       nt.dark, -1),
              4);
    sqlite3_close(db);
    ASSERT_EQ(ac_harness_stop(&h, 20000), 0);
    ac_gen_free(wide);
    ac_gen_free(warmcam);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}

/* wait_chosen polls `plan S-1` until the chosen dark is want (and pinned as expected). */
static void wait_chosen(ac_harness_t *h, const char *want, bool want_pinned)
{
    long long t0 = ac_harness_now_ms();
    char buf[1100];
    bool pinned;

    while (strcmp(chosen(h, "dark", &pinned, buf, sizeof buf), want) != 0 ||
           pinned != want_pinned) {
        if (ac_harness_now_ms() - t0 > 30000) {
            ac_harness_dump_log(h);
            AC_TEST_FAIL("the chosen dark is %s (pinned %d), not %s", buf, pinned, want);
        }
        ac_harness_notify_poll(h, 100);
    }
}

/* A dark session linked by the user in AstroFiler (fitssession.fitsDarkSession, written as
 * AstroFiler's model saves it) after astrocald saw the session is honoured like a pin: its
 * master is used although a closer dark exists; clearing the link returns to the closer
 * one. A link astrocald itself wrote is not taken for the user's. */
TEST_TIMEOUT(pin_astrofiler_dark_session_link_is_honoured, 120)
{
    ac_harness_t h;
    struct night nt;
    char old[1100];
    afdb_master_t m = {0};
    sqlite3 *db;
    long long t0;

    ac_harness_init(&h);
    make_night(&nt, 2, PW, PH);
    make_catalogue(&h, &nt, "bdf");
    write_master(nt.g, AC_GEN_DARK, "night/old_dark.fits", "2024-03-01T20:00:00", NAN, old,
                 sizeof old);
    db = open_db(&h);
    afdb_add_session(db, "D-OLD", "Dark", "2024-03-01", "300.0", "-10.0", NULL);
    m.master_id = "dark_C14_20240301_200000";
    m.type = "dark";
    m.path = old;
    m.telescope = "Unknown";
    m.instrument = "ZWO ASI294MM Pro";
    m.exposure = "300.0";
    m.xbin = m.ybin = "1";
    m.ccd_temp = "-10.0";
    m.source_session = "D-OLD";
    m.file_count = 20;
    m.is_validated = 1;
    afdb_add_master(db, &m);
    sqlite3_close(db);
    ASSERT_OK(ac_harness_write_config(
        &h, (const char *[]){"AUTO_CALIBRATION.enable_light_calibration=False", NULL}));
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    /* astrocald has seen the session (and its links, none) once it planned it. */
    for (t0 = ac_harness_now_ms();;) {
        db = open_db(&h);
        long long seen = afdb_int(db,
                                  "SELECT count(*) FROM astrocal_link WHERE session_id = "
                                  "'S-1'",
                                  NULL, 0);
        sqlite3_close(db);
        if (seen == 1)
            break;
        ASSERT(ac_harness_now_ms() - t0 < 30000);
        ac_harness_notify_poll(&h, 100);
    }
    wait_chosen(&h, nt.dark, false);

    db = open_db(&h);
    afdb_exec(db, "UPDATE fitssession SET fitsDarkSession = 'D-OLD' WHERE fitsSessionId = "
                  "'S-1'");
    sqlite3_close(db);
    wait_chosen(&h, old, true);
    db = open_db(&h);
    ASSERT_EQ(afdb_int(db,
                       "SELECT count(*) FROM astrocal_pin WHERE session_id = 'S-1' AND type = "
                       "'dark' AND source = 'astrofiler' AND cal_session_id = 'D-OLD'",
                       NULL, -1),
              1);
    afdb_exec(db, "UPDATE fitssession SET fitsDarkSession = NULL WHERE fitsSessionId = 'S-1'");
    sqlite3_close(db);
    wait_chosen(&h, nt.dark, false);
    ASSERT_EQ(ac_harness_stop(&h, 20000), 0);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}
