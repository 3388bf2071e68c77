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
    h.watchdog_usec = 1000000;
    ASSERT_OK(ac_harness_write_config(&h, NULL));
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    quiet_and_responsive(&h, 3000);
    ASSERT(wait_done(&h, 3, 30000));
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
    const char *why;

    ac_harness_init(&h);
    make_night(&nt, 2, RW, RH);
    make_catalogue(&h, &nt, "bd");
    abspath(bad, sizeof bad, "night/masters/flat_zero.fits");
    ASSERT_OK(ac_gen_write_bad(nt.g, AC_GEN_BAD_ZERO_FLAT, bad, &e));
    db = open_db(&h);
    add_master(db, "flat", bad, NULL);
    sqlite3_close(db);
    h.watchdog_usec = 1000000;
    ASSERT_OK(ac_harness_write_config(&h, (const char *[]){"DAEMON.scan_interval_s=1", NULL}));
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    quiet_and_responsive(&h, 3000);
    why = session_reason(&h);
    fprintf(stderr, "S-1 %s\n", why);
    ASSERT_CONTAINS(why, "waiting: ");
    ASSERT_CONTAINS(why, "flat_zero.fits, is unusable");
    ASSERT_CONTAINS(why, "zero");
    ASSERT_EQ(ac_harness_ctl(&h, &out, NULL, "plan", "S-1", NULL), 0);
    ASSERT_CONTAINS(out, "invalid");
    free(out);
    assert_quiet(&h, "flat_zero", 2);
    db = open_db(&h);
    ASSERT_EQ(files_in_state(db, "pending"), 2);
    ASSERT_EQ(afdb_int(db, "SELECT max(attempts) FROM astrocal_file", NULL, -1), 0);
    sqlite3_close(db);
    /* A good flat under the same name: validated again and used. */
    snprintf(cmd, sizeof cmd, "cp '%s' '%s.new' && mv '%s.new' '%s'", nt.flat, bad, bad, bad);
    ASSERT_EQ(system(cmd), 0);
    ASSERT(wait_done(&h, 2, 30000));
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
    const char *why;

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
    h.watchdog_usec = 1000000;
    ASSERT_OK(ac_harness_write_config(&h, NULL));
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    quiet_and_responsive(&h, 3000);
    why = session_reason(&h);
    fprintf(stderr, "S-1 %s\n", why);
    ASSERT_CONTAINS(why, "waiting: ");
    ASSERT_CONTAINS(why, "unusable together");
    ASSERT_CONTAINS(why, "CFA");
    assert_quiet(&h, "flat_cfa", 2);
    db = open_db(&h);
    ASSERT_EQ(files_in_state(db, "pending"), 2);
    sqlite3_close(db);
    stop_promptly(&h);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}
