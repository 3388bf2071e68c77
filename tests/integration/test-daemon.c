/*
 * test-daemon.c - the real astrocald daemon on a catalogue laid out as AstroFiler lays it
 * out: calibration of every light with correct rows, a master inserted by another process
 * releasing a waiting session, SIGKILL during a batch (exactly-once results), control
 * commands through astrocalctl, bad masters and lights, malformed protocol input, and the
 * systemd notifications received on a fake NOTIFY_SOCKET.
 */
#include <dirent.h>
#include <sqlite3.h>

#include "afdb.h"
#include "nightfix.h"
#include "support.h"

#define DW 256
#define DH 192

/* ctl_json runs "astrocalctl --json cmd ARGS..." (at most 4 ARGS, NULL-terminated) and
 * requires exit status 0 and want in its output. */
static void ctl_json(ac_harness_t *h, const char *want, const char *cmd, ...)
{
    const char *a[4] = {NULL, NULL, NULL, NULL};
    char *out = NULL;
    va_list ap;

    va_start(ap, cmd);
    for (int i = 0; i < 4 && (a[i] = va_arg(ap, const char *)) != NULL; i++)
        ;
    va_end(ap);
    ASSERT_EQ(ac_harness_ctl(h, &out, NULL, "--json", cmd, a[0], a[1], a[2], a[3], NULL), 0);
    ASSERT_CONTAINS(out, want);
    free(out);
}

static void assert_catalogue_complete(ac_harness_t *h, struct night *nt)
{
    sqlite3 *db = open_db(h);
    char buf[4096];

    ASSERT_EQ(count_calibrated_rows(db), nt->n);
    for (int i = 0; i < nt->n; i++) {
        const char *out;
        ASSERT_EQ(afdb_int(db, "SELECT fitsFileCalibrated FROM fitsfile WHERE fitsFileId = ?1",
                           nt->light_id[i], -1),
                  1);
        ASSERT_EQ(afdb_int(db, "SELECT count(*) FROM fitsfile WHERE fitsFileOriginalFile = ?1",
                           nt->light[i], -1),
                  1);
        out = afdb_text(db, "SELECT fitsFileName FROM fitsfile WHERE fitsFileOriginalFile = ?1",
                        nt->light[i], buf, sizeof buf);
        ASSERT_NOT_NULL(out);
        ASSERT(file_exists(out));
        ASSERT_NEAR(read_key_double(out, "CALIBRAT"), 1, 0);
    }
    /* The new rows follow AstroFiler's conventions. */
    ASSERT_EQ(afdb_int(db,
                       "SELECT count(*) FROM fitsfile WHERE fitsFileOriginalFile IS NOT NULL "
                       "AND length(fitsFileId) = 36 AND fitsFileSoftDelete = 0 AND "
                       "length(fitsFileHash) = 64 AND fitsFileSession = 'S-1' AND "
                       "fitsFileCalibrationDate IS NOT NULL",
                       NULL, -1),
              nt->n);
    ASSERT_EQ(afdb_int(db, "SELECT count(*) FROM astrocal_record", NULL, -1), nt->n);
    sqlite3_close(db);
}

TEST_TIMEOUT(daemon_calibrates_catalogue_and_drains, 120)
{
    ac_harness_t h;
    struct night nt;
    char *out = NULL;

    ac_harness_init(&h);
    make_night(&nt, 4, DW, DH);
    make_catalogue(&h, &nt, "bdf");
    ASSERT_OK(ac_harness_write_config(&h, NULL));
    ASSERT_OK(ac_harness_start(&h, (const char *[]){"--drain", NULL}));
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    ASSERT_EQ(wait_exit(&h, 60000), 0); /* --drain exits 0 by itself */
    ASSERT_NOT_NULL(ac_harness_notify_last(&h, "STOPPING=1"));
    ASSERT_NOT_NULL(ac_harness_notify_last(&h, "STATUS="));
    assert_catalogue_complete(&h, &nt);
    /* Outputs beside the lights, valid FITS. */
    char p[1200];
    snprintf(p, sizeof p, "%s/lights/M_31_L_300s_0001_calibrated.fits", nt.dir);
    assert_fitsverify_clean(p);
    ASSERT_EQ(count_tmp_files("night/lights"), 0);
    free(out);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}

TEST_TIMEOUT(daemon_new_master_releases_waiting_session, 120)
{
    ac_harness_t h;
    struct night nt;
    json_t *r;
    char *out = NULL;
    sqlite3 *db;

    ac_harness_init(&h);
    make_night(&nt, 3, DW, DH);
    make_catalogue(&h, &nt, "bf"); /* no dark yet */
    ASSERT_OK(ac_harness_write_config(
        &h, (const char *[]){"AUTO_CALIBRATION.auto_calibrate_on_master_creation=True",
                             "DAEMON.output_dir=out", NULL}));
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    r = ac_harness_result(ac_harness_request(&h, "sessions", NULL, 5000));
    json_t *s0 = json_array_get(json_object_get(r, "sessions"), 0);
    ASSERT_STR_EQ(json_string_value(json_object_get(s0, "state")), "waiting");
    ASSERT_CONTAINS(json_string_value(json_object_get(s0, "reason")), "waiting for dark 300 s");
    json_decref(r);
    ASSERT_EQ(ac_harness_ctl(&h, &out, NULL, "plan", NULL), 0);
    ASSERT_CONTAINS(out, "waiting for dark");
    free(out);
    /* Another process (AstroFiler) registers the dark master. */
    db = open_db(&h);
    add_master(db, "dark", nt.dark, NULL);
    sqlite3_close(db);
    long long t0 = ac_harness_now_ms();
    ASSERT(wait_done(&h, 3, 30000));
    printf("master event to 3 files done: %lld ms\n", ac_harness_now_ms() - t0);
    ASSERT_EQ(ac_harness_stop(&h, 30000), 0);
    assert_catalogue_complete(&h, &nt);
    ASSERT(file_exists("out/M_31_L_300s_0001_calibrated.fits"));
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}

TEST_TIMEOUT(daemon_sigkill_during_batch_is_exactly_once, 240)
{
    ac_harness_t h;
    struct night nt;
    int kills = 0;

    ac_harness_init(&h);
    make_night(&nt, 10, 2048, 1536);
    make_catalogue(&h, &nt, "bdf");
    ASSERT_OK(ac_harness_write_config(&h, (const char *[]){"WORKERS.workers=1", NULL}));
    for (long long target = 2; target <= 6; target += 4) {
        forget_notify(&h);
        ASSERT_OK(ac_harness_start(&h, NULL));
        ASSERT_OK(ac_harness_wait_ready(&h, 20000));
        ASSERT(wait_done(&h, target, 60000));
        /* Let the next file get under way, then kill without warning. */
        ac_harness_sleep_ms(40);
        ac_harness_kill(&h);
        kills++;
    }
    forget_notify(&h);
    ASSERT_OK(ac_harness_start(&h, (const char *[]){"--drain", NULL}));
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    ASSERT_EQ(wait_exit(&h, 120000), 0);
    ASSERT_EQ(kills, 2);
    assert_catalogue_complete(&h, &nt);
    ASSERT_EQ(count_tmp_files("night/lights"), 0);
    /* Every output is complete and intact. */
    for (int i = 0; i < nt.n; i++) {
        char p[1200];
        fitsfile *f = NULL;
        int status = 0, dataok = 0, hduok = 0;
        snprintf(p, sizeof p, "%s/lights/M_31_L_300s_%04d_calibrated.fits", nt.dir, i + 1);
        fits_open_file(&f, p, READONLY, &status);
        fits_verify_chksum(f, &dataok, &hduok, &status);
        fits_close_file(f, &status);
        ASSERT_OK(status);
        ASSERT_EQ(dataok, 1);
        ASSERT_EQ(hduok, 1);
    }
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}

TEST_TIMEOUT(daemon_bad_light_and_bad_master, 120)
{
    ac_harness_t h;
    struct night nt;
    ac_err_t e = {0};
    sqlite3 *db;
    char badpath[1200];
    json_t *r;

    ac_harness_init(&h);
    make_night(&nt, 3, DW, DH);
    /* Light 2 is truncated on disk; a broken dark (wrong checksum) is the best candidate. */
    ASSERT_OK(ac_gen_write_bad(nt.g, AC_GEN_BAD_TRUNCATED, nt.light[1], &e));
    make_catalogue(&h, &nt, "bf");
    db = open_db(&h);
    abspath(badpath, sizeof badpath, "night/masters/dark_copy.fits");
    {
        char cmd[2600];
        snprintf(cmd, sizeof cmd, "cp '%s' '%s'", nt.dark, badpath);
        ASSERT_EQ(system(cmd), 0);
    }
    /* Equal in every respect, the broken one has the lower id and so ranks first. */
    add_master(db, "dark", badpath, "00000000000000000000000000000000");
    add_master(db, "dark", nt.dark, NULL);
    sqlite3_close(db);
    ASSERT_OK(ac_harness_write_config(&h, NULL));
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    ASSERT(wait_done(&h, 2, 30000));
    ASSERT(wait_state(&h, "failed", 1, 30000));
    db = open_db(&h);
    ASSERT_EQ(files_in_state(db, "done"), 2);
    ASSERT_EQ(files_in_state(db, "failed"), 1);
    char buf[2048];
    ASSERT_CONTAINS(afdb_text(db, "SELECT error FROM astrocal_file WHERE file_id = ?1",
                              nt.light_id[1], buf, sizeof buf),
                    "truncated");
    ASSERT_EQ(count_calibrated_rows(db), 2);
    sqlite3_close(db);
    /* The log names the broken master and why. */
    char *log = ac_harness_read_file(h.log_path);
    ASSERT_CONTAINS(log, "checksum mismatch");
    free(log);
    /* masters shows the broken one as invalid, with the reason. */
    r = ac_harness_result(ac_harness_request(&h, "masters", NULL, 5000));
    ASSERT_EQ(json_array_size(json_object_get(r, "masters")), 4);
    {
        int invalid = 0;
        json_t *m;
        size_t i;
        json_array_foreach(json_object_get(r, "masters"), i, m)
        {
            if (!json_is_true(json_object_get(m, "valid"))) {
                invalid++;
                ASSERT_CONTAINS(json_string_value(json_object_get(m, "reason")), "checksum");
                ASSERT_CONTAINS(json_string_value(json_object_get(m, "path")), "dark_copy");
            }
        }
        ASSERT_EQ(invalid, 1);
    }
    json_decref(r);
    ASSERT_EQ(ac_harness_stop(&h, 30000), 0);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}

TEST_TIMEOUT(daemon_control_commands_and_bad_input, 180)
{
    ac_harness_t h;
    struct night nt;
    char *out = NULL, *err = NULL;
    json_t *r;

    ac_harness_init(&h);
    make_night(&nt, 3, DW, DH);
    make_catalogue(&h, &nt, "bdf");
    h.watchdog_usec = 1000000;
    ASSERT_OK(ac_harness_write_config(&h, NULL));
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    ASSERT_NOT_NULL(ac_harness_notify_wait(&h, "WATCHDOG=1", 3000));
    /* Malformed input gets an error and disturbs nothing. */
    r = ac_harness_exchange(&h, "this is not json\n", 5000);
    ASSERT_NOT_NULL(r);
    ASSERT_STR_EQ(json_string_value(json_object_get(json_object_get(r, "error"), "code")),
                  "bad_request");
    json_decref(r);
    r = ac_harness_exchange(&h, "{\"v\":1,\"id\":9,\"cmd\":\"fly\"}\n", 5000);
    ASSERT_STR_EQ(json_string_value(json_object_get(json_object_get(r, "error"), "code")),
                  "unknown_command");
    json_decref(r);
    ASSERT_EQ(ac_harness_ctl(&h, &out, &err, "session", "nope", NULL), 1);
    free(out);
    free(err);
    /* Version, config, status. */
    ctl_json(&h, "\"protocol\":1", "version", NULL);
    ctl_json(&h, "\"max_temperature_difference\":\"5.0\"", "config", NULL);
    ASSERT(wait_done(&h, 3, 30000));
    ASSERT_EQ(ac_harness_ctl(&h, &out, NULL, "status", NULL), 0);
    printf("%s", out);
    free(out);
    /* Import a second night (another object) through astrocalctl: it is calibrated too. */
    {
        ac_gen_night_t gn;
        ac_err_t e = {0};
        char dir[1200];
        ac_gen_night_default(&gn, ac_gen_camera(nt.g));
        gn.n_lights = 2;
        gn.object = "M 42";
        gn.masters = AC_GEN_RAW;
        ASSERT_OK(ac_gen_write_night(nt.g, &gn, "night2", &e));
        abspath(dir, sizeof dir, "night2");
        ctl_json(&h, "\"registered\":2", "import", dir, NULL);
        ASSERT(wait_done(&h, 5, 30000));
    }
    /* Pause and resume the queue. */
    ctl_json(&h, "\"state\":\"paused\"", "pause", NULL);
    ctl_json(&h, "\"state\":\"running\"", "resume", NULL);
    /* Retry with nothing failed, cancel a done session: clear errors. */
    ctl_json(&h, "\"retried\":0", "retry", "--all-failed", NULL);
    ASSERT_EQ(ac_harness_ctl(&h, &out, &err, "cancel", "S-1", NULL), 1);
    ASSERT_CONTAINS(err, "conflict");
    free(out);
    free(err);
    ASSERT_EQ(ac_harness_stop(&h, 30000), 0);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}

TEST_TIMEOUT(daemon_config_errors_reload_and_throttles, 120)
{
    ac_harness_t h;
    struct night nt;
    char *out = NULL, *err = NULL;
    json_t *r;
    FILE *f;

    ac_harness_init(&h);
    /* A bad configuration: exit 78 naming the line, with --check-config and at start. */
    f = fopen("bad.conf", "w");
    fprintf(f, "[WORKERS]\nworkers = many\n");
    fclose(f);
    {
        const char *argv[] = {AC_ASTROCALD_BIN, "--check-config", "--config", "bad.conf", NULL};
        ASSERT_EQ(ac_harness_run(&h, argv, 10000, &out, &err), 78);
        ASSERT_CONTAINS(err, "bad.conf:2");
        ASSERT_CONTAINS(err, "workers");
        free(out);
        free(err);
        const char *argv2[] = {AC_ASTROCALD_BIN, "--config", "bad.conf", NULL};
        ASSERT_EQ(ac_harness_run(&h, argv2, 10000, &out, &err), 78);
        free(out);
        free(err);
    }
    /* Disk reserve larger than any disk: the queue pauses with the reason. A load limit
     * no machine is under: the daemon backs off. */
    make_night(&nt, 2, DW, DH);
    make_catalogue(&h, &nt, "bdf");
    ASSERT_OK(ac_harness_write_config(
        &h, (const char *[]){"WORKERS.free_disk_reserve_mib=1048576",
                             "WORKERS.max_load_per_cpu=0.000001", NULL}));
    {
        const char *argv[] = {AC_ASTROCALD_BIN, "--check-config", "--config", h.config, NULL};
        ASSERT_EQ(ac_harness_run(&h, argv, 10000, &out, &err), 0);
        free(out);
        free(err);
    }
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    ac_harness_sleep_ms(300);
    r = ac_harness_result(ac_harness_request(&h, "status", NULL, 5000));
    ASSERT_STR_EQ(json_string_value(json_object_get(r, "state")), "paused");
    ASSERT_CONTAINS(json_string_value(json_object_get(r, "pause_reason")), "free disk space");
    ASSERT(json_is_true(json_object_get(json_object_get(r, "throttle"), "backing_off")));
    json_decref(r);
    /* Reload with a sane reserve: the queue runs. */
    ASSERT_OK(ac_harness_write_config(&h, NULL));
    ctl_json(&h, "free_disk_reserve_mib", "reload", NULL);
    ASSERT(wait_done(&h, 2, 30000));
    /* SIGHUP reloads too; an immutable key is reported as needing a restart. */
    ASSERT_OK(ac_harness_write_config(&h, (const char *[]){"WORKERS.workers=1", NULL}));
    kill(h.pid, SIGHUP);
    {
        long long t0 = ac_harness_now_ms();
        char *log = NULL;
        for (;;) {
            free(log);
            log = ac_harness_read_file(h.log_path);
            if (strstr(log, "not applied until restart") || ac_harness_now_ms() - t0 > 5000)
                break;
            ac_harness_sleep_ms(50);
        }
        ASSERT_CONTAINS(log, "workers");
        free(log);
    }
    ASSERT_EQ(ac_harness_stop(&h, 30000), 0);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}

TEST_TIMEOUT(daemon_cancel_enqueue_and_retry, 180)
{
    ac_harness_t h;
    struct night nt;
    ac_gen_frame_t f;
    ac_err_t e = {0};
    sqlite3 *db;
    long long done_at_cancel;

    ac_harness_init(&h);
    make_night(&nt, 8, 2048, 1536);
    /* Light 8 is truncated: it fails, and is retried once repaired. */
    ASSERT_OK(ac_gen_write_bad(nt.g, AC_GEN_BAD_TRUNCATED, nt.light[7], &e));
    make_catalogue(&h, &nt, "bdf");
    ASSERT_OK(ac_harness_write_config(&h, (const char *[]){"WORKERS.workers=1", NULL}));
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    ASSERT(wait_done(&h, 1, 30000));
    /* Cancel: pending files are cancelled, the running one stops at its next strip. */
    ctl_json(&h, "\"cancelled_files\":", "cancel", "S-1", NULL);
    ac_harness_sleep_ms(1500);
    db = open_db(&h);
    ASSERT_EQ(files_in_state(db, "running"), 0);
    ASSERT_EQ(files_in_state(db, "pending"), 0);
    done_at_cancel = files_in_state(db, "done");
    ASSERT(done_at_cancel < 8);
    ASSERT_EQ(files_in_state(db, "cancelled") + done_at_cancel + files_in_state(db, "failed"),
              8);
    ASSERT_EQ(count_calibrated_rows(db), done_at_cancel);
    sqlite3_close(db);
    ASSERT_EQ(count_tmp_files("night/lights"), 0);
    /* enqueue brings the cancelled files back; they all run except the broken one. */
    ctl_json(&h, "\"priority\":5", "enqueue", "S-1", "--priority", "5", NULL);
    ASSERT(wait_done(&h, 7, 60000));
    ASSERT(wait_state(&h, "failed", 1, 30000));
    /* Repair light 8 and retry it. */
    ac_gen_frame_default(&f, AC_GEN_LIGHT);
    f.index = 8;
    f.filter = "L";
    ASSERT_OK(ac_gen_write_frame(nt.g, &f, nt.light[7], &e));
    ctl_json(&h, "\"retried\":1", "retry", "--file", nt.light_id[7], NULL);
    ASSERT(wait_done(&h, 8, 60000));
    ASSERT_EQ(ac_harness_stop(&h, 30000), 0);
    assert_catalogue_complete(&h, &nt);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}

TEST_TIMEOUT(daemon_same_names_in_one_output_dir_do_not_collide, 120)
{
    ac_harness_t h;
    struct night nt;
    ac_gen_night_t gn;
    ac_err_t e = {0};
    sqlite3 *db;
    char path[1200], id[16];

    ac_harness_init(&h);
    make_night(&nt, 2, DW, DH);
    make_catalogue(&h, &nt, "bdf");
    /* A second folder with lights of the same file names, in another session. */
    ac_gen_night_default(&gn, ac_gen_camera(nt.g));
    gn.n_lights = 2;
    gn.masters = AC_GEN_RAW;
    ASSERT_OK(ac_gen_write_night(nt.g, &gn, "other", &e));
    db = open_db(&h);
    afdb_add_session(db, "S-2", "M 31", "2024-03-15", "300.0", "-10.0", "L");
    for (int i = 0; i < 2; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "other/lights/M_31_L_300s_%04d.fits", i + 1);
        abspath(path, sizeof path, rel);
        snprintf(id, sizeof id, "O-%04d", i + 1);
        afdb_file_t f = afdb_light(id, "S-2", path, "2024-03-15T22:00:00", "300.0");
        f.filter = "L";
        afdb_add_file(db, &f);
    }
    sqlite3_close(db);
    ASSERT_OK(ac_harness_write_config(&h, (const char *[]){"DAEMON.output_dir=out", NULL}));
    ASSERT_OK(ac_harness_start(&h, (const char *[]){"--drain", NULL}));
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    ASSERT_EQ(wait_exit(&h, 60000), 0);
    db = open_db(&h);
    ASSERT_EQ(count_calibrated_rows(db), 4);
    ASSERT_EQ(afdb_int(db,
                       "SELECT count(DISTINCT fitsFileName) FROM fitsfile WHERE "
                       "fitsFileOriginalFile IS NOT NULL",
                       NULL, -1),
              4);
    ASSERT_EQ(files_in_state(db, "done"), 4);
    sqlite3_close(db);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}
