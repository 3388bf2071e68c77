/*
 * test-catalog-build.c - calibration sessions as build units and the master build queue
 * (daemon/catalog_build*.c) on databases laid out as AstroFiler lays them out
 * (tests/support/afdb.h), in both schema variants; the astrocal schema migration to
 * version 2 keeps older rows; the builder's plan (prerequisites, names) and how
 * ac_build_record settles a row (daemon/serve/buildplan.c). Building itself: test-builder.c.
 */
#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "afdb.h"
#include "buildplan.h"
#include "catalog.h"
#include "dbtest.h"
#include "db.h"
#include "schema.h"
#include "test.h"

/* ---- Fixture ---- */

static void add_frame(sqlite3 *h, const char *id, const char *session, const char *type,
                      const char *object, const char *date, const char *exptime,
                      const char *filter, int calibrated, int softdelete)
{
    afdb_file_t f = afdb_light(id, session, NULL, date, exptime);

    f.type = type;
    f.object = object;
    f.filter = filter;
    f.calibrated = calibrated;
    f.softdelete = softdelete;
    dbtest_add_file(h, "/data/cal", f);
}

/*
 * Sessions: SB 'Bias' (3 biases, one soft-deleted, one pre-calibrated, so 3 listed of 5),
 * SD 'Dark' 300 s (3 darks and 2 'FLAT DARK' of the same exposure: two units), SF 'Flat'
 * (4 flats, one a stray 'LIGHT' ignored), SE 'Dark' with no frames, S1 a light session.
 * Masters: one bias from SB, one flat-dark (named so) from SD, a soft-deleted flat from SF.
 */
static ac_db_t *fixture(afdb_variant_t v)
{
    const char *path = v == AFDB_MIGRATED ? "cb-migrated.db" : "cb-models.db";
    static const struct {
        const char *id, *type, *path, *session;
        int soft_delete;
    } masters[] = {
        {"bias_C14_1", "bias", "/repo/Masters/Master-Bias-C14-x.fits", "SB", 0},
        {"dark_C14_2", "dark", "/repo/Masters/Master-FlatDark-C14-x.fits", "SD", 0},
        {"flat_C14_3", "flat", "/repo/Masters/Master-Flat-C14-old.fits", "SF", 1},
    };
    sqlite3 *h = afdb_create(path, v);

    afdb_add_session(h, "SB", "Bias", "2024-10-04", "0", "-10", NULL);
    afdb_add_session(h, "SD", "Dark", "2024-10-05", "300", "-10", NULL);
    afdb_add_session(h, "SF", "Flat", "2024-10-03", "2", "-10", "Ha");
    afdb_add_session(h, "SE", "Dark", "2024-10-06", "60", "-10", NULL);
    afdb_add_session(h, "S1", "M 31", "2024-10-05", "300", "-10", "Ha");
    add_frame(h, "B2", "SB", "BIAS FRAME", "Bias", "2024-10-04T10:00:02", "0", NULL, 0, 0);
    add_frame(h, "B1", "SB", "BIAS", "Bias", "2024-10-04T10:00:01", "0", NULL, AFDB_NULL,
              AFDB_NULL);
    add_frame(h, "B3", "SB", "ZERO", "Bias", "2024-10-04T10:00:03", "0", NULL, 0, 0);
    add_frame(h, "B4", "SB", "BIAS FRAME", "Bias", "2024-10-04T10:00:04", "0", NULL, 0, 1);
    add_frame(h, "B5", "SB", "BIAS FRAME", "Bias", "2024-10-04T10:00:05", "0", NULL, 1, 0);
    add_frame(h, "D1", "SD", "DARK FRAME", "Dark", "2024-10-05T08:00:00", "300", NULL, 0, 0);
    add_frame(h, "D2", "SD", "DARK", "Dark", "2024-10-05T08:05:00", "300.0", NULL, 0, 0);
    add_frame(h, "D3", "SD", "DARK FRAME", "Dark", "2024-10-05T08:10:00", "300", NULL, 0, 0);
    add_frame(h, "FD1", "SD", "FLAT DARK", "Dark", "2024-10-05T09:00:00", "300", NULL, 0, 0);
    add_frame(h, "FD2", "SD", "DARKFLAT", "Dark", "2024-10-05T09:00:05", "300", NULL, 0, 0);
    add_frame(h, "F1", "SF", "FLAT FIELD", "Flat", "2024-10-03T18:00:00", "2", "Ha", 0, 0);
    add_frame(h, "F2", "SF", "FLAT", "Flat", "2024-10-03T18:00:03", "2", "Ha", 0, 0);
    add_frame(h, "F3", "SF", "FLAT FIELD", "Flat", "2024-10-03T18:00:06", "2", "Ha", 0, 0);
    add_frame(h, "F4", "SF", "FLAT FIELD", "Flat", "2024-10-03T18:00:09", "2", "Ha", 0, 0);
    add_frame(h, "FX", "SF", "LIGHT", "Flat", "2024-10-03T18:00:12", "2", "Ha", 0, 0);
    add_frame(h, "L1", "S1", "LIGHT FRAME", "M 31", "2024-10-05T22:00:00", "300", "Ha", 0, 0);
    for (size_t i = 0; i < sizeof masters / sizeof masters[0]; i++) {
        afdb_master_t m = {.master_id = masters[i].id,
                           .type = masters[i].type,
                           .path = masters[i].path,
                           .source_session = masters[i].session,
                           .file_count = 3,
                           .soft_delete = masters[i].soft_delete};
        afdb_add_master(h, &m);
    }
    return dbtest_open(h, path);
}

/* ---- Units ---- */

TEST(catalog_build_units_split_dark_sessions_and_skip_unusable_frames)
{
    for (int v = AFDB_MIGRATED; v <= AFDB_MODELS; v++) {
        ac_db_t *db = fixture((afdb_variant_t)v);
        ac_calsession_list_t l = {0};
        ac_err_t e = {0};

        ASSERT_OK(ac_catalog_cal_sessions(db, &l, &e));
        /* By session date: SF (10-03), SB (10-04), SD dark, SD flat-dark (10-05); SE has no
         * frames. */
        ASSERT_EQ(l.n, 4);
        ASSERT_STR_EQ(l.items[0].key, "SF");
        ASSERT_EQ(l.items[0].kind, AC_CAL_FLAT);
        ASSERT_EQ(l.items[0].frames.n, 4); /* the stray LIGHT is not a flat */
        ASSERT_STR_EQ(l.items[0].filter, "Ha");
        ASSERT_EQ(l.items[0].master_rowid, 0); /* its master is soft-deleted */
        ASSERT_STR_EQ(l.items[1].key, "SB");
        ASSERT_EQ(l.items[1].kind, AC_CAL_BIAS);
        /* B4 soft-deleted and B5 calibrated are left out; ordered by date (NULL flags are
         * false). */
        ASSERT_EQ(l.items[1].frames.n, 3);
        ASSERT_STR_EQ(l.items[1].frames.items[0].file_id, "B1");
        ASSERT_STR_EQ(l.items[1].frames.items[2].file_id, "B3");
        ASSERT_STR_EQ(l.items[1].frames.items[0].path, "/data/cal/B1.fits");
        ASSERT_EQ(l.items[1].master_rowid, 1);
        ASSERT_STR_EQ(l.items[1].master_path, "/repo/Masters/Master-Bias-C14-x.fits");
        ASSERT_STR_EQ(l.items[2].key, "SD");
        ASSERT_EQ(l.items[2].kind, AC_CAL_DARK);
        ASSERT_EQ(l.items[2].frames.n, 3);
        ASSERT_NEAR(l.items[2].frames.items[1].exposure, 300.0, 0);
        ASSERT_NEAR(l.items[2].exposure, 300.0, 0);
        /* The mixed session's 'dark' master is named a flat-dark: it is the flat-dark's. */
        ASSERT_EQ(l.items[2].master_rowid, 0);
        ASSERT_STR_EQ(l.items[3].key, "SD:flatdark");
        ASSERT_STR_EQ(l.items[3].session_id, "SD");
        ASSERT_EQ(l.items[3].kind, AC_CAL_FLATDARK);
        ASSERT_EQ(l.items[3].frames.n, 2);
        ASSERT_EQ(l.items[3].master_rowid, 2);
        ac_catalog_calsessions_free(&l);
        ASSERT_EQ(l.n, 0);
        ac_db_close(db);
    }
}

TEST(catalog_build_one_unit_by_key)
{
    ac_db_t *db = fixture(AFDB_MIGRATED);
    ac_calsession_t u = {0};
    ac_err_t e = {0};

    ASSERT_OK(ac_catalog_cal_session(db, "SD:flatdark", &u, &e));
    ASSERT_EQ(u.kind, AC_CAL_FLATDARK);
    ASSERT_EQ(u.frames.n, 2);
    ASSERT_STR_EQ(u.frames.items[0].type, "FLAT DARK");
    ac_catalog_calsession_clear(&u);
    ASSERT_OK(ac_catalog_cal_session(db, "SD", &u, &e));
    ASSERT_EQ(u.kind, AC_CAL_DARK);
    ASSERT_STR_EQ(u.date, "2024-10-05");
    ASSERT_EQ(u.frames.n, 3);
    ac_catalog_calsession_clear(&u);
    ASSERT_EQ(ac_catalog_cal_session(db, "SE", &u, &e), -ENOENT);
    ASSERT_CONTAINS(e.msg, "SE");
    ASSERT_EQ(ac_catalog_cal_session(db, "S1", &u, NULL), -ENOENT); /* a light session */
    ASSERT_EQ(ac_catalog_cal_session(db, "nope", &u, NULL), -ENOENT);
    ac_db_close(db);
}

TEST(catalog_build_name_helpers)
{
    ASSERT(ac_catalog_name_is_flatdark("/m/Master-FlatDark-C14.fits"));
    ASSERT(ac_catalog_name_is_flatdark("/m/master_flat_dark_2s.fits"));
    ASSERT(ac_catalog_name_is_flatdark("DARK-FLAT 2s.fit"));
    ASSERT(!ac_catalog_name_is_flatdark("/flatdark/Master-Dark-C14.fits")); /* base only */
    ASSERT(!ac_catalog_name_is_flatdark(NULL));
    ASSERT_STR_EQ(ac_catalog_cal_kind_master_type(AC_CAL_FLATDARK), "dark");
    ASSERT_EQ(ac_catalog_cal_kind_parse("flatdark"), AC_CAL_FLATDARK);
    ASSERT_EQ(ac_catalog_cal_kind_parse("x"), -1);
    ASSERT_EQ(ac_catalog_build_state_parse("rejected"), AC_BUILD_REJECTED);
    ASSERT_STR_EQ(ac_catalog_build_state_name(AC_BUILD_RUNNING), "running");
}

/* ---- Queue ---- */

static const char *claim(ac_db_t *db, double now)
{
    static char key[64];
    ac_build_row_t r = {0};
    bool found = false;

    ASSERT_OK(ac_catalog_build_claim(db, now, &r, &found, NULL));
    if (!found)
        return NULL;
    ASSERT_EQ(r.state, AC_BUILD_RUNNING);
    ASSERT_NOT_NULL(r.started_at);
    snprintf(key, sizeof key, "%s", r.key);
    ac_catalog_build_row_clear(&r);
    return key;
}

static ac_db_t *queue_db(void)
{
    ac_db_t *db = ac_db_open("bq.db", NULL, NULL);
    bool added = false;

    ASSERT_NOT_NULL(db);
    ASSERT_OK(ac_schema_prepare(db, NULL, NULL));
    ASSERT_OK(ac_catalog_build_enqueue(db, "F1", AC_CAL_FLAT, &added, NULL));
    ASSERT(added);
    ASSERT_OK(ac_catalog_build_enqueue(db, "D1", AC_CAL_DARK, NULL, NULL));
    ASSERT_OK(ac_catalog_build_enqueue(db, "B1", AC_CAL_BIAS, NULL, NULL));
    ASSERT_OK(ac_catalog_build_enqueue(db, "D1:flatdark", AC_CAL_FLATDARK, NULL, NULL));
    ASSERT_OK(ac_catalog_build_enqueue(db, "B2", AC_CAL_BIAS, NULL, NULL));
    ASSERT_OK(ac_catalog_build_enqueue(db, "F1", AC_CAL_FLAT, &added, NULL));
    ASSERT(!added); /* already queued: kept */
    return db;
}

TEST(catalog_build_claim_order_prerequisites_first)
{
    ac_db_t *db = queue_db();
    ac_build_row_list_t l = {0};

    ASSERT_STR_EQ(claim(db, 1e9), "B1");
    ASSERT_STR_EQ(claim(db, 1e9), "B2");
    ASSERT_STR_EQ(claim(db, 1e9), "D1:flatdark");
    /* A deferred build waits for its time. */
    ASSERT_OK(ac_catalog_build_defer(db, "D1:flatdark", "disk busy", 2e9, true, NULL));
    ASSERT_STR_EQ(claim(db, 1e9), "D1");
    ASSERT_STR_EQ(claim(db, 1e9), "F1");
    ASSERT_NULL(claim(db, 1e9));
    ASSERT_STR_EQ(claim(db, 2e9), "D1:flatdark");
    ASSERT_EQ(
        q_int(db, "SELECT attempts FROM astrocal_build WHERE session_id = ?1", "D1:flatdark"),
        1);
    /* Defer only applies to a running build. */
    ASSERT_EQ(ac_catalog_build_defer(db, "ghost", NULL, 0, false, NULL), -ENOENT);
    ASSERT_OK(ac_catalog_build_list(db, &l, NULL));
    ASSERT_EQ(l.n, 5);
    ASSERT_EQ(l.items[0].state, AC_BUILD_RUNNING);
    ASSERT_EQ(l.items[0].kind, AC_CAL_BIAS);
    ac_catalog_build_rows_free(&l);
    ac_db_close(db);
}

TEST(catalog_build_recover_finish_retry)
{
    ac_db_t *db = queue_db();
    ac_build_row_t r = {0};
    int n = -1, nf = -1;
    ac_err_t e = {0};

    ASSERT_STR_EQ(claim(db, 1e9), "B1");
    ASSERT_STR_EQ(claim(db, 1e9), "B2");
    ASSERT_OK(ac_catalog_build_set_path(db, "B1", "/m/Master-Bias-a.fits", NULL));
    /* A crash: both running; B2 has used its attempts. */
    ASSERT_OK(
        ac_db_exec(db, "UPDATE astrocal_build SET attempts = 2 WHERE session_id = 'B2'", NULL));
    ASSERT_OK(ac_catalog_build_recover(db, 3, &n, &nf, NULL));
    ASSERT_EQ(n, 1);
    ASSERT_EQ(nf, 1);
    ASSERT_OK(ac_catalog_build_get(db, "B1", &r, NULL));
    ASSERT_EQ(r.state, AC_BUILD_PENDING);
    ASSERT_EQ(r.attempts, 1);
    ASSERT_STR_EQ(r.master_path, "/m/Master-Bias-a.fits"); /* kept for the rebuild */
    ac_catalog_build_row_clear(&r);
    ASSERT_OK(ac_catalog_build_get(db, "B2", &r, NULL));
    ASSERT_EQ(r.state, AC_BUILD_FAILED);
    ASSERT_STR_EQ(r.error, "interrupted 3 times");
    ac_catalog_build_row_clear(&r);
    /* Finishing rejected keeps the reason; pending/running are not final. */
    ASSERT_STR_EQ(claim(db, 1e9), "B1");
    ASSERT_OK(ac_catalog_build_finish(db, "B1", AC_BUILD_REJECTED, "too many hot pixels",
                                      "{\"hot_fraction\":0.2}", NULL));
    ASSERT_EQ(ac_catalog_build_finish(db, "B1", AC_BUILD_RUNNING, NULL, NULL, &e), -EINVAL);
    ASSERT_EQ(ac_catalog_build_finish(db, "ghost", AC_BUILD_DONE, NULL, NULL, NULL), -ENOENT);
    ASSERT_OK(ac_catalog_build_get(db, "B1", &r, NULL));
    ASSERT_EQ(r.state, AC_BUILD_REJECTED);
    ASSERT_STR_EQ(r.error, "too many hot pixels");
    ASSERT_STR_EQ(r.quality_json, "{\"hot_fraction\":0.2}");
    ASSERT_NOT_NULL(r.finished_at);
    ac_catalog_build_row_clear(&r);
    ASSERT_EQ(q_int(db, "SELECT COUNT(*) FROM Masters", NULL), 0); /* never registered */
    /* Retry puts failed and rejected back. */
    ASSERT_OK(ac_catalog_build_retry(db, NULL, &n, NULL));
    ASSERT_EQ(n, 2);
    ASSERT_OK(ac_catalog_build_get(db, "B2", &r, NULL));
    ASSERT_EQ(r.state, AC_BUILD_PENDING);
    ASSERT_EQ(r.attempts, 0);
    ASSERT_NULL(r.error);
    ac_catalog_build_row_clear(&r);
    ASSERT_EQ(ac_catalog_build_get(db, "ghost", &r, NULL), -ENOENT);
    ac_db_close(db);
}

static ac_master_rec_t master_rec(const char *path, const char *md5)
{
    ac_master_rec_t m = {.type = "bias",
                         .path = path,
                         .md5 = md5,
                         .file_size = 40320,
                         .file_count = 7,
                         .telescope = "Esprit 100",
                         .instrument = "ASI2600MM",
                         .xbin = "1",
                         .ybin = "1",
                         .ccd_temp = "-10.0",
                         .gain = "100",
                         .offset = "50",
                         .source_session_id = "SB",
                         .notes = "astrocald: bias master from 7 of 7 frames",
                         .quality = 97.5,
                         .validated = true};
    return m;
}

TEST(catalog_build_register_exactly_once)
{
    ac_db_t *db = queue_db();
    ac_master_rec_t m = master_rec("/repo/Masters/Master-Bias-Esprit_100-a.fits", "0123abcd");
    int64_t r1 = 0, r2 = 0;
    bool dup = true;
    ac_build_row_t r = {0};

    ASSERT_STR_EQ(claim(db, 1e9), "B1");
    ASSERT_OK(ac_catalog_build_register(db, "B1", &m, "{\"noise\":2.1}", &r1, &dup, NULL));
    ASSERT(!dup);
    ASSERT(r1 > 0);
    /* Again (the restart after a crash between the commit and the reply): one row. */
    ASSERT_OK(ac_catalog_build_register(db, "B1", &m, "{\"noise\":2.1}", &r2, &dup, NULL));
    ASSERT(dup);
    ASSERT_EQ(r2, r1);
    ASSERT_EQ(q_int(db, "SELECT COUNT(*) FROM Masters", NULL), 1);
    ASSERT_OK(ac_catalog_build_get(db, "B1", &r, NULL));
    ASSERT_EQ(r.state, AC_BUILD_DONE);
    ASSERT_EQ(r.master_rowid, r1);
    ASSERT_STR_EQ(r.master_path, m.path);
    ASSERT_STR_EQ(r.quality_json, "{\"noise\":2.1}");
    ac_catalog_build_row_clear(&r);
    /* Every NOT NULL column, type lower case, no exposure and filter for a bias. */
    ASSERT_STR_EQ(
        q_text(db,
               "SELECT master_type || '|' || file_count || '|' || is_validated || '|' "
               "|| soft_delete || '|' || hash_value || '|' || file_size || '|' || "
               "source_session_id || '|' || quality_score || '|' || "
               "(exposure_time IS NULL) || (filter_name IS NULL) || '|' || gain || "
               "'|' || (validation_date IS NOT NULL) || '|' || "
               "(master_id LIKE 'bias_Esprit_100_%') FROM Masters",
               NULL),
        "bias|7|1|0|0123abcd|40320|SB|97.5|11|100|1|1");
    ASSERT_CONTAINS(q_text(db, "SELECT notes FROM Masters", NULL), "7 of 7 frames");
    /* A second build of another key registering the same file is a duplicate too. */
    ASSERT_STR_EQ(claim(db, 1e9), "B2");
    ASSERT_OK(ac_catalog_build_register(db, "B2", &m, NULL, &r2, &dup, NULL));
    ASSERT(dup);
    ASSERT_EQ(r2, r1);
    ASSERT_EQ(q_int(db, "SELECT COUNT(*) FROM Masters", NULL), 1);
    ASSERT_EQ(ac_catalog_build_register(db, "ghost", &m, NULL, NULL, NULL, NULL), -ENOENT);
    ac_db_close(db);
}

TEST(catalog_build_register_refuses_a_stale_row_and_rolls_back)
{
    ac_db_t *db = queue_db();
    ac_master_rec_t m = master_rec("/repo/Masters/Master-Bias-b.fits", "1111");
    ac_err_t e = {0};

    /* Someone registered an older file under this name. */
    ASSERT_OK(ac_catalog_register_master(db, &m, NULL, NULL, NULL));
    ASSERT_STR_EQ(claim(db, 1e9), "B1");
    m.md5 = "2222";
    ASSERT_EQ(ac_catalog_build_register(db, "B1", &m, NULL, NULL, NULL, &e), -EEXIST);
    ASSERT_CONTAINS(e.msg, "another MD5");
    ASSERT_EQ(q_int(db, "SELECT COUNT(*) FROM Masters", NULL), 1);
    ASSERT_STR_EQ(q_text(db, "SELECT state FROM astrocal_build WHERE session_id = 'B1'", NULL),
                  "running");
    ac_db_close(db);
}

TEST(catalog_build_migration_from_version_1_keeps_rows)
{
    ac_db_t *db = dbtest_create("mig.db", AFDB_MIGRATED);
    ac_err_t e = {0};
    int v = -1;

    ASSERT_OK(ac_schema_migrate(db, 1, &e));
    ASSERT_OK(ac_db_exec(
        db, "INSERT INTO astrocal_session (session_id, state) VALUES ('s', 'queued')", &e));
    ASSERT_EQ(
        q_int(db, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'astrocal_build'", NULL), 0);
    ac_db_close(db);
    db = ac_db_open("mig.db", NULL, &e);
    ASSERT_OK(ac_schema_prepare(db, NULL, &e));
    ASSERT_OK(ac_schema_version(db, &v, &e));
    ASSERT_EQ(v, AC_SCHEMA_VERSION);
    ASSERT(AC_SCHEMA_VERSION >= 2); /* version 2 brought astrocal_build */
    ASSERT_EQ(q_int(db, "SELECT COUNT(*) FROM astrocal_session", NULL), 1);
    ASSERT_OK(ac_catalog_build_enqueue(db, "x", AC_CAL_DARK, NULL, &e));
    /* The table refuses states and types outside its lists. */
    ASSERT(ac_db_exec(db,
                      "INSERT INTO astrocal_build (session_id, type, state) VALUES "
                      "('y', 'dark', 'lost')",
                      NULL) != 0);
    ASSERT(ac_db_exec(db,
                      "INSERT INTO astrocal_build (session_id, type, state) VALUES "
                      "('y', 'light', 'pending')",
                      NULL) != 0);
    ac_db_close(db);
}

/* ---- The builder's plan and its record step (daemon/serve/buildplan.c) ---- */

static ac_catalog_file_t pframe(const char *path, double exp, double temp, const char *filter)
{
    ac_catalog_file_t f = {0};

    f.path = (char *)path;
    f.telescope = (char *)"C14";
    f.instrument = (char *)"ZWO ASI294MM Pro";
    f.date_obs = (char *)"2024-10-05T08:00:00";
    f.filter = (char *)filter;
    f.exposure = exp;
    f.ccd_temp = temp;
    f.gain = f.offset = NAN;
    f.xbin = f.ybin = 1;
    return f;
}

static ac_calsession_t punit(const char *key, ac_cal_kind_t kind, ac_catalog_file_t *frames,
                             size_t n, double exp, const char *filter)
{
    ac_calsession_t u = {0};

    u.key = (char *)key;
    u.session_id = (char *)key;
    u.kind = kind;
    u.date = (char *)"2024-10-05";
    u.telescope = (char *)"C14";
    u.imager = (char *)"ZWO ASI294MM Pro";
    u.filter = (char *)filter;
    u.exposure = exp;
    u.ccd_temp = u.gain = u.offset = NAN;
    u.xbin = u.ybin = 1;
    u.frames.items = frames;
    u.frames.n = n;
    return u;
}

static ac_catalog_master_t pmaster(int64_t id, const char *type, const char *path, double exp,
                                   const char *instrument)
{
    ac_catalog_master_t m = {0};

    m.rowid = id;
    m.type = (char *)type;
    m.path = (char *)path;
    m.instrument = (char *)instrument;
    m.exposure = exp;
    m.gain = 100;
    m.offset = NAN;
    m.ccd_temp = NAN;
    m.xbin = m.ybin = 1;
    m.source_session_date = (char *)"2024-10-04";
    return m;
}

TEST(builder_plan_names_uniquely_and_skips)
{
    ac_catalog_file_t fr[3] = {pframe("/d/a.fits", 300, -10.2, NULL),
                               pframe("/d/b.fits", 300, -9.9, NULL),
                               pframe("/d/c.fits", 300, -10.1, NULL)};
    ac_calsession_t u = punit("SD", AC_CAL_DARK, fr, 3, 300, NULL);
    ac_catalog_master_t mm[1];
    ac_master_list_t ml = {mm, 0};
    ac_build_world_t w = {NULL, &ml, NULL};
    ac_build_opts_t o;
    ac_build_spec_t sp;
    char why[512], want[600], want2[600];
    FILE *f;

    ac_build_opts_default(&o);
    snprintf(o.masters_dir, sizeof o.masters_dir, "%s/M", ac_test_tmpdir());
    snprintf(want, sizeof want,
             "%s/Master-Dark-C14-ZWO_ASI294MM_Pro-20241005-300s-1x1-t-10.fits", o.masters_dir);
    ASSERT_EQ(ac_build_plan(&u, &w, &o, NULL, &sp, why, sizeof why), AC_BUILD_PLAN_READY);
    ASSERT_STR_EQ(sp.output_path, want);
    ASSERT_EQ(sp.nsubs, 3);
    ASSERT_STR_EQ(sp.subs[2], "/d/c.fits");
    ASSERT_STR_EQ(sp.session_id, "SD");
    ASSERT_NULL(sp.bias_path); /* the bias stays in darks by default */
    ASSERT_CONTAINS(why, "from 3 frames");
    ac_build_spec_clear(&sp);
    /* Taken on disk: -2; taken in Masters too: -3. */
    ASSERT_OK(mkdir(o.masters_dir, 0755));
    f = fopen(want, "w");
    ASSERT_NOT_NULL(f);
    fclose(f);
    ASSERT_EQ(ac_build_plan(&u, &w, &o, NULL, &sp, why, sizeof why), AC_BUILD_PLAN_READY);
    snprintf(want2, sizeof want2, "%.*s-2.fits", (int)strlen(want) - 5, want);
    ASSERT_STR_EQ(sp.output_path, want2);
    ac_build_spec_clear(&sp);
    mm[0] = pmaster(5, "dark", want2, 300, "x");
    ml.n = 1;
    ASSERT_EQ(ac_build_plan(&u, &w, &o, NULL, &sp, why, sizeof why), AC_BUILD_PLAN_READY);
    ASSERT_CONTAINS(sp.output_path, "-t-10-3.fits");
    ac_build_spec_clear(&sp);
    /* An earlier attempt's path is reused, unless a Masters row names it. */
    ASSERT_EQ(ac_build_plan(&u, &w, &o, want, &sp, why, sizeof why), AC_BUILD_PLAN_READY);
    ASSERT_STR_EQ(sp.output_path, want);
    ac_build_spec_clear(&sp);
    ASSERT_EQ(ac_build_plan(&u, &w, &o, want2, &sp, why, sizeof why), AC_BUILD_PLAN_READY);
    ASSERT_CONTAINS(sp.output_path, "-3.fits");
    ac_build_spec_clear(&sp);
    /* Skips. */
    u.frames.n = 2;
    ASSERT_EQ(ac_build_plan(&u, &w, &o, NULL, &sp, why, sizeof why), AC_BUILD_PLAN_SKIP);
    ASSERT_CONTAINS(why, "2 dark frames, 3 needed");
    u.frames.n = 3;
    u.master_rowid = 9;
    u.master_path = (char *)"/m/x.fits";
    ASSERT_EQ(ac_build_plan(&u, &w, &o, NULL, &sp, why, sizeof why), AC_BUILD_PLAN_SKIP);
    ASSERT_CONTAINS(why, "#9 exists");
    o.masters_dir[0] = '\0';
    u.master_rowid = 0;
    ASSERT_EQ(ac_build_plan(&u, &w, &o, NULL, &sp, why, sizeof why), -EINVAL);
}

TEST(builder_plan_flat_prerequisites_wait_then_choose)
{
    ac_catalog_file_t ff[3] = {pframe("/d/f1.fits", 2, -10, "Ha"),
                               pframe("/d/f2.fits", 2, -10, "Ha"),
                               pframe("/d/f3.fits", 2, -10, "Ha")};
    ac_catalog_file_t fd[3] = {pframe("/d/d1.fits", 2, -10, NULL),
                               pframe("/d/d2.fits", 2, -10, NULL),
                               pframe("/d/d3.fits", 2, -10, NULL)};
    ac_calsession_t units[2] = {punit("SF", AC_CAL_FLAT, ff, 3, 2, "Ha"),
                                punit("SD:flatdark", AC_CAL_FLATDARK, fd, 3, 2, NULL)};
    ac_calsession_list_t ul = {units, 2};
    ac_build_row_t rows[1] = {{0}};
    ac_build_row_list_t rl = {rows, 1};
    ac_catalog_master_t mm[4];
    ac_master_list_t ml = {mm, 0};
    ac_build_world_t w = {&ul, &ml, &rl};
    ac_build_opts_t o;
    ac_build_spec_t sp;
    char why[512];

    ac_build_opts_default(&o);
    snprintf(o.masters_dir, sizeof o.masters_dir, "%s/M", ac_test_tmpdir());
    rows[0].key = (char *)"SD:flatdark";
    rows[0].state = AC_BUILD_PENDING;
    /* The flat-dark unit will make a master: wait for it. */
    ASSERT_EQ(ac_build_plan(&units[0], &w, &o, NULL, &sp, why, sizeof why), AC_BUILD_PLAN_WAIT);
    ASSERT_CONTAINS(why, "flat-dark master of session SD:flatdark");
    /* Its build was rejected: build raw (no bias either). */
    rows[0].state = AC_BUILD_REJECTED;
    ASSERT_EQ(ac_build_plan(&units[0], &w, &o, NULL, &sp, why, sizeof why),
              AC_BUILD_PLAN_READY);
    ASSERT_NULL(sp.flatdark_path);
    ASSERT_NULL(sp.bias_path);
    ASSERT_CONTAINS(why, "combined raw");
    ASSERT_CONTAINS(sp.output_path,
                    "/Master-Flat-C14-ZWO_ASI294MM_Pro-Ha-20241005-2s-1x1-t-10.fits");
    ac_build_spec_clear(&sp);
    /* Masters: a flat-dark of another exposure and of another camera do not match; the bias
     * and the matching flat-dark do. */
    mm[0] = pmaster(1, "dark", "/m/Master-FlatDark-a-10s.fits", 10, "ZWO ASI294MM Pro");
    mm[1] = pmaster(2, "dark", "/m/Master-FlatDark-b.fits", 2, "QHY600");
    mm[2] = pmaster(3, "bias", "/m/Master-Bias-c.fits", NAN, "zwo asi294mm pro ");
    ml.n = 3;
    ASSERT_EQ(ac_build_plan(&units[0], &w, &o, NULL, &sp, why, sizeof why),
              AC_BUILD_PLAN_READY);
    ASSERT_NULL(sp.flatdark_path);
    ASSERT_STR_EQ(sp.bias_path, "/m/Master-Bias-c.fits");
    ac_build_spec_clear(&sp);
    mm[3] = pmaster(4, "dark", "/m/Master-FlatDark-d.fits", 2.0, "Unknown");
    ml.n = 4;
    ASSERT_EQ(ac_build_plan(&units[0], &w, &o, NULL, &sp, why, sizeof why),
              AC_BUILD_PLAN_READY);
    ASSERT_STR_EQ(sp.flatdark_path, "/m/Master-FlatDark-d.fits");
    ASSERT_STR_EQ(sp.bias_path, "/m/Master-Bias-c.fits");
    ASSERT_CONTAINS(why, "flat-dark Master-FlatDark-d.fits");
    ASSERT_EQ(sp.kind, AC_CAL_FLAT);
    ac_build_spec_clear(&sp);
}

TEST(builder_record_defers_transient_and_fails_permanent)
{
    ac_db_t *db = ac_db_open("r.db", NULL, NULL);
    ac_build_spec_t sp = {0};
    ac_build_result_t *res = calloc(1, sizeof *res);
    ac_build_row_t r = {0};
    bool found = false;
    int what = -1;

    ASSERT_NOT_NULL(db);
    ASSERT_NOT_NULL(res);
    ASSERT_OK(ac_schema_prepare(db, NULL, NULL));
    sp.key = (char *)"K";
    sp.kind = AC_CAL_BIAS;
    ASSERT_OK(ac_catalog_build_enqueue(db, "K", AC_CAL_BIAS, NULL, NULL));
    ASSERT_OK(ac_catalog_build_claim(db, 2e9, &r, &found, NULL));
    ac_catalog_build_row_clear(&r);
    res->status = AC_BUILD_ERROR;
    res->err.code = -ENOSPC;
    snprintf(res->err.msg, sizeof res->err.msg, "disk full");
    ASSERT_OK(ac_build_record(db, &sp, res, 3, 10, &what, NULL));
    ASSERT_EQ(what, AC_BUILD_DEFERRED_ROW);
    ASSERT_OK(ac_catalog_build_get(db, "K", &r, NULL));
    ASSERT_EQ(r.state, AC_BUILD_PENDING);
    ASSERT_EQ(r.attempts, 1);
    ASSERT(r.not_before > 1e9);
    ac_catalog_build_row_clear(&r);
    /* Cancelled: back without an attempt. */
    ASSERT_OK(ac_catalog_build_claim(db, 4e9, &r, &found, NULL));
    ASSERT(found);
    ac_catalog_build_row_clear(&r);
    res->err.code = AC_ECANCELED;
    ASSERT_OK(ac_build_record(db, &sp, res, 3, 10, &what, NULL));
    ASSERT_EQ(what, AC_BUILD_DEFERRED_ROW);
    ASSERT_OK(ac_catalog_build_get(db, "K", &r, NULL));
    ASSERT_EQ(r.attempts, 1);
    ac_catalog_build_row_clear(&r);
    /* A permanent error fails the row. */
    ASSERT_OK(ac_catalog_build_claim(db, 4e9, &r, &found, NULL));
    ac_catalog_build_row_clear(&r);
    res->err.code = AC_EFORMAT;
    snprintf(res->err.msg, sizeof res->err.msg, "only 1 of 3 frames usable");
    ASSERT_OK(ac_build_record(db, &sp, res, 3, 10, &what, NULL));
    ASSERT_EQ(what, AC_BUILD_FAILED_ROW);
    ASSERT_OK(ac_catalog_build_get(db, "K", &r, NULL));
    ASSERT_EQ(r.state, AC_BUILD_FAILED);
    ASSERT_STR_EQ(r.error, "only 1 of 3 frames usable");
    ac_catalog_build_row_clear(&r);
    free(res);
    ac_db_close(db);
}
