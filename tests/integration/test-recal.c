/*
 * test-recal.c - `astrocalctl recalibrate` on the real daemon (issue 10, item 4): a night
 * calibrated with a flat that lacks the vignetting is recalibrated after the right flat
 * arrives (`plan` says a better flat exists); every output is replaced in place, once
 * (same path, same fitsFileId, its hash that of the file on disk) and matches the
 * synthetic truth; SIGKILLs at random moments of a recalibration always leave each light
 * with its old or its new calibration, consistently, and nothing beside the outputs.
 */
#include <dirent.h>
#include <math.h>
#include <sqlite3.h>

#include "afdb.h"
#include "nightfix.h"
#include "support.h"
#include "tools.h"

#define RW 256
#define RH 192

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* truth_residual compares output out_path of light index i (1-based) with the noiseless
 * scene after the flat scale the output records: the median and the spread (1.4826 MAD)
 * of (out - truth) / sigma. */
static void truth_residual(ac_gen_t *g, int index, const char *out_path, double *med,
                           double *spread)
{
    ac_gen_frame_t f;
    int w, h;
    double *out = read_image(out_path, &w, &h);
    size_t np = (size_t)w * (size_t)h, n = 0;
    float *truth = malloc(sizeof(float) * np), *sigma = malloc(sizeof(float) * np);
    double *z = malloc(sizeof(double) * np), m[3], F0, s;

    ASSERT(truth && sigma && z && out);
    ASSERT_EQ(w, ac_gen_camera(g)->width);
    ac_gen_frame_default(&f, AC_GEN_LIGHT);
    f.index = index;
    ASSERT_OK(ac_gen_truth_rows(g, &f, 0, h, truth, sigma, NULL));
    ASSERT_OK(ac_gen_flat_mean(g, f.filter, m));
    F0 = ac_gen_flat_illumination(g, f.filter);
    s = read_key_double(out_path, "FLATSCAL");
    for (size_t i = 0; i < np; i++)
        if (isfinite(truth[i]))
            z[n++] = (out[i] - truth[i] * s / (F0 * m[0])) / sigma[i];
    qsort(z, n, sizeof *z, cmp_double);
    *med = z[n / 2];
    for (size_t i = 0; i < n; i++)
        z[i] = fabs(z[i] - *med);
    qsort(z, n, sizeof *z, cmp_double);
    *spread = 1.4826 * z[n / 2];
    free(truth);
    free(sigma);
    free(z);
    free(out);
}

/* A night calibrated with a flat without vignetting (5 days before), and the right flat. */
struct recal_fx {
    ac_harness_t h;
    struct night nt;
    ac_gen_t *flatcam;
    char badflat[1100];
    char out_id[64][40], out_path[64][1100], out_hash[64][80];
};

static void setup(struct recal_fx *fx, int n, int w, int h, const char *const *config)
{
    ac_gen_frame_t f;
    sqlite3 *db;
    ac_gen_camera_t cam;

    ac_harness_init(&fx->h);
    make_night(&fx->nt, n, w, h);
    make_catalogue(&fx->h, &fx->nt, "bd");
    cam = *ac_gen_camera(fx->nt.g);
    cam.vignette_min = 1.0;
    fx->flatcam = ac_gen_new(&cam, NULL);
    ASSERT_NOT_NULL(fx->flatcam);
    ac_gen_frame_default(&f, AC_GEN_FLAT);
    f.master = AC_GEN_MASTER_ASTROFILER;
    f.ncombine = 20;
    f.date_obs = "2024-03-10T20:00:00";
    abspath(fx->badflat, sizeof fx->badflat, "night/flat_no_vignetting.fits");
    ASSERT_OK(ac_gen_write_frame(fx->flatcam, &f, fx->badflat, NULL));
    db = open_db(&fx->h);
    add_master(db, "flat", fx->badflat, NULL);
    sqlite3_close(db);
    ASSERT_OK(ac_harness_write_config(&fx->h, config));
}

/* read_outputs stores each light's output row (id, path, hash); exactly one per light. */
static void read_outputs(struct recal_fx *fx, bool store)
{
    sqlite3 *db = open_db(&fx->h);

    ASSERT_EQ(count_calibrated_rows(db), fx->nt.n);
    for (int i = 0; i < fx->nt.n; i++) {
        char id[64], path[1100], hash[80];
        const char *l = fx->nt.light[i];
        ASSERT_EQ(afdb_int(db, "SELECT count(*) FROM fitsfile WHERE fitsFileOriginalFile = ?1",
                           l, -1),
                  1);
        ASSERT_NOT_NULL(afdb_text(db,
                                  "SELECT fitsFileId FROM fitsfile WHERE "
                                  "fitsFileOriginalFile = ?1",
                                  l, id, sizeof id));
        ASSERT_NOT_NULL(afdb_text(db,
                                  "SELECT fitsFileName FROM fitsfile WHERE "
                                  "fitsFileOriginalFile = ?1",
                                  l, path, sizeof path));
        ASSERT_NOT_NULL(afdb_text(db,
                                  "SELECT fitsFileHash FROM fitsfile WHERE "
                                  "fitsFileOriginalFile = ?1",
                                  l, hash, sizeof hash));
        if (store) {
            snprintf(fx->out_id[i], sizeof fx->out_id[i], "%s", id);
            snprintf(fx->out_path[i], sizeof fx->out_path[i], "%s", path);
            snprintf(fx->out_hash[i], sizeof fx->out_hash[i], "%s", hash);
        } else { /* the same row and path, whatever happened */
            ASSERT_STR_EQ(id, fx->out_id[i]);
            ASSERT_STR_EQ(path, fx->out_path[i]);
        }
    }
    sqlite3_close(db);
}

/* leftovers counts recalibration files (".recal-") and temporaries beside the outputs. */
static int leftovers(void)
{
    DIR *d = opendir("night/lights");
    struct dirent *de;
    int n = 0;

    ASSERT_NOT_NULL(d);
    while ((de = readdir(d)) != NULL)
        n += strstr(de->d_name, ".recal-") != NULL || strstr(de->d_name, ".actmp-") != NULL;
    closedir(d);
    return n;
}

/* check_consistent: each light's output row, file and calibration record agree: the file's
 * SHA-256 is the row's hash; an unchanged hash goes with the old flat everywhere, a new
 * one with the new flat everywhere. Returns how many lights have the new calibration. */
static int check_consistent(struct recal_fx *fx)
{
    sqlite3 *db = open_db(&fx->h);
    int renewed = 0;

    for (int i = 0; i < fx->nt.n; i++) {
        char hash[80], rflat[1100], mflat[1100];
        const char *disk = ac_tools_hash("sha256sum", fx->out_path[i]);
        ASSERT_NOT_NULL(afdb_text(db, "SELECT fitsFileHash FROM fitsfile WHERE fitsFileId = ?1",
                                  fx->out_id[i], hash, sizeof hash));
        ASSERT_NOT_NULL(afdb_text(db,
                                  "SELECT flat_path FROM astrocal_record WHERE file_id = ?1",
                                  fx->nt.light_id[i], rflat, sizeof rflat));
        ASSERT_NOT_NULL(
            afdb_text(db, "SELECT fitsFileMasterFlat FROM fitsfile WHERE fitsFileId = ?1",
                      fx->out_id[i], mflat, sizeof mflat));
        if (strcmp(disk, hash) != 0)
            AC_TEST_FAIL("%s: the file's SHA-256 %s is not the row's %s", fx->out_path[i], disk,
                         hash);
        const char *want = strcmp(hash, fx->out_hash[i]) == 0 ? fx->badflat : fx->nt.flat;
        ASSERT_STR_EQ(rflat, want);
        ASSERT_STR_EQ(mflat, want);
        renewed += want == fx->nt.flat;
    }
    sqlite3_close(db);
    return renewed;
}

/* add_good_flat registers the night's own flat and, with a daemon running (plan), checks
 * that `plan` proposes it. */
static void add_good_flat(struct recal_fx *fx, bool plan)
{
    sqlite3 *db = open_db(&fx->h);
    char *out = NULL;

    add_master(db, "flat", fx->nt.flat, NULL);
    sqlite3_close(db);
    if (!plan)
        return;
    ASSERT_EQ(ac_harness_ctl(&fx->h, &out, NULL, "plan", "S-1", NULL), 0);
    ASSERT_CONTAINS(out, "a better flat exists");
    ASSERT_CONTAINS(out, fx->nt.flat);
    free(out);
}

TEST_TIMEOUT(recal_new_flat_replaces_every_output_once, 180)
{
    struct recal_fx fx;
    double med, spread;
    char *out = NULL;

    setup(&fx, 4, RW, RH, NULL);
    ASSERT_OK(ac_harness_start(&fx.h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&fx.h, 20000));
    ASSERT(wait_done(&fx.h, 4, 90000));
    read_outputs(&fx, true);
    /* The flat without vignetting leaves it in: far from the truth (the check can fail). */
    truth_residual(fx.nt.g, 1, fx.out_path[0], &med, &spread);
    fprintf(stderr, "with the wrong flat: median %.2f sigma, spread %.2f sigma\n", med, spread);
    ASSERT(fabs(med) > 0.5 || spread > 1.5);

    add_good_flat(&fx, true);
    ASSERT_EQ(ac_harness_ctl(&fx.h, &out, NULL, "recalibrate", "S-1", NULL), 0);
    ASSERT_CONTAINS(out, "recalibrating 4 files");
    free(out);
    /* Finished: every file done, nothing being recalibrated, no backup left (the backups
     * are removed after the commit); only then are file and rows compared, at rest. */
    for (long long t0 = ac_harness_now_ms();;) {
        sqlite3 *db = open_db(&fx.h);
        long long busy = afdb_int(db,
                                  "SELECT count(*) FROM astrocal_file WHERE state <> 'done' OR "
                                  "recal_output IS NOT NULL OR recal_backup IS NOT NULL",
                                  NULL, -1);
        sqlite3_close(db);
        if (busy == 0)
            break;
        if (ac_harness_now_ms() - t0 > 90000)
            AC_TEST_FAIL("the recalibration did not finish");
        ac_harness_notify_poll(&fx.h, 100);
    }
    ASSERT_EQ(check_consistent(&fx), 4);
    read_outputs(&fx, false); /* one row per light, the same id and path */
    for (int i = 0; i < 4; i++) {
        truth_residual(fx.nt.g, i + 1, fx.out_path[i], &med, &spread);
        fprintf(stderr, "light %d recalibrated: median %.3f sigma, spread %.3f sigma\n", i + 1,
                med, spread);
        ASSERT_NEAR(med, 0.0, 0.1);
        ASSERT_NEAR(spread, 1.0, 0.15);
        assert_fitsverify_clean(fx.out_path[i]);
    }
    ASSERT_EQ(leftovers(), 0);
    /* A session being recalibrated is not done; a done one with nothing better says so. */
    ASSERT_EQ(ac_harness_ctl(&fx.h, &out, NULL, "plan", "S-1", NULL), 0);
    ASSERT(strstr(out, "a better flat exists") == NULL);
    free(out);
    ASSERT_EQ(ac_harness_stop(&fx.h, 20000), 0);
    ac_gen_free(fx.flatcam);
    ac_gen_free(fx.nt.g);
    ac_harness_free(&fx.h);
}

/* SIGKILLs at random moments of a recalibration of 16 lights, 8 times; after each, a
 * daemon that only recovers (automatic calibration off, --drain) must leave every light
 * with one row whose hash is its file's and whose record agrees, old or new, and nothing
 * beside the outputs. Then the recalibration finishes: every light new, matching the
 * truth. */
TEST_TIMEOUT(recal_survives_sigkill_at_random_moments, 300)
{
    static const char *const on[] = {"WORKERS.workers=1", NULL};
    static const char *const off[] = {"WORKERS.workers=1",
                                      "AUTO_CALIBRATION.enable_light_calibration=False", NULL};
    struct recal_fx fx;
    unsigned seed = 4242;
    int renewed = 0, kills = 0;
    bool stuck = false;
    double med, spread;
    char *out = NULL;

    setup(&fx, 16, 1024, 768, on);
    ASSERT_OK(ac_harness_start(&fx.h, (const char *[]){"--drain", NULL}));
    ASSERT_OK(ac_harness_wait_ready(&fx.h, 20000));
    ASSERT_EQ(wait_exit(&fx.h, 120000), 0);
    read_outputs(&fx, true);
    add_good_flat(&fx, false);
    for (int k = 0; k < 16 && renewed < 16; k++) {
        forget_notify(&fx.h);
        ASSERT_OK(ac_harness_write_config(&fx.h, on));
        ASSERT_OK(ac_harness_start(&fx.h, NULL));
        ASSERT_OK(ac_harness_wait_ready(&fx.h, 20000));
        if (k == 0) {
            ASSERT_EQ(ac_harness_ctl(&fx.h, &out, NULL, "recalibrate", "S-1", NULL), 0);
            free(out);
        }
        /* After a kill that found no light finished since the one before, this life
         * first finishes one: a light killed while it ran alone again and again would be
         * blamed for the deaths (queue.h, Crashes), which is not what is tested here. */
        if (stuck) {
            int n0 = ac_harness_log_count(&fx.h, "recalibrated in place");
            for (int w = 0;
                 w < 600 && ac_harness_log_count(&fx.h, "recalibrated in place") == n0; w++)
                ac_harness_sleep_ms(50);
        }
        seed = seed * 1103515245u + 12345u;
        ac_harness_sleep_ms((int)((seed >> 16) % 120));
        ac_harness_kill(&fx.h);
        kills++;
        /* Recovery only: nothing runs, the state at rest is checked. */
        forget_notify(&fx.h);
        ASSERT_OK(ac_harness_write_config(&fx.h, off));
        ASSERT_OK(ac_harness_start(&fx.h, (const char *[]){"--drain", NULL}));
        ASSERT_OK(ac_harness_wait_ready(&fx.h, 20000));
        ASSERT_EQ(wait_exit(&fx.h, 60000), 0);
        read_outputs(&fx, false);
        stuck = check_consistent(&fx) == renewed;
        renewed = check_consistent(&fx);
        ASSERT_EQ(leftovers(), 0);
        fprintf(stderr, "after kill %d: %d of 16 lights recalibrated\n", kills, renewed);
    }
    forget_notify(&fx.h);
    ASSERT_OK(ac_harness_write_config(&fx.h, on));
    ASSERT_OK(ac_harness_start(&fx.h, (const char *[]){"--drain", NULL}));
    ASSERT_OK(ac_harness_wait_ready(&fx.h, 20000));
    ASSERT_EQ(wait_exit(&fx.h, 120000), 0);
    read_outputs(&fx, false);
    ASSERT_EQ(check_consistent(&fx), 16);
    ASSERT_EQ(leftovers(), 0);
    {
        sqlite3 *db = open_db(&fx.h);
        ASSERT_EQ(files_in_state(db, "done"), 16);
        ASSERT_EQ(afdb_int(db,
                           "SELECT count(*) FROM astrocal_file WHERE recal_output IS NOT NULL "
                           "OR recal_backup IS NOT NULL OR error IS NOT NULL",
                           NULL, -1),
                  0);
        sqlite3_close(db);
    }
    for (int i = 0; i < 16; i += 5) {
        truth_residual(fx.nt.g, i + 1, fx.out_path[i], &med, &spread);
        ASSERT_NEAR(med, 0.0, 0.1);
        ASSERT_NEAR(spread, 1.0, 0.15);
    }
    ac_gen_free(fx.flatcam);
    ac_gen_free(fx.nt.g);
    ac_harness_free(&fx.h);
}
