/*
 * test-ops.c - what an operator sees of a running daemon (issue 13): the Prometheus text
 * file (checked by promtool), `status` with version, pid and the last error, STATUS= with
 * the rate, and `astrocalctl watch` reconnecting across a restart.
 */
#include "afdb.h"
#include "nightfix.h"
#include "support.h"

/* mult is AC_TEST_TIMEOUT_MULTIPLIER (1 when unset), for the waits below. */
static int mult(void)
{
    const char *m = getenv("AC_TEST_TIMEOUT_MULTIPLIER");
    return m != NULL && atoi(m) > 0 ? atoi(m) : 1;
}

/* wait_for_text waits until the file at path contains want; returns its text (owned) or
 * fails the test after timeout_ms. */
static char *wait_for_text(const char *path, const char *want, int timeout_ms)
{
    long long end = ac_harness_now_ms() + timeout_ms * mult();

    for (;;) {
        char *text = ac_harness_read_file(path);
        if (text != NULL && strstr(text, want) != NULL)
            return text;
        if (ac_harness_now_ms() > end)
            AC_TEST_FAIL("%s never contained '%s'; last: %s", path, want,
                         text ? text : "(missing)");
        free(text);
        ac_harness_sleep_ms(100);
    }
}

TEST_TIMEOUT(ops_metrics_textfile_status_and_sd_status, 120)
{
    ac_harness_t h;
    struct night nt;
    char prom[1200], over[1300], cmd[1400], want[64];
    char *text, *out = NULL;
    json_t *r;

    ac_harness_init(&h);
    make_night(&nt, 2, 128, 96);
    make_catalogue(&h, &nt, "bdf");
    abspath(prom, sizeof prom, "textfile/astrocald.prom");
    mkdir("textfile", 0755);
    snprintf(over, sizeof over, "METRICS.textfile=%s", prom);
    ASSERT_OK(ac_harness_write_config(
        &h, (const char *[]){over, "METRICS.interval_s=1", "DAEMON.output_dir=out", NULL}));
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    ASSERT(wait_done(&h, 2, 60000));
    /* Both lights counted, written atomically (no temporary file left), readable by others. */
    text = wait_for_text(prom, "astrocald_files_processed_total{result=\"done\"} 2\n", 20000);
    ASSERT_CONTAINS(text, "astrocald_up 1\n");
    ASSERT_CONTAINS(text, "astrocald_file_duration_seconds_count 2\n");
    ASSERT_CONTAINS(text, "astrocald_files{state=\"done\"} 2\n");
    ASSERT(strstr(text, "astrocald_written_bytes_total 0\n") == NULL);
    ASSERT_EQ(count_tmp_files("textfile"), 0);
    {
        struct stat st;
        ASSERT_EQ(stat(prom, &st), 0);
        ASSERT_EQ(st.st_mode & 0777, 0644);
    }
    if (access("/usr/bin/promtool", X_OK) == 0) {
        snprintf(cmd, sizeof cmd, "/usr/bin/promtool check metrics < '%s'", prom);
        ASSERT_EQ(system(cmd), 0);
    } else if (getenv("AC_REQUIRE_PROMTOOL") != NULL) {
        AC_TEST_FAIL("promtool (Debian package prometheus) is required but not installed");
    }
    free(text);
    /* STATUS= carries the rate once files were calibrated. */
    ac_harness_sleep_ms(1500);
    ASSERT_CONTAINS(ac_harness_notify_last(&h, "STATUS="), " frames/s");
    /* status: version, pid, last error (none yet). */
    r = ac_harness_result(ac_harness_request(&h, "status", NULL, 5000));
    ASSERT_EQ(json_integer_value(json_object_get(r, "pid")), h.pid);
    ASSERT(json_is_string(json_object_get(r, "version")));
    ASSERT(json_is_null(json_object_get(r, "last_error")));
    ASSERT_EQ(ac_harness_ctl(&h, &out, NULL, "status", NULL), 0);
    snprintf(want, sizeof want, "(pid %d) running", (int)h.pid);
    ASSERT_CONTAINS(out, want);
    free(out);
    /* A clean stop leaves astrocald_up 0 for the collector. */
    ASSERT_EQ(ac_harness_stop(&h, 30000), 0);
    text = ac_harness_read_file(prom);
    ASSERT_NOT_NULL(text);
    ASSERT_CONTAINS(text, "astrocald_up 0\n");
    free(text);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}

TEST_TIMEOUT(ops_watch_reconnects_after_a_restart_unless_once, 120)
{
    ac_harness_t h;
    struct night nt;
    char ctl[1100], log[1200], log2[1200];
    pid_t w, w1;
    char *text;

    ac_harness_init(&h);
    make_night(&nt, 1, 64, 48);
    make_catalogue(&h, &nt, "");
    ASSERT_OK(ac_harness_write_config(&h, NULL));
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    ac_harness_ctl_path(ctl, sizeof ctl);
    abspath(log, sizeof log, "watch.log");
    abspath(log2, sizeof log2, "watch-once.log");
    w = ac_harness_spawn((const char *[]){ctl, "--socket", h.socket, "watch", NULL}, NULL, log,
                         log);
    w1 = ac_harness_spawn((const char *[]){ctl, "--socket", h.socket, "watch", "--once", NULL},
                          NULL, log2, log2);
    ASSERT(w > 0 && w1 > 0);
    free(wait_for_text(log, "watching astrocald", 10000));
    free(wait_for_text(log2, "watching astrocald", 10000));
    ASSERT_EQ(ac_harness_stop(&h, 30000), 0);
    /* --once ends with 69 when the daemon goes away; the other one says it reconnects. */
    ASSERT_EQ(ac_harness_wait(NULL, w1, 10000 * mult(), NULL), 69);
    free(wait_for_text(log, "astrocald went away; reconnecting", 10000));
    forget_notify(&h);
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    text = wait_for_text(log, "connected to astrocald again, watching", 15000);
    free(text);
    /* Events of the new daemon reach it: pause and resume. */
    ASSERT_EQ(ac_harness_ctl(&h, NULL, NULL, "pause", NULL), 0);
    free(wait_for_text(log, "paused", 10000));
    kill(w, SIGINT);
    ASSERT_EQ(ac_harness_wait(NULL, w, 10000 * mult(), NULL), 0);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}
