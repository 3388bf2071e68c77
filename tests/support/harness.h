/*
 * harness.h - drive the real astrocald binary from tests (style-anchors §12).
 *
 * Built once into the ac_testsupport library (tests/CMakeLists.txt) and linked into the
 * unit and integration suites. A harness lives in the current test's temporary directory:
 *   astrocald.conf   written by ac_harness_write_config (database, socket, state_dir here)
 *   astrofiler.db    the database path given to the daemon
 *   ctl.sock         the control socket
 *   state/           the state directory
 *   notify.sock      an AF_UNIX datagram socket passed as NOTIFY_SOCKET: the harness plays
 *                    systemd and records every message (READY=1, STATUS=, WATCHDOG=1, ...)
 *   astrocald.log    the daemon's stdout and stderr
 *
 * Typical use:
 *   ac_harness_t h;
 *   ac_harness_init(&h);
 *   ac_harness_write_config(&h, (const char *[]){"WORKERS.workers=1", NULL});
 *   ASSERT_OK(ac_harness_start(&h, NULL));
 *   ASSERT_OK(ac_harness_wait_ready(&h, 10000));
 *   json_t *r = ac_harness_request(&h, "status", NULL, 5000);
 *   int rc = ac_harness_ctl(&h, &out, &err, "sessions", NULL);
 *   ASSERT_EQ(ac_harness_stop(&h, 10000), 0);
 *   ac_harness_free(&h);
 *
 * The daemon binary is AC_ASTROCALD_BIN, compiled into harness.c by CMake
 * ($<TARGET_FILE:astrocald>); astrocalctl is the file "astrocalctl" in the same directory.
 * ac_harness_start and ac_harness_ctl need both built (the integration suite depends on
 * them); ac_harness_start_bin and ac_harness_run take any program. Children are spawned with
 * posix_spawn (never fork: the test may run a libuv loop), with default signal dispositions
 * and an empty signal mask, in the test's process group (the runner kills the group at the
 * end of each test).
 *
 * Functions that can fail return 0 or a negative errno (or NULL); they report details on
 * stderr, which the runner shows when the test fails. Thread: the test's main thread.
 */
#ifndef AC_HARNESS_H
#define AC_HARNESS_H

/* The system headers the harness's users work with (errno codes, signals, sockets, wait
 * status, posix_spawn) come with it. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "test.h"

#define AC_HARNESS_MAX_NOTIFY 512
#define AC_HARNESS_PATH 1024

typedef struct ac_harness {
    char dir[AC_HARNESS_PATH];
    char config[AC_HARNESS_PATH + 32];
    char database[AC_HARNESS_PATH + 32];
    char socket[AC_HARNESS_PATH + 32];
    char state_dir[AC_HARNESS_PATH + 32];
    char notify_path[AC_HARNESS_PATH + 32];
    char log_path[AC_HARNESS_PATH + 32];
    int notify_fd;             /* -1 until ac_harness_notify_open */
    pid_t pid;                 /* -1 when no daemon runs */
    int status;                /* the daemon's wait status once reaped */
    uint64_t watchdog_usec;    /* passed as WATCHDOG_USEC when not 0 (set before start) */
    const char *env_extra[16]; /* more "NAME=value" for the daemon, NULL-terminated */
    char *notify[AC_HARNESS_MAX_NOTIFY]; /* every notify datagram, in arrival order */
    size_t nnotify;
    long long next_id;
    unsigned nrun;
} ac_harness_t;

/* ---- small helpers ---------------------------------------------------------------------- */

/* ac_harness_now_ms returns CLOCK_MONOTONIC in milliseconds. */
long long ac_harness_now_ms(void);

/* ac_harness_sleep_ms sleeps ms milliseconds. */
void ac_harness_sleep_ms(int ms);

/* ac_harness_read_file returns the whole file at path as a NUL-terminated string, owned by
 * the caller (free); "" (owned too) when the file is missing. Aborts on out of memory. */
char *ac_harness_read_file(const char *path);

/* ac_harness_log_count counts the occurrences of what in the daemon's log (every start of
 * h appends to it). */
int ac_harness_log_count(ac_harness_t *h, const char *what);

/* ac_harness_init sets h's paths in the current test's temporary directory, notify_fd and
 * pid to -1, and creates the state directory. It fails the test when the directory is too
 * deep for a Unix socket path. Call ac_harness_free when done. */
void ac_harness_init(ac_harness_t *h);

/* ---- configuration ---------------------------------------------------------------------- */

/*
 * ac_harness_write_config writes h->config: [DAEMON] database, socket and state_dir in the
 * temporary directory and [QUALITY] grading = False (grading rewrites headers and hashes
 * after a file is recorded; tests of it set QUALITY.grading=True), changed or extended by
 * overrides, a NULL-terminated list (NULL for none) of "SECTION.key=value" strings (borrowed
 * for the call). Sections come out in order of first appearance, keys in order within their
 * section. A malformed override fails the test. Returns 0 or -errno.
 */
int ac_harness_write_config(ac_harness_t *h, const char *const *overrides);

/* ---- the fake service manager ----------------------------------------------------------- */

/* ac_harness_notify_open creates the datagram socket at h->notify_path (nothing when it is
 * open already). 0 or -errno. */
int ac_harness_notify_open(ac_harness_t *h);

/* ac_harness_notify_poll waits up to timeout_ms (0: just check) for one datagram and
 * records it; returns it (borrowed from h, valid until ac_harness_free) or NULL. Only the
 * newest AC_HARNESS_MAX_NOTIFY messages are kept. */
const char *ac_harness_notify_poll(ac_harness_t *h, int timeout_ms);

/* ac_harness_notify_drain records every datagram already waiting. */
void ac_harness_notify_drain(ac_harness_t *h);

/* ac_harness_notify_count drains, then counts the recorded messages that have a line
 * starting with prefix. */
size_t ac_harness_notify_count(ac_harness_t *h, const char *prefix);

/* ac_harness_notify_last drains, then returns the value of the last recorded line starting
 * with prefix (for example ac_harness_notify_last(h, "STATUS=")), in a static buffer valid
 * until the next call, or NULL when there is none. */
const char *ac_harness_notify_last(ac_harness_t *h, const char *prefix);

/* ac_harness_notify_wait waits until some recorded message has a line starting with prefix
 * (earlier ones count too); returns that message (borrowed from h) or NULL after
 * timeout_ms. */
const char *ac_harness_notify_wait(ac_harness_t *h, const char *prefix, int timeout_ms);

/* ---- processes -------------------------------------------------------------------------- */

/* ac_harness_spawn starts argv[0] (a path; argv NULL-terminated) with envp (NULL: this
 * process's environment), stdin from /dev/null, stdout and stderr appended to out_path and
 * err_path (the same path for both is fine; NULL keeps the test's). Returns the pid or
 * -errno. */
pid_t ac_harness_spawn(const char *const *argv, char *const *envp, const char *out_path,
                       const char *err_path);

/* ac_harness_wait waits up to timeout_ms for pid; returns its exit code, 128+signal when
 * killed by a signal, or -ETIMEDOUT (the child is left running). *status (may be NULL)
 * receives the wait status. While waiting, the harness keeps recording notify messages when
 * h is not NULL. */
int ac_harness_wait(ac_harness_t *h, pid_t pid, int timeout_ms, int *status);

/* ac_harness_ctl_path writes the path of astrocalctl (beside AC_ASTROCALD_BIN) into out. */
void ac_harness_ctl_path(char *out, size_t size);

/*
 * ac_harness_start_bin starts bin, after "--config h->config" when with_config, then args
 * (NULL-terminated, may be NULL), with NOTIFY_SOCKET (opening the notify socket if needed),
 * WATCHDOG_USEC when set and h->env_extra; inherited systemd and ASTROCALD_SOCKET variables
 * are dropped. Output goes to h->log_path; h->pid is set. A daemon already running fails the
 * test. 0 or -errno.
 */
int ac_harness_start_bin(ac_harness_t *h, const char *bin, bool with_config,
                         const char *const *args);

/* ac_harness_start starts the daemon: AC_ASTROCALD_BIN --config h->config args... (as
 * ac_harness_start_bin). 0 or -errno. */
int ac_harness_start(ac_harness_t *h, const char *const *args);

/* ac_harness_dump_log prints the daemon's log on stderr (shown when the test fails). */
void ac_harness_dump_log(ac_harness_t *h);

/* ac_harness_wait_ready waits for READY=1. 0; -ETIMEDOUT; -ECHILD when the daemon exited
 * first (h->status holds its wait status, h->pid is -1). The log is dumped on failure. */
int ac_harness_wait_ready(ac_harness_t *h, int timeout_ms);

/* ac_harness_stop sends SIGTERM and waits up to timeout_ms. Returns the exit code (128+sig
 * when killed by a signal), -ECHILD when no daemon runs, or -ETIMEDOUT after which the
 * daemon is SIGKILLed. The daemon is reaped (h->status) and h->pid is -1 afterwards. */
int ac_harness_stop(ac_harness_t *h, int timeout_ms);

/* ac_harness_kill sends SIGKILL (a crash) and reaps the daemon; nothing when none runs. */
void ac_harness_kill(ac_harness_t *h);

/* ac_harness_free kills a daemon still running, closes the notify socket and frees the
 * recorded messages. h may be initialised again. */
void ac_harness_free(ac_harness_t *h);

/* ---- running commands ------------------------------------------------------------------- */

/*
 * ac_harness_run runs argv (argv[0] a path) with the harness's environment rules, waits up
 * to timeout_ms, and returns its exit code (128+signal), or -ETIMEDOUT (then it is killed),
 * or -errno when it cannot start. *out and *err (either may be NULL) receive its stdout and
 * stderr, owned by the caller (free). Its output files are run-N.out/.err in h->dir.
 */
int ac_harness_run(ac_harness_t *h, const char *const *argv, int timeout_ms, char **out,
                   char **err);

/*
 * ac_harness_ctl runs "astrocalctl --socket h->socket ARGS..." (ARGS NULL-terminated) with a
 * 60 s limit and returns its exit status like ac_harness_run. The --json and --timeout
 * options may be among ARGS.
 */
int ac_harness_ctl(ac_harness_t *h, char **out, char **err, ...);

/* ---- a tiny blocking client ------------------------------------------------------------- */

/* ac_harness_connect connects a stream socket to the Unix socket path; returns the fd
 * (close it) or -errno. */
int ac_harness_connect(const char *path);

/*
 * ac_harness_exchange sends text (one or more whole lines) on a new connection to
 * h->socket, then reads lines until one is a reply (has "ok"; events are skipped) and
 * returns it parsed (owned: json_decref), or NULL on a connection error, timeout, EOF or bad
 * JSON.
 */
json_t *ac_harness_exchange(ac_harness_t *h, const char *text, int timeout_ms);

/* ac_harness_request sends {"v":1,"id":N,"cmd":cmd,"args":args} (args taken; NULL = {})
 * and returns the whole reply envelope (owned) or NULL. */
json_t *ac_harness_request(ac_harness_t *h, const char *cmd, json_t *args, int timeout_ms);

/* ac_harness_result returns reply's "result" (borrowed from reply) after checking ok is
 * true; it fails the test with the error (or for a NULL reply) otherwise. */
json_t *ac_harness_result(json_t *reply);

#endif
