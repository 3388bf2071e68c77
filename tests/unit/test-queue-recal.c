/*
 * test-queue-recal.c - the catalogue's side of manual masters and recalibration: a done
 * session's files queued again with the output they replace (only a done session), the
 * recalibrated file recorded in place (the same output row, its hash, masters and date
 * updated, astrocal_record too, no second row, history rows), a recalibration that fails
 * for good keeping the previous calibration, pins stored and removed with their history,
 * and the schema migration keeping the queue's rows.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "catalog.h"
#include "dbtest.h"
#include "pin.h"
#include "queue.h"
#include "schema.h"
#include "test.h"

/* A catalogue with session S of two raw lights A and B, calibrated and recorded (their
 * outputs /out/A_c.fits and /out/B_c.fits, flat /m/flat1.fits), the session done. */
static ac_db_t *calibrated(ac_queue_t *q)
{
    sqlite3 *h = afdb_create("r.db", AFDB_MIGRATED);
    ac_db_t *db;
    const ac_qfile_add_t files[] = {{"A", "/raw/A.fits", NULL}, {"B", "/raw/B.fits", NULL}};
    ac_queue_plan_t p = {.session_id = "S", .ready = true, .files = files, .nfiles = 2};

    afdb_add_session(h, "S", "M 31", "2024-03-15", "300", "-10", "L");
    for (int i = 0; i < 2; i++) {
        afdb_file_t f =
            afdb_light(files[i].file_id, "S", files[i].path, "2024-03-15T22:00:00", "300");
        afdb_add_file(h, &f);
    }
    db = dbtest_open(h, "r.db");
    ac_queue_init(q, db);
    ASSERT_OK(ac_queue_plan(q, &p, NULL, NULL));
    for (int i = 0; i < 2; i++) {
        ac_qfile_t f = {0};
        bool found = false;
        char out[64];
        ac_calibrated_rec_t rec = {.raw_file_id = NULL,
                                   .output_sha256 = "old",
                                   .flat_path = "/m/flat1.fits",
                                   .dark_scale = 1,
                                   .pedestal = 0};
        ASSERT_OK(ac_queue_claim(q, 1e12, NULL, &f, &found, NULL));
        ASSERT(found);
        snprintf(out, sizeof out, "/out/%s_c.fits", f.file_id);
        rec.raw_file_id = f.file_id;
        rec.output_path = out;
        ASSERT_OK(ac_queue_record_calibrated(q, &rec, true, NULL, NULL));
        ac_queue_file_clear(&f);
    }
    return db;
}

TEST(queue_recal_requeues_a_done_session_and_records_in_place)
{
    ac_queue_t q;
    ac_db_t *db = calibrated(&q);
    ac_err_t e = {0};
    ac_qsession_t s = {0};
    char out_a[64];
    int n = 0;

    snprintf(out_a, sizeof out_a, "%s",
             q_text(db, "SELECT fitsFileId FROM fitsfile WHERE fitsFileOriginalFile = ?1",
                    "/raw/A.fits"));
    ASSERT_OK(ac_queue_session(&q, "S", &s, NULL));
    ASSERT_EQ(s.state, AC_SESS_DONE);
    ac_queue_session_clear(&s);
    ASSERT_OK(ac_queue_recalibrate(&q, "S", &n, &e));
    ASSERT_EQ(n, 2);
    ASSERT_EQ(q_int(db,
                    "SELECT count(*) FROM astrocal_file WHERE state = 'pending' AND "
                    "recal_output = output_path",
                    NULL),
              2);
    ASSERT_OK(ac_queue_session(&q, "S", &s, NULL));
    ASSERT_EQ(s.state, AC_SESS_QUEUED);
    ac_queue_session_clear(&s);
    /* A session not done is refused, with its state. */
    ASSERT_EQ(ac_queue_recalibrate(&q, "S", &n, &e), -EEXIST);
    ASSERT(strstr(e.msg, "is queued") != NULL);
    ASSERT_EQ(ac_queue_recalibrate(&q, "nope", &n, &e), -ENOENT);

    /* A: recalibrated and recorded in place. */
    {
        ac_qfile_t f = {0};
        bool found = false;
        ac_calibrated_rec_t rec = {.output_sha256 = "new",
                                   .flat_path = "/m/flat2.fits",
                                   .flat_md5 = "f2",
                                   .steps = "flat",
                                   .dark_scale = 1};
        ASSERT_OK(ac_queue_claim(&q, 1e12, NULL, &f, &found, NULL));
        ASSERT_STR_EQ(f.file_id, "A");
        ASSERT_STR_EQ(f.recal_output, "/out/A_c.fits");
        rec.raw_file_id = f.file_id;
        rec.output_path = f.recal_output;
        ASSERT_OK(ac_queue_record_recalibrated(&q, &rec, "/out/.A_c.fits.recal-old", &e));
        ac_queue_file_clear(&f);
    }
    ASSERT_EQ(q_int(db, "SELECT count(*) FROM fitsfile WHERE fitsFileOriginalFile = ?1",
                    "/raw/A.fits"),
              1);
    ASSERT_STR_EQ(q_text(db, "SELECT fitsFileHash FROM fitsfile WHERE fitsFileId = ?1", out_a),
                  "new");
    ASSERT_STR_EQ(
        q_text(db, "SELECT fitsFileMasterFlat FROM fitsfile WHERE fitsFileId = ?1", out_a),
        "/m/flat2.fits");
    ASSERT_STR_EQ(q_text(db, "SELECT flat_path FROM astrocal_record WHERE file_id = 'A'", NULL),
                  "/m/flat2.fits");
    ASSERT_STR_EQ(
        q_text(db, "SELECT output_file_id FROM astrocal_record WHERE file_id = 'A'", NULL),
        out_a);
    ASSERT_STR_EQ(q_text(db,
                         "SELECT state || ' ' || coalesce(recal_output, '-') || ' ' || "
                         "recal_backup FROM astrocal_file WHERE file_id = 'A'",
                         NULL),
                  "done - /out/.A_c.fits.recal-old");
    ASSERT_OK(ac_queue_recal_backup_gone(&q, "A", NULL));
    ASSERT_EQ(
        q_int(db, "SELECT count(*) FROM astrocal_file WHERE recal_backup IS NOT NULL", NULL),
        0);
    ASSERT_EQ(q_int(db, "SELECT count(*) FROM astrocal_event WHERE kind = 'recalibrate'", NULL),
              2); /* the request and A */

    /* B: the recalibration fails for good: done, the previous calibration kept. */
    {
        ac_qfile_t f = {0};
        bool found = false;
        ac_queue_verdict_t v;
        ASSERT_OK(ac_queue_claim(&q, 1e12, NULL, &f, &found, NULL));
        ASSERT_STR_EQ(f.file_id, "B");
        ASSERT_OK(ac_queue_fail(&q, "B", AC_EFORMAT, "bad pixels", 1, 1e12, &v, NULL));
        ASSERT(!v.retry);
        ac_queue_file_clear(&f);
    }
    ASSERT_STR_EQ(q_text(db, "SELECT state FROM astrocal_file WHERE file_id = 'B'", NULL),
                  "done");
    ASSERT(strstr(q_text(db, "SELECT error FROM astrocal_file WHERE file_id = 'B'", NULL),
                  "previous calibration is kept") != NULL);
    ASSERT_STR_EQ(q_text(db, "SELECT flat_path FROM astrocal_record WHERE file_id = 'B'", NULL),
                  "/m/flat1.fits");
    ASSERT_OK(ac_queue_session(&q, "S", &s, NULL));
    ASSERT_EQ(s.state, AC_SESS_DONE);
    ac_queue_session_clear(&s);
    ac_db_close(db);
}

TEST(pin_set_clear_and_history)
{
    ac_queue_t q;
    ac_db_t *db = calibrated(&q);
    ac_pin_list_t pins = {0};
    ac_pin_t p = {.session_id = "S",
                  .type = "dark",
                  .master_rowid = 7,
                  .master_path = "/m/d.fits",
                  .forced = true,
                  .override = "temperature"};
    int n = 0;

    ASSERT_OK(ac_catalog_pin_set(db, &p, NULL));
    p.type = "flat";
    p.forced = false;
    p.override = NULL;
    ASSERT_OK(ac_catalog_pin_set(db, &p, NULL));
    ASSERT_OK(ac_catalog_pins(db, "S", &pins, NULL));
    ASSERT_EQ(pins.n, 2);
    ASSERT_STR_EQ(pins.items[0].type, "dark");
    ASSERT(pins.items[0].forced);
    ASSERT_STR_EQ(pins.items[0].override, "temperature");
    ASSERT_STR_EQ(pins.items[0].source, "astrocalctl");
    ac_catalog_pins_free(&pins);
    p.type = "darkflat";
    ASSERT_EQ(ac_catalog_pin_set(db, &p, NULL), -EINVAL);
    ASSERT_OK(ac_catalog_pin_clear(db, "S", 1u << 1, &n, NULL)); /* the dark only */
    ASSERT_EQ(n, 1);
    ASSERT_OK(ac_catalog_pins(db, "S", &pins, NULL));
    ASSERT_EQ(pins.n, 1);
    ASSERT_STR_EQ(pins.items[0].type, "flat");
    ac_catalog_pins_free(&pins);
    ASSERT_EQ(q_int(db, "SELECT count(*) FROM astrocal_event WHERE kind = 'override'", NULL),
              3);
    ASSERT(q_text(db,
                  "SELECT message FROM astrocal_event WHERE kind = 'override' AND message "
                  "LIKE '%overriding: temperature'",
                  NULL) != NULL);
    ac_db_close(db);
}

TEST(pin_recal_migration_keeps_the_queue)
{
    ac_db_t *db = dbtest_create("m.db", AFDB_MIGRATED);
    int v = 0;

    ASSERT_OK(ac_schema_migrate(db, AC_SCHEMA_PIN - 1, NULL));
    ASSERT_OK(ac_db_exec(db,
                         "INSERT INTO astrocal_session (session_id, state) VALUES ('s', "
                         "'done'); INSERT INTO astrocal_file (file_id, session_id, path, "
                         "state, output_path) VALUES ('a', 's', '/a.fits', 'done', '/o.fits')",
                         NULL));
    ac_db_close(db);
    db = ac_db_open("m.db", NULL, NULL);
    ASSERT_OK(ac_schema_prepare(db, NULL, NULL));
    ASSERT_OK(ac_schema_version(db, &v, NULL));
    ASSERT_EQ(v, AC_SCHEMA_VERSION);
    ASSERT_STR_EQ(q_text(db,
                         "SELECT output_path || coalesce(recal_output, '-') || "
                         "coalesce(recal_backup, '-') FROM astrocal_file WHERE file_id = 'a'",
                         NULL),
                  "/o.fits--");
    ASSERT_EQ(q_int(db, "SELECT count(*) FROM astrocal_pin", NULL), 0);
    ASSERT_EQ(q_int(db, "SELECT count(*) FROM astrocal_link", NULL), 0);
    ac_db_close(db);
}
