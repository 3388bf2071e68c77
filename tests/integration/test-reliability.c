/*
 * test-reliability.c - the daemon under faults it must ride out unattended: a broken
 * master that is the best match, a full output disk, crash loops (SIGKILLs at moments,
 * a light that crashes the daemon).
 */
#include <sqlite3.h>

#include "afdb.h"
#include "nightfix.h"
#include "support.h"

#define RW 128
#define RH 96

/* count_lines counts the lines of text containing needle. */
static int count_lines(const char *text, const char *needle)
{
    int n = 0;

    for (const char *p = text; (p = strstr(p, needle)) != NULL; n++) {
        p = strchr(p, '\n');
        if (p == NULL)
            return n + 1;
    }
    return n;
}

/* status_ms times one `status` request; fails the test when it gets no answer. */
static long long status_ms(ac_harness_t *h)
{
    long long t0 = ac_harness_now_ms();
    json_t *r = ac_harness_request(h, "status", NULL, 5000);

    ASSERT_NOT_NULL(r);
    json_decref(r);
    return ac_harness_now_ms() - t0;
}

/* quiet_and_responsive watches a running daemon for ms: `status` answers every time (the
 * slowest answer is returned), the watchdog is fed. */
static long long quiet_and_responsive(ac_harness_t *h, int ms)
{
    long long worst = 0, t0 = ac_harness_now_ms();
    size_t pings = ac_harness_notify_count(h, "WATCHDOG=1");

    while (ac_harness_now_ms() - t0 < ms) {
        long long t = status_ms(h);
        worst = t > worst ? t : worst;
        ac_harness_notify_poll(h, 100);
    }
    ASSERT(ac_harness_notify_count(h, "WATCHDOG=1") >= pings + (size_t)(ms / 1000));
    fprintf(stderr, "slowest status: %lld ms\n", worst);
    ASSERT(worst < 1000);
    return worst;
}

/* assert_quiet checks that the log names `name` on at most max lines, and stays small. */
static void assert_quiet(ac_harness_t *h, const char *name, int max)
{
    char *log = ac_harness_read_file(h->log_path);
    int n = count_lines(log, name);

    if (n > max || strlen(log) > 20000)
        fprintf(stderr, "%d lines name %s:\n%.4000s\n", n, name, log);
    ASSERT(n <= max);
    ASSERT(strlen(log) < 20000);
    free(log);
}

/* stop_promptly sends SIGTERM and expects a clean exit within 3 s. */
static void stop_promptly(ac_harness_t *h)
{
    long long t0 = ac_harness_now_ms();

    ASSERT_EQ(ac_harness_stop(h, 5000), 0);
    ASSERT(ac_harness_now_ms() - t0 < 3000);
}

/* session_reason returns S-1's state and reason as "state: reason" (static buffer). */
static const char *session_reason(ac_harness_t *h)
{
    static char buf[2048];
    json_t *r = ac_harness_result(ac_harness_request(h, "sessions", NULL, 5000));
    json_t *s0 = json_array_get(json_object_get(r, "sessions"), 0);

    snprintf(buf, sizeof buf, "%s: %s", json_string_value(json_object_get(s0, "state")),
             json_string_value(json_object_get(s0, "reason")) ?: "");
    json_decref(r);
    return buf;
}

/* start_watched starts the daemon with a watchdog and the configuration, then watches it
 * for 3 s (quiet_and_responsive). */
static void start_watched(ac_harness_t *h, const char *const *config)
{
    h->watchdog_usec = 1000000;
    ASSERT_OK(ac_harness_write_config(h, config));
    ASSERT_OK(ac_harness_start(h, NULL));
    ASSERT_OK(ac_harness_wait_ready(h, 60000));
    quiet_and_responsive(h, 3000);
}

/* assert_waits checks that S-1 waits with a reason containing what, and that its files
 * are pending without an attempt counted. */
static void assert_waits(ac_harness_t *h, const char *what)
{
    const char *why = session_reason(h);
    sqlite3 *db;

    fprintf(stderr, "S-1 %s\n", why);
    ASSERT_CONTAINS(why, "waiting: ");
    ASSERT_CONTAINS(why, what);
    db = open_db(h);
    ASSERT_EQ(files_in_state(db, "pending"), 2);
    ASSERT_EQ(afdb_int(db, "SELECT max(attempts) FROM astrocal_file", NULL, -1), 0);
    sqlite3_close(db);
}

/* A NaN-filled master dark, otherwise the best match (lower id, equal in every respect):
 * marked bad once and shown so by `masters` and `plan`, the next dark is used, the log
 * stays quiet, status answers, the watchdog is fed, SIGTERM stops the daemon promptly. */
TEST_TIMEOUT(reliability_nan_master_dark_uses_the_next_one, 90)
{
    ac_harness_t h;
    struct night nt;
    ac_err_t e = {0};
    sqlite3 *db;
    char bad[1200], *out = NULL;
    json_t *r, *m;
    size_t i;
    int invalid = 0;

    ac_harness_init(&h);
    make_night(&nt, 3, RW, RH);
    make_catalogue(&h, &nt, "bf");
    abspath(bad, sizeof bad, "night/masters/dark_nan.fits");
    ASSERT_OK(ac_gen_write_bad(nt.g, AC_GEN_BAD_NAN_MASTER, bad, &e));
    db = open_db(&h);
    add_master(db, "dark", bad, NULL);
    add_master(db, "dark", nt.dark, NULL);
    sqlite3_close(db);
    start_watched(&h, NULL);
    ASSERT(wait_done(&h, 3, 90000));
    db = open_db(&h);
    ASSERT_EQ(
        afdb_int(db, "SELECT count(*) FROM astrocal_record WHERE dark_path = ?1", nt.dark, -1),
        3);
    ASSERT_EQ(afdb_int(db, "SELECT max(attempts) FROM astrocal_file", NULL, -1), 0);
    sqlite3_close(db);
    assert_quiet(&h, "dark_nan", 1);
    r = ac_harness_result(ac_harness_request(&h, "masters", NULL, 5000));
    json_array_foreach(json_object_get(r, "masters"), i, m)
    {
        if (json_is_true(json_object_get(m, "valid")))
            continue;
        invalid++;
        ASSERT_CONTAINS(json_string_value(json_object_get(m, "path")), "dark_nan");
        ASSERT_CONTAINS(json_string_value(json_object_get(m, "reason")), "NaN-filled");
    }
    json_decref(r);
    ASSERT_EQ(invalid, 1);
    stop_promptly(&h);
    (void)out;
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}

/* The only flat is all zero: the session waits, its reason names the broken flat, the log
 * stays quiet; once the file is replaced by a good flat it is validated again and used. */
TEST_TIMEOUT(reliability_zero_flat_waits_until_the_file_changes, 90)
{
    ac_harness_t h;
    struct night nt;
    ac_err_t e = {0};
    sqlite3 *db;
    char bad[1200], cmd[2600], *out = NULL;

    ac_harness_init(&h);
    make_night(&nt, 2, RW, RH);
    make_catalogue(&h, &nt, "bd");
    abspath(bad, sizeof bad, "night/masters/flat_zero.fits");
    ASSERT_OK(ac_gen_write_bad(nt.g, AC_GEN_BAD_ZERO_FLAT, bad, &e));
    db = open_db(&h);
    add_master(db, "flat", bad, NULL);
    sqlite3_close(db);
    start_watched(&h, (const char *[]){"DAEMON.scan_interval_s=1", NULL});
    assert_waits(&h, "flat_zero.fits, is unusable (flat flat_zero.fits is all zero)");
    ASSERT_EQ(ac_harness_ctl(&h, &out, NULL, "plan", "S-1", NULL), 0);
    ASSERT_CONTAINS(out, "invalid");
    free(out);
    assert_quiet(&h, "flat_zero", 2);
    /* A good flat under the same name: validated again and used. */
    snprintf(cmd, sizeof cmd, "cp '%s' '%s.new' && mv '%s.new' '%s'", nt.flat, bad, bad, bad);
    ASSERT_EQ(system(cmd), 0);
    ASSERT(wait_done(&h, 2, 90000));
    stop_promptly(&h);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}

/* Masters that fail only together (a flat with a Bayer pattern, a mono bias and dark: no
 * single one at fault): the session waits with the reason, nothing loops. */
TEST_TIMEOUT(reliability_masters_unusable_together_wait, 90)
{
    ac_harness_t h;
    struct night nt;
    sqlite3 *db;
    char cfa[1200], cmd[2600];
    fitsfile *f = NULL;
    int status = 0;

    ac_harness_init(&h);
    make_night(&nt, 2, RW, RH);
    make_catalogue(&h, &nt, "bd");
    abspath(cfa, sizeof cfa, "night/masters/flat_cfa.fits");
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", nt.flat, cfa);
    ASSERT_EQ(system(cmd), 0);
    fits_open_file(&f, cfa, READWRITE, &status);
    fits_update_key_str(f, "BAYERPAT", "RGGB", "Bayer pattern", &status);
    fits_close_file(f, &status);
    ASSERT_OK(status);
    db = open_db(&h);
    add_master(db, "flat", cfa, NULL);
    sqlite3_close(db);
    start_watched(&h, NULL);
    assert_waits(&h, "the masters chosen are unusable together (flat ");
    assert_quiet(&h, "flat_cfa", 2);
    stop_promptly(&h);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}

/* ---- full disks: the output folder on a small tmpfs of the daemon's own ---- */

#define UNSHARE "/usr/bin/unshare"
#define BIG_W 2048
#define BIG_H 1536

/* tmpfs_usable says whether this machine lets an unprivileged user namespace mount a
 * tmpfs (unshare -Urm); the tests below are skipped, with a note, when it does not. */
static bool tmpfs_usable(ac_harness_t *h)
{
    const char *argv[] = {UNSHARE,
                          "-Urm",
                          "/bin/sh",
                          "-c",
                          "mkdir -p probe && mount -t tmpfs -o size=1m tmpfs probe",
                          NULL};

    if (access(UNSHARE, X_OK) == 0 && ac_harness_run(h, argv, 10000, NULL, NULL) == 0)
        return true;
    fprintf(stderr, "note: no user and mount namespaces here: full-disk test skipped\n");
    return false;
}

/* start_on_tmpfs starts the daemon in its own user and mount namespaces with a tmpfs of
 * size_mib mounted on out (an absolute folder that exists). */
static void start_on_tmpfs(ac_harness_t *h, const char *out, int size_mib)
{
    char script[4096];
    const char *args[] = {"-Urm", "/bin/sh", "-c", script, NULL};

    snprintf(script, sizeof script,
             "mount -t tmpfs -o size=%dm tmpfs '%s' && exec '%s' --config '%s'", size_mib, out,
             AC_ASTROCALD_BIN, h->config);
    ASSERT_OK(ac_harness_start_bin(h, UNSHARE, false, args));
    ASSERT_OK(ac_harness_wait_ready(h, 60000));
}

/* filler writes (kib > 0) or removes (kib 0) the file `name` of kib KiB on the daemon's
 * tmpfs, reached through /proc/PID/root. */
static void filler(ac_harness_t *h, const char *out, const char *name, int kib)
{
    static char block[1 << 10];
    char path[1400];
    int fd;

    snprintf(path, sizeof path, "/proc/%d/root%s/%s", (int)h->pid, out, name);
    if (kib == 0) {
        ASSERT_OK(unlink(path));
        return;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT(fd >= 0);
    for (int i = 0; i < kib; i++)
        ASSERT_EQ(write(fd, block, sizeof block), (ssize_t)sizeof block);
    ASSERT_OK(fsync(fd));
    close(fd);
}

/* disk_night sets up a full-disk test: the harness (h, initialised here), two big lights
 * and their masters in the catalogue, the folder out (absolute, written into out) and
 * the configuration. false (with a note, h freed) when tmpfs mounts are not available. */
static bool disk_night(ac_harness_t *h, struct night *nt, char *out, size_t size,
                       const char *const *config)
{
    ac_harness_init(h);
    if (!tmpfs_usable(h)) {
        ac_harness_free(h);
        return false;
    }
    make_night(nt, 2, BIG_W, BIG_H);
    make_catalogue(h, nt, "bdf");
    abspath(out, size, "out");
    ASSERT_OK(mkdir(out, 0755));
    ASSERT_OK(ac_harness_write_config(h, config));
    return true;
}

/* wait_running polls `status` every 2 ms until a file has started: listed under
 * "running", which the scheduler does only after its disk space check passed (the
 * queue's "running" state comes before that check). */
static bool wait_running(ac_harness_t *h, int timeout_ms)
{
    long long t0 = ac_harness_now_ms();
    bool yes = false;

    while (!yes && ac_harness_now_ms() - t0 < timeout_ms) {
        json_t *reply = ac_harness_request(h, "status", NULL, 5000);

        yes = json_array_size(json_object_get(json_object_get(reply, "result"), "running")) > 0;
        json_decref(reply);
        if (!yes)
            ac_harness_sleep_ms(2);
    }
    return yes;
}

/* wait_paused polls `status` until the queue is paused with a reason containing what;
 * returns the reply's result (owned). */
static json_t *wait_paused(ac_harness_t *h, const char *what, int timeout_ms)
{
    long long t0 = ac_harness_now_ms();

    for (;;) {
        json_t *reply = ac_harness_request(h, "status", NULL, 5000);
        json_t *r = json_object_get(reply, "result");
        const char *reason = json_string_value(json_object_get(r, "pause_reason"));
        if (reason != NULL && strstr(reason, what) != NULL) {
            json_incref(r);
            json_decref(reply);
            return r;
        }
        json_decref(reply);
        if (ac_harness_now_ms() - t0 > timeout_ms)
            AC_TEST_FAIL("the queue did not pause for '%s'", what);
        ac_harness_sleep_ms(20);
    }
}

/* assert_no_eta checks that status shows no ETA while paused (JSON and text). */
static void assert_no_eta(ac_harness_t *h, json_t *status)
{
    char *out = NULL;

    ASSERT_STR_EQ(json_string_value(json_object_get(status, "state")), "paused");
    ASSERT(json_is_null(json_object_get(status, "eta_s")));
    ASSERT_EQ(ac_harness_ctl(h, &out, NULL, "status", NULL), 0);
    ASSERT_CONTAINS(out, "ETA -\n");
    free(out);
}

/* ENOSPC in the middle of writing an output: the file goes back to pending without an
 * attempt, the queue pauses with the reason and no ETA, and resumes by itself once space
 * returns; nothing fails, no temporary is left. */
TEST_TIMEOUT(reliability_enospc_mid_write_is_a_pause, 120)
{
    ac_harness_t h;
    struct night nt;
    sqlite3 *db;
    char out[1100];
    json_t *st;
    char *log;

    if (!disk_night(&h, &nt, out, sizeof out,
                    (const char *[]){"WORKERS.workers=1", "DAEMON.output_dir=out",
                                     "WORKERS.free_disk_reserve_mib=0", NULL}))
        return;
    /* Just room for one output (12 MiB and a 1 MiB margin) when the first file starts;
     * then 2 MiB more are taken under it, before it writes. */
    start_on_tmpfs(&h, out, 32);
    filler(&h, out, "filler", 18 * 1024 + 512);
    ASSERT(wait_running(&h, 60000));
    filler(&h, out, "more", 2048);
    st = wait_paused(&h, "disk full", 60000);
    ASSERT_CONTAINS(json_string_value(json_object_get(st, "pause_reason")), " MiB free on ");
    assert_no_eta(&h, st);
    json_decref(st);
    db = open_db(&h);
    ASSERT_EQ(files_in_state(db, "failed"), 0);
    ASSERT_EQ(files_in_state(db, "pending"), 2);
    ASSERT_EQ(afdb_int(db, "SELECT max(attempts) FROM astrocal_file", NULL, -1), 0);
    sqlite3_close(db);
    log = ac_harness_read_file(h.log_path);
    ASSERT_CONTAINS(log, "no space left on device");
    ASSERT_CONTAINS(log, "no attempt counted");
    free(log);
    /* Space returns: resumed by itself (first re-check within 5 s). */
    filler(&h, out, "filler", 0);
    filler(&h, out, "more", 0);
    ASSERT(wait_done(&h, 2, 90000));
    db = open_db(&h);
    ASSERT_EQ(afdb_int(db, "SELECT max(attempts) FROM astrocal_file", NULL, -1), 0);
    sqlite3_close(db);
    {
        char proc_out[1200];
        snprintf(proc_out, sizeof proc_out, "/proc/%d/root%s", (int)h.pid, out);
        ASSERT_EQ(count_tmp_files(proc_out), 0);
    }
    log = ac_harness_read_file(h.log_path);
    ASSERT_CONTAINS(log, "queue resumed");
    free(log);
    stop_promptly(&h);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}

/* The reserve counts what outputs in flight still have to write: with room for one
 * output, a second file does not start beside the first (that would end in ENOSPC); it
 * waits, paused, and runs once space returns. */
TEST_TIMEOUT(reliability_reserve_counts_outputs_in_flight, 120)
{
    ac_harness_t h;
    struct night nt;
    sqlite3 *db;
    char out[1100], *log;
    json_t *st;

    if (!disk_night(&h, &nt, out, sizeof out,
                    (const char *[]){"WORKERS.workers=2", "WORKERS.max_in_flight=2",
                                     "WORKERS.max_load_per_cpu=0",
                                     "WORKERS.cpu_pressure_limit=0", "DAEMON.output_dir=out",
                                     "WORKERS.free_disk_reserve_mib=0", NULL}))
        return;
    start_on_tmpfs(&h, out, 24); /* 24 MiB: one output and its 1 MiB margin, not two */
    st = wait_paused(&h, "disk full", 60000);
    assert_no_eta(&h, st);
    json_decref(st);
    ASSERT(wait_done(&h, 1, 90000));
    log = ac_harness_read_file(h.log_path);
    ASSERT_CONTAINS(log, "outputs in flight 12 MiB");
    ASSERT(strstr(log, "no space left") == NULL);
    free(log);
    db = open_db(&h);
    ASSERT_EQ(files_in_state(db, "pending"), 1);
    ASSERT_EQ(files_in_state(db, "failed"), 0);
    sqlite3_close(db);
    stop_promptly(&h);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}

/* ---- crash loops ---- */

/* SIGKILLs at moments spread over the first 400 ms of each life, 12 times (a flapping
 * power supply, a unit killed in a loop): no light fails, none counts an attempt, every
 * light is calibrated exactly once and no temporary file is left beside the lights. */
TEST_TIMEOUT(reliability_sigkill_storm_blames_nobody, 180)
{
    ac_harness_t h;
    struct night nt;
    sqlite3 *db;
    unsigned seed = 12345;

    ac_harness_init(&h);
    make_night(&nt, 16, 1024, 768);
    make_catalogue(&h, &nt, "bdf");
    ASSERT_OK(ac_harness_write_config(&h, (const char *[]){"WORKERS.workers=2", NULL}));
    for (int k = 0, done = 0, before = -1; k < 12; k++) {
        forget_notify(&h);
        ASSERT_OK(ac_harness_start(&h, NULL));
        ASSERT_OK(ac_harness_wait_ready(&h, 60000));
        /* After a kill that found nothing finished since the one before, this life first
         * finishes a light: on a machine slow enough, a light left to run alone and killed
         * every time would be blamed for the deaths (queue.h, Crashes), by design. */
        if (done == before && done < 16)
            ASSERT(wait_done(&h, done + 1, 60000));
        seed = seed * 1103515245u + 12345u;
        ac_harness_sleep_ms((int)((seed >> 16) % 400));
        ac_harness_kill(&h);
        before = done;
        db = open_db(&h);
        done = files_in_state(db, "done");
        sqlite3_close(db);
    }
    forget_notify(&h);
    ASSERT_OK(ac_harness_start(&h, (const char *[]){"--drain", NULL}));
    ASSERT_OK(ac_harness_wait_ready(&h, 60000));
    ASSERT_EQ(wait_exit(&h, 120000), 0);
    db = open_db(&h);
    ASSERT_EQ(files_in_state(db, "done"), 16);
    ASSERT_EQ(files_in_state(db, "failed"), 0);
    ASSERT_EQ(afdb_int(db, "SELECT max(attempts) FROM astrocal_file", NULL, -1), 0);
    ASSERT_EQ(count_calibrated_rows(db), 16);
    sqlite3_close(db);
    ASSERT_EQ(count_tmp_files("night/lights"), 0);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}

/* wait_tmp polls every millisecond until a temporary output exists in dir. */
static bool wait_tmp(const char *dir, int timeout_ms)
{
    long long t0 = ac_harness_now_ms();

    while (ac_harness_now_ms() - t0 < timeout_ms) {
        if (count_tmp_files(dir) > 0)
            return true;
        ac_harness_sleep_ms(1);
    }
    return false;
}

/* write_crash_record writes what the crash handler would have written had the daemon
 * crashed (SIGSEGV) on file_id's thread. */
static void write_crash_record(ac_harness_t *h, const char *file_id)
{
    char path[1200];
    FILE *f;

    snprintf(path, sizeof path, "%s/astrocald.crash", h->state_dir);
    f = fopen(path, "w");
    ASSERT_NOT_NULL(f);
    fprintf(f, "signal %d\nculprit %s\nrunning %s\n", SIGSEGV, file_id, file_id);
    fclose(f);
}

/* A light that is running alone, writing its output, each time the daemon dies: the
 * first death counts nothing, later ones count crashes (two unexplained, then two named
 * by crash records), and at 3 it fails as "crashes the daemon", without an attempt. The
 * other lights are calibrated; the temporary output of every interrupted run is removed
 * at start-up, even though the failed light never runs again. */
TEST_TIMEOUT(reliability_light_that_crashes_the_daemon_fails_alone, 180)
{
    ac_harness_t h;
    struct night nt;
    sqlite3 *db;
    char buf[512], *log;

    ac_harness_init(&h);
    make_night(&nt, 3, BIG_W, BIG_H);
    make_catalogue(&h, &nt, "bdf");
    ASSERT_OK(ac_harness_write_config(&h, (const char *[]){"WORKERS.workers=1", NULL}));
    for (int k = 1; k <= 4; k++) {
        forget_notify(&h);
        ASSERT_OK(ac_harness_start(&h, NULL));
        ASSERT_OK(ac_harness_wait_ready(&h, 60000));
        ASSERT(wait_tmp("night/lights", 120000)); /* light 1 is being written */
        ac_harness_kill(&h);
        ASSERT(count_tmp_files("night/lights") > 0);
        if (k >= 3)
            write_crash_record(&h, nt.light_id[0]);
        db = open_db(&h);
        ASSERT_EQ(afdb_int(db, "SELECT count(*) FROM astrocal_file WHERE state = 'running'",
                           NULL, -1),
                  1);
        ASSERT_EQ(afdb_int(db, "SELECT state = 'running' FROM astrocal_file WHERE file_id = ?1",
                           nt.light_id[0], -1),
                  1);
        sqlite3_close(db);
    }
    forget_notify(&h);
    ASSERT_OK(ac_harness_start(&h, (const char *[]){"--drain", NULL}));
    ASSERT_OK(ac_harness_wait_ready(&h, 60000));
    ASSERT_EQ(wait_exit(&h, 120000), 0);
    db = open_db(&h);
    ASSERT_STR_EQ(afdb_text(db, "SELECT error FROM astrocal_file WHERE file_id = ?1",
                            nt.light_id[0], buf, sizeof buf),
                  "crashes the daemon (SIGSEGV; 3 crashes)");
    ASSERT_EQ(afdb_int(db, "SELECT attempts FROM astrocal_file WHERE file_id = ?1",
                       nt.light_id[0], -1),
              0);
    ASSERT_EQ(files_in_state(db, "done"), 2);
    ASSERT_EQ(files_in_state(db, "failed"), 1);
    sqlite3_close(db);
    ASSERT_EQ(count_tmp_files("night/lights"), 0);
    log = ac_harness_read_file(h.log_path);
    ASSERT_CONTAINS(log, "died of signal 11 while calibrating file L-0001");
    ASSERT_CONTAINS(log, "1 temporary file removed");
    free(log);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}
