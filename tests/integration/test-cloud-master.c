/*
 * test-cloud-master.c - masters fetched from the cloud (fetch.h), through a real rclone
 * against `rclone serve webdav` on the loopback address (cloudfix.h). A night whose master
 * dark was deleted locally after its backup (Masters.cloud_url set) waits, saying so, while
 * the dark is fetched, then is calibrated with the downloaded copy: its outputs equal those
 * of `astrocald calibrate` with a copy of the master kept aside. A master whose URL the
 * server lacks keeps the session waiting with rclone's reason and a back-off, the daemon
 * answering; once the server has it, the next try fetches it and the night is calibrated.
 */
#include <sqlite3.h>

#include "afdb.h"
#include "cloudfix.h"
#include "nightfix.h"
#include "support.h"

/* dark_to_cloud moves the night's master dark to the server as masters/<name> (a copy kept
 * in ref/ when keep) and sets its Masters.cloud_url to url; returns its Masters.id. */
static long long dark_to_cloud(ac_harness_t *h, struct night *nt, const struct davsrv *s,
                               const char *name, const char *url, bool keep)
{
    char remote[1200], ref[1200], sql[600];
    long long id;
    sqlite3 *db;

    ASSERT_EQ(mkdir("ref", 0700), 0);
    if (keep) {
        abspath(ref, sizeof ref, "ref/master_dark.fits");
        copy_file(nt->dark, ref);
    }
    snprintf(remote, sizeof remote, "%s/astro/masters", s->dir);
    ASSERT_EQ(mkdir(remote, 0700), 0);
    if (name != NULL) {
        snprintf(remote, sizeof remote, "%s/astro/masters/%s", s->dir, name);
        copy_file(nt->dark, remote);
    }
    ASSERT_EQ(unlink(nt->dark), 0);
    db = open_db(h);
    id = afdb_int(db, "SELECT id FROM Masters WHERE master_type = 'dark'", NULL, -1);
    ASSERT(id > 0);
    snprintf(sql, sizeof sql, "UPDATE Masters SET cloud_url = '%s' WHERE id = %lld", url, id);
    afdb_exec(db, sql);
    sqlite3_close(db);
    return id;
}

/* wait_sessions polls `astrocalctl sessions` until its output contains want; returns it
 * (owned), failing the test after timeout_ms. */
static char *wait_sessions(ac_harness_t *h, const char *want, int timeout_ms)
{
    for (long long t0 = ac_harness_now_ms();; ac_harness_sleep_ms(150)) {
        char *out = NULL;
        ASSERT_EQ(ac_harness_ctl(h, &out, NULL, "sessions", NULL), 0);
        if (strstr(out, want) != NULL)
            return out;
        if (ac_harness_now_ms() - t0 > timeout_ms) {
            fprintf(stderr, "sessions never said '%s':\n%s", want, out);
            free(out);
            AC_TEST_FAIL("no such session reason");
        }
        free(out);
    }
}

/* assert_like_reference checks that the daemon's output of light i equals `astrocald
 * calibrate` of a copy of it (in ref/) with the night's bias and flat and the dark kept in
 * ref/ (the run with a local master). */
static void assert_like_reference(ac_harness_t *h, struct night *nt, int i)
{
    const char *name = strrchr(nt->light[i], '/') + 1;
    char out[1200], refin[1200], refout[1200], dark[1200], stem[600], *txt = NULL;

    snprintf(stem, sizeof stem, "%.*s", (int)(strlen(name) - 5), name); /* less ".fits" */
    snprintf(out, sizeof out, "%s/lights/%s_calibrated.fits", nt->dir, stem);
    snprintf(refin, sizeof refin, "%s/ref/%s", ac_test_tmpdir(), name);
    snprintf(refout, sizeof refout, "%s/ref/%s_calibrated.fits", ac_test_tmpdir(), stem);
    abspath(dark, sizeof dark, "ref/master_dark.fits");
    ASSERT(file_exists(out));
    {
        const char *argv[] = {AC_ASTROCALD_BIN, "calibrate", "--bias", nt->bias,
                              "--dark",         dark,        "--flat", nt->flat,
                              "--quiet",        refin,       NULL};
        ASSERT_EQ(ac_harness_run(h, argv, 60000, &txt, NULL), 0);
        free(txt);
    }
    assert_same_pixels(out, refout);
}

/* keep_lights copies the night's raw lights into ref/ (for the reference runs). */
static void keep_lights(struct night *nt)
{
    for (int i = 0; i < nt->n; i++) {
        char ref[1200];
        snprintf(ref, sizeof ref, "%s/ref/%s", ac_test_tmpdir(),
                 strrchr(nt->light[i], '/') + 1);
        copy_file(nt->light[i], ref);
    }
}

TEST_TIMEOUT(cloud_missing_master_is_fetched_and_calibrated, 240)
{
    ac_harness_t h;
    struct night nt;
    struct davsrv s;
    char cached[1300], ref[1200], *out = NULL;
    long long dark;

    if (!cloud_night(&h, &nt, &s, 3, NULL))
        return;
    dark = dark_to_cloud(&h, &nt, &s, "master_dark.fits", "gs://astro/masters/master_dark.fits",
                         true);
    keep_lights(&nt);
    /* Slow enough (a master is 98 KiB) to see the session wait while it comes. */
    cloud_config(&h, &s, "CLOUD.bwlimit=24k");
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    out = wait_sessions(&h, "is being fetched from the cloud", 30000);
    ASSERT_CONTAINS(out, "master_dark.fits");
    free(out);
    ASSERT(wait_done(&h, nt.n, 90000));
    /* The download is in the cache, byte-identical; each output equals the run with the
     * master kept aside, and its provenance names the catalogue's master. */
    snprintf(cached, sizeof cached, "%s/state/cloud-cache/master-%lld/master_dark.fits",
             ac_test_tmpdir(), dark);
    abspath(ref, sizeof ref, "ref/master_dark.fits");
    ASSERT(same_bytes(cached, ref));
    for (int i = 0; i < nt.n; i++)
        assert_like_reference(&h, &nt, i);
    {
        sqlite3 *db = open_db(&h);
        char buf[2048];
        ASSERT_NOT_NULL(afdb_text(db,
                                  "SELECT fitsFileMasterDark FROM fitsfile WHERE "
                                  "fitsFileOriginalFile IS NOT NULL LIMIT 1",
                                  NULL, buf, sizeof buf));
        ASSERT_STR_EQ(buf, nt.dark);
        sqlite3_close(db);
    }
    ASSERT_EQ(ac_harness_stop(&h, 20000), 0);
    dav_kill(&s);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}

TEST_TIMEOUT(cloud_master_missing_on_server_waits_and_backs_off, 300)
{
    ac_harness_t h;
    struct night nt;
    struct davsrv s;
    char remote[1200], *out = NULL;
    sqlite3 *db;

    if (!cloud_night(&h, &nt, &s, 2, NULL))
        return;
    /* The catalogue says the dark is backed up; the server has no such file. */
    dark_to_cloud(&h, &nt, &s, NULL, "gs://astro/masters/master_dark.fits", true);
    keep_lights(&nt);
    cloud_config(&h, &s, NULL);
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    out = wait_sessions(&h, "could not be fetched from the cloud", 60000);
    ASSERT_CONTAINS(out, "master_dark.fits");
    free(out);
    /* The reason in full: rclone's verdict and the back-off. */
    db = open_db(&h);
    {
        char buf[2048];
        ASSERT_NOT_NULL(afdb_text(db,
                                  "SELECT reason FROM astrocal_session WHERE session_id = ?1",
                                  "S-1", buf, sizeof buf));
        ASSERT_CONTAINS(buf, "gs://astro/masters/master_dark.fits: not found");
        ASSERT_CONTAINS(buf, "trying again in");
    }
    ASSERT_EQ(files_in_state(db, "done"), 0);
    ASSERT_EQ(files_in_state(db, "failed"), 0);
    sqlite3_close(db);
    /* The daemon answers meanwhile, and counts the failed fetch. */
    ASSERT_EQ(ac_harness_ctl(&h, &out, NULL, "status", NULL), 0);
    ASSERT_CONTAINS(out, "1 failed, cache");
    free(out);
    /* The backup appears: the next try, after the back-off (30 s), fetches it. rclone
     * serve caches listings: it sees the new file once restarted. */
    snprintf(remote, sizeof remote, "%s/astro/masters/master_dark.fits", s.dir);
    abspath(nt.dark, sizeof nt.dark, "ref/master_dark.fits");
    copy_file(nt.dark, remote);
    dav_kill(&s);
    dav_restart(&s);
    ASSERT(wait_done(&h, nt.n, 150000));
    for (int i = 0; i < nt.n; i++)
        assert_like_reference(&h, &nt, i);
    ASSERT_EQ(ac_harness_stop(&h, 20000), 0);
    dav_kill(&s);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}
