/*
 * rrun.h - one rclone process started from the loop without waiting for it: argument
 * vector (core/cloud.h, no shell), stdin /dev/null, stdout and stderr collected, a time
 * limit after which it is killed. When the process has exited and both pipes are closed,
 * done(run) is called once; the run may then be started again or freed.
 *
 * Ownership: the caller owns the ac_rrun_t (embedded, zeroed) and keeps it alive until
 * done ran (or ac_rrun_close's callback ran). Thread: loop thread only.
 */
#ifndef AC_RRUN_H
#define AC_RRUN_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "cloud.h"
#include "config.h"
#include "db.h"

/* What the uploader and the fetcher are given (upload.h, fetch.h); all borrowed. */
typedef struct ac_cloud_env {
    uv_loop_t *loop;
    ac_db_t *db;
    const struct ac_config *cfg; /* the live configuration */
    bool (*ok)(void *ud);        /* may the catalogue be used now */
    void (*fetched)(void *ud);   /* a download ended in the cache (may be NULL) */
    void *ud;
} ac_cloud_env_t;

/* ac_rrun_now returns the monotonic clock in seconds (transfers, back-offs). */
double ac_rrun_now(void);

#define AC_RRUN_OUT_MAX 65536
#define AC_RRUN_ERR_MAX 8192

typedef struct ac_rrun ac_rrun_t;
typedef void (*ac_rrun_cb)(ac_rrun_t *run);

struct ac_rrun {
    void *data; /* the caller's */
    /* Results, valid in done: exit status (124: the time limit killed it; 127: it could
     * not be started), what it wrote, and how long it took. */
    int status;
    char out[AC_RRUN_OUT_MAX];
    char err[AC_RRUN_ERR_MAX];
    double seconds;
    /* Private. */
    uv_loop_t *loop;
    uv_process_t proc;
    uv_pipe_t pout, perr;
    uv_timer_t limit;
    size_t olen, elen;
    int open;    /* handles not closed yet */
    int pending; /* process exit and pipe ends still to come */
    bool killed, running;
    double t0;
    ac_rrun_cb done;
};

/* ac_rrun_start starts argv (NULL-terminated) with a time limit. Returns 0: a program that
 * cannot be started is reported through done with status 127 and the reason in err. */
int ac_rrun_start(ac_rrun_t *run, uv_loop_t *loop, const char *const *argv, double timeout_s,
                  ac_rrun_cb done);

/* ac_rrun_kill stops a running process (SIGKILL); done follows. */
void ac_rrun_kill(ac_rrun_t *run);

/* ac_rrun_running: started and done not called yet. */
bool ac_rrun_running(const ac_rrun_t *run);

#endif
