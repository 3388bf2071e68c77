/*
 * test-cloud.c - cloud sync through a real rclone against a real server: `rclone serve
 * webdav` on the loopback address with a user and password (cloudfix.h). A night
 * calibrated with upload_calibrated ends with every calibrated frame and master on the
 * server, byte-identical, each row's cloud URL set; killing the server (and the daemon)
 * in the middle of uploads still ends with every file uploaded exactly once; wrong
 * credentials are named by --check-config and by status, and calibration goes on.
 */
#include <sqlite3.h>

#include "afdb.h"
#include "cloudfix.h"
#include "nightfix.h"
#include "support.h"

/* uploads_in_state counts astrocal_upload rows in state. */
static long long uploads_in_state(sqlite3 *db, const char *state)
{
    return afdb_int(db, "SELECT count(*) FROM astrocal_upload WHERE state = ?1", state, -1);
}

/* wait_uploads polls until n uploads are done (true) or the timeout. */
static bool wait_uploads(ac_harness_t *h, long long n, int timeout_ms)
{
    long long t0 = ac_harness_now_ms();

    while (ac_harness_now_ms() - t0 < timeout_ms) {
        sqlite3 *db = open_db(h);
        long long done = uploads_in_state(db, "done");
        sqlite3_close(db);
        if (done >= n)
            return true;
        ac_harness_sleep_ms(100);
    }
    return false;
}

/* assert_on_server checks every calibrated frame (and the master with rowid master, when
 * > 0): its cloud URL is gs://astro/REL and the server holds REL, byte-identical. */
static void assert_on_server(ac_harness_t *h, const struct davsrv *s, int n, long long master)
{
    sqlite3 *db = open_db(h);
    sqlite3_stmt *st;
    char night[1100];
    int rows = 0;

    abspath(night, sizeof night, "night/");
    ASSERT_EQ(sqlite3_prepare_v2(db,
                                 "SELECT fitsFileName, fitsFileCloudURL FROM fitsfile WHERE "
                                 "fitsFileOriginalFile IS NOT NULL",
                                 -1, &st, NULL),
              SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *path = (const char *)sqlite3_column_text(st, 0);
        const char *url = (const char *)sqlite3_column_text(st, 1);
        char want[2300], remote[2300];

        ASSERT_NOT_NULL(url);
        ASSERT(strncmp(path, night, strlen(night)) == 0);
        snprintf(want, sizeof want, "gs://astro/%s", path + strlen(night));
        ASSERT_STR_EQ(url, want);
        snprintf(remote, sizeof remote, "%s/astro/%s", s->dir, path + strlen(night));
        ASSERT(same_bytes(path, remote));
        rows++;
    }
    sqlite3_finalize(st);
    ASSERT_EQ(rows, n);
    if (master > 0) {
        char buf[2300], id[32], remote[2300];
        snprintf(id, sizeof id, "%lld", master);
        ASSERT_STR_EQ(
            afdb_text(db, "SELECT cloud_url FROM Masters WHERE id = ?1", id, buf, sizeof buf),
            "gs://astro/masters/master_bias.fits");
        snprintf(remote, sizeof remote, "%s/astro/masters/master_bias.fits", s->dir);
        abspath(buf, sizeof buf, "night/masters/master_bias.fits");
        ASSERT(same_bytes(buf, remote));
    }
    /* Exactly once: one file on the server per upload, one done row per file. */
    ASSERT_EQ(dav_count_files(s), n + (master > 0));
    ASSERT_EQ(uploads_in_state(db, "done"), n + (master > 0));
    ASSERT_EQ(afdb_int(db, "SELECT count(*) FROM astrocal_upload", NULL, -1), n + (master > 0));
    sqlite3_close(db);
}

/* two_files_one_cloud_name: a frame at the repository's top (REL dup.fits) and one
 * outside it with the same name (REL: its name alone) must not share the remote's
 * dup.fits: one is uploaded, the other fails naming the first, and the server holds the
 * one uploaded. */
static void two_files_one_cloud_name(ac_harness_t *h, const struct davsrv *s, const char *a,
                                     const char *b)
{
    char pa[1100], pb[1100], remote[1200], buf[2048], *out = NULL;
    sqlite3 *db;

    abspath(pa, sizeof pa, "night/dup.fits");
    ASSERT_EQ(mkdir("elsewhere", 0700), 0);
    abspath(pb, sizeof pb, "elsewhere/dup.fits");
    {
        char *const c1[] = {"/bin/cp", (char *)a, pa, NULL}, *const c2[] = {"/bin/cp",
                                                                            (char *)b, pb,
                                                                            NULL};
        ASSERT_EQ(run_capture(c1, NULL), 0);
        ASSERT_EQ(run_capture(c2, NULL), 0);
    }
    db = open_db(h);
    afdb_file_t fa = afdb_light("D-A", "S-9", pa, "2024-03-15T21:30:00", "300.0");
    afdb_file_t fb = afdb_light("D-B", "S-9", pb, "2024-03-15T21:31:00", "300.0");
    afdb_add_file(db, &fa);
    afdb_add_file(db, &fb);
    afdb_exec(db,
              "INSERT INTO astrocal_record (file_id, output_file_id) VALUES ('X-A', 'D-A'), "
              "('X-B', 'D-B')");
    sqlite3_close(db);
    ASSERT_EQ(ac_harness_ctl(h, &out, NULL, "retry", "--uploads", NULL), 0); /* look now */
    free(out);
    for (long long t0 = ac_harness_now_ms();; ac_harness_sleep_ms(100)) {
        db = open_db(h);
        long long failed = uploads_in_state(db, "failed");
        sqlite3_close(db);
        if (failed == 1)
            break;
        ASSERT(ac_harness_now_ms() - t0 < 60000);
    }
    db = open_db(h);
    ASSERT_NOT_NULL(afdb_text(db, "SELECT error FROM astrocal_upload WHERE state = 'failed'",
                              NULL, buf, sizeof buf));
    ASSERT_CONTAINS(buf, "its cloud name gs://astro/dup.fits is already");
    ASSERT_NOT_NULL(afdb_text(db,
                              "SELECT fitsFileName FROM fitsfile WHERE fitsFileCloudURL = "
                              "'gs://astro/dup.fits'",
                              NULL, buf, sizeof buf));
    ASSERT_EQ(afdb_int(db,
                       "SELECT count(*) FROM fitsfile WHERE fitsFileCloudURL = "
                       "'gs://astro/dup.fits'",
                       NULL, -1),
              1);
    sqlite3_close(db);
    snprintf(remote, sizeof remote, "%s/astro/dup.fits", s->dir);
    ASSERT(same_bytes(buf, remote));
}

TEST_TIMEOUT(cloud_night_uploads_every_frame_and_master, 240)
{
    ac_harness_t h;
    struct night nt;
    struct davsrv s;
    long long bias;
    char *out = NULL;
    sqlite3 *db;

    if (!cloud_night(&h, &nt, &s, 4, NULL))
        return;
    /* A bucket that does not exist is named as such, and nothing starts. */
    cloud_config(&h, &s, "CLOUD.remote=dav:no-such-bucket");
    {
        const char *argv[] = {AC_ASTROCALD_BIN, "--check-config", "--config", h.config, NULL};
        char *err = NULL;
        ASSERT_EQ(ac_harness_run(&h, argv, 60000, NULL, &err), 78);
        ASSERT_CONTAINS(err, "[CLOUD] remote 'dav:no-such-bucket': not found");
        free(err);
    }
    cloud_config(&h, &s, NULL);
    {
        const char *argv[] = {AC_ASTROCALD_BIN, "--check-config", "--config", h.config, NULL};
        char *err = NULL;
        int rc = ac_harness_run(&h, argv, 60000, &out, &err);
        if (rc != 0)
            fprintf(stderr, "--check-config: %s%s", out, err);
        ASSERT_EQ(rc, 0);
        free(err);
        ASSERT_CONTAINS(out, "remote dav:astro answers");
        free(out);
    }
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    /* A master astrocald built (its build row done), to be backed up as well. */
    db = open_db(&h);
    bias = afdb_int(db, "SELECT id FROM Masters WHERE master_type = 'bias'", NULL, -1);
    ASSERT(bias > 0);
    {
        char sql[300];
        snprintf(sql, sizeof sql,
                 "INSERT INTO astrocal_build (session_id, type, state, master_rowid) VALUES "
                 "('B-1', 'bias', 'done', %lld)",
                 bias);
        afdb_exec(db, sql);
    }
    sqlite3_close(db);
    /* Made behind the daemon's back: `retry --uploads` makes it look for new work now (it
     * would within a minute anyway). */
    ASSERT_EQ(ac_harness_ctl(&h, &out, NULL, "retry", "--uploads", NULL), 0);
    ASSERT_CONTAINS(out, "0 uploads queued for retry");
    free(out);
    ASSERT(wait_done(&h, nt.n, 60000));
    ASSERT(wait_uploads(&h, nt.n + 1, 60000));
    assert_on_server(&h, &s, nt.n, bias);
    ASSERT_EQ(ac_harness_ctl(&h, &out, NULL, "status", NULL), 0);
    ASSERT_CONTAINS(out, "uploads: 0 queued, 0 running, 0 failed");
    ASSERT_CONTAINS(out, "remote   dav:astro: ok");
    free(out);
    ASSERT_EQ(ac_harness_ctl(&h, &out, NULL, "uploads", NULL), 0);
    ASSERT_CONTAINS(out, "gs://astro/lights/M_31_L_300s_0001_calibrated.fits");
    ASSERT_CONTAINS(out, "gs://astro/masters/master_bias.fits");
    free(out);
    two_files_one_cloud_name(&h, &s, nt.light[0], nt.light[1]);
    ASSERT_EQ(ac_harness_stop(&h, 20000), 0);
    dav_kill(&s);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}

/* wait_remote polls `status` until it says the remote is want ("ok", "network error"...). */
static void wait_remote(ac_harness_t *h, const char *want)
{
    for (long long t0 = ac_harness_now_ms();; ac_harness_sleep_ms(100)) {
        json_t *r = ac_harness_request(h, "status", NULL, 5000);
        const char *remote = json_string_value(
            json_object_get(json_object_get(ac_harness_result(r), "uploads"), "remote"));
        bool seen = remote != NULL && strcmp(remote, want) == 0;
        if (!seen && ac_harness_now_ms() - t0 > 60000)
            AC_TEST_FAIL("status says the remote is '%s', not '%s'", remote, want);
        json_decref(r);
        if (seen)
            return;
    }
}

/* wait_running polls until an upload is running (its rclone started). */
static bool wait_running(ac_harness_t *h, int timeout_ms)
{
    long long t0 = ac_harness_now_ms();

    while (ac_harness_now_ms() - t0 < timeout_ms) {
        sqlite3 *db = open_db(h);
        long long n = uploads_in_state(db, "running");
        sqlite3_close(db);
        if (n > 0)
            return true;
        ac_harness_sleep_ms(20);
    }
    return false;
}

TEST_TIMEOUT(cloud_server_and_daemon_killed_mid_upload_exactly_once, 300)
{
    ac_harness_t h;
    struct night nt;
    struct davsrv s;
    char *out = NULL;

    if (!cloud_night(&h, &nt, &s, 6, NULL))
        return;
    /* About a second per 200 kB frame: there is time to kill things mid-transfer. */
    cloud_config(&h, &s, "CLOUD.bwlimit=150k");
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    ASSERT(wait_running(&h, 60000));
    /* The server dies under an upload, once bytes arrive (a partial file on the server). */
    for (long long t0 = ac_harness_now_ms(); dav_count_files(&s) == 0; ac_harness_sleep_ms(10))
        ASSERT(ac_harness_now_ms() - t0 < 60000);
    dav_kill(&s);
    ASSERT(wait_done(&h, nt.n, 60000)); /* calibration does not wait for the cloud */
    wait_remote(&h, "network error");   /* reported while it is away */
    dav_restart(&s);
    /* The next probe comes when the back-off that grew while the server was away ends
     * (retry_backoff_s = 1 doubling: up to about as long again as it was away). */
    ASSERT(wait_running(&h, 150000));
    ac_harness_sleep_ms(300); /* not for synchronisation: to land in the transfer */
    ac_harness_kill(&h);      /* SIGKILL with an upload running */
    forget_notify(&h);
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    ASSERT(wait_uploads(&h, nt.n, 120000));
    assert_on_server(&h, &s, nt.n, 0);
    ASSERT_EQ(ac_harness_ctl(&h, &out, NULL, "status", NULL), 0);
    ASSERT_CONTAINS(out, "remote   dav:astro: ok");
    free(out);
    ASSERT_EQ(ac_harness_stop(&h, 20000), 0);
    dav_kill(&s);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}

TEST_TIMEOUT(cloud_wrong_credentials_named_and_calibration_goes_on, 180)
{
    ac_harness_t h;
    struct night nt;
    struct davsrv s;
    char *out = NULL, *err = NULL;
    sqlite3 *db;
    json_t *r, *u;

    if (!cloud_night(&h, &nt, &s, 3, "wrong-password"))
        return;
    cloud_config(&h, &s, NULL);
    {
        const char *argv[] = {AC_ASTROCALD_BIN, "--check-config", "--config", h.config, NULL};
        ASSERT_EQ(ac_harness_run(&h, argv, 60000, NULL, &err), 78);
        ASSERT_CONTAINS(err, "[CLOUD] remote 'dav:astro': bad credentials");
        ASSERT_CONTAINS(err, "401");
        free(err);
    }
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    ASSERT(wait_done(&h, nt.n, 60000));
    wait_remote(&h, "bad credentials");
    r = ac_harness_request(&h, "status", NULL, 5000);
    u = json_object_get(ac_harness_result(r), "uploads");
    ASSERT_STR_EQ(json_string_value(json_object_get(u, "remote")), "bad credentials");
    ASSERT_CONTAINS(json_string_value(json_object_get(u, "remote_error")), "401");
    json_decref(r);
    ASSERT_EQ(ac_harness_ctl(&h, &out, NULL, "status", NULL), 0);
    ASSERT_CONTAINS(out, "remote   dav:astro: bad credentials");
    free(out);
    /* Nothing was recorded as uploaded, nothing failed for good: they wait. */
    db = open_db(&h);
    ASSERT_EQ(afdb_int(db,
                       "SELECT count(*) FROM fitsfile WHERE coalesce(fitsFileCloudURL, '') "
                       "<> ''",
                       NULL, -1),
              0);
    ASSERT_EQ(uploads_in_state(db, "failed"), 0);
    sqlite3_close(db);
    ASSERT_EQ(dav_count_files(&s), 0);
    ASSERT_EQ(ac_harness_stop(&h, 20000), 0);
    dav_kill(&s);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}

TEST_TIMEOUT(cloud_missing_light_is_fetched_and_calibrated, 240)
{
    ac_harness_t h;
    struct night nt;
    struct davsrv s;
    char remote[1200], ref[1200], out2[1200], refout[1200], cached[1300], *out = NULL;
    sqlite3 *db;

    if (!cloud_night(&h, &nt, &s, 3, NULL))
        return;
    /* Light 2 is only in the cloud (as AstroFiler leaves a light it archived); light 3 is
     * gone with no cloud copy. A copy of light 2 is kept aside for the reference. */
    ASSERT_EQ(mkdir("ref", 0700), 0);
    abspath(ref, sizeof ref, "ref/M_31_L_300s_0002.fits");
    copy_file(nt.light[1], ref);
    snprintf(remote, sizeof remote, "%s/astro/lights", s.dir);
    ASSERT_EQ(mkdir(remote, 0700), 0);
    snprintf(remote, sizeof remote, "%s/astro/lights/M_31_L_300s_0002.fits", s.dir);
    copy_file(nt.light[1], remote);
    ASSERT_EQ(unlink(nt.light[1]), 0);
    ASSERT_EQ(unlink(nt.light[2]), 0);
    db = open_db(&h);
    afdb_exec(db, "UPDATE fitsfile SET fitsFileCloudURL = "
                  "'gs://astro/lights/M_31_L_300s_0002.fits' WHERE fitsFileId = 'L-0002'");
    sqlite3_close(db);
    cloud_config(&h, &s, "QUEUE.max_attempts=1");
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    ASSERT(wait_done(&h, 2, 60000));
    ASSERT(wait_state(&h, "failed", 1, 60000));
    db = open_db(&h);
    ASSERT_EQ(afdb_int(db,
                       "SELECT count(*) FROM astrocal_file WHERE state = 'done' AND "
                       "file_id IN ('L-0001', 'L-0002')",
                       NULL, -1),
              2);
    {
        char buf[2048];
        ASSERT_NOT_NULL(afdb_text(db, "SELECT error FROM astrocal_file WHERE file_id = ?1",
                                  "L-0003", buf, sizeof buf));
        ASSERT_CONTAINS(buf, "no cloud URL (fitsFileCloudURL) to fetch it from");
    }
    sqlite3_close(db);
    /* The download is in the cache, byte-identical, and the output is where the light's
     * own would be, equal to calibrating the kept copy with the same masters. */
    snprintf(cached, sizeof cached, "%s/state/cloud-cache/L-0002/M_31_L_300s_0002.fits",
             ac_test_tmpdir());
    ASSERT(same_bytes(cached, ref));
    snprintf(out2, sizeof out2, "%s/lights/M_31_L_300s_0002_calibrated.fits", nt.dir);
    ASSERT(file_exists(out2));
    {
        const char *argv[] = {AC_ASTROCALD_BIN, "calibrate", "--bias", nt.bias,
                              "--dark",         nt.dark,     "--flat", nt.flat,
                              "--quiet",        ref,         NULL};
        ASSERT_EQ(ac_harness_run(&h, argv, 60000, &out, NULL), 0);
        free(out);
    }
    abspath(refout, sizeof refout, "ref/M_31_L_300s_0002_calibrated.fits");
    assert_same_pixels(out2, refout);
    ASSERT_EQ(ac_harness_stop(&h, 20000), 0);
    dav_kill(&s);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}

/* cached says whether the cache holds the download of file id (its folder). */
static bool cached(const char *id)
{
    char p[1200];
    struct stat st;

    snprintf(p, sizeof p, "%s/state/cloud-cache/%s", ac_test_tmpdir(), id);
    return stat(p, &st) == 0;
}

TEST_TIMEOUT(cloud_cache_evicts_least_recently_used, 240)
{
    ac_harness_t h;
    struct night nt;
    struct davsrv s;
    char remote[1200], url[300], sql[600], extra[1100];
    sqlite3 *db;

    if (!cloud_night(&h, &nt, &s, 4, NULL))
        return;
    snprintf(remote, sizeof remote, "%s/astro/lights", s.dir);
    ASSERT_EQ(mkdir(remote, 0700), 0);
    db = open_db(&h);
    for (int i = 0; i < 3; i++) { /* lights 1-3 only in the cloud */
        const char *name = strrchr(nt.light[i], '/') + 1;
        snprintf(remote, sizeof remote, "%s/astro/lights/%s", s.dir, name);
        copy_file(nt.light[i], remote);
        ASSERT_EQ(unlink(nt.light[i]), 0);
        snprintf(sql, sizeof sql,
                 "UPDATE fitsfile SET fitsFileCloudURL = 'gs://astro/lights/%s' WHERE "
                 "fitsFileId = '%s'",
                 name, nt.light_id[i]);
        afdb_exec(db, sql);
    }
    sqlite3_close(db);
    cloud_config(&h, &s, NULL);
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    ASSERT(wait_done(&h, 4, 60000));
    ASSERT_EQ(ac_harness_stop(&h, 20000), 0);
    ASSERT(cached("L-0001") && cached("L-0002") && cached("L-0003"));
    /* Downloaded in this order (their times), long ago. */
    for (int i = 0; i < 3; i++) {
        char p[1200];
        struct timespec ts[2] = {{1700000000 + i * 60, 0}, {1700000000 + i * 60, 0}};
        snprintf(p, sizeof p, "%s/state/cloud-cache/%s/%s", ac_test_tmpdir(), nt.light_id[i],
                 strrchr(nt.light[i], '/') + 1);
        ASSERT_EQ(utimensat(AT_FDCWD, p, ts, 0), 0);
    }
    /* One more cloud-only light arrives; the cache now holds two frames (0.0002 GiB =
     * 214748 bytes, a frame 103680): the two least recently used go. */
    snprintf(remote, sizeof remote, "%s/astro/lights/extra.fits", s.dir);
    copy_file(nt.light[3], remote);
    dav_kill(&s); /* rclone serve caches listings: it sees the new file once restarted */
    dav_restart(&s);
    abspath(extra, sizeof extra, "night/lights/extra.fits");
    db = open_db(&h);
    afdb_file_t f = afdb_light("L-0005", "S-1", extra, "2024-03-15T23:59:00", "300.0");
    f.filter = "L";
    afdb_add_file(db, &f);
    snprintf(url, sizeof url, "gs://astro/lights/extra.fits");
    afdb_exec(db, "UPDATE fitsfile SET fitsFileCloudURL = 'gs://astro/lights/extra.fits' "
                  "WHERE fitsFileId = 'L-0005'");
    sqlite3_close(db);
    cloud_config(&h, &s, "CLOUD.cache_max_gib=0.0002");
    forget_notify(&h);
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    ASSERT(wait_done(&h, 5, 60000));
    for (long long t0 = ac_harness_now_ms(); cached("L-0001") || cached("L-0002");
         ac_harness_sleep_ms(50))
        ASSERT(ac_harness_now_ms() - t0 < 20000);
    ASSERT(cached("L-0003"));
    ASSERT(cached("L-0005"));
    ASSERT_EQ(ac_harness_stop(&h, 20000), 0);
    dav_kill(&s);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}
