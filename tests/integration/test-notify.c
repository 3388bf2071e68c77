/*
 * test-notify.c - [NOTIFY] programs run by the real daemon: on_session_done receives the
 * session's facts in its environment and its output is logged; on_failure runs for a
 * light that fails for good; a program that outlives notify_timeout_s gets SIGTERM, and
 * SIGKILL when it ignores it, while the daemon keeps answering.
 */
#include <sqlite3.h>

#include "afdb.h"
#include "nightfix.h"
#include "support.h"

#define DW 128
#define DH 96

/* write_script writes an executable /bin/sh script at rel (absolute path into abs). */
static void write_script(const char *rel, const char *body, char *abs, size_t size)
{
    FILE *f = fopen(rel, "w");

    ASSERT_NOT_NULL(f);
    fprintf(f, "#!/bin/sh\n%s", body);
    fclose(f);
    ASSERT_EQ(chmod(rel, 0755), 0);
    abspath(abs, size, rel);
}

/* wait_file waits until rel exists and is not empty; returns its text (owned) or NULL. */
static char *wait_file(const char *rel, int timeout_ms)
{
    long long end = ac_harness_now_ms() + timeout_ms;

    while (ac_harness_now_ms() < end) {
        char *t = ac_harness_read_file(rel);
        if (t[0] != '\0' && strstr(t, "END\n") != NULL)
            return t;
        free(t);
        ac_harness_sleep_ms(50);
    }
    return NULL;
}

/* wait_log waits until the daemon's log contains needle. */
static bool wait_log(ac_harness_t *h, const char *needle, int timeout_ms)
{
    long long end = ac_harness_now_ms() + timeout_ms;

    while (ac_harness_now_ms() < end) {
        char *log = ac_harness_read_file(h->log_path);
        bool found = strstr(log, needle) != NULL;
        free(log);
        if (found)
            return true;
        ac_harness_sleep_ms(50);
    }
    return false;
}

#define ENV_SCRIPT                                                                             \
    "env | grep '^ASTROCAL_' | sort > \"$0.env.tmp\"\n"                                        \
    "echo END >> \"$0.env.tmp\"\n"                                                             \
    "mv \"$0.env.tmp\" \"$0.env\"\n"                                                           \
    "echo 'hello from the notify program'\n"                                                   \
    "echo 'and a word on stderr' >&2\n"

TEST_TIMEOUT(notify_session_done_gets_the_sessions_facts, 120)
{
    ac_harness_t h;
    struct night nt;
    char prog[1200], setting[1300], out[1200], outset[1300], want[1400], object[256];
    char *env;
    sqlite3 *db;

    ac_harness_init(&h);
    make_night(&nt, 3, DW, DH);
    make_catalogue(&h, &nt, "bdf");
    write_script("done.sh", ENV_SCRIPT, prog, sizeof prog);
    snprintf(setting, sizeof setting, "NOTIFY.on_session_done=%s", prog);
    abspath(out, sizeof out, "out");
    snprintf(outset, sizeof outset, "DAEMON.output_dir=%s", out);
    ASSERT_OK(ac_harness_write_config(&h, (const char *[]){setting, outset, NULL}));
    /* --drain exits once the session is done: the program started then still runs to its
     * end (the daemon waits for it), so its file exists when the daemon has exited. */
    ASSERT_OK(ac_harness_start(&h, (const char *[]){"--drain", NULL}));
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    ASSERT_EQ(wait_exit(&h, 60000), 0);
    env = ac_harness_read_file("done.sh.env");
    ASSERT_CONTAINS(env, "ASTROCAL_EVENT=session_done\n");
    ASSERT_CONTAINS(env, "ASTROCAL_SESSION=S-1\n");
    ASSERT_CONTAINS(env, "ASTROCAL_STATE=done\n");
    ASSERT_CONTAINS(env, "ASTROCAL_CALIBRATED=3\n");
    ASSERT_CONTAINS(env, "ASTROCAL_FAILED=0\n");
    ASSERT_CONTAINS(env, "ASTROCAL_TOTAL=3\n");
    snprintf(want, sizeof want, "ASTROCAL_OUTPUT_DIR=%s\n", out);
    ASSERT_CONTAINS(env, want);
    /* The object is the session's, as AstroFiler recorded it. */
    db = open_db(&h);
    ASSERT_NOT_NULL(afdb_text(db, "SELECT fitsFileObject FROM fitsfile WHERE fitsFileId = ?1",
                              nt.light_id[0], object, sizeof object));
    sqlite3_close(db);
    snprintf(want, sizeof want, "ASTROCAL_OBJECT=%s\n", object);
    ASSERT_CONTAINS(env, want);
    /* No grading on lights: no FWHM is made up. */
    ASSERT(strstr(env, "ASTROCAL_FWHM_MEDIAN") == NULL);
    free(env);
    /* Its output is in the log, line by line, and so is its end. */
    char *log = ac_harness_read_file(h.log_path);
    ASSERT_CONTAINS(log, "notify on_session_done [");
    ASSERT_CONTAINS(log, "stdout: hello from the notify program");
    ASSERT_CONTAINS(log, "stderr: and a word on stderr");
    ASSERT_CONTAINS(log, "exited with status 0");
    free(log);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}

TEST_TIMEOUT(notify_on_failure_for_a_light_that_fails_for_good, 120)
{
    ac_harness_t h;
    struct night nt;
    ac_err_t e = {0};
    char prog[1200], setting[1300], want[1400];
    char *env;

    ac_harness_init(&h);
    make_night(&nt, 2, DW, DH);
    ASSERT_OK(ac_gen_write_bad(nt.g, AC_GEN_BAD_TRUNCATED, nt.light[1], &e));
    make_catalogue(&h, &nt, "bdf");
    write_script("fail.sh", ENV_SCRIPT, prog, sizeof prog);
    snprintf(setting, sizeof setting, "NOTIFY.on_failure=%s", prog);
    ASSERT_OK(ac_harness_write_config(&h, (const char *[]){setting, NULL}));
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    env = wait_file("fail.sh.env", 60000);
    ASSERT_NOT_NULL(env);
    ASSERT_CONTAINS(env, "ASTROCAL_EVENT=file_failed\n");
    ASSERT_CONTAINS(env, "ASTROCAL_STATE=failed\n");
    ASSERT_CONTAINS(env, "ASTROCAL_SESSION=S-1\n");
    snprintf(want, sizeof want, "ASTROCAL_FILE=%s\n", nt.light_id[1]);
    ASSERT_CONTAINS(env, want);
    snprintf(want, sizeof want, "ASTROCAL_PATH=%s\n", nt.light[1]);
    ASSERT_CONTAINS(env, want);
    ASSERT_CONTAINS(env, "ASTROCAL_REASON=");
    ASSERT_CONTAINS(env, "truncated");
    free(env);
    ASSERT_EQ(ac_harness_stop(&h, 30000), 0);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}

/* last_number returns the last line of rel as a number (0 when none). */
static long long last_number(const char *rel)
{
    char *t = ac_harness_read_file(rel), *p;
    long long v = 0;
    size_t n = strlen(t);

    while (n > 0 && t[n - 1] == '\n')
        t[--n] = '\0';
    p = strrchr(t, '\n');
    v = atoll(p != NULL ? p + 1 : t);
    free(t);
    return v;
}

TEST_TIMEOUT(notify_time_limit_sigterm_then_sigkill, 120)
{
    ac_harness_t h;
    struct night nt;
    char prog[1200], setting[1300];
    long long t0, term_ms, last_beat_ms;
    json_t *r;

    ac_harness_init(&h);
    make_night(&nt, 1, DW, DH);
    make_catalogue(&h, &nt, "bdf");
    /* It survives SIGTERM (its handler notes the time; the sleeps it starts die with its
     * group) and beats every 0.2 s until SIGKILL: the script's own clock measures the
     * grace, whatever the load on the test's side. */
    write_script("slow.sh",
                 "trap 'date +%s%3N >> \"$0.term\"' TERM\necho sleeping\n"
                 "while :; do date +%s%3N >> \"$0.beats\"; sleep 0.2; done\n",
                 prog, sizeof prog);
    snprintf(setting, sizeof setting, "NOTIFY.on_session_done=%s", prog);
    ASSERT_OK(ac_harness_write_config(
        &h, (const char *[]){setting, "NOTIFY.notify_timeout_s=1", NULL}));
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    ASSERT(wait_log(&h, "stdout: sleeping", 60000));
    t0 = ac_harness_now_ms();
    /* The loop is not blocked while the program runs. */
    r = ac_harness_result(ac_harness_request(&h, "status", NULL, 5000));
    ASSERT_NOT_NULL(r);
    json_decref(r);
    ASSERT(wait_log(&h, "still running after 1 s: SIGTERM", 20000));
    ASSERT(wait_log(&h, "SIGKILL", 30000));
    ASSERT(wait_log(&h, "killed by signal 9", 30000));
    ASSERT(ac_harness_now_ms() - t0 < 20000);
    term_ms = last_number("slow.sh.term");
    last_beat_ms = last_number("slow.sh.beats");
    ASSERT(term_ms > 0);
    /* SIGKILL came AC_NOTIFY_KILL_GRACE_S (5 s) after SIGTERM: the beats went on that long
     * (less one beat interval and some slack), and stopped. */
    printf("beats after SIGTERM: %.1f s\n", (double)(last_beat_ms - term_ms) / 1000);
    ASSERT(last_beat_ms - term_ms >= 4000);
    ASSERT(last_beat_ms - term_ms < 15000);
    ac_harness_sleep_ms(600);
    ASSERT_EQ(last_number("slow.sh.beats"), last_beat_ms);
    ASSERT_EQ(ac_harness_stop(&h, 30000), 0);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}
