/*
 * test-harness.c - the parts of tests/support/harness.h that need no daemon (config
 * writing, the fake NOTIFY_SOCKET, spawning and stopping, running commands, the blocking
 * client) and daemon/serve/sdnotify.c against that fake service manager.
 */
#include <pthread.h>

#include "ctlsrv.h"
#include "ctlsrv_fixture.h"
#include "harness.h"
#include "sdnotify.h"
#include "test.h"

TEST(harness_config_written_exactly)
{
    ac_harness_t h;
    char *text, want[8192];

    ac_harness_init(&h);
    ASSERT_OK(ac_harness_write_config(
        &h, (const char *const[]){"WORKERS.workers=1", "DAEMON.socket=/run/x.sock",
                                  "CALIBRATION.pedestal=auto", "WORKERS.max_in_flight=2",
                                  "DAEMON.log_level=debug", NULL}));
    text = ac_harness_read_file(h.config);
    snprintf(want, sizeof want,
             "# written by tests/support/harness.h\n"
             "\n[DAEMON]\n"
             "database = %s/astrofiler.db\n"
             "socket = /run/x.sock\n"
             "state_dir = %s/state\n"
             "log_level = debug\n"
             "\n[QUALITY]\n"
             "grading = False\n"
             "\n[WORKERS]\n"
             "workers = 1\n"
             "max_in_flight = 2\n"
             "\n[CALIBRATION]\n"
             "pedestal = auto\n",
             ac_test_tmpdir(), ac_test_tmpdir());
    ASSERT_STR_EQ(text, want);
    free(text);
    /* Without overrides: the three paths, all inside the test directory, and grading off. */
    ASSERT_OK(ac_harness_write_config(&h, NULL));
    text = ac_harness_read_file(h.config);
    snprintf(want, sizeof want,
             "# written by tests/support/harness.h\n\n[DAEMON]\ndatabase = %s/astrofiler.db\n"
             "socket = %s/ctl.sock\nstate_dir = %s/state\n\n[QUALITY]\ngrading = False\n",
             ac_test_tmpdir(), ac_test_tmpdir(), ac_test_tmpdir());
    ASSERT_STR_EQ(text, want);
    free(text);
    ASSERT_OK(access(h.state_dir, F_OK));
    ac_harness_free(&h);
}

TEST(harness_notify_socket_receives_sd_notify_messages)
{
    ac_harness_t h;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    const char *m;
    int fd;

    ac_harness_init(&h);
    ASSERT_OK(ac_harness_notify_open(&h));
    /* A raw datagram, the way sd_notify(3) sends it. */
    strcpy(sa.sun_path, h.notify_path);
    fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    ASSERT_EQ(sendto(fd, "STATUS=starting", 15, 0, (struct sockaddr *)&sa, sizeof sa), 15);
    close(fd);
    ASSERT_NOT_NULL(ac_harness_notify_wait(&h, "STATUS=", 2000));
    ASSERT_EQ(ac_harness_wait_ready(&h, 50), -ETIMEDOUT); /* no READY yet */
    /* Now through daemon/serve/sdnotify.c. */
    setenv("NOTIFY_SOCKET", h.notify_path, 1);
    ASSERT_EQ(ac_sd_ready("3 sessions queued, 0 running"), 1);
    ASSERT_OK(ac_harness_wait_ready(&h, 2000));
    m = ac_harness_notify_wait(&h, "READY=1", 0);
    ASSERT_STR_EQ(m, "READY=1\nSTATUS=3 sessions queued, 0 running");
    ASSERT_EQ(ac_sd_watchdog_ping(), 1);
    ASSERT_EQ(ac_sd_watchdog_ping(), 1);
    ASSERT_EQ(ac_sd_status("calibrating %d of %d\nnext line", 2, 9), 1);
    ASSERT_EQ(ac_sd_stopping(), 1);
    ASSERT_NOT_NULL(ac_harness_notify_wait(&h, "STOPPING=1", 2000));
    ASSERT_EQ(ac_harness_notify_count(&h, "WATCHDOG=1"), 2);
    ASSERT_EQ(ac_harness_notify_count(&h, "STATUS="), 3);
    ASSERT_STR_EQ(ac_harness_notify_last(&h, "STATUS="), "calibrating 2 of 9 next line");
    ASSERT_EQ(h.nnotify, 6);
    /* Not under a service manager: nothing is sent, and that is not an error. */
    unsetenv("NOTIFY_SOCKET");
    ASSERT_EQ(ac_sd_ready(NULL), 0);
    ASSERT_NULL(ac_harness_notify_poll(&h, 50));
    ac_harness_free(&h);
}

TEST(sdnotify_watchdog_from_environment)
{
    uint64_t usec = 0;
    char pid[32];

    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    ASSERT_EQ(ac_sd_watchdog_usec(&usec), 0);
    setenv("WATCHDOG_USEC", "2000000", 1);
    ASSERT_EQ(ac_sd_watchdog_usec(&usec), 1);
    ASSERT_EQ(usec, 2000000);
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    setenv("WATCHDOG_PID", pid, 1);
    ASSERT_EQ(ac_sd_watchdog_usec(&usec), 1);
    /* Meant for another process (our parent): not for us. */
    snprintf(pid, sizeof pid, "%ld", (long)getppid());
    setenv("WATCHDOG_PID", pid, 1);
    ASSERT_EQ(ac_sd_watchdog_usec(&usec), 0);
}

TEST(sdnotify_socket_activation_fd)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char pid[32];
    int lfd, saved, saved4, fd = -1;

    /* Put a listening socket on fd 3, as systemd would, keeping whatever was there. */
    saved = fcntl(3, F_DUPFD_CLOEXEC, 20);
    saved4 = fcntl(4, F_DUPFD_CLOEXEC, 20);
    strcpy(sa.sun_path, "act.sock");
    lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_OK(bind(lfd, (struct sockaddr *)&sa, sizeof sa));
    ASSERT_OK(listen(lfd, 4));
    ASSERT_EQ(dup2(lfd, 3), 3);
    ASSERT_EQ(dup2(lfd, 4), 4); /* a second one, for the LISTEN_FDS=2 case */
    if (lfd > 4)
        close(lfd);
    unsetenv("LISTEN_PID");
    ASSERT_EQ(ac_sd_listen_fd(&fd), 0);
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    setenv("LISTEN_PID", pid, 1);
    setenv("LISTEN_FDS", "2", 1);
    ASSERT_EQ(ac_sd_listen_fd(&fd), -E2BIG);
    ASSERT_NULL(getenv("LISTEN_PID")); /* consumed */
    setenv("LISTEN_PID", pid, 1);
    setenv("LISTEN_FDS", "1", 1);
    ASSERT_EQ(ac_sd_listen_fd(&fd), 1);
    ASSERT_EQ(fd, 3);
    ASSERT_NULL(getenv("LISTEN_FDS"));
    ASSERT_EQ(fcntl(3, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    close(4);
    if (saved >= 0)
        dup2(saved, 3);
    if (saved4 >= 0)
        dup2(saved4, 4);
}

TEST(sdnotify_journal_stream_detection)
{
    struct stat st;
    char js[64];

    ASSERT_OK(fstat(STDERR_FILENO, &st));
    snprintf(js, sizeof js, "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    setenv("JOURNAL_STREAM", js, 1);
    ASSERT(ac_sd_journal_stream_is_stderr());
    snprintf(js, sizeof js, "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino + 1);
    setenv("JOURNAL_STREAM", js, 1);
    ASSERT(!ac_sd_journal_stream_is_stderr());
    setenv("JOURNAL_STREAM", "garbage", 1);
    ASSERT(!ac_sd_journal_stream_is_stderr());
    unsetenv("JOURNAL_STREAM");
    ASSERT(!ac_sd_journal_stream_is_stderr());
    ASSERT(!ac_sd_log_setup());
}

TEST(harness_spawn_stop_and_environment)
{
    ac_harness_t h;
    char *log, want[2048], *sigign;
    unsigned long long mask;

    ac_harness_init(&h);
    /* Variables meant for the daemon's own service manager must not leak in. */
    setenv("ASTROCALD_SOCKET", "/elsewhere.sock", 1);
    setenv("WATCHDOG_PID", "1", 1);
    h.watchdog_usec = 3000000;
    h.env_extra[0] = "AC_EXTRA=yes";
    ASSERT_OK(ac_harness_start_bin(
        &h, "/bin/sh", false,
        (const char *const[]){"-c",
                              "echo \"$NOTIFY_SOCKET|$WATCHDOG_USEC|$WATCHDOG_PID|"
                              "$ASTROCALD_SOCKET|$AC_EXTRA\"; grep SigIgn /proc/self/status;"
                              " exec sleep 30",
                              NULL}));
    ASSERT(h.pid > 0);
    ac_harness_sleep_ms(200);
    /* SIGTERM kills sleep: 128 + 15. */
    ASSERT_EQ(ac_harness_stop(&h, 5000), 128 + SIGTERM);
    ASSERT_EQ(h.pid, -1);
    log = ac_harness_read_file(h.log_path);
    snprintf(want, sizeof want, "%s|3000000|||yes\nSigIgn:\t", h.notify_path);
    ASSERT_EQ(strncmp(log, want, strlen(want)), 0);
    /* The runner ignores SIGPIPE; in the child it is back to default. (glibc's posix_spawn
     * itself marks its two internal signals, 32 and 33, ignored.) */
    sigign = log + strlen(want);
    mask = strtoull(sigign, NULL, 16);
    ASSERT_EQ(mask & (1ull << (SIGPIPE - 1)), 0);
    ASSERT_EQ(mask & 0x7FFFFFFFull, 0); /* signals 1..31 */
    free(log);
    ac_harness_free(&h);
}

TEST(harness_run_captures_output_and_status)
{
    ac_harness_t h;
    char *out = NULL, *err = NULL;

    ac_harness_init(&h);
    ASSERT_EQ(ac_harness_run(&h,
                             (const char *const[]){"/bin/sh", "-c",
                                                   "echo out; echo err >&2; exit 3", NULL},
                             5000, &out, &err),
              3);
    ASSERT_STR_EQ(out, "out\n");
    ASSERT_STR_EQ(err, "err\n");
    free(out);
    free(err);
    ASSERT_EQ(
        ac_harness_run(&h, (const char *const[]){"/bin/sleep", "10", NULL}, 100, NULL, NULL),
        -ETIMEDOUT);
    ac_harness_free(&h);
}

static void echo_handler(ac_ctlsrv_client_t *c, json_t *id, const char *cmd, json_t *args,
                         void *ud)
{
    struct srv_thread *st = ud;

    ac_ctlsrv_broadcast_event(st->srv, "queue_state", NULL); /* skipped by the client */
    if (strcmp(cmd, "missing") == 0)
        ac_ctlsrv_reply_error(c, id, AC_PROTO_NOT_FOUND, "no session 'x'");
    else
        ac_ctlsrv_reply_ok(c, id, json_pack("{s:s,s:O}", "cmd", cmd, "args", args));
}

TEST(harness_request_and_exchange)
{
    ac_harness_t h;
    struct srv_thread st = {0};
    json_t *r, *res;

    ac_harness_init(&h);
    srv_thread_start(&st, h.socket, echo_handler, &st);

    r = ac_harness_request(&h, "plan", json_pack("{s:s}", "session", "abc"), 5000);
    res = ac_harness_result(r);
    ASSERT_STR_EQ(json_string_value(json_object_get(res, "cmd")), "plan");
    ASSERT_STR_EQ(json_string_value(json_object_get(json_object_get(res, "args"), "session")),
                  "abc");
    ASSERT_EQ(json_integer_value(json_object_get(r, "id")), 1);
    json_decref(r);
    r = ac_harness_request(&h, "missing", NULL, 5000);
    ASSERT(json_is_false(json_object_get(r, "ok")));
    ASSERT_EQ(json_integer_value(json_object_get(r, "id")), 2);
    json_decref(r);
    /* Raw lines: malformed input gets an error reply. */
    r = ac_harness_exchange(&h, "{oops\n", 5000);
    ASSERT_STR_EQ(json_string_value(json_object_get(json_object_get(r, "error"), "code")),
                  "bad_request");
    json_decref(r);

    srv_thread_stop(&st);
    /* Nobody listens any more: NULL, not a hang. */
    ASSERT_NULL(ac_harness_request(&h, "status", NULL, 1000));
    ac_harness_free(&h);
}
