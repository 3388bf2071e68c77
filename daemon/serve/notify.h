/*
 * notify.h - [NOTIFY] programs: on_session_done when a light session settles, on_failure
 * when a light fails for good or a master build fails (docs/configuration.md).
 *
 * A program runs without a shell: argv is just its path, its environment the daemon's
 * (less any ASTROCAL_* variable) plus the facts as ASTROCAL_* variables (ac_notify_env),
 * stdin /dev/null. It is started with uv_spawn as the leader of its own process group;
 * each line it writes to stdout or stderr becomes a log line ("notify on_session_done
 * [pid]: ..."; at most 64 KiB of output per run, the rest is read and dropped), and so
 * does its end (exit status or signal). After notify_timeout_s the group receives SIGTERM,
 * and SIGKILL AC_NOTIFY_KILL_GRACE_S seconds later if it is still there. Output left in the
 * pipes is read for at most AC_NOTIFY_DRAIN_S seconds after the program ends (a child it
 * left behind may hold them open).
 *
 * Concurrency is bounded: at most notify_max_running programs run at once; the others
 * wait in a FIFO of at most AC_NOTIFY_QUEUE_MAX runs, beyond which a run is dropped with
 * a warning. Nothing here ever blocks the loop: spawning, reading and reaping are libuv's.
 *
 * Ownership: the owner (daemon.c) embeds an ac_notify_t; cfg is borrowed (read at each
 * run, so a reload applies to the next run). ac_notify_close (shutdown) drops the runs
 * still waiting and lets the running ones finish within their time limit (so the
 * notification of the last session of a --drain run is delivered); each run frees itself
 * once libuv has closed its handles, and the loop runs until then.
 * Thread: loop thread only.
 */
#ifndef AC_NOTIFY_H
#define AC_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "config.h"

#define AC_NOTIFY_KILL_GRACE_S 5
#define AC_NOTIFY_DRAIN_S 2
#define AC_NOTIFY_QUEUE_MAX 100
#define AC_NOTIFY_OUTPUT_MAX (64 * 1024)

/* The facts of one notification; NULL strings and negative counts are left out. */
typedef struct ac_notify_facts {
    const char *event;      /* ASTROCAL_EVENT: session_done, file_failed, master_failed */
    const char *session_id; /* ASTROCAL_SESSION (a master build: its build key) */
    const char *object;     /* ASTROCAL_OBJECT */
    const char *state;      /* ASTROCAL_STATE: the session's state; failed, rejected */
    const char *file_id;    /* ASTROCAL_FILE */
    const char *path;       /* ASTROCAL_PATH: the light, or the master being built */
    const char *output_dir; /* ASTROCAL_OUTPUT_DIR: where the session's outputs are */
    const char *reason;     /* ASTROCAL_REASON */
    const char *kind;       /* ASTROCAL_MASTER_KIND: bias, dark, flat, flatdark */
    int calibrated, failed, cancelled, total; /* ASTROCAL_CALIBRATED, _FAILED, ... */
    double fwhm_median; /* ASTROCAL_FWHM_MEDIAN (px) when finite: needs grading */
} ac_notify_facts_t;

/* ac_notify_facts_init sets every string to NULL, every count to -1 and fwhm to NAN. */
void ac_notify_facts_init(ac_notify_facts_t *f);

/* ac_notify_env builds the "NAME=value" strings for f into out (at most max, each
 * malloc'ed, owned by the caller); returns how many. Values are copied verbatim (an
 * environment value may hold any byte but NUL). */
size_t ac_notify_env(const ac_notify_facts_t *f, char **out, size_t max);

typedef struct ac_notify_run ac_notify_run_t;

typedef struct ac_notify {
    uv_loop_t *loop;
    const struct ac_config *cfg; /* borrowed */
    ac_notify_run_t *running;    /* list */
    ac_notify_run_t *queue_head, *queue_tail;
    int nrunning, nqueued;
    unsigned long started, dropped; /* counters, for tests and logs */
    bool closing;
} ac_notify_t;

void ac_notify_init(ac_notify_t *n, uv_loop_t *loop, const struct ac_config *cfg);

/* ac_notify_session_done runs [NOTIFY] on_session_done (nothing when unset) with f. */
void ac_notify_session_done(ac_notify_t *n, const ac_notify_facts_t *f);

/* ac_notify_failure runs [NOTIFY] on_failure (nothing when unset) with f. */
void ac_notify_failure(ac_notify_t *n, const ac_notify_facts_t *f);

/* ac_notify_close refuses new runs and drops the queued ones (logged); running ones end
 * by themselves or by their time limit. */
void ac_notify_close(ac_notify_t *n);

/* ac_notify_busy says whether a run still has handles open (the loop must keep running). */
bool ac_notify_busy(const ac_notify_t *n);

#endif
