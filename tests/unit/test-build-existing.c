/*
 * test-build-existing.c - no duplicate masters (buildplan.h): a calibration session is not
 * built when the catalogue already holds a master that would serve it, linked to it or
 * not (as AstroFiler registers masters: no source session); its night is read from its
 * DATE-OBS by the build before it builds, and kept. Settings that differ (temperature
 * beyond the tolerance, another filter, another night) still build.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "afdb.h"
#include "buildtest.h"
#include "dbtest.h"
#include "test.h"

static ac_catalog_file_t xframe(const char *path)
{
    ac_catalog_file_t f = {0};

    f.path = (char *)path;
    f.telescope = (char *)"C14";
    f.instrument = (char *)"ZWO ASI294MM Pro";
    f.date_obs = (char *)"2024-10-05T22:00:00"; /* night 2024-10-05 at UTC+0 */
    f.filter = (char *)"Ha";
    f.exposure = 2;
    f.ccd_temp = -10;
    f.gain = f.offset = NAN;
    f.xbin = f.ybin = 1;
    return f;
}

static ac_catalog_master_t xmaster(int64_t id, const char *type, double temp)
{
    ac_catalog_master_t m = {0};

    m.rowid = id;
    m.type = (char *)type;
    m.path = (char *)"/m/master.fits";
    m.telescope = (char *)"C14";
    m.instrument = (char *)"ZWO ASI294MM Pro";
    m.filter = (char *)"Ha";
    m.exposure = strcmp(type, "dark") == 0 ? 2 : NAN;
    m.ccd_temp = temp;
    m.gain = m.offset = NAN;
    m.xbin = m.ybin = 1;
    return m;
}

static int plan(ac_calsession_t *u, ac_catalog_master_t *m, ac_build_spec_t *sp, char *why)
{
    ac_master_list_t ml = {m, 1};
    ac_build_world_t w = {NULL, &ml, NULL};
    ac_build_opts_t o;

    ac_build_opts_default(&o);
    snprintf(o.masters_dir, sizeof o.masters_dir, "%s/M", ac_test_tmpdir());
    return ac_build_plan(u, &w, &o, NULL, sp, why, 512);
}

TEST(build_existing_plan_skips_probes_and_builds)
{
    ac_catalog_file_t fr[3] = {xframe("/d/1.fits"), xframe("/d/2.fits"), xframe("/d/3.fits")};
    ac_calsession_t u = {0};
    ac_catalog_master_t m;
    ac_build_spec_t sp;
    char why[512];

    u.key = u.session_id = (char *)"SF";
    u.kind = AC_CAL_FLAT;
    u.date = (char *)"2024-10-05";
    u.filter = (char *)"Ha";
    u.exposure = 2;
    u.ccd_temp = u.gain = u.offset = NAN;
    u.frames.items = fr;
    u.frames.n = 3;
    /* An unlinked master of unknown night: built only after its DATE-OBS is read. */
    m = xmaster(7, "flat", -10);
    ASSERT_EQ(plan(&u, &m, &sp, why), AC_BUILD_PLAN_READY);
    ASSERT_EQ(sp.nprobe, 1);
    ASSERT_EQ(sp.probe_rowid[0], 7);
    ASSERT_STR_EQ(sp.probe_path[0], "/m/master.fits");
    ASSERT_STR_EQ(sp.night, "2024-10-05");
    ac_build_spec_clear(&sp);
    /* Its night known: the same night skips, another night builds (no probe). */
    m.night = (char *)"2024-10-05";
    ASSERT_EQ(plan(&u, &m, &sp, why), AC_BUILD_PLAN_SKIP);
    ASSERT_CONTAINS(why, "master #7 of the same night");
    m.night = (char *)"2024-10-04";
    ASSERT_EQ(plan(&u, &m, &sp, why), AC_BUILD_PLAN_READY);
    ASSERT_EQ(sp.nprobe, 0);
    ac_build_spec_clear(&sp);
    /* A source session's date counts as its night. */
    m.night = NULL;
    m.source_session_date = (char *)"2024-10-05";
    ASSERT_EQ(plan(&u, &m, &sp, why), AC_BUILD_PLAN_SKIP);
    /* Temperature: 2 degrees apart serves (tolerance 5), 7 does not. */
    m.ccd_temp = -12;
    ASSERT_EQ(plan(&u, &m, &sp, why), AC_BUILD_PLAN_SKIP);
    m.ccd_temp = -17;
    ASSERT_EQ(plan(&u, &m, &sp, why), AC_BUILD_PLAN_READY);
    ac_build_spec_clear(&sp);
    /* Another filter or telescope, another binning: not the same flat. */
    m.ccd_temp = -10;
    m.filter = (char *)"OIII";
    ASSERT_EQ(plan(&u, &m, &sp, why), AC_BUILD_PLAN_READY);
    ac_build_spec_clear(&sp);
    m.filter = (char *)"Ha";
    m.telescope = (char *)"RedCat 51";
    ASSERT_EQ(plan(&u, &m, &sp, why), AC_BUILD_PLAN_READY);
    ac_build_spec_clear(&sp);
    m.telescope = (char *)"C14";
    m.xbin = m.ybin = 2;
    ASSERT_EQ(plan(&u, &m, &sp, why), AC_BUILD_PLAN_READY);
    ac_build_spec_clear(&sp);
    /* A dark of another exposure does not serve a dark unit. */
    u.kind = AC_CAL_DARK;
    m = xmaster(8, "dark", -10);
    m.source_session_date = (char *)"2024-10-05";
    ASSERT_EQ(plan(&u, &m, &sp, why), AC_BUILD_PLAN_SKIP);
    m.exposure = 300;
    ASSERT_EQ(plan(&u, &m, &sp, why), AC_BUILD_PLAN_READY);
    ac_build_spec_clear(&sp);
}

/* A catalogue with a bias session of night 2024-10-05 and a bias master registered the
 * way AstroFiler registers one (no source session) whose DATE-OBS is date_obs. Returns how
 * many Masters rows there are after every build ran. */
static long long bias_night_with_master(const char *name, const char *date_obs, char *state,
                                        char *error, char *night)
{
    ac_gen_t *g = build_camera(5.0, 2.0, 25000, 1e-4);
    char bp[BUILDTEST_N][256], db_name[64], master[512];
    ac_gen_frame_t f;
    ac_build_opts_t o;
    ac_build_row_list_t rl = {0};
    ac_err_t e = {0};
    ac_db_t *db;
    sqlite3 *h;
    int queued = -1;
    long long n;

    snprintf(db_name, sizeof db_name, "%s.db", name);
    h = afdb_create(db_name, AFDB_MIGRATED);
    write_frames(g, AC_GEN_BIAS, name, BUILDTEST_N, bp);
    afdb_add_session(h, "SB", "Bias", "2024-10-05", "0", "-10", NULL);
    for (int i = 0; i < BUILDTEST_N; i++) {
        char id[64];
        afdb_file_t fr;
        snprintf(id, sizeof id, "SB-%d", i);
        fr = afdb_light(id, "SB", bp[i], "2024-10-05T22:00:00", "0");
        fr.type = "BIAS FRAME";
        fr.object = "Bias";
        afdb_add_file(h, &fr);
    }
    frame_of(&f, AC_GEN_BIAS, 1);
    f.master = AC_GEN_MASTER_ASTROFILER;
    f.date_obs = date_obs;
    snprintf(master, sizeof master, "%s/%s-master.fits", ac_test_tmpdir(), name);
    if (ac_gen_write_frame(g, &f, master, &e) != 0)
        AC_TEST_FAIL("master: %s", e.msg);
    afdb_add_master(h, &(afdb_master_t){.master_id = "bias_C14_20241006_101010",
                                        .type = "bias",
                                        .path = master,
                                        .telescope = "C14",
                                        .instrument = "ZWO ASI294MM Pro",
                                        .xbin = "1",
                                        .ybin = "1",
                                        .ccd_temp = "-10",
                                        .gain = "100"});
    db = dbtest_open(h, db_name);
    ac_build_opts_default(&o);
    snprintf(o.masters_dir, sizeof o.masters_dir, "%s/Masters-%s", ac_test_tmpdir(), name);
    o.out.durable = false;
    ASSERT_OK(ac_build_scan(db, &o, &queued, NULL));
    ASSERT_EQ(queued, 1);
    for (;;) { /* claim, prepare, run, record: what the scheduler does */
        ac_build_row_t r = {0};
        ac_build_spec_t sp;
        ac_build_result_t *res = calloc(1, sizeof *res);
        char why[512];
        bool found = false;
        ASSERT_NOT_NULL(res);
        ASSERT_OK(ac_catalog_build_claim(db, 2e9, &r, &found, NULL));
        if (!found) {
            free(res);
            break;
        }
        ASSERT_EQ(ac_build_prepare(db, r.key, &o, &sp, why, sizeof why, NULL),
                  AC_BUILD_PLAN_READY);
        ac_build_run(&sp, res, NULL);
        ASSERT_OK(ac_build_record(db, &sp, res, 3, 10, NULL, NULL));
        free(res);
        ac_build_spec_clear(&sp);
        ac_catalog_build_row_clear(&r);
    }
    ASSERT_OK(ac_catalog_build_list(db, &rl, NULL));
    ASSERT_EQ(rl.n, 1);
    strcpy(state, ac_catalog_build_state_name(rl.items[0].state));
    snprintf(error, 256, "%s", rl.items[0].error != NULL ? rl.items[0].error : "");
    ac_catalog_build_rows_free(&rl);
    n = afdb_int(ac_db_handle(db), "SELECT COUNT(*) FROM Masters", NULL, -1);
    if (afdb_text(ac_db_handle(db), "SELECT night FROM astrocal_master_night", NULL, night,
                  16) == NULL)
        night[0] = '\0';
    ac_db_close(db);
    ac_gen_free(g);
    return n;
}

TEST(build_existing_unlinked_master_of_the_night_is_not_built_again)
{
    char state[32], error[256], night[16];

    /* Same night (evening of the 5th, UTC): nothing built, the night kept. */
    ASSERT_EQ(bias_night_with_master("same", "2024-10-05T21:00:00", state, error, night), 1);
    ASSERT_STR_EQ(state, "done");
    ASSERT_CONTAINS(error, "of the same night matches");
    ASSERT_STR_EQ(night, "2024-10-05");
    /* A master of another night: the session gets its own. */
    ASSERT_EQ(bias_night_with_master("other", "2024-09-20T21:00:00", state, error, night), 2);
    ASSERT_STR_EQ(state, "done");
    ASSERT_STR_EQ(night, "2024-09-20");
}
