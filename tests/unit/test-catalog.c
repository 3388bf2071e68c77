/*
 * test-catalog.c - catalogue queries and updates (daemon/catalog*.c) on databases laid out
 * as AstroFiler lays them out (tests/support/afdb.h), in both schema variants, with
 * AstroFiler's value quirks; value helpers against known answers. The queue: test-queue.c.
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
#include "pyfmt.h"

/* ---- Fixture: a catalogue with the quirks of astrofiler-db.md ---- */

static void add_light(sqlite3 *h, const char *id, const char *session, const char *date,
                      const char *type, const char *exptime, int calibrated, int softdelete,
                      const char *original)
{
    char path[128];
    afdb_file_t f;

    snprintf(path, sizeof path, "/data/lights/%s.fits", id);
    f = afdb_light(id, session, path, date, exptime);
    f.type = type;
    f.calibrated = calibrated;
    f.softdelete = softdelete;
    f.original = original;
    afdb_add_file(h, &f);
}

static ac_db_t *fixture(afdb_variant_t v)
{
    const char *path = v == AFDB_MIGRATED ? "cat-migrated.db" : "cat-models.db";
    sqlite3 *h = afdb_create(path, v);
    afdb_file_t d;
    ac_err_t e = {0};
    ac_db_t *db;

    afdb_add_session(h, "S1", "M 31", "2024-10-04", "300", "-10.1", "Ha");
    afdb_add_session(h, "S2", "M 42", "2024-10-06", "60", "-10", "L");
    afdb_add_session(h, "S3", "NGC 7000", "2024-10-03", "120", "0", "OIII");
    afdb_add_session(h, "SD", "Dark", "2024-10-04", "300", "-10", NULL);
    add_light(h, "L1", "S1", "2024-10-05T02:10:07.25", "LIGHT FRAME", "300", 0, 0, NULL);
    add_light(h, "L2", "S1", "2024-10-05T02:15:09.50", "LIGHT", "300.0", AFDB_NULL, AFDB_NULL,
              NULL);
    add_light(h, "L3", "S1", "2024-10-05T02:20:11.00", "Light Frame", "300", 0, 0, NULL);
    add_light(h, "L4", "S1", "2024-10-05T02:25:13.00", "LIGHT FRAME", "300", 1, 0, NULL);
    add_light(h, "L5", "S1", "2024-10-05T02:30:15.00", "LIGHT FRAME", "300", 0, 1, NULL);
    add_light(h, "C1", "S1", "2024-10-05T02:10:07.25", "LIGHT FRAME", "300", AFDB_NULL, 0,
              "/data/lights/L0.fits");
    add_light(h, "L6", "S3", "2024-10-03T21:00:00", "LIGHT FRAME", "120", 0, 0, NULL);
    add_light(h, "M2L", "S2", "2024-10-06T22:00:00", "LIGHT FRAME", "60", 1, 0, NULL);
    add_light(h, "U1", NULL, "2024-10-05T03:00:00", "LIGHT FRAME", "300", 0, 0, NULL);
    add_light(h, "L7", "S9", "2024-10-07T01:00:00", "LIGHT FRAME", "300", 0, 0, NULL);
    d = afdb_light("D1", "S1", "/data/darks/D1.fits", "2024-10-05T08:00:00", "300");
    d.type = "DARK FRAME";
    d.object = "Dark";
    d.filter = NULL;
    afdb_add_file(h, &d);
    sqlite3_close(h);
    db = ac_db_open(path, NULL, &e);
    ASSERT_NOT_NULL(db);
    ASSERT_OK(ac_schema_prepare(db, NULL, &e));
    return db;
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

/* ---- Reading ---- */

TEST(catalog_light_sessions_both_variants_with_quirks)
{
    for (int v = AFDB_MIGRATED; v <= AFDB_MODELS; v++) {
        ac_db_t *db = fixture((afdb_variant_t)v);
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
        ac_db_t *db = fixture((afdb_variant_t)v);
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
    ac_db_t *db = fixture(AFDB_MIGRATED);
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

/* ---- Recording calibrated files ---- */

static ac_calibrated_rec_t rec_for(const char *raw, const char *out)
{
    ac_calibrated_rec_t r = {0};

    r.raw_file_id = raw;
    r.output_path = out;
    r.output_sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    r.bias_path = "/repo/Masters/b.fits";
    r.bias_md5 = "b0";
    r.dark_path = "/repo/Masters/d.fits";
    r.dark_md5 = "d0";
    r.flat_path = "/repo/Masters/f.fits";
    r.flat_md5 = "f0";
    r.steps = "bias,dark,flat";
    r.dark_scale = 1.0;
    r.pedestal = NAN;
    r.quality_json = "{\"median\":812.5}";
    r.t_read = 0.1;
    r.t_calib = 0.2;
    r.t_write = 0.3;
    r.t_total = 0.6;
    return r;
}

/* queue_running queues a session with one file and claims it (queue.h). */
static void queue_running(ac_queue_t *q, const char *session, const char *file)
{
    ac_qfile_add_t f = {file, "/data/lights/x.fits"};
    ac_queue_plan_t p = {.session_id = session, .ready = true, .files = &f, .nfiles = 1};
    ac_qfile_t x = {0};
    bool found = false;

    ASSERT_OK(ac_queue_plan(q, &p, NULL, NULL));
    ASSERT_OK(ac_queue_claim(q, 1e12, session, &x, &found, NULL));
    ASSERT(found);
    ASSERT_STR_EQ(x.file_id, file);
    ac_queue_file_clear(&x);
}

TEST(catalog_record_calibrated_follows_astrofiler_convention)
{
    for (int v = AFDB_MIGRATED; v <= AFDB_MODELS; v++) {
        ac_db_t *db = fixture((afdb_variant_t)v);
        ac_calibrated_rec_t r = rec_for("L2", "/out/L2_calibrated.fits");
        char out_id[AC_UUID_LEN + 1] = "", expect[160];
        ac_session_list_t sl = {0};
        ac_err_t e = {0};
        ac_queue_t q;

        /* Through the queue, which records it and marks the queue row in one transaction. */
        ac_queue_init(&q, db);
        queue_running(&q, "S1", "L2");
        ASSERT_OK(ac_queue_record_calibrated(&q, &r, true, out_id, &e));
        ASSERT_EQ(strlen(out_id), AC_UUID_LEN);
        /* The new row: copied values keep AstroFiler's text ('300.0' stays '300.0'). */
        ASSERT_STR_EQ(
            q_text(db, "SELECT fitsFileName FROM fitsfile WHERE fitsFileId = ?1", out_id),
            "/out/L2_calibrated.fits");
        ASSERT_STR_EQ(
            q_text(db, "SELECT fitsFileExpTime FROM fitsfile WHERE fitsFileId = ?1", out_id),
            "300.0");
        ASSERT_STR_EQ(q_text(db,
                             "SELECT typeof(fitsFileExpTime) FROM fitsfile WHERE "
                             "fitsFileId = ?1",
                             out_id),
                      "text");
        ASSERT_STR_EQ(q_text(db,
                             "SELECT fitsFileType || '|' || fitsFileObject || '|' || "
                             "fitsFileSession || '|' || fitsFileTelescop || '|' || "
                             "fitsFileInstrument || '|' || fitsFileFilter || '|' || "
                             "fitsFileCCDTemp || '|' || fitsFileXBinning || '|' || "
                             "fitsFileDate FROM fitsfile WHERE fitsFileId = ?1",
                             out_id),
                      "LIGHT|M 31|S1|C14|ZWO ASI294MM Pro|Ha|-10.1|1|2024-10-05T02:15:09.50");
        ASSERT_EQ(
            q_int(db, "SELECT fitsFileCalibrated FROM fitsfile WHERE fitsFileId = ?1", out_id),
            1);
        ASSERT_EQ(
            q_int(db, "SELECT fitsFileSoftDelete FROM fitsfile WHERE fitsFileId = ?1", out_id),
            0);
        ASSERT_STR_EQ(q_text(db,
                             "SELECT fitsFileOriginalFile FROM fitsfile WHERE "
                             "fitsFileId = ?1",
                             out_id),
                      "/data/lights/L2.fits");
        ASSERT_STR_EQ(
            q_text(db, "SELECT fitsFileHash FROM fitsfile WHERE fitsFileId = ?1", out_id),
            r.output_sha256);
        ASSERT_EQ(strlen(q_text(db,
                                "SELECT fitsFileCalibrationDate FROM fitsfile WHERE "
                                "fitsFileId = ?1",
                                out_id)),
                  26);
        ASSERT_NULL(
            q_text(db, "SELECT fitsFileGain FROM fitsfile WHERE fitsFileId = ?1", out_id));
        if (v == AFDB_MIGRATED)
            ASSERT_STR_EQ(q_text(db,
                                 "SELECT fitsFileMasterBias || fitsFileMasterDark || "
                                 "fitsFileMasterFlat FROM fitsfile WHERE fitsFileId = ?1",
                                 out_id),
                          "/repo/Masters/b.fits/repo/Masters/d.fits/repo/Masters/f.fits");
        /* The raw row: calibrated, preserved (not soft-deleted). */
        ASSERT_EQ(
            q_int(db, "SELECT fitsFileCalibrated FROM fitsfile WHERE fitsFileId = 'L2'", NULL),
            1);
        ASSERT_EQ(q_int(db,
                        "SELECT COALESCE(fitsFileSoftDelete, 0) FROM fitsfile WHERE "
                        "fitsFileId = 'L2'",
                        NULL),
                  0);
        /* Our record and the queue. */
        ASSERT_STR_EQ(q_text(db,
                             "SELECT output_file_id FROM astrocal_record WHERE file_id = "
                             "'L2'",
                             NULL),
                      out_id);
        ASSERT_STR_EQ(q_text(db,
                             "SELECT steps || '|' || dark_md5 || '|' || quality_json FROM "
                             "astrocal_record WHERE file_id = 'L2'",
                             NULL),
                      "bias,dark,flat|d0|{\"median\":812.5}");
        ASSERT_EQ(q_int(db, "SELECT pedestal IS NULL FROM astrocal_record", NULL), 1);
        snprintf(expect, sizeof expect, "done|%s|/out/L2_calibrated.fits|0.6", out_id);
        ASSERT_STR_EQ(q_text(db,
                             "SELECT state || '|' || output_file_id || '|' || output_path "
                             "|| '|' || seconds FROM astrocal_file WHERE file_id = 'L2'",
                             NULL),
                      expect);
        /* The session now has two lights left. */
        ASSERT_OK(ac_catalog_light_sessions(db, &sl, &e));
        ASSERT_EQ(sl.items[1].n_uncalibrated, 2);
        ac_catalog_sessions_free(&sl);
        ac_db_close(db);
    }
}

TEST(catalog_record_twice_gives_one_calibrated_row)
{
    ac_db_t *db = fixture(AFDB_MIGRATED);
    ac_calibrated_rec_t r = rec_for("L1", "/out/L1_calibrated.fits");
    char id1[AC_UUID_LEN + 1], id2[AC_UUID_LEN + 1];

    ASSERT_OK(ac_catalog_record_calibrated(db, &r, true, id1, NULL));
    ASSERT_OK(ac_catalog_record_calibrated(db, &r, true, id2, NULL));
    ASSERT_STR_EQ(id1, id2);
    ASSERT_EQ(q_int(db, "SELECT COUNT(*) FROM fitsfile WHERE fitsFileOriginalFile = ?1",
                    "/data/lights/L1.fits"),
              1);
    ASSERT_EQ(q_int(db, "SELECT COUNT(*) FROM astrocal_record", NULL), 1);
    ac_db_close(db);
}

TEST(catalog_record_reuses_an_output_already_registered)
{
    ac_db_t *db = fixture(AFDB_MIGRATED);
    ac_calibrated_rec_t r = rec_for("L3", "/out/L3_calibrated.fits");
    afdb_file_t f =
        afdb_light("IMP", "S1", "/out/L3_calibrated.fits", "2024-10-05T02:20:11.00", "300");
    char id[AC_UUID_LEN + 1];

    afdb_add_file(ac_db_handle(db), &f); /* AstroFiler imported our output as a light */
    ASSERT_OK(ac_catalog_record_calibrated(db, &r, true, id, NULL));
    ASSERT_STR_EQ(id, "IMP");
    ASSERT_EQ(q_int(db, "SELECT COUNT(*) FROM fitsfile WHERE fitsFileName = ?1",
                    "/out/L3_calibrated.fits"),
              1);
    ASSERT_STR_EQ(q_text(db,
                         "SELECT fitsFileOriginalFile FROM fitsfile WHERE fitsFileId = "
                         "'IMP'",
                         NULL),
                  "/data/lights/L3.fits");
    ASSERT_EQ(
        q_int(db, "SELECT fitsFileCalibrated FROM fitsfile WHERE fitsFileId = 'IMP'", NULL), 1);
    ac_db_close(db);
}

TEST(catalog_record_without_preserve_soft_deletes_raw)
{
    ac_db_t *db = fixture(AFDB_MODELS);
    ac_calibrated_rec_t r = rec_for("L1", "/out/L1_calibrated.fits");
    char id[AC_UUID_LEN + 1];

    ASSERT_OK(ac_catalog_record_calibrated(db, &r, false, id, NULL));
    ASSERT_EQ(
        q_int(db, "SELECT fitsFileSoftDelete FROM fitsfile WHERE fitsFileId = 'L1'", NULL), 1);
    ASSERT_EQ(
        q_int(db, "SELECT fitsFileCalibrated FROM fitsfile WHERE fitsFileId = 'L1'", NULL), 1);
    ASSERT_EQ(q_int(db, "SELECT fitsFileSoftDelete FROM fitsfile WHERE fitsFileId = ?1", id),
              0);
    ac_db_close(db);
}

TEST(catalog_record_failure_leaves_nothing)
{
    /* A statement fails in the middle of the transaction (after the output row was
     * inserted): first the raw row's update, then the record's insert. */
    const char *triggers[] = {
        "CREATE TRIGGER inject BEFORE UPDATE ON fitsfile WHEN OLD.fitsFileId = 'L1' "
        "BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
        "CREATE TRIGGER inject BEFORE INSERT ON astrocal_record "
        "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"};

    for (int k = 0; k < 2; k++) {
        ac_db_t *db = fixture(k == 0 ? AFDB_MIGRATED : AFDB_MODELS);
        ac_calibrated_rec_t r = rec_for("L1", "/out/L1_calibrated.fits");
        long long rows = q_int(db, "SELECT COUNT(*) FROM fitsfile", NULL);
        ac_err_t e = {0};
        ac_queue_t q;

        ac_queue_init(&q, db);
        queue_running(&q, "S1", "L1");
        ASSERT_OK(ac_db_exec(db, triggers[k], NULL));
        ASSERT_EQ(ac_catalog_record_calibrated(db, &r, false, NULL, &e), AC_ESQLITE);
        ASSERT_CONTAINS(e.msg, "injected failure");
        ASSERT_EQ(q_int(db, "SELECT COUNT(*) FROM fitsfile", NULL), rows);
        ASSERT_EQ(q_int(db, "SELECT COUNT(*) FROM astrocal_record", NULL), 0);
        ASSERT_EQ(q_int(db,
                        "SELECT fitsFileCalibrated + fitsFileSoftDelete FROM fitsfile "
                        "WHERE fitsFileId = 'L1'",
                        NULL),
                  0);
        ASSERT_STR_EQ(q_text(db, "SELECT state FROM astrocal_file WHERE file_id = 'L1'", NULL),
                      "running");
        ASSERT(!ac_db_in_transaction(db));
        ac_db_close(db);
    }
}

TEST(catalog_record_missing_raw_is_enoent)
{
    ac_db_t *db = fixture(AFDB_MIGRATED);
    ac_calibrated_rec_t r = rec_for("nope", "/out/x.fits");
    ac_err_t e = {0};

    ASSERT_EQ(ac_catalog_record_calibrated(db, &r, true, NULL, &e), -ENOENT);
    ASSERT_CONTAINS(e.msg, "nope");
    ac_db_close(db);
}

/* ---- Registering files and masters ---- */

static ac_register_rec_t light_rec(const char *path, const char *hash, const char *exptime,
                                   const char *filter)
{
    ac_register_rec_t r = {0};

    r.path = path;
    r.sha256 = hash;
    r.date_obs = "2024-10-05T02:10:07.25";
    r.imagetyp = "Light Frame";
    r.object = "M 31";
    r.exptime = exptime;
    r.xbin = "1";
    r.ybin = "1";
    r.ccd_temp = "-10.1";
    r.telescope = "C14";
    r.instrument = "ZWO ASI294MM Pro";
    r.filter = filter;
    r.session_object = "M 31";
    r.session_date = "2024-10-04";
    r.session_by_exposure = true;
    r.session_by_filter = true;
    return r;
}

TEST(catalog_register_file_as_astrofiler_importer)
{
    for (int v = 0; v < 2; v++) {
        ac_db_t *db;
        ac_register_result_t a, b, c, d, k;
        ac_register_rec_t r1 = light_rec("/in/a.fits", "h1", "300", "Ha");
        ac_register_rec_t r2 = light_rec("/in/b.fits", "h2", "300.0", "Ha");
        ac_register_rec_t r3 = light_rec("/in/c.fits", "h3", "300", "OIII");
        ac_register_rec_t dk = light_rec("/in/dark.fits", "h4", "300", NULL);
        ac_err_t e = {0};

        if (v == 0) {
            db = ac_db_open("new.db", NULL, &e); /* our own AstroFiler schema */
        } else {
            sqlite3_close(afdb_create("models.db", AFDB_MODELS));
            db = ac_db_open("models.db", NULL, &e);
        }
        ASSERT_NOT_NULL(db);
        ASSERT_OK(ac_schema_prepare(db, NULL, &e));
        ASSERT_OK(ac_catalog_register_file(db, &r1, &a, &e));
        ASSERT(!a.duplicate);
        ASSERT(a.session_created);
        ASSERT_STR_EQ(
            q_text(db, "SELECT fitsFileType FROM fitsfile WHERE fitsFileId = ?1", a.file_id),
            "LIGHT FRAME");
        ASSERT_STR_EQ(
            q_text(db, "SELECT fitsFileSession FROM fitsfile WHERE fitsFileId = ?1", a.file_id),
            a.session_id);
        ASSERT_EQ(q_int(db,
                        "SELECT fitsFileGain IS NULL AND fitsFileOffset IS NULL AND "
                        "fitsFileSoftDelete = 0 AND fitsFileCalibrated = 0 AND "
                        "fitsFileStacked IS NULL FROM fitsfile WHERE fitsFileId = ?1",
                        a.file_id),
                  1);
        ASSERT_STR_EQ(q_text(db,
                             "SELECT fitsSessionObjectName || '|' || fitsSessionDate || "
                             "'|' || fitsSessionExposure || '|' || fitsSessionFilter || "
                             "'|' || fitsSessionImager || '|' || is_auto_calibration FROM "
                             "fitssession WHERE fitsSessionId = ?1",
                             a.session_id),
                      "M 31|2024-10-04|300|Ha|ZWO ASI294MM Pro|0");
        /* '300.0' groups with '300' (numerically); another filter is another session. */
        ASSERT_OK(ac_catalog_register_file(db, &r2, &b, &e));
        ASSERT(!b.session_created);
        ASSERT_STR_EQ(b.session_id, a.session_id);
        ASSERT_OK(ac_catalog_register_file(db, &r3, &c, &e));
        ASSERT(c.session_created);
        ASSERT(strcmp(c.session_id, a.session_id) != 0);
        /* Duplicate by hash: skipped, the existing row reported. */
        r2.path = "/in/b-copy.fits";
        ASSERT_OK(ac_catalog_register_file(db, &r2, &k, &e));
        ASSERT(k.duplicate);
        ASSERT_STR_EQ(k.file_id, b.file_id);
        ASSERT_EQ(q_int(db, "SELECT COUNT(*) FROM fitsfile", NULL), 3);
        /* A dark: object 'Dark', no filter. */
        dk.imagetyp = "Dark Frame";
        dk.object = "Dark";
        dk.session_object = "Dark";
        dk.session_by_filter = false;
        ASSERT_OK(ac_catalog_register_file(db, &dk, &d, &e));
        ASSERT_STR_EQ(q_text(db,
                             "SELECT fitsFileType || '|' || fitsFileObject || '|' || "
                             "(fitsFileFilter IS NULL) FROM fitsfile WHERE fitsFileId = ?1",
                             d.file_id),
                      "DARK FRAME|Dark|1");
        ASSERT_EQ(q_int(db, "SELECT COUNT(*) FROM fitssession", NULL), 3);
        ac_db_close(db);
    }
}

TEST(catalog_register_master_writes_every_not_null_column)
{
    ac_db_t *db = ac_db_open("m.db", NULL, NULL);
    ac_master_rec_t m = {.type = "dark",
                         .path = "/repo/Masters/Master-Dark-1.fits",
                         .md5 = "aa",
                         .file_size = 1234,
                         .file_count = 20,
                         .telescope = "Sky Watcher 72ED",
                         .instrument = "ASI294",
                         .exposure = "300.0",
                         .xbin = "1",
                         .ybin = "1",
                         .ccd_temp = "-10.0",
                         .quality = NAN};
    int64_t r1 = 0, r2 = 0, r3 = 0;
    bool dup = true;
    const char *id1, *id2;

    ASSERT_OK(ac_schema_prepare(db, NULL, NULL));
    ASSERT_OK(ac_catalog_register_master(db, &m, &r1, &dup, NULL));
    ASSERT(!dup);
    id1 = q_text(db, "SELECT master_id FROM Masters WHERE id = 1", NULL);
    /* dark_Sky_Watcher_72ED_YYYYmmdd_HHMMSS */
    ASSERT_EQ(strncmp(id1, "dark_Sky_Watcher_72ED_", 22), 0);
    ASSERT_EQ(strlen(id1), 22 + 15);
    ASSERT_EQ(q_int(db,
                    "SELECT file_count = 20 AND is_validated = 0 AND soft_delete = 0 AND "
                    "file_size = 1234 AND length(creation_date) = 26 AND quality_score IS "
                    "NULL AND validation_date IS NULL FROM Masters WHERE id = 1",
                    NULL),
              1);
    /* Another master within the same second gets a distinct id. */
    m.path = "/repo/Masters/Master-Dark-2.fits";
    m.md5 = "bb";
    ASSERT_OK(ac_catalog_register_master(db, &m, &r2, &dup, NULL));
    ASSERT(!dup);
    id2 = q_text(db, "SELECT master_id FROM Masters WHERE id = 2", NULL);
    ASSERT(strcmp(id1, id2) != 0);
    /* Same path again: a duplicate. */
    ASSERT_OK(ac_catalog_register_master(db, &m, &r3, &dup, NULL));
    ASSERT(dup);
    ASSERT_EQ(r3, r2);
    ASSERT_EQ(q_int(db, "SELECT COUNT(*) FROM Masters", NULL), 2);
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
