/*
 * test-builder-reject.c - master building (daemon/work/build*.c, daemon/serve/buildplan.c)
 * when it must not simply succeed: quality rejections that write nothing, bad subs dropped,
 * too few subs, cancellation; the strip height bound by the job memory; and the catalogue
 * side end to end (scan, prepare, run, record), where rejects stay out of Masters. Frames
 * are written by tests/support/fitsgen.h (tests/support/buildtest.h).
 */
#include <fitsio.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "afdb.h"
#include "buildplan.h"
#include "buildtest.h"
#include "catalog.h"
#include "db.h"
#include "dbtest.h"
#include "fitsgen.h"
#include "schema.h"
#include "stack.h"
#include "test.h"

#define W BUILDTEST_W
#define H BUILDTEST_H
#define N BUILDTEST_N

/* ---- Quality rejections ---- */

TEST(builder_rejects_a_dim_flat_and_writes_nothing)
{
    ac_gen_t *g = build_camera(5.0, 2.0, 1400, 1e-4); /* raw 1400 ADU on a 1000 ADU bias */
    char bp[5][256], fp[5][256];
    ac_build_spec_t sb, sf;
    ac_build_result_t *res = calloc(1, sizeof *res);

    ASSERT_NOT_NULL(res);
    write_frames(g, AC_GEN_BIAS, "bias", 5, bp);
    write_frames(g, AC_GEN_FLAT, "flat", 5, fp);
    spec_init(&sb, AC_CAL_BIAS, bp, 5, "Master-Bias.fits", NULL, NULL);
    run_ok(&sb, res);
    ASSERT_EQ(res->method, AC_STACK_MEDIAN); /* 5 subs: the median */
    spec_init(&sf, AC_CAL_FLAT, fp, 5, "Master-Flat.fits", sb.output_path, NULL);
    ac_build_run(&sf, res, NULL);
    ASSERT_EQ(res->status, AC_BUILD_REJECT);
    ASSERT_CONTAINS(res->reason, "min_flat_level");
    ASSERT(res->flat_level > 200 && res->flat_level < 420);
    ASSERT(!exists(sf.output_path));
    /* Raw, the same flats pass the level (their offset counts): no bias given. */
    free(sf.bias_path);
    sf.bias_path = NULL;
    ac_build_run(&sf, res, NULL);
    ASSERT_EQ(res->status, AC_BUILT);
    ASSERT(!res->bias_subtracted);
    ASSERT_CONTAINS(res->warning, "raw");
    free(res);
    ac_build_spec_clear(&sb);
    ac_build_spec_clear(&sf);
    ac_gen_free(g);
}

TEST(builder_rejects_a_saturated_flat)
{
    ac_gen_t *g = build_camera(5.0, 2.0, 62000, 1e-4);
    char fp[3][256];
    ac_build_spec_t sf;
    ac_build_result_t *res = calloc(1, sizeof *res);

    ASSERT_NOT_NULL(res);
    write_frames(g, AC_GEN_FLAT, "flat", 3, fp);
    spec_init(&sf, AC_CAL_FLAT, fp, 3, "Master-Flat.fits", NULL, NULL);
    ac_build_run(&sf, res, NULL);
    ASSERT_EQ(res->status, AC_BUILD_REJECT);
    ASSERT_CONTAINS(res->reason, "max_flat_level");
    ASSERT(!exists(sf.output_path));
    free(res);
    ac_build_spec_clear(&sf);
    ac_gen_free(g);
}

TEST(builder_rejects_a_dark_with_too_many_hot_pixels)
{
    ac_gen_t *g = build_camera(5.0, 2.0, 25000, 0.05);
    char dp[N][256];
    ac_build_spec_t sd;
    ac_build_result_t *res = calloc(1, sizeof *res);

    ASSERT_NOT_NULL(res);
    write_frames(g, AC_GEN_DARK, "dark", N, dp);
    spec_init(&sd, AC_CAL_DARK, dp, N, "Master-Dark.fits", NULL, NULL);
    ac_build_run(&sd, res, NULL);
    ASSERT_EQ(res->status, AC_BUILD_REJECT);
    ASSERT_CONTAINS(res->reason, "hot pixels");
    ASSERT(res->hot_fraction > 0.03 && res->hot_fraction < 0.07);
    ASSERT(!exists(sd.output_path));
    free(res);
    ac_build_spec_clear(&sd);
    ac_gen_free(g);
}

/* ---- Dropped subs, too few, cancel, memory ---- */

TEST(builder_drops_bad_subs_and_fails_with_too_few)
{
    ac_gen_t *g = build_camera(5.0, 2.0, 25000, 1e-4), *wide;
    ac_gen_camera_t cam = *ac_gen_camera(g);
    char paths[N + 3][256], v[FLEN_VALUE];
    ac_build_spec_t sp;
    ac_build_result_t *res = calloc(1, sizeof *res);
    ac_gen_frame_t f;
    FILE *txt;

    ASSERT_NOT_NULL(res);
    write_frames(g, AC_GEN_BIAS, "bias", N, paths);
    cam.width = W + 4;
    wide = ac_gen_new(&cam, NULL);
    ASSERT_NOT_NULL(wide);
    frame_of(&f, AC_GEN_BIAS, 9);
    snprintf(paths[N], 256, "%s/wide.fits", ac_test_tmpdir());
    ASSERT_OK(ac_gen_write_frame(wide, &f, paths[N], NULL));
    snprintf(paths[N + 1], 256, "%s/notfits.fits", ac_test_tmpdir());
    txt = fopen(paths[N + 1], "w");
    ASSERT_NOT_NULL(txt);
    fputs("not a FITS file\n", txt);
    fclose(txt);
    frame_of(&f, AC_GEN_DARK, 10); /* a dark filed with the biases */
    snprintf(paths[N + 2], 256, "%s/dark.fits", ac_test_tmpdir());
    ASSERT_OK(ac_gen_write_frame(g, &f, paths[N + 2], NULL));

    spec_init(&sp, AC_CAL_BIAS, paths, N + 3, "Master-Bias.fits", NULL, NULL);
    run_ok(&sp, res);
    ASSERT_EQ(res->nsubs, N + 3);
    ASSERT_EQ(res->nused, N);
    ASSERT_CONTAINS(res->dropped, "wide.fits: 100x64");
    ASSERT_CONTAINS(res->dropped, "notfits.fits: unreadable");
    ASSERT_CONTAINS(res->dropped, "dark.fits: IMAGETYP");
    key_text(sp.output_path, "NDROPPED", v);
    ASSERT_STR_EQ(v, "3");
    key_text(sp.output_path, "NCOMBINE", v);
    ASSERT_STR_EQ(v, "7");
    ac_build_spec_clear(&sp);

    /* Two usable of four with min_files 3: a failure naming the dropped ones. */
    snprintf(paths[2], 256, "%s", paths[N]);
    snprintf(paths[3], 256, "%s", paths[N + 1]);
    spec_init(&sp, AC_CAL_BIAS, paths, 4, "Master-Bias-2.fits", NULL, NULL);
    ac_build_run(&sp, res, NULL);
    ASSERT_EQ(res->status, AC_BUILD_ERROR);
    ASSERT_EQ(res->err.code, AC_EFORMAT);
    ASSERT_CONTAINS(res->err.msg, "only 2 of 4 frames usable, 3 needed");
    ASSERT_CONTAINS(res->err.msg, "wide.fits");
    ASSERT(!exists(sp.output_path));
    free(res);
    ac_build_spec_clear(&sp);
    ac_gen_free(wide);
    ac_gen_free(g);
}

/* retemp sets path's CCD-TEMP (NAN: removes it and SET-TEMP). */
static void retemp(const char *path, double t)
{
    fitsfile *f = NULL;
    int st = 0, st2 = 0;

    fits_open_file(&f, path, READWRITE, &st);
    if (isnan(t)) {
        fits_delete_key(f, "CCD-TEMP", &st2);
        st2 = 0;
        fits_delete_key(f, "SET-TEMP", &st2);
    } else {
        fits_update_key_dbl(f, "CCD-TEMP", t, 3, "sensor", &st);
    }
    fits_close_file(f, &st);
    ASSERT_EQ(st, 0);
}

TEST(builder_drops_darks_by_the_temperature_rule)
{
    ac_gen_t *g = build_camera(5.0, 2.0, 25000, 1e-4);
    char paths[N][256];
    ac_build_spec_t sp;
    ac_build_result_t *res = calloc(1, sizeof *res);

    /* The one rule of meta.h against the subs' median: a dark 15 C warmer, and one with
     * no temperature while the others have one, are dropped; one 3 C off is kept. */
    ASSERT_NOT_NULL(res);
    write_frames(g, AC_GEN_DARK, "dark", N, paths);
    retemp(paths[0], 5.0);
    retemp(paths[1], NAN);
    retemp(paths[2], -7.0);
    spec_init(&sp, AC_CAL_DARK, paths, N, "Master-Dark.fits", NULL, NULL);
    sp.opts.max_temp_diff = 5.0;
    run_ok(&sp, res);
    ASSERT_EQ(res->nused, N - 2);
    ASSERT_CONTAINS(res->dropped, "dark_1.fits: others' median CCD-TEMP");
    ASSERT_CONTAINS(res->dropped, "(> 5.0)");
    ASSERT_CONTAINS(res->dropped, "but the frame has no temperature");
    ASSERT(strstr(res->dropped, "dark_3") == NULL);
    free(res);
    ac_build_spec_clear(&sp);
    ac_gen_free(g);
}

TEST(builder_cancel_leaves_no_file)
{
    ac_gen_t *g = build_camera(5.0, 2.0, 25000, 1e-4);
    char paths[3][256];
    ac_build_spec_t sp;
    ac_build_result_t *res = calloc(1, sizeof *res);
    atomic_int cancel = 1;
    char cmd[600];

    ASSERT_NOT_NULL(res);
    write_frames(g, AC_GEN_BIAS, "bias", 3, paths);
    spec_init(&sp, AC_CAL_BIAS, paths, 3, "Master-Bias.fits", NULL, NULL);
    ac_build_run(&sp, res, &cancel);
    ASSERT_EQ(res->status, AC_BUILD_ERROR);
    ASSERT_EQ(res->err.code, AC_ECANCELED);
    ASSERT(!exists(sp.output_path));
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s')\"", sp.opts.masters_dir);
    ASSERT_EQ(system(cmd), 0); /* no temporary file either */
    free(res);
    ac_build_spec_clear(&sp);
    ac_gen_free(g);
}

TEST(builder_strip_rows_bounded_by_job_memory)
{
    ac_build_opts_t o;
    int r1, r2;

    ac_build_opts_default(&o);
    r1 = ac_build_strip_rows(&o, 20, 0, 6248);
    o.job_memory = (size_t)512 << 20;
    r2 = ac_build_strip_rows(&o, 20, 0, 6248);
    ASSERT(r1 >= 1 && r2 > 3 * r1);
    /* 20 strips of r1 rows of 6248 floats plus 16-bit scratch fit in 128 MiB. */
    ASSERT((size_t)r1 * 6248 * 20 * 6 < ((size_t)128 << 20));
    o.job_memory = 1;
    ASSERT_EQ(ac_build_strip_rows(&o, 20, 2, 6248), 1);
}

/* ---- The catalogue side, end to end ---- */

static void reg_frames(sqlite3 *h, const char *session, const char *type, const char *object,
                       const char *filter, const char *exp, char paths[][256], int n)
{
    for (int i = 0; i < n; i++) {
        char id[64];
        afdb_file_t f;
        snprintf(id, sizeof id, "%s-%d", session, i);
        f = afdb_light(id, session, paths[i], "2024-10-05T08:00:00", exp);
        f.type = type;
        f.object = object;
        f.filter = filter;
        afdb_add_file(h, &f);
    }
}

/* Claims, prepares, runs and records builds until the queue is empty; returns how many ran. */
static int drain(ac_db_t *db, const ac_build_opts_t *o)
{
    int ran = 0;

    for (;;) {
        ac_build_row_t r = {0};
        ac_build_spec_t sp;
        ac_build_result_t *res;
        char why[512];
        bool found = false;
        int what = -1, pr;

        ASSERT_OK(ac_catalog_build_claim(db, 2e9, &r, &found, NULL));
        if (!found)
            return ran;
        pr = ac_build_prepare(db, r.key, o, &sp, why, sizeof why, NULL);
        ASSERT_EQ(pr, AC_BUILD_PLAN_READY);
        res = calloc(1, sizeof *res);
        ASSERT_NOT_NULL(res);
        ac_build_run(&sp, res, NULL);
        ASSERT_OK(ac_build_record(db, &sp, res, 3, 10, &what, NULL));
        ASSERT(what == AC_BUILD_REGISTERED || what == AC_BUILD_REJECTED_ROW);
        ran++;
        free(res);
        ac_build_spec_clear(&sp);
        ac_catalog_build_row_clear(&r);
    }
}

TEST(builder_catalog_end_to_end_registers_once_and_keeps_rejects_out)
{
    ac_gen_t *g = build_camera(5.0, 2.0, 25000, 1e-4),
             *dim = build_camera(5.0, 2.0, 1300, 1e-4);
    char bp[N][256], fdp[N][256], fp[5][256], dp[4][256];
    sqlite3 *h = afdb_create("e2e.db", AFDB_MIGRATED);
    ac_build_opts_t o;
    ac_build_row_list_t rl = {0};
    ac_build_spec_t sp;
    ac_db_t *db;
    char why[512];
    int queued = -1;

    write_frames(g, AC_GEN_BIAS, "bias", N, bp);
    write_frames(g, AC_GEN_FLATDARK, "flatdark", N, fdp);
    write_frames(g, AC_GEN_FLAT, "flat", 5, fp);
    write_frames(dim, AC_GEN_FLAT, "dimflat", 4, dp);
    afdb_add_session(h, "SB", "Bias", "2024-10-05", "0", "-10", NULL);
    afdb_add_session(h, "SD", "Dark", "2024-10-05", "2", "-10", NULL);
    afdb_add_session(h, "SF", "Flat", "2024-10-05", "2", "-10", "L");
    afdb_add_session(h, "SG", "Flat", "2024-10-05", "2", "-10", "Ha");
    reg_frames(h, "SB", "BIAS FRAME", "Bias", NULL, "0", bp, N);
    reg_frames(h, "SD", "FLAT DARK", "Dark", NULL, "2", fdp, N);
    reg_frames(h, "SF", "FLAT FIELD", "Flat", "L", "2", fp, 5);
    reg_frames(h, "SG", "FLAT FIELD", "Flat", "Ha", "2", dp, 4);
    db = dbtest_open(h, "e2e.db");
    ac_build_opts_default(&o);
    snprintf(o.masters_dir, sizeof o.masters_dir, "%s/Masters", ac_test_tmpdir());
    o.out.durable = false;

    ASSERT_OK(ac_build_scan(db, &o, &queued, NULL));
    ASSERT_EQ(queued, 4);
    /* Before the flat-dark exists, the flats wait for it. */
    ASSERT_EQ(ac_build_prepare(db, "SF", &o, &sp, why, sizeof why, NULL), AC_BUILD_PLAN_WAIT);
    ASSERT_CONTAINS(why, "SD:flatdark");
    ASSERT_EQ(drain(db, &o), 4);

    /* Three masters, one per good unit, with AstroFiler's columns. */
    ASSERT_EQ(afdb_int(ac_db_handle(db), "SELECT COUNT(*) FROM Masters", NULL, -1), 3);
    ASSERT_EQ(afdb_int(ac_db_handle(db),
                       "SELECT COUNT(*) FROM Masters WHERE master_type = 'dark' AND "
                       "exposure_time = '2.0' AND filter_name IS NULL AND source_session_id = "
                       "'SD' AND master_path LIKE '%/Master-FlatDark-C14-%' AND file_count = 7",
                       NULL, -1),
              1);
    ASSERT_EQ(
        afdb_int(ac_db_handle(db),
                 "SELECT COUNT(*) FROM Masters WHERE master_type = 'flat' AND "
                 "exposure_time IS NULL AND filter_name = 'L' AND source_session_id = 'SF' "
                 "AND file_count = 5 AND notes LIKE '%flat-dark subtracted%' AND "
                 "length(hash_value) = 32 AND is_validated = 1 AND soft_delete = 0",
                 NULL, -1),
        1);
    ASSERT_EQ(
        afdb_int(ac_db_handle(db),
                 "SELECT COUNT(*) FROM Masters WHERE master_type = 'bias' AND gain = '100' "
                 "AND telescope = 'C14' AND instrument = 'ZWO ASI294MM Pro' AND "
                 "binning_x = '1' AND quality_score > 50",
                 NULL, -1),
        1);
    /* The dim flats were rejected: not in Masters, the reason in the queue. */
    ASSERT_OK(ac_catalog_build_list(db, &rl, NULL));
    ASSERT_EQ(rl.n, 4);
    for (size_t i = 0; i < rl.n; i++) {
        if (strcmp(rl.items[i].key, "SG") == 0) {
            ASSERT_EQ(rl.items[i].state, AC_BUILD_REJECTED);
            ASSERT_CONTAINS(rl.items[i].error, "min_flat_level");
            ASSERT_CONTAINS(rl.items[i].quality_json, "\"flat_level\"");
        } else {
            ASSERT_EQ(rl.items[i].state, AC_BUILD_DONE);
            ASSERT(rl.items[i].master_rowid > 0);
        }
    }
    ac_catalog_build_rows_free(&rl);
    /* A new scan queues nothing: masters exist, the reject keeps its row. */
    ASSERT_OK(ac_build_scan(db, &o, &queued, NULL));
    ASSERT_EQ(queued, 0);
    ASSERT_EQ(drain(db, &o), 0);
    ac_db_close(db);
    ac_gen_free(g);
    ac_gen_free(dim);
}
