/*
 * test-catalog.c - reading the catalogue (daemon/catalog/catalog.c) on databases laid out
 * as AstroFiler lays them out (tests/support/afdb.h, dbtest.h), in both schema
 * variants, with AstroFiler's value quirks; value helpers against known answers. Writing:
 * test-catalog-write.c; master builds: test-catalog-build.c; the queue: test-queue.c.
 */
#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

#include "afdb.h"
#include "catalog.h"
#include "dbtest.h"
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
