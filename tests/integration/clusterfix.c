/*
 * clusterfix.c - see clusterfix.h.
 */
#include "clusterfix.h"

#include <dirent.h>
#include <jansson.h>

#include "afdb.h"
#include "digest.h"
#include "support.h"

#define CW 96
#define CH 64

void cluster_start(struct cluster *cl, int n)
{
    char md5[65], *out = NULL;
    const char *paths[3], *types[3] = {"bias", "dark", "flat"};
    sqlite3 *db;
    ac_err_t e = {0};
    long long t0;
    bool queued = false;

    memset(cl, 0, sizeof *cl);
    ac_harness_init(&cl->h);
    make_night(&cl->nt, n, CW, CH);
    db = afdb_create(cl->h.database, AFDB_MIGRATED);
    afdb_add_session(db, "S-1", "M 31", "2024-03-15", "300.0", "-10.0", "L");
    afdb_add_session(db, "S-2", "M 31", "2024-03-16", "300.0", "-10.0", "L");
    afdb_add_session(db, "S-3", "M 31", "2024-03-17", "300.0", "-10.0", "L");
    for (int i = 0; i < n; i++) {
        static const char *const sess[3] = {"S-1", "S-2", "S-3"};
        char d[64]; /* the catalogue's date of the light: its session's night */
        snprintf(d, sizeof d, "2024-03-%02dT21:%02d:00", 15 + i % 3, 30 + i);
        afdb_file_t f =
            afdb_light(cl->nt.light_id[i], sess[i % 3], cl->nt.light[i], d, "300.0");
        f.filter = "L";
        afdb_add_file(db, &f);
    }
    sqlite3_close(db);
    ASSERT_OK(ac_harness_write_config(
        &cl->h, (const char *[]){"AUTO_CALIBRATION.auto_calibrate_on_master_creation=True",
                                 "DAEMON.output_dir=out", NULL}));
    ASSERT_OK(ac_harness_start(&cl->h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&cl->h, 20000));
    ASSERT_EQ(ac_harness_ctl(&cl->h, &out, NULL, "pause", NULL), 0);
    free(out);
    /* AstroFiler registers the masters, with their MD5s (Masters.hash_value). */
    paths[0] = cl->nt.bias;
    paths[1] = cl->nt.dark;
    paths[2] = cl->nt.flat;
    db = open_db(&cl->h);
    for (int k = 0; k < 3; k++) {
        ASSERT_OK(ac_digest_file(paths[k], AC_DIGEST_MD5, md5, sizeof md5, &e));
        add_master(db, types[k], paths[k], md5);
    }
    sqlite3_close(db);
    t0 = ac_harness_now_ms();
    while (!queued && ac_harness_now_ms() - t0 < 60000) {
        db = open_db(&cl->h);
        queued = afdb_int(db, "SELECT count(*) FROM astrocal_session WHERE state = 'queued'",
                          NULL, 0) == (n < 3 ? n : 3) &&
                 files_in_state(db, "pending") == n;
        sqlite3_close(db);
        if (!queued)
            ac_harness_sleep_ms(100);
    }
    ASSERT(queued);
}

void cluster_export_with(struct cluster *cl, int shards, const char *const *extra)
{
    char nshards[16], *out = NULL, *err = NULL, path[256], buf[65536];
    const char *a[16] = {"export", "--all-uncalibrated", "--shards", nshards, "--out", "exp"};
    int na = 6, seen[64] = {0};
    FILE *f;

    snprintf(nshards, sizeof nshards, "%d", shards);
    for (int i = 0; extra != NULL && extra[i] != NULL && na < 15; i++)
        a[na++] = extra[i];
    int rc = ac_harness_ctl(&cl->h, &out, &err, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7],
                            a[8], a[9], a[10], a[11], NULL);
    printf("%s%s", out, err); /* the export's report, or why it failed */
    ASSERT_EQ(rc, 0);
    snprintf(buf, sizeof buf, "%d light%s handed out", cl->nt.n, cl->nt.n == 1 ? "" : "s");
    ASSERT_CONTAINS(out, buf);
    free(out);
    free(err);
    cl->nshards = 0;
    for (int s = 1; s <= shards; s++) {
        snprintf(path, sizeof path, "exp/shard-%04d.jsonl", s);
        if ((f = fopen(path, "r")) == NULL)
            break;
        cl->nshards++;
        while (fgets(buf, sizeof buf, f) != NULL) {
            json_t *o = json_loads(buf, 0, NULL);
            const char *id = json_string_value(json_object_get(o, "file_id"));
            int i;
            ASSERT_NOT_NULL(id);
            ASSERT_EQ(sscanf(id, "L-%d", &i), 1);
            ASSERT(i >= 1 && i <= cl->nt.n);
            seen[i - 1]++;
            ASSERT_EQ(strlen(json_string_value(json_object_get(
                          json_object_get(json_object_get(o, "masters"), "dark"), "md5"))),
                      32);
            json_decref(o);
        }
        fclose(f);
    }
    ASSERT(cl->nshards >= 1 && cl->nshards <= shards);
    for (int i = 0; i < cl->nt.n; i++)
        ASSERT_EQ(seen[i], 1);
}

void cluster_export(struct cluster *cl, int shards)
{
    cluster_export_with(cl, shards, NULL);
}

int cluster_run_shard(struct cluster *cl, int s)
{
    char m[64], r[64], *out = NULL;
    int rc;

    (void)cl;
    snprintf(m, sizeof m, "exp/shard-%04d.jsonl", s);
    snprintf(r, sizeof r, "exp/shard-%04d.results.jsonl", s);
    char *const argv[] = {AC_ASTROCALD_BIN, "calibrate", "--manifest", m, "--results", r,
                          "--jobs",         "2",         NULL};
    rc = run_capture(argv, &out);
    printf("%s", out);
    free(out);
    return rc;
}

void cluster_check_done(struct cluster *cl)
{
    struct night *nt = &cl->nt;
    sqlite3 *db = open_db(&cl->h);
    char *out = NULL;

    ASSERT_EQ(files_in_state(db, "done"), nt->n);
    ASSERT_EQ(count_calibrated_rows(db), nt->n);
    ASSERT_EQ(afdb_int(db, "SELECT count(*) FROM astrocal_record", NULL, -1), nt->n);
    ASSERT_EQ(afdb_int(db, "SELECT count(*) FROM astrocal_handout", NULL, -1), 0);
    ASSERT_EQ(afdb_int(db,
                       "SELECT count(*) FROM fitsfile WHERE fitsFileCalibrated = 1 AND "
                       "fitsFileOriginalFile IS NULL AND fitsFileCalibrationDate IS NOT NULL",
                       NULL, -1),
              nt->n); /* every raw row marked */
    sqlite3_close(db);
    if (!file_exists("ref")) { /* the one-shot with the same masters, once */
        const char *argv[80] = {AC_ASTROCALD_BIN, "calibrate", "--bias", nt->bias,
                                "--dark",         nt->dark,    "--flat", nt->flat,
                                "--output-dir",   "ref"};
        int na = 10;
        for (int i = 0; i < nt->n; i++)
            argv[na++] = nt->light[i];
        argv[na] = NULL;
        ASSERT_EQ(run_capture((char *const *)argv, &out), 0);
        free(out);
    }
    for (int i = 0; i < nt->n; i++) {
        char a[256], b[256], sha[65];
        ac_err_t e = {0};
        int w, h, w2, h2;
        double *x, *y;
        sqlite3 *d2;
        char hash[128];

        snprintf(a, sizeof a, "out/M_31_L_300s_%04d_calibrated.fits", i + 1);
        snprintf(b, sizeof b, "ref/M_31_L_300s_%04d_calibrated.fits", i + 1);
        x = read_image(a, &w, &h);
        y = read_image(b, &w2, &h2);
        ASSERT_EQ(w, CW);
        ASSERT_EQ(h2, CH);
        ASSERT_OK(memcmp(x, y, sizeof(double) * CW * CH));
        free(x);
        free(y);
        /* fitsFileHash is the output's SHA-256, as the daemon records it. */
        ASSERT_OK(ac_digest_file(a, AC_DIGEST_SHA256, sha, sizeof sha, &e));
        d2 = open_db(&cl->h);
        ASSERT_STR_EQ(
            afdb_text(d2,
                      "SELECT fitsFileHash FROM fitsfile WHERE fitsFileOriginalFile = "
                      "? AND fitsFileCalibrated = 1",
                      nt->light[i], hash, sizeof hash),
            sha);
        sqlite3_close(d2);
    }
}

void cluster_stop(struct cluster *cl)
{
    ASSERT_EQ(ac_harness_stop(&cl->h, 30000), 0);
    ac_gen_free(cl->nt.g);
    ac_harness_free(&cl->h);
}
