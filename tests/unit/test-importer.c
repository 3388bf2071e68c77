/*
 * test-importer.c - `astrocalctl import DIR` (daemon/serve/importer.c): the sessions it
 * creates (a night across midnight, interleaved filters, calibration frames, the site's
 * offset), with a real libuv loop, a database laid out as AstroFiler lays it out
 * (tests/support/afdb.h) and FITS files from tests/support/fitsgen.h (the fixture is
 * tests/support/importtest.h). Expected values are worked out by hand from the headers
 * fitsgen writes (EXPTIME = 300.000 -> Python's '300.0', GAIN = 100 -> '100', nights from
 * DATE-OBS and SITELONG = 11 -> UTC+1), hashes with the sha256sum/md5sum tools. Duplicates,
 * masters, broken and foreign files, the loop and cancelling are in test-importer-files.c.
 */
#include <errno.h>
#include <math.h>

#include "db.h"
#include "fitsgen.h"
#include "fsutil.h"
#include "importer.h"
#include "importtest.h"
#include "test.h"
#include "tools.h"

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

#define FILES_SESS "fitsfile f JOIN fitssession s ON s.fitsSessionId = f.fitsFileSession"

/* ---- Sessions ---- */

TEST(importer_night_crossing_midnight_is_one_session)
{
    struct import_fx x;
    const char *light = abspath("night/lights/M_31_L_300s_0001.fits");
    struct run *r;

    import_fx_init(&x, 11);
    x.n.n_lights = 6;
    x.n.cross_midnight = true;
    x.n.masters = AC_GEN_RAW;
    write_night(x.g, &x.n, "night");
    r = run_import(x.db, "night", NULL);
    ASSERT_EQ(r->r.code, 0);
    ASSERT_STR_EQ(r->r.dir, abspath("night"));
    ASSERT_EQ(r->r.files, 6);
    ASSERT_EQ(r->r.registered, 6);
    ASSERT_EQ(r->r.duplicates + r->r.masters + r->r.skipped + r->r.errors, 0);
    ASSERT_EQ(r->r.sessions_created, 1);
    /* The lights really straddle 00:00 UTC: three on the 15th, three on the 16th. */
    ASSERT_EQ(count(x.db, "fitsfile", "fitsFileDate LIKE '2024-03-15T%'", NULL), 3);
    ASSERT_EQ(count(x.db, "fitsfile", "fitsFileDate LIKE '2024-03-16T%'", NULL), 3);
    ASSERT_EQ(q_int(x.db, "SELECT count(DISTINCT fitsFileSession) FROM fitsfile", NULL), 1);
    ASSERT_EQ(count(x.db, "fitsfile", "fitsFileSession IS NULL", NULL), 0);
    ASSERT_EQ(count(x.db, "fitssession", "1", NULL), 1);
    /* SITELONG = 11 -> UTC+1: 23:44 UTC -> 00:44 local -> night of the 15th; so is 00:0x.
     * Date | object | filter | exposure | telescope | imager | binning | gain | offset. */
    ASSERT_STR_EQ(scol(x.db, session_of(x.db, "night/lights/M_31_L_300s_0006.fits"),
                       "fitsSessionDate || '|' || fitsSessionObjectName || '|' || "
                       "fitsSessionFilter || '|' || fitsSessionExposure || '|' || "
                       "fitsSessionTelescope || '|' || fitsSessionImager || '|' || "
                       "fitsSessionBinningX || fitsSessionBinningY || '|' || fitsSessionGain "
                       "|| '|' || fitsSessionOffset || '|' || is_auto_calibration"),
                  "2024-03-15|M 31|L|300.0|SimScope 80/480|SimCam 640M|11|100|50|0");

    /* One row as AstroFiler's importer writes it. */
    char sql[256];
#define COL(c) col(x.db, "fitsfile", "fitsFileName", c, light)
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
    ASSERT_STR_EQ(COL("fitsFileHash"), ac_tools_hash("sha256sum", light));
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
    import_fx_free(&x);
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
    struct import_fx x;
    char path[256], date[40];
    const char *flat_l, *flat_r;
    struct run *r;

    import_fx_init(&x, 13);
    x.n.n_lights = 2;
    x.n.masters = AC_GEN_RAW;
    x.n.raw_cal = 3; /* 3 bias, 3 darks 300 s, 3 flats L 2 s, 3 flat-darks 2 s */
    write_night(x.g, &x.n, "cal");
    /* Flats in L and R alternating within a minute, 3 s apart, the same evening. */
    for (int i = 0; i < 6; i++) {
        ASSERT_OK(ac_gen_date_add("2024-03-15T20:40:00.000", i * 3.0, date, sizeof date));
        snprintf(path, sizeof path, "cal/flats2/Flat_%s_%d.fits", i % 2 ? "R" : "L", i);
        frame(x.g, AC_GEN_FLAT, path, date, i % 2 ? "R" : "L", 2, 10 + i);
    }
    /* Two darks of 60 s: a session of their own. */
    frame(x.g, AC_GEN_DARK, "cal/darks60/D1.fits", "2024-03-14T22:00:00.000", NULL, 60, 21);
    frame(x.g, AC_GEN_DARK, "cal/darks60/D2.fits", "2024-03-14T22:01:05.000", NULL, 60, 22);
    r = run_import(x.db, "cal", NULL);
    ASSERT_EQ(r->r.code, 0);
    ASSERT_EQ(r->r.registered, 2 + 12 + 6 + 2);
    ASSERT_EQ(r->r.errors + r->r.skipped + r->r.masters, 0);

    /* Bias: one session, 3 frames, the night before (20:30 UTC on the 14th). */
    ASSERT_EQ(count(x.db, "fitssession", "fitsSessionObjectName = 'Bias'", NULL), 1);
    ASSERT_STR_EQ(session_of(x.db, "cal/bias/Bias_0001.fits"),
                  session_of(x.db, "cal/bias/Bias_0003.fits"));
    ASSERT_STR_EQ(scol(x.db, session_of(x.db, "cal/bias/Bias_0001.fits"), "fitsSessionDate"),
                  "2024-03-14");
    ASSERT_EQ(count(x.db, "fitsfile",
                    "fitsFileObject = 'Bias' AND fitsFileType = 'BIAS FRAME' AND "
                    "fitsFileFilter IS NULL",
                    NULL),
              3);
    /* Darks: 300 s, 60 s and the flat-darks at 2 s: three 'Dark' sessions. */
    ASSERT_EQ(count(x.db, "fitssession", "fitsSessionObjectName = 'Dark'", NULL), 3);
    ASSERT_EQ(count(x.db, FILES_SESS,
                    "s.fitsSessionObjectName = 'Dark' AND s.fitsSessionExposure = '300.0' AND "
                    "f.fitsFileType = 'DARK FRAME'",
                    NULL),
              3);
    ASSERT_EQ(count(x.db, FILES_SESS, "s.fitsSessionExposure = '60.0'", NULL), 2);
    /* Flat-darks keep their type as written, object 'Dark', exposure 2, no filter. */
    ASSERT_EQ(count(x.db, FILES_SESS,
                    "f.fitsFileType = 'FLAT DARK' AND f.fitsFileObject = 'Dark' AND "
                    "f.fitsFileFilter IS NULL AND s.fitsSessionObjectName = 'Dark' AND "
                    "s.fitsSessionExposure = '2.0' AND s.fitsSessionDate = '2024-03-15'",
                    NULL),
              3);
    /* Flats: L (3 from flats/ + 3 interleaved) and R (3): two sessions, not nine. */
    ASSERT_EQ(count(x.db, "fitssession", "fitsSessionObjectName = 'Flat'", NULL), 2);
    flat_l = session_of(x.db, "cal/flats2/Flat_L_0.fits");
    flat_r = session_of(x.db, "cal/flats2/Flat_R_1.fits");
    ASSERT(strcmp(flat_l, flat_r) != 0);
    ASSERT_STR_EQ(session_of(x.db, "cal/flats/Flat_L_2s_0001.fits"), flat_l);
    ASSERT_EQ(count(x.db, "fitsfile", "fitsFileSession = ?1", flat_l), 6);
    ASSERT_EQ(count(x.db, "fitsfile",
                    "fitsFileSession = ?1 AND fitsFileType = 'FLAT FIELD' AND "
                    "fitsFileObject = 'Flat' AND fitsFileFilter = 'R'",
                    flat_r),
              3);
    ASSERT_STR_EQ(scol(x.db, flat_r, "fitsSessionFilter"), "R");
    /* Lights: one session; every session has the camera's gain and offset. */
    ASSERT_EQ(count(x.db, "fitssession", "fitsSessionObjectName = 'M 31'", NULL), 1);
    ASSERT_EQ(count(x.db, "fitssession", "fitsSessionGain = '100' AND fitsSessionOffset = '50'",
                    NULL),
              7);
    import_fx_free(&x);
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
