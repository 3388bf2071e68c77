/*
 * test-notify.c - daemon/serve/notify.c on a libuv loop of its own: a program that cannot
 * be run is logged and its handles are closed; runs beyond notify_max_running wait and
 * never overlap; beyond AC_NOTIFY_QUEUE_MAX waiting runs, one is dropped; ASTROCAL_*
 * variables already in the daemon's environment are not passed on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "harness.h"
#include "log.h"
#include "notify.h"
#include "test.h"

static char logged[8192];

static void capture(int level, const char *file, int line, const char *func, const char *msg)
{
    size_t n = strlen(logged);

    (void)level, (void)file, (void)line, (void)func;
    snprintf(logged + n, sizeof logged - n, "%s\n", msg);
}

/* drain runs the loop until every run has ended (at most 20 s). */
static void drain(uv_loop_t *loop, ac_notify_t *n)
{
    long long end = ac_harness_now_ms() + 20000;

    while (ac_notify_busy(n) && ac_harness_now_ms() < end)
        uv_run(loop, UV_RUN_ONCE);
    ASSERT(!ac_notify_busy(n));
}

static void script(const char *path, const char *body)
{
    FILE *f = fopen(path, "w");

    ASSERT_NOT_NULL(f);
    fprintf(f, "#!/bin/sh\n%s", body);
    fclose(f);
    ASSERT_EQ(chmod(path, 0755), 0);
}

TEST(notify_unrunnable_program_is_logged_and_closed)
{
    uv_loop_t loop;
    struct ac_config cfg;
    ac_notify_t n;
    ac_notify_facts_t f;
    char cwd[1024];

    ac_config_default(&cfg);
    ASSERT_NOT_NULL(getcwd(cwd, sizeof cwd));
    script("noexec.sh", "exit 0\n");
    ASSERT_EQ(chmod("noexec.sh", 0644), 0);
    snprintf(cfg.on_failure, sizeof cfg.on_failure, "%s/noexec.sh", cwd);
    ASSERT_OK(uv_loop_init(&loop));
    ac_notify_init(&n, &loop, &cfg);
    ac_notify_facts_init(&f);
    f.event = "file_failed";
    logged[0] = '\0';
    ac_log_set_sink(capture);
    ac_notify_failure(&n, &f);
    ac_notify_session_done(&n, &f); /* on_session_done unset: nothing */
    drain(&loop, &n);
    ac_log_set_sink(NULL);
    ASSERT_CONTAINS(logged, "notify on_failure: cannot run");
    ASSERT_CONTAINS(logged, "permission denied");
    ASSERT_EQ(n.started, 0);
    ASSERT_EQ(uv_loop_close(&loop), 0); /* every handle closed */
}

TEST(notify_runs_wait_their_turn_and_the_queue_is_bounded)
{
    uv_loop_t loop;
    struct ac_config cfg;
    ac_notify_t n;
    ac_notify_facts_t f;
    char cwd[1024], *log;

    ac_config_default(&cfg);
    cfg.notify_max_running = 1;
    ASSERT_NOT_NULL(getcwd(cwd, sizeof cwd));
    /* Each run appends "start S" and "end S" around a short sleep, with its session. */
    script("turn.sh", "echo \"start $ASTROCAL_SESSION $OUTSIDE\" >> runs.txt\nsleep 0.1\n"
                      "echo \"end $ASTROCAL_SESSION\" >> runs.txt\n");
    snprintf(cfg.on_session_done, sizeof cfg.on_session_done, "%s/turn.sh", cwd);
    setenv("ASTROCAL_SESSION", "leaked", 1); /* the daemon's own: not passed on */
    setenv("OUTSIDE", "kept", 1);
    ASSERT_OK(uv_loop_init(&loop));
    ac_notify_init(&n, &loop, &cfg);
    ac_notify_facts_init(&f);
    f.event = "session_done";
    for (int i = 0; i < 3; i++) {
        char sid[8];
        snprintf(sid, sizeof sid, "S%d", i);
        f.session_id = sid;
        ac_notify_session_done(&n, &f);
    }
    ASSERT_EQ(n.nrunning, 1);
    ASSERT_EQ(n.nqueued, 2);
    drain(&loop, &n);
    unsetenv("ASTROCAL_SESSION");
    log = ac_harness_read_file("runs.txt");
    ASSERT_STR_EQ(log, "start S0 kept\nend S0\nstart S1 kept\nend S1\nstart S2 kept\nend S2\n");
    free(log);

    /* One running, AC_NOTIFY_QUEUE_MAX waiting: the next is dropped. */
    snprintf(cfg.on_session_done, sizeof cfg.on_session_done, "/bin/true");
    f.session_id = "many";
    logged[0] = '\0';
    ac_log_set_sink(capture);
    for (int i = 0; i < AC_NOTIFY_QUEUE_MAX + 2; i++)
        ac_notify_session_done(&n, &f);
    ac_log_set_sink(NULL);
    ASSERT_EQ(n.nqueued, AC_NOTIFY_QUEUE_MAX);
    ASSERT_EQ(n.dropped, 1);
    ASSERT_CONTAINS(logged, "this one (session_done many) is dropped");
    drain(&loop, &n);
    ASSERT_EQ(n.started, 3 + AC_NOTIFY_QUEUE_MAX + 1);
    ac_notify_close(&n);
    ASSERT_EQ(uv_loop_close(&loop), 0);
}
