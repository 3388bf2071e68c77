/*
 * test-importer.c - `astrocalctl import DIR` (daemon/serve/importer.c) with a real libuv loop,
 * a database laid out as AstroFiler lays it out (tests/support/afdb.h) and FITS files
 * from tests/support/fitsgen.h. Expected values are worked out by hand from the headers
 * fitsgen writes (EXPTIME = 300.000 -> Python's '300.0', GAIN = 100 -> '100', nights
 * from DATE-OBS and SITELONG = 11 -> UTC+1), hashes with the sha256sum/md5sum tools.
 */
#include <errno.h>
#include <fitsio.h>
#include <math.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "afdb.h"
#include "catalog.h"
#include "db.h"
#include "fitsgen.h"
#include "fsutil.h"
#include "importer.h"
#include "schema.h"
#include "test.h"

/* ---- Fixture ---- */

#define MAX_KEPT 16

/* What the callback saw, copied out of the borrowed result. */
struct run {
    int calls;
    ac_import_result_t r; /* counts only; lists below */
    int n_err, n_skip;
    char err_path[MAX_KEPT][512], err_msg[MAX_KEPT][1024];
    char skip_path[MAX_KEPT][512], skip_msg[MAX_KEPT][1024];
};

static void on_done(void *ud, const ac_import_result_t *res)
{
    struct run *run = ud;

    run->calls++;
    run->r = *res;
    run->r.error_list = NULL;
    run->r.skip_list = NULL;
    for (size_t i = 0; i < res->n_error_list && i < MAX_KEPT; i++, run->n_err++) {
        snprintf(run->err_path[i], sizeof run->err_path[i], "%s", res->error_list[i].path);
        snprintf(run->err_msg[i], sizeof run->err_msg[i], "%s", res->error_list[i].message);
    }
    for (size_t i = 0; i < res->n_skip_list && i < MAX_KEPT; i++, run->n_skip++) {
        snprintf(run->skip_path[i], sizeof run->skip_path[i], "%s", res->skip_list[i].path);
        snprintf(run->skip_msg[i], sizeof run->skip_msg[i], "%s", res->skip_list[i].message);
    }
}

static int n_checks;

static void on_check(uv_check_t *c)
{
    n_checks++;
}

/* run_import imports dir (relative to the test directory) on a fresh loop and returns what
 * the callback saw (it must run exactly once). */
static struct run *run_import(ac_db_t *db, const char *dir, const ac_import_opts_t *opts)
{
    static struct run run;
    uv_loop_t loop;
    uv_check_t check;
    ac_err_t e = {0};
    char abs[1024];

    memset(&run, 0, sizeof run);
    snprintf(abs, sizeof abs, "%s/%s", ac_test_tmpdir(), dir);
    ASSERT_OK(uv_loop_init(&loop));
    ASSERT_OK(uv_check_init(&loop, &check));
    ASSERT_OK(uv_check_start(&check, on_check));
    uv_unref((uv_handle_t *)&check);
    n_checks = 0;
    if (ac_import_start(&loop, db, abs, opts, on_done, &run, &e) != 0)
        AC_TEST_FAIL("ac_import_start: %s", e.msg);
    ASSERT_EQ(run.calls, 0); /* never from inside the call */
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ(run.calls, 1);
    uv_close((uv_handle_t *)&check, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_OK(uv_loop_close(&loop));
    return &run;
}

static ac_db_t *open_db(const char *name, afdb_variant_t v)
{
    ac_err_t e = {0};
    ac_db_t *db;

    sqlite3_close(afdb_create(name, v));
    db = ac_db_open(name, NULL, &e);
    if (db == NULL || ac_schema_prepare(db, NULL, &e) != 0)
        AC_TEST_FAIL("open %s: %s", name, e.msg);
    return db;
}

/* camera_ex makes a small (64 x 48) mono camera at longitude sitelong (NAN: no SITELONG)
 * writing the given keyword set and type names. */
static ac_gen_t *camera_ex(ac_gen_camera_t *cam, uint64_t seed, double sitelong, int keys,
                           int names)
{
    ac_err_t e = {0};
    ac_gen_t *g;

    ac_gen_camera_default(cam, seed);
    cam->width = 64;
    cam->height = 48;
    cam->n_stars = 5;
    cam->sitelong = sitelong;
    cam->keys = keys;
    cam->typenames = names;
    g = ac_gen_new(cam, &e);
    if (g == NULL)
        AC_TEST_FAIL("ac_gen_new: %s", e.msg);
    return g;
}

/* camera: SITELONG = 11 (UTC+1), standard keywords, long type names. */
static ac_gen_t *camera(ac_gen_camera_t *cam, uint64_t seed)
{
    return camera_ex(cam, seed, 11.0, AC_GEN_KEYS_STANDARD, AC_GEN_NAMES_LONG);
}

/* frame writes one raw frame. */
static void frame(ac_gen_t *g, ac_gen_type_t type, const char *path, const char *date,
                  const char *filter, double exptime, int index)
{
    ac_gen_frame_t f;
    ac_err_t e = {0};
    char dir[512], *slash;

    snprintf(dir, sizeof dir, "%s", path);
    if ((slash = strrchr(dir, '/')) != NULL) {
        *slash = '\0';
        ac_fsutil_mkdirs(dir, NULL);
    }
    ac_gen_frame_default(&f, type);
    f.date_obs = date;
    f.filter = filter;
    f.exptime = exptime;
    f.index = index;
    if (ac_gen_write_frame(g, &f, path, &e) != 0)
        AC_TEST_FAIL("write %s: %s", path, e.msg);
}

static void write_night(ac_gen_t *g, ac_gen_night_t *n, const char *dir)
{
    ac_err_t e = {0};

    if (ac_gen_write_night(g, n, dir, &e) != 0)
        AC_TEST_FAIL("write night %s: %s", dir, e.msg);
}

static long long q_int(ac_db_t *db, const char *sql, const char *arg)
{
    return afdb_int(ac_db_handle(db), sql, arg, -999);
}

static const char *q_text(ac_db_t *db, const char *sql, const char *arg)
{
    static char buf[8][512];
    static int k;

    k = (k + 1) % 8;
    return afdb_text(ac_db_handle(db), sql, arg, buf[k], sizeof buf[k]);
}

/* col reads column c of the row of table whose key column equals key. */
static const char *col(ac_db_t *db, const char *table, const char *keycol, const char *c,
                       const char *key)
{
    char sql[1024];

    snprintf(sql, sizeof sql, "SELECT %s FROM %s WHERE %s = ?1", c, table, keycol);
    return q_text(db, sql, key);
}

/* tool_hash runs sha256sum or md5sum on path (an independent implementation). */
static const char *tool_hash(const char *tool, const char *path)
{
    static char out[128];
    char cmd[1200];
    FILE *p;

    snprintf(cmd, sizeof cmd, "%s '%s'", tool, path);
    ASSERT_NOT_NULL(p = popen(cmd, "r"));
    ASSERT_EQ(fscanf(p, "%127s", out), 1);
    pclose(p);
    return out;
}

static const char *abspath(const char *rel)
{
    static char buf[4][1024];
    static int k;

    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", ac_test_tmpdir(), rel);
    return buf[k];
}

/* session_of returns the fitsSessionId of the file at rel. */
static const char *session_of(ac_db_t *db, const char *rel)
{
    return q_text(db, "SELECT fitsFileSession FROM fitsfile WHERE fitsFileName = ?1",
                  abspath(rel));
}

/* scol reads column c of the session with id sid. */
static const char *scol(ac_db_t *db, const char *sid, const char *c)
{
    return col(db, "fitssession", "fitsSessionId", c, sid);
}

/* count counts the rows of `from` (a table or a join) that satisfy where (with ?1 = arg). */
static long long count(ac_db_t *db, const char *from, const char *where, const char *arg)
{
    char sql[512];

    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE %s", from, where);
    return q_int(db, sql, arg);
}

#define FILES_SESS "fitsfile f JOIN fitssession s ON s.fitsSessionId = f.fitsFileSession"

/* ---- Sessions ---- */

TEST(importer_night_crossing_midnight_is_one_session)
{
    ac_gen_camera_t cam;
    ac_gen_t *g = camera(&cam, 11);
    ac_gen_night_t n;
    ac_db_t *db = open_db("af.db", AFDB_MIGRATED);
    const char *light = abspath("night/lights/M_31_L_300s_0001.fits");
    struct run *r;

    ac_gen_night_default(&n, &cam);
    n.n_lights = 6;
    n.cross_midnight = true;
    n.masters = AC_GEN_RAW;
    write_night(g, &n, "night");
    r = run_import(db, "night", NULL);
    ASSERT_EQ(r->r.code, 0);
    ASSERT_STR_EQ(r->r.dir, abspath("night"));
    ASSERT_EQ(r->r.files, 6);
    ASSERT_EQ(r->r.registered, 6);
    ASSERT_EQ(r->r.duplicates + r->r.masters + r->r.skipped + r->r.errors, 0);
    ASSERT_EQ(r->r.sessions_created, 1);
    /* The lights really straddle 00:00 UTC: three on the 15th, three on the 16th. */
    ASSERT_EQ(count(db, "fitsfile", "fitsFileDate LIKE '2024-03-15T%'", NULL), 3);
    ASSERT_EQ(count(db, "fitsfile", "fitsFileDate LIKE '2024-03-16T%'", NULL), 3);
    ASSERT_EQ(q_int(db, "SELECT count(DISTINCT fitsFileSession) FROM fitsfile", NULL), 1);
    ASSERT_EQ(count(db, "fitsfile", "fitsFileSession IS NULL", NULL), 0);
    ASSERT_EQ(count(db, "fitssession", "1", NULL), 1);
    /* SITELONG = 11 -> UTC+1: 23:44 UTC -> 00:44 local -> night of the 15th; so is 00:0x.
     * Date | object | filter | exposure | telescope | imager | binning | gain | offset. */
    ASSERT_STR_EQ(scol(db, session_of(db, "night/lights/M_31_L_300s_0006.fits"),
                       "fitsSessionDate || '|' || fitsSessionObjectName || '|' || "
                       "fitsSessionFilter || '|' || fitsSessionExposure || '|' || "
                       "fitsSessionTelescope || '|' || fitsSessionImager || '|' || "
                       "fitsSessionBinningX || fitsSessionBinningY || '|' || fitsSessionGain "
                       "|| '|' || fitsSessionOffset || '|' || is_auto_calibration"),
                  "2024-03-15|M 31|L|300.0|SimScope 80/480|SimCam 640M|11|100|50|0");

    /* One row as AstroFiler's importer writes it. */
    char sql[256];
#define COL(c) col(db, "fitsfile", "fitsFileName", c, light)
    ASSERT_EQ(strlen(COL("fitsFileId")), 36);
    ASSERT_STR_EQ(COL("substr(fitsFileId, 15, 1)"), "4"); /* UUID version 4 */
    ASSERT_STR_EQ(COL("fitsFileType"), "LIGHT FRAME");
    ASSERT_STR_EQ(COL("fitsFileObject"), "M 31");
    ASSERT_STR_EQ(COL("fitsFileExpTime"), "300.0");
    ASSERT_STR_EQ(COL("fitsFileXBinning"), "1");
    ASSERT_STR_EQ(COL("fitsFileYBinning"), "1");
    ASSERT_STR_EQ(COL("fitsFileTelescop"), "SimScope 80/480");
    ASSERT_STR_EQ(COL("fitsFileInstrument"), "SimCam 640M");
    ASSERT_STR_EQ(COL("fitsFileFilter"), "L");
    ASSERT_STR_EQ(COL("fitsFileDate"), "2024-03-15T23:44:45.250");
    ASSERT_STR_EQ(COL("fitsFileCalibrated"), "0");
    ASSERT_STR_EQ(COL("fitsFileSoftDelete"), "0");
    ASSERT_NULL(COL("fitsFileGain"));
    ASSERT_NULL(COL("fitsFileOffset"));
    ASSERT_NULL(COL("fitsFileStacked"));
    ASSERT_NULL(COL("fitsFileOriginalFile"));
    ASSERT_STR_EQ(COL("fitsFileHash"), tool_hash("sha256sum", light));
    /* CCD-TEMP is written with one decimal (e.g. -10.1): Python prints it the same way. */
    {
        char card[128] = "", *eq;
        FILE *p;
        double v;
        snprintf(sql, sizeof sql, "grep -ao 'CCD-TEMP= *[-0-9.]*' '%s'", light);
        ASSERT_NOT_NULL(p = popen(sql, "r"));
        ASSERT_NOT_NULL(fgets(card, sizeof card, p));
        pclose(p);
        ASSERT_NOT_NULL(eq = strchr(card, '='));
        v = atof(eq + 1);
        snprintf(card, sizeof card, "%.1f", v);
        ASSERT_STR_EQ(COL("fitsFileCCDTemp"), card);
        ASSERT_NEAR(v, -10.0, 0.11);
    }
#undef COL
    ac_db_close(db);
    ac_gen_free(g);
}

TEST(importer_interleaved_lrgb_gives_one_session_per_filter)
{
    static const char *const filt[4] = {"L", "R", "G", "B"};
    ac_gen_camera_t cam;
    ac_gen_t *g = camera(&cam, 12);
    ac_db_t *db = open_db("af.db", AFDB_MIGRATED);
    char path[256], date[40];
    struct run *r;

    /* 8 lights cycling L, R, G, B, 305 s apart from 22:00 UTC; 2 lights of another object
     * in L the same night; 1 L light of M 31 at 120 s (another exposure: another session). */
    for (int i = 0; i < 8; i++) {
        ASSERT_OK(ac_gen_date_add("2024-03-15T22:00:00.000", i * 305.0, date, sizeof date));
        snprintf(path, sizeof path, "lrgb/M31_%s_%02d.fits", filt[i % 4], i);
        frame(g, AC_GEN_LIGHT, path, date, filt[i % 4], 300, i + 1);
    }
    frame(g, AC_GEN_LIGHT, "lrgb/M31_L_120s.fits", "2024-03-16T02:00:00.000", "L", 120, 22);
    {
        ac_gen_frame_t f;
        ac_err_t e = {0};
        ASSERT_OK(ac_fsutil_mkdirs("lrgb/other", NULL));
        ac_gen_frame_default(&f, AC_GEN_LIGHT);
        f.object = "M 42";
        f.date_obs = "2024-03-16T01:00:00.000";
        f.index = 20;
        ASSERT_OK(ac_gen_write_frame(g, &f, "lrgb/other/a.fits", &e));
        f.date_obs = "2024-03-16T01:05:05.000";
        f.index = 21;
        ASSERT_OK(ac_gen_write_frame(g, &f, "lrgb/other/b.fits", &e));
    }
    r = run_import(db, "lrgb", NULL);
    ASSERT_EQ(r->r.code, 0);
    ASSERT_EQ(r->r.registered, 11);
    ASSERT_EQ(r->r.errors + r->r.skipped, 0);
    /* 4 filters of M 31 at 300 s, M 31 at 120 s, M 42: 6 sessions, never one per frame. */
    ASSERT_EQ(r->r.sessions_created, 6);
    ASSERT_EQ(count(db, "fitssession", "1", NULL), 6);
    for (int i = 0; i < 4; i++) {
        char a[64], b[64];
        snprintf(a, sizeof a, "lrgb/M31_%s_%02d.fits", filt[i], i);
        snprintf(b, sizeof b, "lrgb/M31_%s_%02d.fits", filt[i], i + 4);
        ASSERT_STR_EQ(session_of(db, a), session_of(db, b));
        ASSERT_STR_EQ(scol(db, session_of(db, a), "fitsSessionFilter"), filt[i]);
        ASSERT_EQ(count(db, "fitsfile", "fitsFileSession = ?1", session_of(db, a)), 2);
    }
    ASSERT_STR_EQ(session_of(db, "lrgb/other/a.fits"), session_of(db, "lrgb/other/b.fits"));
    ASSERT_STR_EQ(scol(db, session_of(db, "lrgb/other/a.fits"), "fitsSessionObjectName"),
                  "M 42");
    ASSERT(
        strcmp(session_of(db, "lrgb/M31_L_120s.fits"), session_of(db, "lrgb/M31_L_00.fits")));
    ASSERT_STR_EQ(scol(db, session_of(db, "lrgb/M31_L_120s.fits"), "fitsSessionExposure"),
                  "120.0");
    /* All on the night of the 15th (22:00 UTC .. 02:00 UTC, SITELONG 11 -> UTC+1). */
    ASSERT_EQ(count(db, "fitssession", "fitsSessionDate = '2024-03-15'", NULL), 6);
    ac_db_close(db);
    ac_gen_free(g);
}

TEST(importer_calibration_sessions)
{
    ac_gen_camera_t cam;
    ac_gen_t *g = camera(&cam, 13);
    ac_gen_night_t n;
    ac_db_t *db = open_db("af.db", AFDB_MIGRATED);
    char path[256], date[40];
    const char *flat_l, *flat_r;
    struct run *r;

    ac_gen_night_default(&n, &cam);
    n.n_lights = 2;
    n.masters = AC_GEN_RAW;
    n.raw_cal = 3; /* 3 bias, 3 darks 300 s, 3 flats L 2 s, 3 flat-darks 2 s */
    write_night(g, &n, "cal");
    /* Flats in L and R alternating within a minute, 3 s apart, the same evening. */
    for (int i = 0; i < 6; i++) {
        ASSERT_OK(ac_gen_date_add("2024-03-15T20:40:00.000", i * 3.0, date, sizeof date));
        snprintf(path, sizeof path, "cal/flats2/Flat_%s_%d.fits", i % 2 ? "R" : "L", i);
        frame(g, AC_GEN_FLAT, path, date, i % 2 ? "R" : "L", 2, 10 + i);
    }
    /* Two darks of 60 s: a session of their own. */
    frame(g, AC_GEN_DARK, "cal/darks60/D1.fits", "2024-03-14T22:00:00.000", NULL, 60, 21);
    frame(g, AC_GEN_DARK, "cal/darks60/D2.fits", "2024-03-14T22:01:05.000", NULL, 60, 22);
    r = run_import(db, "cal", NULL);
    ASSERT_EQ(r->r.code, 0);
    ASSERT_EQ(r->r.registered, 2 + 12 + 6 + 2);
    ASSERT_EQ(r->r.errors + r->r.skipped + r->r.masters, 0);

    /* Bias: one session, 3 frames, the night before (20:30 UTC on the 14th). */
    ASSERT_EQ(count(db, "fitssession", "fitsSessionObjectName = 'Bias'", NULL), 1);
    ASSERT_STR_EQ(session_of(db, "cal/bias/Bias_0001.fits"),
                  session_of(db, "cal/bias/Bias_0003.fits"));
    ASSERT_STR_EQ(scol(db, session_of(db, "cal/bias/Bias_0001.fits"), "fitsSessionDate"),
                  "2024-03-14");
    ASSERT_EQ(count(db, "fitsfile",
                    "fitsFileObject = 'Bias' AND fitsFileType = 'BIAS FRAME' AND "
                    "fitsFileFilter IS NULL",
                    NULL),
              3);
    /* Darks: 300 s, 60 s and the flat-darks at 2 s: three 'Dark' sessions. */
    ASSERT_EQ(count(db, "fitssession", "fitsSessionObjectName = 'Dark'", NULL), 3);
    ASSERT_EQ(count(db, FILES_SESS,
                    "s.fitsSessionObjectName = 'Dark' AND s.fitsSessionExposure = '300.0' AND "
                    "f.fitsFileType = 'DARK FRAME'",
                    NULL),
              3);
    ASSERT_EQ(count(db, FILES_SESS, "s.fitsSessionExposure = '60.0'", NULL), 2);
    /* Flat-darks keep their type as written, object 'Dark', exposure 2, no filter. */
    ASSERT_EQ(count(db, FILES_SESS,
                    "f.fitsFileType = 'FLAT DARK' AND f.fitsFileObject = 'Dark' AND "
                    "f.fitsFileFilter IS NULL AND s.fitsSessionObjectName = 'Dark' AND "
                    "s.fitsSessionExposure = '2.0' AND s.fitsSessionDate = '2024-03-15'",
                    NULL),
              3);
    /* Flats: L (3 from flats/ + 3 interleaved) and R (3): two sessions, not nine. */
    ASSERT_EQ(count(db, "fitssession", "fitsSessionObjectName = 'Flat'", NULL), 2);
    flat_l = session_of(db, "cal/flats2/Flat_L_0.fits");
    flat_r = session_of(db, "cal/flats2/Flat_R_1.fits");
    ASSERT(strcmp(flat_l, flat_r) != 0);
    ASSERT_STR_EQ(session_of(db, "cal/flats/Flat_L_2s_0001.fits"), flat_l);
    ASSERT_EQ(count(db, "fitsfile", "fitsFileSession = ?1", flat_l), 6);
    ASSERT_EQ(count(db, "fitsfile",
                    "fitsFileSession = ?1 AND fitsFileType = 'FLAT FIELD' AND "
                    "fitsFileObject = 'Flat' AND fitsFileFilter = 'R'",
                    flat_r),
              3);
    ASSERT_STR_EQ(scol(db, flat_r, "fitsSessionFilter"), "R");
    /* Lights: one session; every session has the camera's gain and offset. */
    ASSERT_EQ(count(db, "fitssession", "fitsSessionObjectName = 'M 31'", NULL), 1);
    ASSERT_EQ(
        count(db, "fitssession", "fitsSessionGain = '100' AND fitsSessionOffset = '50'", NULL),
        7);
    ac_db_close(db);
    ac_gen_free(g);
}

TEST(importer_site_offset_from_config_and_sitelong)
{
    ac_gen_camera_t cam;
    ac_gen_t *g;
    ac_import_opts_t o;
    ac_db_t *db;
    struct run *r;

    /* No SITELONG in the headers: the configured offset decides. 06:00 and 13:00 UTC on
     * the 16th are 23:00 on the 15th and 06:00 on the 16th at UTC-7: one night (the 15th);
     * at UTC+0 13:00 is past noon: two nights. */
    g = camera_ex(&cam, 14, NAN, AC_GEN_KEYS_STANDARD, AC_GEN_NAMES_LONG);
    frame(g, AC_GEN_LIGHT, "west/a.fits", "2024-03-16T06:00:00.000", "L", 300, 1);
    frame(g, AC_GEN_LIGHT, "west/b.fits", "2024-03-16T13:00:00.000", "L", 300, 2);
    ac_gen_free(g);

    db = open_db("west.db", AFDB_MIGRATED);
    ac_import_opts_default(&o);
    o.utc_offset_h = -7;
    r = run_import(db, "west", &o);
    ASSERT_EQ(r->r.registered, 2);
    ASSERT_EQ(q_int(db, "SELECT count(*) FROM fitssession", NULL), 1);
    ASSERT_STR_EQ(q_text(db, "SELECT fitsSessionDate FROM fitssession", NULL), "2024-03-15");
    ac_db_close(db);

    db = open_db("utc.db", AFDB_MIGRATED);
    r = run_import(db, "west", NULL);
    ASSERT_EQ(r->r.registered, 2);
    ASSERT_EQ(q_int(db, "SELECT count(*) FROM fitssession", NULL), 2);
    ASSERT_STR_EQ(q_text(db, "SELECT fitsSessionDate FROM fitssession WHERE fitsSessionId = ?1",
                         session_of(db, "west/a.fits")),
                  "2024-03-15");
    ASSERT_STR_EQ(q_text(db, "SELECT fitsSessionDate FROM fitssession WHERE fitsSessionId = ?1",
                         session_of(db, "west/b.fits")),
                  "2024-03-16");
    ac_db_close(db);

    /* SITELONG = -105 (UTC-7) in the headers overrides a configured offset of 0. */
    g = camera_ex(&cam, 15, -105, AC_GEN_KEYS_STANDARD, AC_GEN_NAMES_LONG);
    frame(g, AC_GEN_LIGHT, "site/a.fits", "2024-03-16T06:00:00.000", "L", 300, 1);
    frame(g, AC_GEN_LIGHT, "site/b.fits", "2024-03-16T13:00:00.000", "L", 300, 2);
    ac_gen_free(g);
    db = open_db("site.db", AFDB_MIGRATED);
    r = run_import(db, "site", NULL);
    ASSERT_EQ(r->r.registered, 2);
    ASSERT_EQ(q_int(db, "SELECT count(*) FROM fitssession", NULL), 1);
    ASSERT_STR_EQ(q_text(db, "SELECT fitsSessionDate FROM fitssession", NULL), "2024-03-15");
    ac_db_close(db);
}

/* ---- Duplicates, masters ---- */

TEST(importer_twice_registers_nothing_new)
{
    ac_gen_camera_t cam;
    ac_gen_t *g = camera(&cam, 16);
    ac_gen_night_t n;
    ac_db_t *db = open_db("af.db", AFDB_MIGRATED);
    ac_import_opts_t o;
    struct run *r;
    long long files, sessions, masters;
    char cmd[2048];

    ac_gen_night_default(&n, &cam);
    n.n_lights = 3;
    n.raw_cal = 2; /* + 8 raw calibration frames; masters: 3 */
    write_night(g, &n, "twice");
    r = run_import(db, "twice", NULL);
    ASSERT_EQ(r->r.registered, 11);
    ASSERT_EQ(r->r.masters, 3);
    ASSERT_EQ(r->r.duplicates, 0);
    files = q_int(db, "SELECT count(*) FROM fitsfile", NULL);
    sessions = q_int(db, "SELECT count(*) FROM fitssession", NULL);
    masters = q_int(db, "SELECT count(*) FROM Masters", NULL);
    ASSERT_EQ(files, 11);
    ASSERT_EQ(masters, 3);

    /* Again: every file is a duplicate by hash (masters by path and MD5). */
    r = run_import(db, "twice", NULL);
    ASSERT_EQ(r->r.code, 0);
    ASSERT_EQ(r->r.files, 14);
    ASSERT_EQ(r->r.registered + r->r.masters + r->r.sessions_created, 0);
    ASSERT_EQ(r->r.duplicates, 14);
    /* Again, in batches of 4 rows. */
    ac_import_opts_default(&o);
    o.batch_rows = 4;
    r = run_import(db, "twice", &o);
    ASSERT_EQ(r->r.registered + r->r.masters + r->r.sessions_created + r->r.errors, 0);
    ASSERT_EQ(r->r.duplicates, 14);
    /* A copy under another name is the same file by hash. */
    snprintf(cmd, sizeof cmd, "cp twice/lights/M_31_L_300s_0001.fits twice/copy.fits");
    ASSERT_OK(system(cmd));
    r = run_import(db, "twice", NULL);
    ASSERT_EQ(r->r.registered + r->r.masters, 0);
    ASSERT_EQ(r->r.duplicates, 15);
    ASSERT_EQ(q_int(db, "SELECT count(*) FROM fitsfile", NULL), files);
    ASSERT_EQ(q_int(db, "SELECT count(*) FROM fitssession", NULL), sessions);
    ASSERT_EQ(q_int(db, "SELECT count(*) FROM Masters", NULL), masters);
    ASSERT_EQ(q_int(db, "SELECT count(*) FROM fitsfile WHERE fitsFileName = ?1",
                    abspath("twice/copy.fits")),
              0);
    ac_db_close(db);
    ac_gen_free(g);
}

TEST(importer_masters_rows)
{
    static const char *const kinds[3] = {"bias", "dark", "flat"};
    ac_gen_camera_t cam;
    ac_gen_t *g = camera(&cam, 17);
    ac_gen_night_t n;
    ac_db_t *db = open_db("af.db", AFDB_MIGRATED);
    struct run *r;

    ac_gen_night_default(&n, &cam);
    n.n_lights = 1;
    write_night(g, &n, "m"); /* AstroFiler masters, NCOMBINE 20, EXPTIME = '300.0' */
    r = run_import(db, "m/masters", NULL);
    ASSERT_EQ(r->r.code, 0);
    ASSERT_EQ(r->r.masters, 3);
    ASSERT_EQ(r->r.registered + r->r.errors + r->r.skipped, 0);
    ASSERT_EQ(q_int(db, "SELECT count(*) FROM fitsfile", NULL), 0); /* Masters only */
    ASSERT_EQ(q_int(db, "SELECT count(*) FROM Masters", NULL), 3);
    ASSERT_EQ(q_int(db, "SELECT count(DISTINCT master_id) FROM Masters", NULL), 3);
    ASSERT_EQ(q_int(db,
                    "SELECT count(*) FROM Masters WHERE master_id IS NULL OR master_type "
                    "IS NULL OR master_path IS NULL OR creation_date IS NULL OR file_count "
                    "IS NULL OR is_validated IS NULL OR soft_delete IS NULL",
                    NULL),
              0);
    for (int i = 0; i < 3; i++) {
        char rel[64];
        const char *path, *ct;
        struct stat st;
        snprintf(rel, sizeof rel, "m/masters/master_%s.fits", kinds[i]);
        path = abspath(rel);
        ASSERT_OK(stat(path, &st));
#define MCOL(c) col(db, "Masters", "master_path", c, path)
        ASSERT_STR_EQ(MCOL("master_type"), kinds[i]);
        ASSERT_EQ(strncmp(MCOL("master_id"), kinds[i], strlen(kinds[i])), 0);
        ASSERT_STR_EQ(MCOL("hash_value"), tool_hash("md5sum", path));
        ASSERT_EQ(atoll(MCOL("file_size")), (long long)st.st_size);
        ASSERT_STR_EQ(MCOL("file_count"), "20");
        ASSERT_STR_EQ(MCOL("is_validated"), "0");
        ASSERT_STR_EQ(MCOL("soft_delete"), "0");
        ASSERT_STR_EQ(MCOL("telescope"), "SimScope 80/480");
        ASSERT_STR_EQ(MCOL("instrument"), "SimCam 640M");
        ASSERT_STR_EQ(MCOL("binning_x"), "1");
        ASSERT_STR_EQ(MCOL("binning_y"), "1");
        ASSERT_STR_EQ(MCOL("gain"), "100");
        ASSERT_STR_EQ(MCOL("offset"), "50");
        ASSERT_STR_EQ(MCOL("ccd_temp"), "-10.0"); /* CCD-TEMP = -10.0: the set point */
        ASSERT_NULL(MCOL("source_session_id"));
        ct = MCOL("creation_date"); /* 'YYYY-MM-DD HH:MM:SS.ffffff' */
        ASSERT_EQ(strlen(ct), 26);
        ASSERT(ct[4] == '-' && ct[10] == ' ' && ct[19] == '.');
        /* exposure_time for darks only, filter_name for flats only. */
        if (i == 1)
            ASSERT_STR_EQ(MCOL("exposure_time"), "300.0");
        else
            ASSERT_NULL(MCOL("exposure_time"));
        if (i == 2)
            ASSERT_STR_EQ(MCOL("filter_name"), "L");
        else
            ASSERT_NULL(MCOL("filter_name"));
#undef MCOL
    }
    ac_db_close(db);
    ac_gen_free(g);
}

/* ---- Broken, unfinished and foreign files ---- */

TEST(importer_incomplete_and_unreadable_files)
{
    ac_gen_camera_t cam;
    ac_gen_t *g = camera(&cam, 18);
    ac_gen_night_t n;
    ac_db_t *db = open_db("af.db", AFDB_MIGRATED);
    char tmp[512];
    struct run *r;
    FILE *f;
    bool seen_trunc = false;

    ac_gen_night_default(&n, &cam);
    n.n_lights = 4;
    n.masters = AC_GEN_RAW;
    write_night(g, &n, "bad");
    ASSERT_OK(ac_gen_write_bad(g, AC_GEN_BAD_TRUNCATED, "bad/lights/truncated.fits", NULL));
    ASSERT_OK(ac_gen_write_bad(g, AC_GEN_BAD_HEADER_ONLY, "bad/lights/header_only.fits", NULL));
    ASSERT_OK(ac_gen_write_bad(g, AC_GEN_BAD_NOT_FITS, "bad/lights/not_fits.fits", NULL));
    /* An empty file and one whose header is still being written (the first 1000 bytes). */
    ASSERT_NOT_NULL(f = fopen("bad/lights/empty.FIT", "w"));
    fclose(f);
    ASSERT_OK(system("head -c 1000 bad/lights/M_31_L_300s_0001.fits > bad/lights/part.fits"));
    /* astrocald's own temporary file, and a file that is not FITS by name. */
    ASSERT_OK(ac_fsutil_tmpname(abspath("bad/lights/out_calibrated.fits"), tmp, sizeof tmp));
    ASSERT_NOT_NULL(f = fopen(tmp, "w"));
    fputs("partial", f);
    fclose(f);
    ASSERT_NOT_NULL(f = fopen("bad/notes.txt", "w"));
    fputs("not an image", f);
    fclose(f);

    r = run_import(db, "bad", NULL);
    ASSERT_EQ(r->r.code, 0);
    ASSERT_EQ(r->r.files, 4 + 5 + 1);
    ASSERT_EQ(r->r.registered, 4); /* the import went on */
    ASSERT_EQ(r->r.skipped_incomplete, 4);
    ASSERT_EQ(r->r.skipped_temporary, 1);
    ASSERT_EQ(r->r.skipped, 5);
    ASSERT_EQ(r->r.errors, 1);
    ASSERT_EQ(r->n_err, 1);
    ASSERT_STR_EQ(r->err_path[0], abspath("bad/lights/not_fits.fits"));
    ASSERT_CONTAINS(r->err_msg[0], "not a FITS file");
    ASSERT_EQ(r->n_skip, 5);
    for (int i = 0; i < r->n_skip; i++) {
        if (strcmp(r->skip_path[i], abspath("bad/lights/truncated.fits")) == 0) {
            ASSERT_CONTAINS(r->skip_msg[i], "incomplete");
            ASSERT_CONTAINS(r->skip_msg[i], "truncated");
            seen_trunc = true;
        }
        if (strcmp(r->skip_path[i], tmp) == 0)
            ASSERT_CONTAINS(r->skip_msg[i], "temporary");
    }
    ASSERT(seen_trunc);
    ASSERT_EQ(q_int(db, "SELECT count(*) FROM fitsfile", NULL), 4);
    ASSERT_EQ(q_int(db,
                    "SELECT count(*) FROM fitsfile WHERE fitsFileName LIKE '%truncated%' "
                    "OR fitsFileName LIKE '%part.fits'",
                    NULL),
              0);
    ac_db_close(db);
    ac_gen_free(g);
}

TEST(importer_types_and_unsupported_frames)
{
    ac_gen_camera_t cam;
    ac_gen_t *g = camera(&cam, 19);
    ac_db_t *db = open_db("af.db", AFDB_MODELS); /* the other schema variant */
    ac_gen_frame_t f;
    ac_err_t e = {0};
    struct run *r;
    const char *d = "2024-03-15T22:00:00.000";

    ASSERT_OK(ac_fsutil_mkdirs("t", NULL));
#define WRITE(name)                                                                            \
    do {                                                                                       \
        if (ac_gen_write_frame(g, &f, name, &e) != 0)                                          \
            AC_TEST_FAIL("%s", e.msg);                                                         \
    } while (0)
    /* 'Object' is a light to everybody but AstroFiler's substring test: stored 'LIGHT'. */
    ac_gen_frame_default(&f, AC_GEN_LIGHT);
    f.date_obs = d;
    f.imagetyp = "Object";
    WRITE("t/object.fits");
    /* 'Zero' is a bias: stored 'BIAS', session 'Bias'. */
    ac_gen_frame_default(&f, AC_GEN_BIAS);
    f.date_obs = d;
    f.imagetyp = "Zero";
    f.index = 2;
    WRITE("t/zero.fits");
    /* Unknown frame type, a light without OBJECT, a DATE-OBS that is not ISO. */
    ac_gen_frame_default(&f, AC_GEN_LIGHT);
    f.date_obs = d;
    f.imagetyp = "Focus";
    f.index = 3;
    WRITE("t/focus.fits");
    f.imagetyp = NULL;
    f.object = "";
    f.index = 4;
    WRITE("t/noobject.fits");
    f.object = "M 31";
    f.date_obs = "15/03/2024";
    f.index = 5;
    WRITE("t/baddate.fts");
    /* A light already calibrated by another tool (CALIBRAT = T): registered, calibrated. */
    f.date_obs = d;
    f.index = 6;
    WRITE("t/cal.fits");
    {
        /* And object.fits gets an integer EXPTIME = 300 (Python prints '300'). */
        fitsfile *ff = NULL;
        int st = 0;
        fits_open_file(&ff, "t/cal.fits", READWRITE, &st);
        fits_write_key_log(ff, "CALIBRAT", 1, "calibrated", &st);
        fits_close_file(ff, &st);
        fits_open_file(&ff, "t/object.fits", READWRITE, &st);
        fits_update_key_lng(ff, "EXPTIME", 300, "[s]", &st);
        fits_close_file(ff, &st);
        ASSERT_EQ(st, 0);
    }
#undef WRITE
    r = run_import(db, "t", NULL);
    ASSERT_EQ(r->r.code, 0);
    ASSERT_EQ(r->r.registered, 3);
    ASSERT_EQ(r->r.skipped_unsupported, 3);
    ASSERT_EQ(r->r.errors, 0);
    for (int i = 0; i < r->n_skip; i++) {
        const char *base = strrchr(r->skip_path[i], '/') + 1;
        if (strcmp(base, "focus.fits") == 0)
            ASSERT_CONTAINS(r->skip_msg[i], "'Focus'");
        else if (strcmp(base, "noobject.fits") == 0)
            ASSERT_CONTAINS(r->skip_msg[i], "OBJECT");
        else if (strcmp(base, "baddate.fts") == 0)
            ASSERT_CONTAINS(r->skip_msg[i], "DATE-OBS '15/03/2024'");
        else
            AC_TEST_FAIL("unexpected skip %s", r->skip_path[i]);
    }
    ASSERT_STR_EQ(q_text(db, "SELECT fitsFileType FROM fitsFile WHERE fitsFileName = ?1",
                         abspath("t/object.fits")),
                  "LIGHT");
    ASSERT_STR_EQ(q_text(db, "SELECT fitsFileExpTime FROM fitsFile WHERE fitsFileName = ?1",
                         abspath("t/object.fits")),
                  "300");
    ASSERT_STR_EQ(q_text(db, "SELECT fitsFileType FROM fitsFile WHERE fitsFileName = ?1",
                         abspath("t/zero.fits")),
                  "BIAS");
    ASSERT_STR_EQ(q_text(db, "SELECT fitsFileObject FROM fitsFile WHERE fitsFileName = ?1",
                         abspath("t/zero.fits")),
                  "Bias");
    ASSERT_EQ(q_int(db, "SELECT fitsFileCalibrated FROM fitsFile WHERE fitsFileName = ?1",
                    abspath("t/cal.fits")),
              1);
    ASSERT_EQ(q_int(db, "SELECT fitsFileCalibrated FROM fitsFile WHERE fitsFileName = ?1",
                    abspath("t/object.fits")),
              0);
    /* The models variant has no is_auto_calibration column: sessions are still made. */
    ASSERT_EQ(q_int(db, "SELECT count(*) FROM fitsSession", NULL), 2);
    ac_db_close(db);
    ac_gen_free(g);
}

TEST(importer_alternative_keywords)
{
    ac_gen_camera_t cam;
    ac_gen_t *g;
    ac_db_t *db = open_db("af.db", AFDB_MIGRATED);
    struct run *r;
    const char *id;

    /* FRAME, EXPOSURE, BINX/BINY, CCD_TEMP, BLKLEVEL and N.I.N.A.'s short type names. */
    g = camera_ex(&cam, 20, 11.0, AC_GEN_KEYS_ALT, AC_GEN_NAMES_SHORT);
    frame(g, AC_GEN_LIGHT, "alt/l.fits", "2024-03-15T22:00:00.000", "Ha", 180, 1);
    frame(g, AC_GEN_FLATDARK, "alt/fd.fits", "2024-03-15T21:00:00.000", NULL, 2.5, 2);
    r = run_import(db, "alt", NULL);
    ASSERT_EQ(r->r.registered, 2);
    id = q_text(db, "SELECT fitsFileId FROM fitsfile WHERE fitsFileName = ?1",
                abspath("alt/l.fits"));
    ASSERT_STR_EQ(q_text(db, "SELECT fitsFileType FROM fitsfile WHERE fitsFileId = ?1", id),
                  "LIGHT");
    ASSERT_STR_EQ(q_text(db, "SELECT fitsFileExpTime FROM fitsfile WHERE fitsFileId = ?1", id),
                  "180.0");
    ASSERT_STR_EQ(q_text(db, "SELECT fitsFileXBinning FROM fitsfile WHERE fitsFileId = ?1", id),
                  "1");
    ASSERT(strcmp(q_text(db, "SELECT fitsFileCCDTemp FROM fitsfile WHERE fitsFileId = ?1", id),
                  "0") != 0); /* read from CCD_TEMP */
    ASSERT_STR_EQ(q_text(db,
                         "SELECT fitsSessionOffset FROM fitssession s JOIN fitsfile f ON "
                         "f.fitsFileSession = s.fitsSessionId WHERE f.fitsFileId = ?1",
                         id),
                  "50");
    ASSERT_STR_EQ(q_text(db,
                         "SELECT fitsFileType || '|' || fitsFileObject || '|' || "
                         "fitsFileExpTime FROM fitsfile WHERE fitsFileName = ?1",
                         abspath("alt/fd.fits")),
                  "DARKFLAT|Dark|2.5");
    ac_db_close(db);
    ac_gen_free(g);
}

/* ---- The loop, cancelling, bad arguments, single files ---- */

TEST(importer_batches_keep_the_loop_turning)
{
    ac_gen_camera_t cam;
    ac_gen_t *g = camera(&cam, 21);
    ac_gen_night_t n;
    ac_db_t *db = open_db("af.db", AFDB_MIGRATED);
    ac_import_opts_t o;
    struct run *r;

    ac_gen_night_default(&n, &cam);
    n.n_lights = 9;
    n.masters = AC_GEN_RAW;
    write_night(g, &n, "b");
    ac_import_opts_default(&o);
    o.batch_rows = 2;
    r = run_import(db, "b", &o);
    ASSERT_EQ(r->r.registered, 9);
    ASSERT_EQ(r->r.sessions_created, 1);
    ASSERT_EQ(q_int(db, "SELECT count(DISTINCT fitsFileSession) FROM fitsfile", NULL), 1);
    /* 9 rows, 2 per iteration: at least 5 loop iterations spent registering. */
    ASSERT(n_checks >= 5);
    ac_db_close(db);
    ac_gen_free(g);
}

TEST(importer_cancel_and_bad_folders)
{
    ac_gen_camera_t cam;
    ac_gen_t *g = camera(&cam, 22);
    ac_gen_night_t n;
    ac_db_t *db = open_db("af.db", AFDB_MIGRATED);
    ac_import_opts_t o;
    atomic_int cancel = 1;
    uv_loop_t loop;
    ac_err_t e = {0};
    struct run *r;

    ac_gen_night_default(&n, &cam);
    n.n_lights = 2;
    n.masters = AC_GEN_RAW;
    write_night(g, &n, "c");
    ac_import_opts_default(&o);
    o.cancel = &cancel;
    r = run_import(db, "c", &o);
    ASSERT_EQ(r->r.code, AC_ECANCELED);
    ASSERT_EQ(r->r.registered, 0);
    ASSERT_EQ(q_int(db, "SELECT count(*) FROM fitsfile", NULL), 0);

    r = run_import(db, "missing", NULL);
    ASSERT_EQ(r->r.code, -ENOENT);
    ASSERT_CONTAINS(r->r.message, abspath("missing"));
    r = run_import(db, "c/lights/M_31_L_300s_0001.fits", NULL);
    ASSERT_EQ(r->r.code, -ENOTDIR);

    /* A relative path is refused at once and the callback never runs. */
    ASSERT_OK(uv_loop_init(&loop));
    ASSERT_EQ(ac_import_start(&loop, db, "c", NULL, on_done, NULL, &e), -EINVAL);
    ASSERT_CONTAINS(e.msg, "absolute");
    ASSERT_OK(uv_run(&loop, UV_RUN_DEFAULT));
    ASSERT_OK(uv_loop_close(&loop));
    ac_db_close(db);
    ac_gen_free(g);
}

TEST(importer_scan_file_and_names)
{
    ac_gen_camera_t cam;
    ac_gen_t *g = camera(&cam, 23);
    ac_import_item_t *it = NULL;
    ac_import_opts_t o;

    frame(g, AC_GEN_LIGHT, "one/l.fits", "2024-03-16T00:30:00.000", "L", 300, 1);
    ASSERT_OK(ac_import_scan_file("one/l.fits", NULL, &it));
    ASSERT_EQ(it->kind, AC_IMPORT_FRAME);
    ASSERT_EQ(it->type, AC_FRAME_LIGHT);
    ASSERT_STR_EQ(it->sha256, tool_hash("sha256sum", "one/l.fits"));
    ASSERT_STR_EQ(it->md5, "");
    ASSERT_STR_EQ(it->night, "2024-03-15");
    ASSERT_STR_EQ(it->session_object, "M 31");
    ASSERT_STR_EQ(it->gain, "100");
    ASSERT_NULL(it->reason);
    ac_import_item_free(it);
    /* Live ingest: a file modified within the settle time is left for later. */
    ac_import_opts_default(&o);
    o.settle_s = 3600;
    ASSERT_OK(ac_import_scan_file("one/l.fits", &o, &it));
    ASSERT_EQ(it->kind, AC_IMPORT_SKIPPED);
    ASSERT_EQ(it->skip, AC_IMPORT_SKIP_SETTLING);
    ac_import_item_free(it);
    ASSERT_OK(ac_import_scan_file("one/missing.fits", NULL, &it));
    ASSERT_EQ(it->kind, AC_IMPORT_FAILED);
    ASSERT_EQ(it->code, -ENOENT);
    ac_import_item_free(it);

    ASSERT(ac_import_is_fits_name("a.fits"));
    ASSERT(ac_import_is_fits_name("a.FIT"));
    ASSERT(ac_import_is_fits_name("a.fts"));
    ASSERT(ac_import_is_fits_name("a.fits.fz"));
    ASSERT(ac_import_is_fits_name("a.Fit.GZ"));
    ASSERT(!ac_import_is_fits_name("a.fz"));
    ASSERT(!ac_import_is_fits_name(".fits"));
    ASSERT(!ac_import_is_fits_name("a.fits.bak"));
    ASSERT(!ac_import_is_fits_name("a.xisf"));
    ac_gen_free(g);
}

TEST(importer_compressed_files)
{
    ac_gen_camera_t cam;
    ac_gen_t *g = camera(&cam, 24);
    ac_gen_night_t n;
    ac_db_t *db = open_db("af.db", AFDB_MIGRATED);
    struct stat st;
    char cmd[512];
    struct run *r;

    ac_gen_night_default(&n, &cam);
    n.n_lights = 2;
    n.raw_cal = 1;
    n.masters = AC_GEN_RAW;
    n.fz = true;
    write_night(g, &n, "fz");
    /* A tile-compressed light cut short: its table's heap is incomplete. */
    ASSERT_OK(stat("fz/lights/M_31_L_300s_0002.fits.fz", &st));
    snprintf(cmd, sizeof cmd,
             "head -c %lld fz/lights/M_31_L_300s_0002.fits.fz > fz/cut.fits.fz",
             (long long)st.st_size - 2880);
    ASSERT_OK(system(cmd));
    r = run_import(db, "fz", NULL);
    ASSERT_EQ(r->r.code, 0);
    ASSERT_EQ(r->r.registered, 2 + 4);
    ASSERT_EQ(r->r.skipped_incomplete, 1);
    ASSERT_EQ(r->r.errors, 0);
    ASSERT_STR_EQ(q_text(db,
                         "SELECT fitsFileExpTime || '|' || fitsFileType FROM fitsfile WHERE "
                         "fitsFileName = ?1",
                         abspath("fz/lights/M_31_L_300s_0001.fits.fz")),
                  "300.0|LIGHT FRAME");
    ASSERT_STR_EQ(q_text(db, "SELECT fitsFileHash FROM fitsfile WHERE fitsFileName = ?1",
                         abspath("fz/lights/M_31_L_300s_0001.fits.fz")),
                  tool_hash("sha256sum", abspath("fz/lights/M_31_L_300s_0001.fits.fz")));
    ac_db_close(db);
    ac_gen_free(g);
}
