/*
 * test-catalog-write.c - writing the catalogue as AstroFiler does
 * (daemon/catalog/catalog_write.c): recording calibrated files (exactly once, reusing an
 * output already registered, all or nothing) and registering imported files and masters,
 * on databases laid out as AstroFiler lays them out (tests/support/afdb.h, dbtest.h),
 * in both schema variants.
 */
#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

#include "afdb.h"
#include "catalog.h"
#include "queue.h"
#include "dbtest.h"
#include "db.h"
#include "schema.h"
#include "test.h"

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
    ac_qfile_add_t f = {file, "/data/lights/x.fits", NULL};
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
        ac_db_t *db = lights_db((afdb_variant_t)v);
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
    ac_db_t *db = lights_db(AFDB_MIGRATED);
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
    ac_db_t *db = lights_db(AFDB_MIGRATED);
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
    ac_db_t *db = lights_db(AFDB_MODELS);
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
        ac_db_t *db = lights_db(k == 0 ? AFDB_MIGRATED : AFDB_MODELS);
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
    ac_db_t *db = lights_db(AFDB_MIGRATED);
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
